"""Checks of a setting's value, each raising one L2HError that names the setting (its full name, such as
``model.rounds`` or ``eval.k``), the value given and, where there is one, the fix."""

from __future__ import annotations

import math

import numpy as np

from l2h.errors import L2HError


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _fix(fix: str) -> str:
    return f": {fix}" if fix else ""


def integer(setting: str, value, minimum: int = 1, fix: str = "") -> int:
    """An integer of at least ``minimum`` (bools refused)."""
    if not _is_int(value) or value < minimum:
        raise L2HError(f"{setting} must be an integer >= {minimum}, got {value!r}{_fix(fix)}")
    return int(value)


def positive(setting: str, value, kind: type = int, allow_none: bool = False):
    """A positive integer (``kind=int``) or a positive number (``kind=float``), or None where allowed."""
    if value is None and allow_none:
        return None
    ok = (_is_int(value) or (kind is float and isinstance(value, (float, np.floating)))) and value > 0
    if not ok:
        what = "a positive integer" if kind is int else "a positive number"
        raise L2HError(f"{setting} must be {what}{' or null' if allow_none else ''}, got {value!r}")
    return value


def number(setting: str, value, minimum: float = 0.0, strict: bool = True, fix: str = "") -> float:
    """A finite real above ``minimum`` (or at least it, when not ``strict``)."""
    ok = (_is_int(value) or isinstance(value, (float, np.floating))) and math.isfinite(float(value))
    if not (ok and (value > minimum if strict else value >= minimum)):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise L2HError(f"{setting} must be a finite number {bound}, got {value!r}{_fix(fix)}")
    return float(value)


def boolean(setting: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise L2HError(f"{setting} must be true or false, got {value!r}")
    return bool(value)
