"""Writers of every format l2h reads, used by the data tests to make good and bad files. Each writer follows the
format's own specification (not l2h's reader); the tests here check the writers against the reference readers
(scipy, h5py, NumPy, or the format's definition), so a reader test compares against an independent file."""

import gzip
import struct

import h5py
import numpy as np
import scipy.io

IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B, np.dtype(">i4"): 0x0C,
             np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}
MATLAB_CLASS = {"f8": "double", "f4": "single", "u1": "uint8", "i1": "int8", "i4": "int32", "u2": "uint16",
                "i8": "int64", "b1": "logical"}


def write_idx(path, array, gz=None):
    """An IDX file: 0, 0, type code, ndim, big-endian uint32 sizes, big-endian data; gzipped if the name ends .gz."""
    a = np.asarray(array)
    big = a.dtype.newbyteorder(">") if a.dtype.itemsize > 1 else a.dtype
    header = bytes([0, 0, IDX_CODES[np.dtype(big)], a.ndim]) + b"".join(struct.pack(">I", s) for s in a.shape)
    payload = header + a.astype(big).tobytes()
    gz = str(path).endswith(".gz") if gz is None else gz
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(payload)
    return path


def write_mnist_folder(folder, train, train_labels, test, test_labels, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    write_idx(folder / f"train-images-idx3-ubyte{ext}", train)
    write_idx(folder / f"train-labels-idx1-ubyte{ext}", train_labels)
    write_idx(folder / f"t10k-images-idx3-ubyte{ext}", test)
    write_idx(folder / f"t10k-labels-idx1-ubyte{ext}", test_labels)
    return folder


def write_vecs(path, array, fmt):
    """TEXMEX: per row an int32 little-endian dimension, then the row (float32 / uint8 / int32)."""
    dtype = {"fvecs": "<f4", "bvecs": "u1", "ivecs": "<i4"}[fmt]
    a = np.asarray(array).astype(dtype)
    with open(path, "wb") as f:
        for row in a:
            f.write(struct.pack("<i", a.shape[1]))
            f.write(row.tobytes())
    return path


def write_mat_v73(path, variables, userblock=True):
    """A MATLAB v7.3 file as MATLAB writes it: HDF5 behind a 512-byte text header, every array stored with its
    axes reversed (column-major), a MATLAB_class attribute; text as char (uint16) arrays, lists of text as cells
    of references to char arrays under #refs#."""
    with h5py.File(path, "w", userblock_size=512 if userblock else 0) as f:
        for key, value in variables.items():
            if isinstance(value, list):  # a cell array (n x 1) of text
                refs = []
                for i, text in enumerate(value):
                    codes = np.array([[ord(c) for c in text]], dtype=np.uint16)  # 1 x len in MATLAB
                    ds = f.create_dataset(f"#refs#/{key}_{i}", data=codes.T)
                    ds.attrs["MATLAB_class"] = np.bytes_("char")
                    refs.append(ds.ref)
                cell = f.create_dataset(key, data=np.array([refs], dtype=h5py.ref_dtype))  # stored 1 x n = (n x 1).T
                cell.attrs["MATLAB_class"] = np.bytes_("cell")
                continue
            a = np.asarray(value)
            if a.dtype.kind == "U":  # a char matrix, one padded row per item
                width = max(len(s) for s in a.reshape(-1))
                codes = np.array([[ord(c) for c in s.ljust(width)] for s in a.reshape(-1)], dtype=np.uint16)
                ds = f.create_dataset(key, data=codes.T)
                ds.attrs["MATLAB_class"] = np.bytes_("char")
                continue
            if a.ndim < 2:
                a = a.reshape(1, -1)  # MATLAB has no 1-D arrays: a vector is a 1 x n row
            stored = a.astype(np.uint8) if a.dtype == bool else a
            ds = f.create_dataset(key, data=np.transpose(stored))
            ds.attrs["MATLAB_class"] = np.bytes_(MATLAB_CLASS.get(a.dtype.str[1:], "double"))
    if userblock:
        header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
        with open(path, "r+b") as f:
            f.write(header.ljust(116) + b"\0" * 8 + b"\x00\x02IM")
    return path


def write_mat_v5(path, variables):
    scipy.io.savemat(path, variables)
    return path


def write_ann(path, train, test=None, neighbors=None, distance="euclidean"):
    """An ann-benchmarks HDF5 file."""
    with h5py.File(path, "w") as f:
        f.attrs["distance"] = distance
        f["train"] = train
        if test is not None:
            f["test"] = test
        if neighbors is not None:
            f["neighbors"] = neighbors
            f["distances"] = np.zeros(np.shape(neighbors), np.float32)
    return path


# ---- the writers against the formats' definitions and reference readers ----------------------------------------


def test_idx_writer_matches_the_mnist_layout(tmp_path):
    x = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = write_idx(tmp_path / "a", x).read_bytes()
    assert raw[:4] == bytes([0, 0, 8, 3]) and raw[4:16] == struct.pack(">III", 2, 3, 4) and raw[16:] == x.tobytes()
    with gzip.open(write_idx(tmp_path / "a.gz", np.array([1.5], ">f4")), "rb") as f:
        assert f.read() == bytes([0, 0, 0x0D, 1]) + struct.pack(">I", 1) + struct.pack(">f", 1.5)


def test_vecs_writer_matches_texmex(tmp_path):
    raw = write_vecs(tmp_path / "a.fvecs", [[1.0, 2.0], [3.0, 4.0]], "fvecs").read_bytes()
    assert raw == struct.pack("<iff", 2, 1, 2) + struct.pack("<iff", 2, 3, 4)
    assert write_vecs(tmp_path / "a.bvecs", [[7, 8, 9]], "bvecs").read_bytes() == struct.pack("<iBBB", 3, 7, 8, 9)


def test_v73_writer_stores_matlab_layout(tmp_path):
    x = np.arange(6.0).reshape(2, 3)
    write_mat_v73(tmp_path / "a.mat", {"X": x, "c": ["ab", "c"], "s": np.array(["x", "yz"])})
    assert (tmp_path / "a.mat").read_bytes()[:10] == b"MATLAB 7.3"
    with h5py.File(tmp_path / "a.mat") as f:
        assert f["X"].shape == (3, 2) and np.array_equal(f["X"][()], x.T)
        assert f["X"].attrs["MATLAB_class"] == b"double" and f["c"].attrs["MATLAB_class"] == b"cell"
        assert "".join(map(chr, f[f["c"][()][0, 1]][()].reshape(-1))) == "c"
        assert f["s"].shape == (2, 2)
