"""Killed at any moment while saving over an existing file, l2h leaves the old file or the new one, whole; so does
index.py rewriting a sharded artefact, killed at any moment or out of disk space."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

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


# ---------------------------------------------------------------------------------------------- sharded artefacts

# A process that runs index.py once with the arguments of its first line of stdin (which imports and warms up
# everything), then forks one child per further line: the child runs index.py with them, announcing each file it
# renames into place and each folder it removes, and pausing a little after each announcement so that a kill
# lands between two of them.
FORKER = """
import os, runpy, shutil, sys, time

def index_py(line):
    sys.argv = ["index.py", *line.split()]
    runpy.run_path(sys.argv[0], run_name="__main__")

real_replace, real_rmtree = os.replace, shutil.rmtree

def announce(what, path):
    print(what, path, flush=True)
    time.sleep(0.03)

def replace(src, dst, *args, **kwargs):
    announce("renaming", dst)
    real_replace(src, dst, *args, **kwargs)
    announce("renamed", dst)

def rmtree(path, *args, **kwargs):
    announce("removing", path)
    real_rmtree(path, *args, **kwargs)
    announce("removed", path)

index_py(sys.stdin.readline())
print("ready", flush=True)
for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        os.replace, shutil.rmtree = replace, rmtree
        try:
            index_py(line)
        finally:
            os._exit(0)
    print("child", pid, flush=True)
    os.waitpid(pid, 0)
    print("ended", flush=True)
"""


def announced(line, what, path_test):
    """Whether ``line`` announces ``what`` (renaming, renamed, removing, removed) of a path that passes the test."""
    said, _, path = line.partition(" ")
    return said == what and path_test(Path(path))


def test_index_py_killed_at_any_moment_of_a_sharded_save_leaves_the_old_or_the_new_artefact(trained_checkpoint,
                                                                                            tmp_path):
    """index.py rewrites a sharded artefact (4 shards) and is SIGKILLed: before the first shard's rename, between
    shard renames, before and after the main file's rename, before and after the removal of the old artefact's
    folder, and at random moments. Each time the artefact answers exactly as brute force over the old database's
    codes, or the new one's: the old until the main file's rename, the new after it. A write that completes
    afterwards leaves one shard folder, the killed writers' folders removed."""
    from l2h import Searcher, checkpoint
    from l2h.data import DataSource
    from tests import commands
    from tests.test_sharded import reference_knn

    model = checkpoint.load(trained_checkpoint)[0]
    features = DataSource("digits", "digits").load().features
    databases = [features[:1200], features[597:] + 0.25]  # 1200 rows each: 4 shards of 300
    for n, db in enumerate(databases):
        np.save(tmp_path / f"db{n}.npy", db)
    queries = features[::60] + 0.5
    wants = [reference_knn(model.encode(queries), model.encode(db), 10) for db in databases]
    artefact = tmp_path / "artefact"
    out = artefact / "db.l2h"

    def answered():
        D, I = Searcher.load(out, mmap=False).search(queries, 10)
        return [n for n, (d, i) in enumerate(wants) if np.array_equal(D, d) and np.array_equal(I, i)]

    def arguments(n):
        return (f"ckpt_path={trained_checkpoint} data=file data.path={tmp_path / f'db{n}.npy'} out={out} "
                f"shard_size=300 progress=false hydra.run.dir={tmp_path / 'run'} hydra/job_logging=none "
                "hydra/hydra_logging=none\n")

    one_thread = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")}  # safe forks
    forker = subprocess.Popen([sys.executable, "-c", FORKER], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, **one_thread, "PYTHONPATH": str(ROOT)})
    try:
        forker.stdin.write(arguments(0))  # the old artefact, written by the forker itself
        forker.stdin.flush()
        while (line := forker.stdout.readline()) and line.strip() != "ready":
            pass
        assert answered() == [0]
        rng = np.random.default_rng(4)

        def shard(n):
            return lambda p: p.parent.name.startswith("db.l2h.shards-") and p.name.startswith(f"{n:05d}-")

        def main(p):
            return p == out

        def old_folder(p):
            return p == old  # the folder the artefact on disk named when the run began

        # killed in the pause after one of these announcements, or at a random time; the last kills fall before
        # the main file's rename, so the killed writers' folders are still there at the end
        moments = ["random", "random", "random", ("renaming", main), ("renamed", main), ("removing", old_folder),
                   ("removed", old_folder), ("renaming", shard(0)), ("renamed", shard(0)), ("renamed", shard(1)),
                   ("renamed", shard(3))]
        current = 0
        for moment in moments:
            new = 1 - current
            old = Searcher.load(out).index.paths[0].parent
            forker.stdin.write(arguments(new))
            forker.stdin.flush()
            line = forker.stdout.readline().split()
            assert line[0] == "child", line
            child = int(line[1])
            lines = []
            if moment == "random":  # within the run's second or so: a run that ended first was not killed
                time.sleep(rng.uniform(0.0, 1.0))
            else:
                what, path_test = moment
                while not (lines and announced(lines[-1], what, path_test)):
                    lines.append(forker.stdout.readline().strip())
                    assert lines[-1] not in ("ended", ""), lines  # the moment never came, or the forker died
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
            while (line := forker.stdout.readline().strip()) not in ("ended", ""):
                lines.append(line)
            got = answered()
            if moment != "random":  # killed during the pause after its announcement
                renamed_main = f"renamed {out}" in lines
                assert got == [new if renamed_main else current], (moment, lines)
            assert got in ([current], [new]), (moment, lines)
            current = got[0]
    finally:
        forker.stdin.close()
        forker.kill()
        forker.wait()
    assert len(list(artefact.glob("db.l2h.shards-*"))) > 1  # the killed writers' folders, until a write ends
    commands.index(tmp_path / "last", *arguments(1 - current).split()[:-3])
    assert answered() == [1 - current]
    folders = list(artefact.glob("db.l2h.shards-*"))
    assert len(folders) == 1 and {p.name for p in artefact.iterdir()} == {"db.l2h", ".db.l2h.lock", folders[0].name}
    assert not list(folders[0].glob(".*"))  # no temporary file left in it either


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs mounted for the test (root only)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here (it needs root): {mounted.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", "--lazy", str(disk)], check=True)  # files the test mapped may still be open


def test_index_py_on_a_full_disk_leaves_the_old_artefact_answering(trained_checkpoint, tmp_path, small_disk):
    """index.py rewrites a sharded artefact on a disk with room for nothing, part of a shard, one shard and more,
    every shard but not the main file: each time it is refused in one line, the old artefact's files are as
    they were, byte for byte, and nothing of the new one is left; with room, the new one replaces it."""
    from l2h import Searcher, checkpoint
    from l2h.data import DataSource
    from l2h.errors import L2HError
    from tests import commands
    from tests.test_sharded import files_under, reference_knn

    model = checkpoint.load(trained_checkpoint)[0]
    features = DataSource("digits", "digits").load().features
    databases = [features[:1200], features[597:] + 0.25]  # 4 shards of 300 each, about 8 KB apiece on a tmpfs
    for n, db in enumerate(databases):
        np.save(tmp_path / f"db{n}.npy", db)
    queries = features[::60] + 0.5
    wants = [reference_knn(model.encode(queries), model.encode(db), 10) for db in databases]
    out = small_disk / "db.l2h"

    def index(n, out=out):
        commands.index(tmp_path / "run", f"ckpt_path={trained_checkpoint}", "data=file",
                       f"data.path={tmp_path / f'db{n}.npy'}", f"out={out}", "shard_size=300")

    def answered():
        D, I = Searcher.load(out).search(queries, 10)
        return [n for n, (d, i) in enumerate(wants) if np.array_equal(D, d) and np.array_equal(I, i)]

    index(1, tmp_path / "probe" / "db.l2h")  # the new artefact's files, to know what room each one takes
    page = os.statvfs(small_disk).f_frsize
    pages = [-(-p.stat().st_size // page) for p in sorted((tmp_path / "probe").glob("db.l2h.shards-*/*"))]
    pages.append(-(-(tmp_path / "probe" / "db.l2h").stat().st_size // page))  # the main file, written last
    needed = np.cumsum(pages)
    index(0)
    before = files_under(small_disk)
    # room for nothing, for part of the first shard, for one shard and part of the next, for all but part of the
    # last shard (the main file's turn is test_sharded.py's full disk)
    for room in (0, pages[0] - 1, needed[0] + 1, needed[-2] - 1):
        stat = os.statvfs(small_disk)
        filler = small_disk / "filler"
        filler.write_bytes(bytes((stat.f_bavail - room) * page))
        with pytest.raises(L2HError, match="the disk is full: free some space") as err:
            index(1)
        assert "\n" not in str(err.value)
        filler.unlink()
        assert files_under(small_disk) == before, room
        assert answered() == [0]
    index(1)
    assert answered() == [1] and len(list(small_disk.glob("db.l2h.shards-*"))) == 1
