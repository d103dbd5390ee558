import os
from pathlib import Path

# as the commands do (l2h/cli): idle OpenMP threads sleep instead of spinning, which on shared cores slows torch
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("L2H_DATA", ROOT.parent / "shared" / "data"))

# Property tests: few examples on a developer's machine, more in CI, where a failure prints the blob that replays
# it (@reproduce_failure). HYPOTHESIS_PROFILE=ci runs CI's locally. No deadline: timings vary with the machine's
# load, and examples that build files or indexes are slow by nature; a test's examples share its tmp_path and
# overwrite their own files there.
_PROPERTIES = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]}
settings.register_profile("dev", max_examples=10, **_PROPERTIES)
settings.register_profile("ci", max_examples=60, print_blob=True, database=None, **_PROPERTIES)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


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


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small networks and products: on busy cores one thread beats two waiting for each other at every small op."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory):
    """One small model trained once per session (grh_svm, 16 bits, on the digits) for every test that needs some
    checkpoint. Its run folder holds metrics.json and codes.npz beside model.ckpt; tests read it, never write it."""
    from tests import commands

    out = tmp_path_factory.mktemp("trained")
    commands.train(out, "model=grh_svm", "bits=16", "model.rounds=2", "model.steps=10", "eval.save_codes=true",
                   *commands.FAST)
    return out / "model.ckpt"
