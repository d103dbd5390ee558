"""Fixed ±1 codes, one per class: CSQ's hash centres, OrthoHash's codewords and the classifier baseline's codes.
Rows of a Sylvester Hadamard matrix (mutually orthogonal) where the code length and the number of classes allow,
else fair coins drawn with the seed."""

from __future__ import annotations

import logging

import torch

from l2h.errors import L2HError

CODEBOOKS = ("hadamard", "bernoulli")


def hadamard(n: int) -> torch.Tensor:
    """The n x n Sylvester Hadamard matrix (n a power of two): +-1 entries, rows mutually orthogonal."""
    if not isinstance(n, int) or n < 1 or n & (n - 1):
        raise L2HError(f"a Sylvester Hadamard matrix needs a power of two, got {n!r}")
    h = torch.ones(1, 1)
    while h.shape[0] < n:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h


def class_codes(classes: int, bits: int, method: str = "hadamard", seed: int = 0, negated: bool = True) -> torch.Tensor:
    """One +-1 code per class, (classes, bits). ``hadamard``: rows of H (then of -H when ``negated``) when bits is a
    power of two and there are few enough classes, else the Bernoulli codes; ``bernoulli``: fair coins, seeded."""
    if method not in CODEBOOKS:
        raise L2HError(f"codewords={method!r} is not one of {', '.join(CODEBOOKS)}")
    if not isinstance(classes, int) or classes < 1:
        raise L2HError(f"class codes need at least one class, got {classes!r}")
    power_of_two = bits & (bits - 1) == 0
    if method == "hadamard":
        if power_of_two and classes <= (2 if negated else 1) * bits:
            h = hadamard(bits)
            return torch.cat([h, -h])[:classes] if negated else h[:classes]
        logging.getLogger(__name__).info("%d classes at %d bits: no Hadamard codes (needs a power of two and at most "
                                         "%s classes), drawing Bernoulli codes", classes, bits,
                                         "2 x bits" if negated else "bits")
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randint(0, 2, (classes, bits), generator=generator).float() * 2 - 1
