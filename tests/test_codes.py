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


def test_stray_bits_beyond_the_code_length_are_refused():
    import pytest

    from l2h.errors import L2HError

    ok = np.array([[0x0F], [0x03]], dtype=np.uint8)
    assert codes.check_codes(ok, 4) is not None
    for byte in (0x10, 0xF3, 0x80):
        with pytest.raises(L2HError, match=r"beyond the code length \(4 bits\).*0x%02X" % byte):
            codes.check_codes(np.array([[0x01], [byte]], dtype=np.uint8), 4)
    assert codes.spare_mask(8) == 0 and codes.spare_mask(20) == 0xF0 and codes.spare_mask(1) == 0xFE
    # a multiple of 8 has no spare bits: every byte value is a code
    codes.check_codes(np.full((3, 2), 0xFF, dtype=np.uint8), 16)


def test_words_round_trip_and_stray_word_bits(rng):
    for bits in (5, 20, 32, 64, 65, 100, 128, 1000):
        packed = codes.pack(rng.integers(0, 2, (30, bits)))
        words = codes.as_words(packed)
        assert np.array_equal(codes.from_words(words, bits), packed)
        assert not codes.stray_word_bits(words, bits)
        spoiled = words.copy()
        spoiled[3, bits // 64 if bits % 64 else bits // 64 - 1] |= np.uint64(1) << np.uint64(63)
        assert codes.stray_word_bits(spoiled, bits) == (bits % 64 != 0)


def test_32_bit_words_read_like_64_bit_words(rng):
    for bits in (5, 20, 32):
        packed = codes.pack(rng.integers(0, 2, (30, bits)))
        assert np.array_equal(codes.from_words(codes.as_words(packed).astype(np.uint32), bits), packed)


def test_is_integer_refuses_bools_and_floats():
    assert codes.is_integer(3) and codes.is_integer(np.int32(3))
    assert not codes.is_integer(True) and not codes.is_integer(np.bool_(True)) and not codes.is_integer(2.0)
