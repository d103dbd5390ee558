"""Checks of a setting's value, each raising one L2HError that names the setting (its full name, such as
``model.rounds`` or ``eval.k``), the value given and, where there is one, the fix."""

from __future__ import annotations

import math

import numpy as np

from l2h.errors import L2HError

#: the code lengths l2h trains, indexes and searches (8 to 1024 bits are the usual ones)
MIN_BITS, MAX_BITS = 1, 4096


def is_integer(value) -> bool:
    """A Python or numpy integer, not a bool (``True`` is an int to Python, never a code length or a count)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _fix(fix: str) -> str:
    return f": {fix}" if fix else ""


def integer(setting: str, value, minimum: int = 1, fix: str = "") -> int:
    """An integer of at least ``minimum`` (bools refused)."""
    if not is_integer(value) or value < minimum:
        raise L2HError(f"{setting} must be an integer >= {minimum}, got {value!r}{_fix(fix)}")
    return int(value)


def positive(setting: str, value, kind: type = int, allow_none: bool = False):
    """A positive integer (``kind=int``) or a positive number (``kind=float``), or None where allowed."""
    if value is None and allow_none:
        return None
    ok = (is_integer(value) or (kind is float and isinstance(value, (float, np.floating)))) and value > 0
    if not ok:
        what = "a positive integer" if kind is int else "a positive number"
        raise L2HError(f"{setting} must be {what}{' or null' if allow_none else ''}, got {value!r}")
    return value


def number(setting: str, value, minimum: float = 0.0, strict: bool = True, fix: str = "") -> float:
    """A finite real above ``minimum`` (or at least it, when not ``strict``)."""
    ok = (is_integer(value) or isinstance(value, (float, np.floating))) and math.isfinite(float(value))
    if not (ok and (value > minimum if strict else value >= minimum)):
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise L2HError(f"{setting} must be a finite number {bound}, got {value!r}{_fix(fix)}")
    return float(value)


def boolean(setting: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise L2HError(f"{setting} must be true or false, got {value!r}")
    return bool(value)


def bits(value) -> int:
    """A code length: an integer from :data:`MIN_BITS` to :data:`MAX_BITS`. The one check of ``bits`` in l2h."""
    if not is_integer(value) or not MIN_BITS <= value <= MAX_BITS:
        raise L2HError(f"bits must be a positive integer of at most {MAX_BITS}, got bits={value!r}: "
                       "8 to 1024 bits are the usual code lengths, e.g. bits=32")
    return int(value)
