import numpy as np

from l2h import codes


def test_pack_is_little_endian_and_round_trips(rng):
    bits01 = rng.integers(0, 2, (50, 20))
    packed = codes.pack(bits01)
    assert packed.shape == (50, 3) and packed.dtype == np.uint8
    assert np.array_equal(codes.unpack(packed, 20), bits01)
    # bit 0 of the code is the least-significant bit of byte 0, as in FAISS
    assert codes.pack(np.eye(8, dtype=np.uint8))[:, 0].tolist() == [1, 2, 4, 8, 16, 32, 64, 128]


def test_bit_is_one_where_projection_is_non_negative():
    scores = np.array([[-1.0, 0.0, 2.0, -0.0]])
    assert codes.unpack(codes.from_scores(scores), 4).tolist() == [[0, 1, 1, 1]]
    assert codes.to_signs(codes.from_scores(scores), 4).tolist() == [[-1, 1, 1, 1]]


def test_hamming_matrix_matches_bit_counts(rng):
    a, b = rng.integers(0, 2, (5, 70)), rng.integers(0, 2, (7, 70))
    expected = (a[:, None, :] != b[None, :, :]).sum(axis=2)
    assert np.array_equal(codes.hamming_matrix(codes.pack(a), codes.pack(b)), expected)
