"""Labels as text, one per line (``.txt``, ``.csv``, ``.tsv``, ``.labels``): for ``data.labels_path`` only.
Every line is a label, read as text; l2h's text labels become class ids in sorted order (numerically sorted
when every label is an integer), so a file of the integers 0 .. K-1 keeps its ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from l2h.data.formats.common import DATA, Names, read_head
from l2h.errors import L2HError

EXTENSIONS = (".txt", ".csv", ".tsv", ".labels")


def read_array(path: Path, names: Names = DATA, key=None, what: str = "labels",
               setting: str = "data.labels_path") -> np.ndarray:
    if key is not None:
        raise L2HError(f"{path} is a text file of one label per line: drop the array name {key!r}")
    read_head(path, 1, setting)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise L2HError(f"{path} is not UTF-8 text (byte {exc.start} is not): give one label per line") from None
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()  # a final newline, or trailing blank lines
    if not lines:
        raise L2HError(f"{path} holds no labels: give one label per line")
    return np.array(lines, dtype=str)
