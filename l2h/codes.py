"""Binary codes: packing, the ±1 and {0,1} views, and Hamming distances.

Convention (as FAISS): packed codes are ``np.uint8`` of shape ``(n, ceil(bits / 8))``, least-significant bit
first, and a bit is 1 where its projection is >= 0. Unused high bits of the last byte are 0.
"""

from __future__ import annotations

import numpy as np

from l2h.errors import L2HError


def n_bytes(bits: int) -> int:
    return (bits + 7) // 8


def check_bits(bits: int, maximum: int | None = None) -> int:
    if not isinstance(bits, (int, np.integer)) or bits <= 0:
        raise L2HError(f"bits must be a positive integer, got {bits!r}: set bits=16, 32 or 64")
    if maximum is not None and bits > maximum:
        raise L2HError(f"bits={bits} is more than this index supports ({maximum}): use MultiIndexHash for long codes")
    return int(bits)


def pack(bits01: np.ndarray) -> np.ndarray:
    """(n, bits) array of {0,1} or booleans -> packed (n, ceil(bits/8)) uint8."""
    return np.packbits(np.asarray(bits01, dtype=bool), axis=1, bitorder="little")


def unpack(codes: np.ndarray, bits: int) -> np.ndarray:
    """Packed codes -> (n, bits) uint8 array of {0,1}."""
    return np.unpackbits(codes, axis=1, count=bits, bitorder="little")


def from_scores(scores: np.ndarray) -> np.ndarray:
    """Real-valued projections (n, bits) -> packed codes, bit = 1 where the score is >= 0."""
    return pack(np.asarray(scores) >= 0)


def to_signs(codes: np.ndarray, bits: int) -> np.ndarray:
    """Packed codes -> (n, bits) float32 array of ±1."""
    return unpack(codes, bits).astype(np.float32) * 2 - 1


def as_words(codes: np.ndarray) -> np.ndarray:
    """Packed codes -> (n, ceil(bytes/8)) uint64 words, little-endian, zero-padded; one word holds 64 bits."""
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    n, nb = codes.shape
    if nb in (1, 2, 4, 8):  # one word: reinterpret the bytes, no padding copy
        return codes.view(f"<u{nb}").astype(np.uint64)
    words = (nb + 7) // 8
    padded = np.zeros((n, words * 8), dtype=np.uint8)
    padded[:, :nb] = codes
    return padded.view("<u8").astype(np.uint64, copy=False)


def check_codes(codes: np.ndarray, bits: int, what: str = "codes") -> np.ndarray:
    """Validate a packed code array against a code length and return it as contiguous uint8."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.dtype != np.uint8:
        raise L2HError(
            f"{what} must be a packed uint8 array of shape (n, {n_bytes(bits)}), got {codes.dtype} {codes.shape}: "
            "pack ±1 or 0/1 codes with l2h.codes.pack"
        )
    if codes.shape[1] != n_bytes(bits):
        raise L2HError(
            f"{what} hold {codes.shape[1] * 8}-bit codes but the index was built for {bits} bits: "
            "encode with a model of the same code length"
        )
    return np.ascontiguousarray(codes)


def hamming_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact Hamming distances between two small sets of packed codes, (len(a), len(b)) int32.

    Brute force by design: a reference for tests and small data, not a search method."""
    return np.bitwise_count(a[:, None, :] ^ b[None, :, :]).sum(axis=2, dtype=np.int32)
