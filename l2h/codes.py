"""Binary codes: packing, the ±1 and {0,1} views, and Hamming distances.

Convention (as FAISS): packed codes are ``np.uint8`` of shape ``(n, ceil(bits / 8))``, least-significant bit
first, and a bit is 1 where its projection is >= 0. Unused high bits of the last byte are 0: every index refuses
codes and queries that set them (:func:`check_codes`), since a stray bit would count in a popcount and, in a hash
table keyed on the code, name a bucket that cannot exist.
"""

from __future__ import annotations

import numpy as np

from l2h import checks
from l2h.errors import L2HError

is_integer = checks.is_integer  # the indexes check their integer settings with it


def n_bytes(bits: int) -> int:
    return (bits + 7) // 8


def check_bits(bits: int, maximum: int | None = None, hint: str = "use MultiIndexHash (or l2h.index.auto) for "
               "longer codes") -> int:
    """A code length (:func:`l2h.checks.bits`) that an index of at most ``maximum`` bits can hold."""
    bits = checks.bits(bits)
    if maximum is not None and bits > maximum:
        raise L2HError(f"bits={bits} is more than this index supports ({maximum}): {hint}")
    return int(bits)


def pack(bits01: np.ndarray) -> np.ndarray:
    """(n, bits) array of {0,1} or booleans -> packed (n, ceil(bits/8)) uint8."""
    return np.packbits(np.asarray(bits01, dtype=bool), axis=1, bitorder="little")


def unpack(codes: np.ndarray, bits: int) -> np.ndarray:
    """Packed codes -> (n, bits) uint8 array of {0,1}."""
    return np.unpackbits(codes, axis=1, count=bits, bitorder="little")


def is_one(scores):
    """The sign rule, the one place it is written: a bit is 1 (its sign +1) where its score is >= 0, so a score of
    exactly 0 gives 1. Elementwise, on numpy arrays, torch tensors and scalars alike."""
    return scores >= 0


def signs(scores):
    """Real scores -> ±1 by the sign rule (:func:`is_one`): a torch tensor of the scores' dtype for a tensor,
    else a float64 numpy array."""
    if isinstance(scores, np.ndarray) or np.isscalar(scores):
        return np.where(is_one(scores), 1.0, -1.0)
    return is_one(scores).to(scores.dtype) * 2 - 1


def from_scores(scores: np.ndarray) -> np.ndarray:
    """Real-valued projections (n, bits) -> packed codes by the sign rule (:func:`is_one`)."""
    return pack(is_one(np.asarray(scores)))


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


def from_words(words: np.ndarray, bits: int) -> np.ndarray:
    """Inverse of :func:`as_words`: (n, w) unsigned words -> packed (n, ceil(bits/8)) uint8 codes."""
    words = np.ascontiguousarray(words)
    width = words.shape[1] * words.dtype.itemsize
    as_bytes = words.astype(words.dtype.newbyteorder("<"), copy=False).view(np.uint8).reshape(words.shape[0], width)
    return np.ascontiguousarray(as_bytes[:, :n_bytes(bits)])


def spare_mask(bits: int) -> int:
    """The unused high bits of the last byte of a ``bits``-bit code (0 when bits is a multiple of 8)."""
    used = bits % 8
    return 0 if used == 0 else (0xFF << used) & 0xFF


def check_codes(codes: np.ndarray, bits: int, what: str = "codes") -> np.ndarray:
    """Validate a packed code array against a code length and return it as contiguous uint8: two dimensions,
    ``ceil(bits / 8)`` bytes per row, and no bit set beyond the code length in the last byte."""
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
    spare = spare_mask(bits)
    if spare and codes.shape[0]:
        stray = np.flatnonzero(codes[:, -1] & spare)
        if stray.size:
            row = int(stray[0])
            raise L2HError(
                f"{what} set bits beyond the code length ({bits} bits) in {stray.size} rows (row {row}: last byte "
                f"0x{int(codes[row, -1]):02X}): clear the unused high bits of the last byte (l2h.codes.pack does)"
            )
    return np.ascontiguousarray(codes)


def hamming_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact Hamming distances between two small sets of packed codes, (len(a), len(b)) int32.

    Brute force by design: a reference for tests and small data, not a search method."""
    return np.bitwise_count(a[:, None, :] ^ b[None, :, :]).sum(axis=2, dtype=np.int32)


def stray_word_bits(words: np.ndarray, bits: int) -> bool:
    """Whether (n, w) unsigned words (as :func:`as_words` makes) set any bit at position ``bits`` or beyond."""
    width = 8 * words.dtype.itemsize
    for w in range(words.shape[1]):
        used = bits - width * w
        if used <= 0:
            if words[:, w].any():
                return True
        elif used < width and (words[:, w] >> np.asarray(used, dtype=words.dtype)).any():
            return True
    return False
