import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("L2H_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def clustered_codes(rng, n, bits, clusters=20, flip=0.08):
    """Codes with real structure: noisy copies of a few centres, so buckets are uneven and radii matter."""
    centres = rng.integers(0, 2, (clusters, bits), dtype=np.uint8)
    noise = (rng.random((n, bits)) < flip).astype(np.uint8)
    return np.packbits(centres[rng.integers(0, clusters, n)] ^ noise, axis=1, bitorder="little")


def blobs(rng, n=600, dim=16, classes=4, spread=0.6):
    """Labelled Gaussian blobs: a small dataset where supervision clearly helps."""
    centres = rng.normal(size=(classes, dim)) * 2
    labels = rng.integers(0, classes, n)
    return (centres[labels] + spread * rng.normal(size=(n, dim))).astype(np.float32), labels


def shared_file(name):
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is not here (set L2H_DATA to the folder holding it)")
    return path
