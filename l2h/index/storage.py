"""One-file container for an index: a fixed prefix, a JSON header, and raw arrays at 64-byte-aligned offsets.

Layout::

    b"L2HINDEX" | format version (u32) | CRC-32 of the header (u32) | header length (u64) | header (JSON)
    | zero padding to 64 bytes | array 0 | zero padding to 64 bytes | array 1 | ... | last array

The header names each array's dtype, shape, offset and CRC-32, the size of the data region and the index's
own fields. Saving goes through :func:`l2h.atomic.atomic_file`, so an interrupted save leaves the old file whole.

Reading checks, before any array is handed to an index, that the prefix, header and layout are consistent
and inside the file (known little-endian dtypes, offsets aligned, in order and not overlapping, the file
exactly as long as the header says), and, with ``verify=True`` (the default), that every array's CRC-32
matches and the padding between the parts is zeros, so that every byte of the file is checked: one pass over the
file, about 1 s per GB from the page cache. Each index then checks the structure
its arrays must have (:class:`Checker`), so a damaged file is refused with an :class:`L2HError`, never read out
of bounds.

A file that is one shard of a sharded artefact also names, in its header, the artefact it belongs to and its
position there (``shard_of``); the SHA-256 of the header is the file's content checksum (:attr:`Stored.digest`):
the header holds the CRC-32 of every array, so with ``verify=True`` the digest vouches for every byte.

Arrays are memory-mapped by default (``mmap=True``): opening costs one read of the file for the checks, and
no copy. A memory-mapped file that is truncated or rewritten in place while an index uses it can crash the
process (SIGBUS) or change its answers. l2h itself never writes in place: it writes a new file and renames it
over the old one, which a process that has the old one mapped survives (it keeps the old file until it
reloads). If another program might rewrite a file in place (``cp`` over it, ``rsync --inplace``), load with
``mmap=False``, which copies the file into memory."""

from __future__ import annotations

import hashlib
import json
import mmap as mmap_mod
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from l2h.atomic import atomic_file
from l2h.codes import is_integer
from l2h.errors import L2HError

MAGIC = b"L2HINDEX"
FORMAT_VERSION = 2
_PREFIX = struct.Struct("<8sIIQ")  # magic, version, header CRC-32, header length
_ALIGN = 64
MAX_HEADER = 16 * 2**20
DTYPES = {"|u1", "|i1", "|b1", "<u2", "<i2", "<u4", "<i4", "<u8", "<i8", "<f2", "<f4", "<f8"}
MAX_NDIM = 8  # a CNN's convolution weights are 4-D


def _aligned(offset: int) -> int:
    return (offset + _ALIGN - 1) // _ALIGN * _ALIGN


def _little_endian(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, order="C")  # not ascontiguousarray: it turns a 0-d array (a scalar weight) into shape (1,)
    if a.dtype.byteorder == ">" or (a.dtype.byteorder == "=" and not np.little_endian):
        a = a.astype(a.dtype.newbyteorder("<"))
    return a


def _crc(buffer) -> int:
    crc = 0
    view = memoryview(buffer).cast("B")
    for start in range(0, len(view), 1 << 24):
        crc = zlib.crc32(view[start:start + (1 << 24)], crc)
    return crc


def write(path: str | Path, meta: dict, arrays: dict[str, np.ndarray], shard_of: dict | None = None,
          temp_folder: str | Path | None = None) -> str:
    """Write the file atomically (:func:`l2h.atomic.atomic_file`); ``shard_of``: ``{"artefact": id, "position":
    n}`` for a shard of a sharded artefact. Returns the file's content checksum (see :attr:`Stored.digest`)."""
    return prepare(meta, arrays, shard_of).write(path, temp_folder)


@dataclass(frozen=True)
class Prepared:
    """A file's bytes before it is written: its content checksum is known, so it can be named after it."""
    head: bytes  # the prefix, the header and the padding up to the first array
    arrays: dict
    layout: dict

    @property
    def digest(self) -> str:
        return _digest(self.head[_PREFIX.size:_PREFIX.size + _PREFIX.unpack(self.head[:_PREFIX.size])[3]])

    def write(self, path: str | Path, temp_folder: str | Path | None = None) -> str:
        with atomic_file(path, temp_folder) as f:
            f.write(self.head)
            written = 0
            for name, a in self.arrays.items():
                f.write(bytes(self.layout[name]["offset"] - written))
                f.write(a.reshape(-1).view(np.uint8).data)
                written = self.layout[name]["offset"] + a.nbytes
        return self.digest


def prepare(meta: dict, arrays: dict[str, np.ndarray], shard_of: dict | None = None) -> Prepared:
    arrays = {name: _little_endian(a) for name, a in arrays.items()}
    layout, offset, end = {}, 0, 0
    for name, a in arrays.items():
        if a.dtype.str not in DTYPES:
            raise TypeError(f"cannot store a {a.dtype} array ({name})")
        flat = a.reshape(-1).view(np.uint8)
        offset = _aligned(end)
        layout[name] = {"dtype": a.dtype.str, "shape": list(a.shape), "offset": offset, "crc32": _crc(flat)}
        end = offset + a.nbytes
    header = {"meta": meta, "arrays": layout, "data_size": end}
    if shard_of is not None:
        header["shard_of"] = shard_of
    header = json.dumps(header).encode()
    prefix = _PREFIX.pack(MAGIC, FORMAT_VERSION, zlib.crc32(header), len(header))
    data_start = _aligned(len(prefix) + len(header))
    return Prepared(prefix + header + bytes(data_start - len(prefix) - len(header)), arrays, layout)


def _digest(header: bytes) -> str:
    return hashlib.sha256(header).hexdigest()


def identity(path: str | Path) -> tuple | None:
    """What tells one file at ``path`` from another put there later (a rename gives another inode) or from the
    same file rewritten in place (another size or time): ``(device, inode, size, mtime_ns)``, None if absent."""
    try:
        return _identity(os.stat(path))
    except OSError:
        return None


def _identity(st: os.stat_result) -> tuple:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def retry_if_replaced(path: str | Path, load, attempts: int = 5):
    """``load()``, tried again while it fails and the file at ``path`` was replaced meanwhile: an artefact of
    several files (a sharded one) whose new version's save removed the old files this load was opening."""
    for attempt in range(attempts):
        before = identity(path)
        try:
            return load()
        except L2HError:
            if attempt == attempts - 1 or identity(path) == before:
                raise


def _refuse(path, problem: str) -> L2HError:
    return L2HError(f"{path} is damaged or is not an l2h index ({problem}): rebuild it and save it with index.save()")


@dataclass(frozen=True)
class Stored:
    """A file as read: ``meta`` and ``arrays`` as :func:`read` gives them; ``digest``, the SHA-256 of its header
    (its content checksum); ``shard_of``, the artefact it is a shard of, if any; ``identity``, the
    :func:`identity` of the file that was read."""
    meta: dict
    arrays: dict
    digest: str
    shard_of: dict | None
    identity: tuple


def read(path: str | Path, mmap: bool = True, verify: bool = True) -> tuple[dict, dict[str, np.ndarray]]:
    """The header's ``meta`` and the arrays (private copy-on-write memory maps, or copies with ``mmap=False``),
    after the checks described in the module's docstring."""
    stored = read_file(path, mmap, verify)
    return stored.meta, stored.arrays


def read_file(path: str | Path, mmap: bool = True, verify: bool = True) -> Stored:
    path = Path(path)
    if not path.is_file():
        raise L2HError(f"{path} does not exist: give the path of an index saved with index.save()")
    with open(path, "rb") as f:
        file_identity = _identity(os.fstat(f.fileno()))
        size = f.seek(0, 2)
        f.seek(0)
        head = f.read(_PREFIX.size)
        if len(head) < _PREFIX.size or head[:len(MAGIC)] != MAGIC:
            raise L2HError(f"{path} is not an l2h index file: build one and save it with index.save()")
        _, version, header_crc, header_len = _PREFIX.unpack(head)
        if version != FORMAT_VERSION:
            raise L2HError(f"{path} is an index of another file format than the one this l2h reads "
                           f"({FORMAT_VERSION}): rebuild it with this version")
        if header_len > min(MAX_HEADER, size - _PREFIX.size):
            raise _refuse(path, f"its header claims {header_len} bytes, the file has {size}")
        header_bytes = f.read(header_len)
        if zlib.crc32(header_bytes) != header_crc:
            raise _refuse(path, "its header does not match its checksum")
        try:
            header = json.loads(header_bytes)
        except (ValueError, RecursionError):
            raise _refuse(path, "its header is not JSON") from None
        data_start = _aligned(_PREFIX.size + header_len)
        specs, data_size = _check_header(path, header, size - data_start)
        if mmap and size:
            # copy-on-write: arrays are writeable for the compiled kernels (read-only ones would compile a second
            # version of each), and nothing written to them ever reaches the file
            buffer = mmap_mod.mmap(f.fileno(), 0, access=mmap_mod.ACCESS_COPY)
        else:
            buffer = bytearray(size)
            f.seek(0)
            if f.readinto(buffer) != size:
                raise _refuse(path, "the file changed while it was read")
    if verify:  # the padding is zeros: with the checksums, every byte of the file is checked
        gaps = [(_PREFIX.size + header_len, data_start)]
        covered = data_start
        for dtype, shape, offset, nbytes, crc in sorted(specs.values(), key=lambda spec: spec[2]):
            gaps.append((covered, data_start + offset))
            covered = max(covered, data_start + offset + nbytes)
        if any(any(memoryview(buffer)[lo:hi]) for lo, hi in gaps if hi > lo):
            raise _refuse(path, "its padding is not zeros")
    arrays = {}
    for name, (dtype, shape, offset, nbytes, crc) in specs.items():
        start = data_start + offset
        if verify and _crc(memoryview(buffer)[start:start + nbytes]) != crc:
            raise _refuse(path, f"array {name!r} does not match its checksum")
        if nbytes == 0:
            arrays[name] = np.empty(shape, dtype=dtype)
        else:
            arrays[name] = np.frombuffer(buffer, dtype=dtype, count=nbytes // dtype.itemsize, offset=start).reshape(shape)
    return Stored(header["meta"], arrays, _digest(header_bytes), header.get("shard_of"), file_identity)


def _check_header(path, header, room: int):
    if not isinstance(header, dict) or not {"meta", "arrays", "data_size"} <= set(header) <= {
            "meta", "arrays", "data_size", "shard_of"}:
        raise _refuse(path, "its header lacks meta, arrays or data_size")
    shard_of = header.get("shard_of", {"artefact": "", "position": 0})
    if (not isinstance(shard_of, dict) or set(shard_of) != {"artefact", "position"}
            or not isinstance(shard_of["artefact"], str) or not is_integer(shard_of["position"])):
        raise _refuse(path, "its header names the artefact it belongs to wrongly")
    meta, layout, data_size = header["meta"], header["arrays"], header["data_size"]
    if not isinstance(meta, dict) or not isinstance(layout, dict) or not is_integer(data_size):
        raise _refuse(path, "its header has fields of the wrong type")
    if data_size != room:
        raise _refuse(path, f"it should hold {data_size} bytes of arrays, it holds {room} (truncated or extended)")
    specs, spans = {}, []
    for name, spec in layout.items():
        if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "offset", "crc32"}:
            raise _refuse(path, f"array {name!r} is described wrongly")
        dtype, shape, offset, crc = spec["dtype"], spec["shape"], spec["offset"], spec["crc32"]
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise _refuse(path, f"array {name!r} has an unknown dtype {dtype!r}")
        if (not isinstance(shape, list) or len(shape) > MAX_NDIM
                or not all(is_integer(s) and 0 <= s < 2**48 for s in shape)):
            raise _refuse(path, f"array {name!r} has an invalid shape {shape!r}")
        if not is_integer(offset) or offset < 0 or offset % _ALIGN or not is_integer(crc) or not 0 <= crc < 2**32:
            raise _refuse(path, f"array {name!r} has an invalid offset or checksum")
        dtype = np.dtype(dtype)
        nbytes = dtype.itemsize
        for s in shape:
            nbytes *= s
        if offset + nbytes > data_size:
            raise _refuse(path, f"array {name!r} ends beyond the file")
        specs[name] = (dtype, tuple(shape), offset, nbytes, crc)
        spans.append((offset, offset + nbytes, name))
    spans.sort()
    for (_, end, a), (start, _, b) in zip(spans, spans[1:]):
        if start < end:
            raise _refuse(path, f"arrays {a!r} and {b!r} overlap")
    return specs, data_size


class Checker:
    """What an index's loader reads from a file, each field and array checked as it is taken: integers within
    bounds, arrays of exactly the dtype and shape expected. Every problem raises an :class:`L2HError` naming
    it; :meth:`done` refuses arrays nobody asked for."""

    def __init__(self, meta: dict, arrays: dict[str, np.ndarray], prefix: str = "", parent: Checker | None = None,
                 origin: Path | None = None, mmap: bool = True, verify: bool = True):
        """``origin``, ``mmap``, ``verify``: the file being read and how, for indexes that open other files
        (a sharded index's shards); a ``sub`` checker inherits them."""
        if not isinstance(meta, dict):
            raise L2HError("an index description is not an object")
        self.meta, self.arrays, self.prefix = meta, arrays, prefix
        if parent is not None:
            origin, mmap, verify = parent.origin, parent.mmap, parent.verify
        self.origin, self.mmap, self.verify = (Path(origin) if origin is not None else None), mmap, verify
        self.used: set[str] = parent.used if parent is not None else set()
        self.fields_read: set[str] = set()
        self.family: list[Checker] = parent.family if parent is not None else []
        self.family.append(self)

    def field(self, key: str):
        if key not in self.meta:
            raise L2HError(f"its header lacks {key!r}")
        self.fields_read.add(key)
        return self.meta[key]

    def int(self, key: str, lo: int, hi: int) -> int:
        value = self.field(key)
        if not is_integer(value) or not lo <= value <= hi:
            raise L2HError(f"its {key!r} is {value!r}, not an integer in {lo}..{hi}")
        return int(value)

    def bool(self, key: str) -> bool:
        value = self.field(key)
        if not isinstance(value, bool):
            raise L2HError(f"its {key!r} is {value!r}, not true or false")
        return value

    def str(self, key: str) -> str:
        value = self.field(key)
        if not isinstance(value, str):
            raise L2HError(f"its {key!r} is {value!r}, not a string")
        return value

    def optional(self, key: str, default=None):
        """A field that files of an older l2h may lack (``default`` then)."""
        return self.field(key) if key in self.meta else default

    def has(self, name: str) -> bool:
        return self.prefix + name in self.arrays

    def array(self, name: str, dtype, shape: tuple[int, ...]) -> np.ndarray:
        full = self.prefix + name
        if full not in self.arrays:
            raise L2HError(f"it lacks the array {full!r}")
        a = self.arrays[full]
        if a.dtype != np.dtype(dtype) or a.shape != tuple(int(s) for s in shape):
            raise L2HError(f"its array {full!r} is {a.dtype} {a.shape}, expected {np.dtype(dtype)} {tuple(shape)}")
        self.used.add(full)
        return a

    def sub(self, meta, prefix: str) -> Checker:
        return Checker(meta, self.arrays, self.prefix + prefix, self)

    def done(self, strict_fields: bool = False) -> None:
        """Refuse arrays nobody read; with ``strict_fields`` also header fields nobody read (of this checker and
        of every ``sub`` one)."""
        extra = sorted(set(self.arrays) - self.used)
        if extra:
            raise L2HError(f"it holds arrays this kind of index does not have: {', '.join(map(repr, extra[:5]))}")
        if strict_fields:
            for checker in self.family:
                unread = sorted(map(str, set(checker.meta) - checker.fields_read))
                if unread:
                    raise L2HError(f"its header has fields this kind of index does not have: {', '.join(unread[:5])}")
