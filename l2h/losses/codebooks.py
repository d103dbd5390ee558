"""Fixed ±1 codes, one per class: CSQ's hash centres (:func:`hash_centres`), OrthoHash's codewords and the
classifier baseline's codes (:func:`class_codes`). Rows of a Sylvester Hadamard matrix (mutually orthogonal) where
the code length and the number of classes allow, else codes drawn with the seed: fair coins for the codewords
(OrthoHash's authors' Bernoulli codebook), balanced codes kept apart for CSQ's centres (DeepHash-pytorch)."""

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


def hash_centres(classes: int, bits: int, method: str = "hadamard", seed: int = 0, draws: int = 4096) -> torch.Tensor:
    """CSQ's hash centres, (classes, bits), as DeepHash-pytorch builds them: with ``hadamard`` and bits a power of
    two, the rows of H and then of -H (at most 2 x bits, pairwise bits / 2 or bits apart); every other centre (all
    of them with ``bernoulli``) a balanced code (bits // 2 entries -1) drawn with the seed and redrawn until it is
    more than bits / 4 from every centre before it. Where ``draws`` candidates all fall within bits / 4 (too many
    classes for the code length), the farthest of them is kept, every later centre is the farthest of one block
    of candidates, and a warning gives the smallest distance reached."""
    if method not in CODEBOOKS:
        raise L2HError(f"centres={method!r} is not one of {', '.join(CODEBOOKS)}")
    if not isinstance(classes, int) or classes < 1:
        raise L2HError(f"hash centres need at least one class, got {classes!r}")
    centres = torch.empty(classes, bits)
    fixed = 0
    if method == "hadamard" and bits & (bits - 1) == 0:
        h = hadamard(bits)
        fixed = min(classes, 2 * bits)
        centres[:fixed] = torch.cat([h, -h])[:fixed]
    generator = torch.Generator().manual_seed(int(seed))
    block, closest = 256, float(bits)
    for c in range(fixed, classes):
        best, best_distance = None, -1.0
        # once a centre could not be kept apart, the code length is full: one block each for the rest
        for _ in range(max(1, draws // block) if closest > bits / 4 else 1):
            candidates = torch.ones(block, bits)
            candidates.scatter_(1, torch.rand(block, bits, generator=generator).argsort(1)[:, :bits // 2], -1.0)
            nearest = ((bits - candidates @ centres[:c].T) / 2).min(1).values if c else torch.full((block,), bits)
            i = int(nearest.argmax())
            if nearest[i] > best_distance:
                best, best_distance = candidates[i], float(nearest[i])
            if best_distance > bits / 4:
                break
        centres[c] = best
        closest = min(closest, best_distance)
    if closest <= bits / 4:
        logging.getLogger(__name__).warning(
            "%d hash centres of %d bits: some pairs are only %d bits apart, not more than bits / 4 = %g as "
            "DeepHash-pytorch asks (more bits, or a power of two with at most 2 x bits classes, keeps them apart)",
            classes, bits, int(closest), bits / 4)
    return centres
