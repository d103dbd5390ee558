"""scikit-learn's 8x8 handwritten digits: 1797 items, 64 dimensions, 10 classes, shipped inside scikit-learn,
so l2h runs with no file at all. Read as vectors (``item_shape`` None), as l2h always has."""

from __future__ import annotations

from l2h.data.formats.common import DATA, Names, Parts
from l2h.errors import L2HError


def read(path=None, names: Names = DATA, *, features=None, labels=None, lazy=None, want_labels=True) -> Parts:
    for setting, value in ((names.path, path), (names.features, features), (names.labels, labels)):
        if value is not None:
            raise L2HError(f"the digits data is built in and reads no file: drop {setting}={value}, or set "
                           f"{names.format} for your file")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return Parts(bunch.data, bunch.target if want_labels else None)
