"""One-file container for an index: a JSON header and raw arrays at 64-byte-aligned offsets.

Loading memory-maps the arrays, so opening a large index costs almost nothing. Saving writes a temporary file
beside the target and renames it over the target only when complete, so an interrupted save leaves the old
file intact."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

from l2h.errors import L2HError

MAGIC = b"L2HINDEX"
FORMAT_VERSION = 1
_ALIGN = 64


def _aligned(offset: int) -> int:
    return (offset + _ALIGN - 1) // _ALIGN * _ALIGN


def write(path: str | Path, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    path = Path(path)
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    layout, offset = {}, 0
    for name, a in arrays.items():
        layout[name] = {"dtype": a.dtype.str, "shape": list(a.shape), "offset": offset}
        offset = _aligned(offset + a.nbytes)
    header = json.dumps({"version": FORMAT_VERSION, "meta": meta, "arrays": layout}).encode()
    data_start = _aligned(len(MAGIC) + 8 + len(header))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + len(header).to_bytes(8, "little") + header)
            for name, a in arrays.items():
                f.seek(data_start + layout[name]["offset"])
                f.write(a.tobytes())
            f.truncate(data_start + offset)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read(path: str | Path, mmap: bool = True) -> tuple[dict, dict[str, np.ndarray]]:
    path = Path(path)
    if not path.is_file():
        raise L2HError(f"{path} does not exist: give the path of an index saved with index.save()")
    with open(path, "rb") as f:
        head = f.read(len(MAGIC) + 8)
        if len(head) < len(MAGIC) + 8 or head[: len(MAGIC)] != MAGIC:
            raise L2HError(f"{path} is not an l2h index file: build one and save it with index.save()")
        header_len = int.from_bytes(head[len(MAGIC):], "little")
        try:
            header = json.loads(f.read(header_len))
        except ValueError:
            raise L2HError(f"{path} has a damaged header: rebuild the index") from None
    if header.get("version") != FORMAT_VERSION:
        raise L2HError(f"{path} is an index of format {header.get('version')}, this l2h reads {FORMAT_VERSION}: rebuild it")
    data_start = _aligned(len(MAGIC) + 8 + header_len)
    arrays = {}
    for name, spec in header["arrays"].items():
        dtype, shape = np.dtype(spec["dtype"]), tuple(spec["shape"])
        offset = data_start + spec["offset"]
        if int(np.prod(shape)) == 0:
            arrays[name] = np.empty(shape, dtype=dtype)
        elif mmap:
            arrays[name] = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
        else:
            arrays[name] = np.fromfile(path, dtype=dtype, count=int(np.prod(shape)), offset=offset).reshape(shape)
    return header["meta"], arrays
