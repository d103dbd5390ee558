"""What every reader shares: the parts a reader returns, the names of the settings its messages cite, and the
checks on paths and on the errors third-party parsers raise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from l2h.errors import L2HError

# Files whose feature matrix is at most this many bytes are read into memory and checked whole at load; larger
# ones stay on disk (memory-mapped or read lazily), unless the caller asks with lazy=True / lazy=False.
EAGER_BYTES = 1 << 28  # 256 MiB


@dataclass
class Parts:
    """A reader's raw findings; :meth:`l2h.data.dataset.Dataset.create` checks them."""

    features: object
    labels: object = None
    queries: object = None
    neighbors: object = None
    item_shape: tuple[int, ...] | None = None
    metric: str | None = None
    row_check: Callable[[object], None] | None = None


@dataclass(frozen=True)
class Names:
    """The settings a message tells the user to change (``data.path`` from a config; others for a command)."""

    path: str = "data.path"
    format: str = "data.format"
    features: str = "data.features"
    labels: str = "data.labels"


DATA = Names()


def reason(exc: BaseException, limit: int = 160) -> str:
    """A parser's exception as one short line."""
    text = " ".join(str(exc).split()) or "no detail"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}"


def existing(path, setting: str = "data.path", folder: bool | None = False) -> Path:
    """The path as a :class:`Path`, refusing a missing one, a folder where a file is expected (``folder``
    False) and a file where a folder is (``folder`` True); ``folder`` None takes either."""
    p = Path(path).expanduser()
    if not p.exists():
        raise L2HError(f"{p} does not exist: check {setting}")
    if folder is True and not p.is_dir():
        raise L2HError(f"{p} is a file, not a folder: {setting} must name the folder")
    if folder is False and p.is_dir():
        raise L2HError(f"{p} is a folder, not a file: point {setting} at the data file itself")
    return p


def read_head(path: Path, size: int, setting: str = "data.path") -> bytes:
    """The first ``size`` bytes of a file, refusing an unreadable one."""
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError as exc:
        raise L2HError(f"{path} cannot be read ({reason(exc)}): check {setting} and the file's permissions") from None


def eager(nbytes: int, lazy: bool | None) -> bool:
    """Whether to read a feature matrix of ``nbytes`` into memory."""
    return nbytes <= EAGER_BYTES if lazy is None else not lazy


def only_key(path: Path, keys: list[str], default: str | None, what: str, setting: str) -> str:
    """The array holding labels (or ground truth) in a second file: the named default when present, else the
    file's only array; otherwise the user must name it."""
    if default is not None and default in keys:
        return default
    if len(keys) == 1:
        return keys[0]
    listed = ", ".join(keys[:12]) or "nothing"
    raise L2HError(f"{path} holds {listed}: name the array of {what} with {setting}")
