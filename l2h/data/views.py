"""Items with two views (cross-modal data: an image and its text, or the left and right halves of an image).

A two-view :class:`~l2h.data.dataset.Dataset` holds the pair as one row, view a's columns then view b's, and
records the split point in ``view_dims``. Protocols, splits, fingerprints and single-view models then work
unchanged on the pair; the cross-modal models (:mod:`l2h.hashers.grh_crossmodal`, :mod:`l2h.hashers.cca`) and the
cross-modal scores (:mod:`l2h.eval.crossmodal`) read each view's columns.

Two ways to get one: ``data.views=halves`` cuts each image (or each vector of a square number of values, as the
8 x 8 digits) into its left and right halves, the multi-view literature's proxy when no paired corpus is at hand
(Deep CCA, Andrew et al. 2013, on MNIST); ``data.features=[A, B]`` reads two arrays of the same items from one file
(image features and text features of a real corpus)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from l2h.data.dataset import Dataset
from l2h.errors import L2HError

VIEWS = ("halves",)


def check_views(views) -> str | None:
    if views is not None and views not in VIEWS:
        raise L2HError(f"data.views={views!r} is not one of {', '.join(VIEWS)}: use data.views=halves for the left "
                       "and right halves of each image, or data.features=[A,B] for two arrays of the same items")
    return views


def halves_columns(name: str, item_shape, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The flattened columns of the left and right halves of each image, in row-major order within each half."""
    if item_shape is None:
        side = math.isqrt(dim)
        if side * side != dim:
            raise L2HError(f"{name}: data.views=halves cuts images in two, and {name}'s items are {dim}-dimensional "
                           "vectors, not images: use data.features=[A,B] to name two arrays of views")
        item_shape = (1, side, side)
    width = item_shape[-1]
    if width < 2:
        raise L2HError(f"{name}: images {width} pixel wide have no left and right halves: drop data.views")
    column = np.arange(dim).reshape(item_shape) % width  # each value's column in its image
    return np.flatnonzero(column.reshape(-1) < width // 2), np.flatnonzero(column.reshape(-1) >= width // 2)


def halves(data: Dataset) -> Dataset:
    """``data`` with each item's left half as view a and its right half as view b."""
    left, right = halves_columns(data.name, data.item_shape, data.dim)
    order = np.concatenate([left, right])
    features = np.ascontiguousarray(data.rows(slice(None))[:, order])
    features.flags.writeable = False
    queries = None if data.queries is None else np.ascontiguousarray(data.queries[:, order])
    return dataclasses.replace(data, features=features, item_shape=None, queries=queries, checked=True,
                               row_check=None, view_dims=(len(left), len(right)), _cache={})


def paired(name: str, view_a: Dataset, view_b: Dataset, labels) -> Dataset:
    """One two-view dataset of two arrays of the same items (read as datasets of their own), with shared labels."""
    if view_a.n != view_b.n:
        raise L2HError(f"{name}: the two data.features arrays hold {view_a.n} and {view_b.n} items: the views must "
                       "be rows of the same items, in the same order")
    features = np.concatenate([view_a.rows(slice(None)), view_b.rows(slice(None))], axis=1)
    data = Dataset.create(name, features, labels)
    return dataclasses.replace(data, view_dims=(view_a.dim, view_b.dim))
