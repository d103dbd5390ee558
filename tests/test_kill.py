"""Killed at any moment while saving over an existing file, l2h leaves the old file or the new one, whole."""

import os
import signal
import subprocess
import sys
import time

import numpy as np

from l2h.index import BinaryIndex, HashIndex
from tests.conftest import ROOT

SAVER = """
import sys, numpy as np
from l2h.index import HashIndex
index = HashIndex(32)
index.add(np.random.default_rng(1).integers(0, 256, (2_000_000, 4), dtype=np.uint8))
print("ready", flush=True)
while True:
    index.save(sys.argv[1])
"""


def test_a_save_killed_at_random_moments_leaves_the_old_or_the_new_file_whole(tmp_path):
    path = tmp_path / "db.l2h"
    old = HashIndex(32)
    old.add(np.random.default_rng(0).integers(0, 256, (1000, 4), dtype=np.uint8))
    old.save(path)
    queries = np.random.default_rng(2).integers(0, 256, (20, 4), dtype=np.uint8)
    want_old = old.search(queries, 5)
    rng = np.random.default_rng(3)
    sizes = set()
    for trial in range(8):
        child = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                                 text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 1.5))  # somewhere inside one of the saves
        child.send_signal(signal.SIGKILL)
        child.wait()
        loaded = BinaryIndex.load(path, mmap=False)  # checks every array's CRC: a half-written file is refused
        assert loaded.ntotal in (1000, 2_000_000)
        if loaded.ntotal == 1000:
            got = loaded.search(queries, 5)
            assert np.array_equal(got[0], want_old[0]) and np.array_equal(got[1], want_old[1])
        sizes.add(loaded.ntotal)
        leftovers = [p for p in tmp_path.iterdir() if p.name != "db.l2h"]
        for p in leftovers:  # a killed save leaves its temporary file; the next run's cleanup is the user's
            assert p.name.startswith(".db.l2h.") and p.name.endswith(".tmp")
            p.unlink()
