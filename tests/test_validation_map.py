"""The validation mAP that drives early stopping and best-round restore, against a brute-force Hamming ranking
(tests/brute_force.py): the even-numbered validation items searched against the odd-numbered ones, never an
item against itself. Short codes, so that ties are everywhere and their rule (database id) matters."""

import numpy as np
import pytest

from l2h.training.validation import split_half_map
from tests import brute_force


@pytest.mark.parametrize("bits", [8, 16])
def test_validation_map_equals_a_brute_force_ranking_of_the_other_items(rng, bits):
    labels = np.repeat(np.arange(4), 20)  # class by class, as data files often store them
    centres = rng.integers(0, 2, (4, bits))
    noisy = centres[labels] ^ (rng.random((80, bits)) < 0.25)
    codes = np.packbits(noisy.astype(np.uint8), axis=1, bitorder="little")
    expected = brute_force.validation_map(codes, labels)
    assert 0.3 < expected < 0.95  # neither trivial nor perfect: a wrong ranking changes it
    assert split_half_map(codes, labels, bits) == pytest.approx(expected, abs=1e-12)


def test_an_item_is_never_ranked_against_itself(rng):
    """Random codes carry no class information: the validation mAP stays near chance. An item found at distance
    0 from itself would lift it towards 1."""
    labels = rng.integers(0, 4, 200)
    codes = rng.integers(0, 256, (200, 2), dtype=np.uint8)
    assert split_half_map(codes, labels, 16) == pytest.approx(brute_force.validation_map(codes, labels), abs=1e-12)
    assert split_half_map(codes, labels, 16) < 0.4
