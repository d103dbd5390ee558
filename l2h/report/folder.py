"""A run's output folder, written as one unit.

Everything a run produces is staged under hidden names while it runs. Only when it has finished does
:meth:`RunFolder.commit` move the previous run's files aside (its ``metrics.json`` first), rename the new files
into place (``metrics.json`` last) and delete the old ones. Killed at any moment, the folder holds files of
one run only, and a folder with a ``metrics.json`` holds exactly the run that file describes; the old run's
files are never deleted before the new run is whole. ``metrics.json`` lists the files of its run."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from l2h import atomic
from l2h.errors import L2HError

MANIFEST = "metrics.json"


class RunFolder:
    def __init__(self, path: str | Path):
        self.path = atomic.ensure_folder(Path(path))
        self.token = uuid.uuid4().hex[:12]
        self.staged: dict[str, Path] = {}

    def _hidden(self, name: str) -> Path:
        return self.path / f".{name}.{self.token}.staged"

    def stage(self, name: str, data: bytes) -> Path:
        """Write ``name``'s content now, under a hidden name; it appears as ``name`` at commit."""
        target = self._hidden(name)
        atomic.write_bytes(target, data)
        self.staged[name] = target
        return self.path / name

    def stage_folder(self, name: str) -> Path:
        """A hidden folder to fill while the run goes on (training logs); it becomes ``name`` at commit."""
        target = atomic.ensure_folder(self._hidden(name))
        self.staged[name] = target
        return target

    def previous_files(self) -> list[str]:
        """The files of the run the folder holds now, as its metrics.json lists them."""
        import json

        try:
            listed = json.loads((self.path / MANIFEST).read_text()).get("files", [])
        except (OSError, ValueError, AttributeError):
            listed = []
        return [name for name in listed if isinstance(name, str) and "/" not in name and name != MANIFEST]

    def commit(self, manifest: bytes) -> Path:
        """Replace the folder's previous run with this one; ``manifest`` is the new metrics.json."""
        self.stage(MANIFEST, manifest)
        aside = self.path / f".replaced.{self.token}"
        try:
            aside.mkdir()
            for name in [MANIFEST, *self.previous_files(), *self.staged]:
                if (self.path / name).exists() or (self.path / name).is_symlink():
                    os.replace(self.path / name, aside / name)
            for name, staged in self.staged.items():
                if name != MANIFEST:
                    os.replace(staged, self.path / name)
            os.replace(self.staged[MANIFEST], self.path / MANIFEST)
        except OSError as exc:
            raise atomic.explain(self.path, exc) from None
        shutil.rmtree(aside, ignore_errors=True)
        self.staged.clear()
        return self.path / MANIFEST

    def discard(self) -> None:
        """Remove whatever was staged (the run failed): the folder is left as it was."""
        for staged in self.staged.values():
            shutil.rmtree(staged, ignore_errors=True) if staged.is_dir() else staged.unlink(missing_ok=True)
        self.staged.clear()

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, kind, exc, traceback) -> None:
        if kind is not None:
            self.discard()


def check_writable(path: str | Path) -> None:
    """Refuse, before any work starts, an output folder that cannot be written."""
    folder = atomic.ensure_folder(Path(path))
    probe = folder / f".l2h-write-test.{uuid.uuid4().hex[:8]}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise atomic.explain(folder, exc) from None
    for name in (MANIFEST, "model.ckpt"):
        if (folder / name).is_dir():
            raise L2HError(f"cannot write {folder / name}: a folder of that name is in the way: remove it or "
                           "choose another hydra.run.dir")
