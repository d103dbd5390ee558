"""The split's training and validation items as a LightningDataModule.

Batches are drawn by :class:`StepBatches`: an epoch is ``steps`` batches (GRH: one round of partitioner
fitting), or one pass over the training items when ``steps`` is None (the deep losses). ``batch_size`` None
means the full batch. Items are fetched a batch at a time (``__getitems__``), not one by one.

Image data (:mod:`l2h.data.images`) trains on random views of its items (the ``transform`` group's crops and
flips), drawn afresh every epoch: with ``views`` (:class:`TrainingViews`) each batch is decoded, transformed and
preprocessed by ``workers`` DataLoader worker processes while the model trains, and arrives as
``(rows, features, label rows)``."""

from __future__ import annotations

import math

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from l2h import checks
from l2h.errors import L2HError
from l2h.model import FORWARD_ROWS


def label_matrix(labels: np.ndarray | None) -> torch.Tensor | None:
    """Class ids -> one-hot float rows; multi-hot rows as floats; None stays None."""
    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.ndim == 2:
        return torch.from_numpy(labels.astype(np.float32))
    _, index = np.unique(labels, return_inverse=True)
    return torch.nn.functional.one_hot(torch.from_numpy(index.astype(np.int64))).float()


class Items(Dataset):
    """(row, features, label row) of each item; ``__getitems__`` gathers a whole batch in one indexing."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor | None, rows_only: bool = False):
        self.features, self.labels, self.rows_only = features, labels, rows_only

    def __len__(self) -> int:
        return self.features.shape[0]

    def __getitems__(self, rows: torch.Tensor | list[int]):
        rows = torch.as_tensor(rows, dtype=torch.long)
        if self.rows_only:
            return rows
        labels = self.labels[rows] if self.labels is not None else torch.zeros(len(rows), 0)
        return rows, self.features[rows], labels

    def __getitem__(self, row: int):
        return self.__getitems__([row])


class TrainingViews(Dataset):
    """Random training views of the items ``rows`` of an image array: ``__getitems__`` decodes a batch (positions
    into ``rows``), applies the training transform, then ``preprocess`` (the model's fitted preprocessing), and
    gives ``(positions, features (m, d) float32, label rows)``. Runs in the DataLoader's worker processes;
    ``workers`` of them (0: in the training process)."""

    def __init__(self, images, rows: np.ndarray, labels: np.ndarray | None, preprocess=None, workers: int = 2):
        self.images, self.rows, self.preprocess = images, np.asarray(rows, dtype=np.int64), preprocess
        self.targets = label_matrix(labels)
        self.workers = checks.integer("data.workers", workers, minimum=0)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitems__(self, positions):
        positions = torch.as_tensor(positions, dtype=torch.long)
        x = np.stack([self.images.item(int(self.rows[p]), train=True).reshape(-1).numpy() for p in positions])
        if self.preprocess is not None:
            x = self.preprocess.transform(x)
        labels = self.targets[positions] if self.targets is not None else torch.zeros(len(positions), 0)
        return positions, torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), labels

    def __getitem__(self, position: int):
        return self.__getitems__([position])


def training_views(data, rows: np.ndarray, labels: np.ndarray | None, preprocess, workers: int = 2):
    """Random training views of the items ``rows`` of image data whose transform draws them (crops, flips);
    None for any other data (vectors, image arrays, ``transform=none``): training then reads the fixed features."""
    from l2h.data.images import ImageArray

    if not isinstance(data.features, ImageArray) or not data.features.transform.random:
        return None
    return TrainingViews(data.features, rows, labels, preprocess, workers)


class StepBatches(Sampler):
    """Batches of row indices: ``steps`` per epoch (None: one pass), each the full batch or ``batch_size`` rows
    taken in turn from seeded shuffles of all rows. ``rank`` / ``world`` give each process of a data-parallel
    run its own equal share of every batch."""

    def __init__(self, n: int, batch_size: int | None, steps: int | None, seed: int, rank: int = 0, world: int = 1,
                 shuffle: bool = True):
        self.n, self.batch_size, self.rank, self.world, self.shuffle = n, batch_size, rank, world, shuffle
        self.full = not batch_size or batch_size >= n
        self.steps = steps if steps is not None else (1 if self.full else math.ceil(n / batch_size))
        self.generator = torch.Generator().manual_seed(seed)
        self.order = torch.empty(0, dtype=torch.long)

    def __len__(self) -> int:
        return self.steps

    def _shard(self, batch: torch.Tensor) -> torch.Tensor:
        # a tensor of rows, not a list: a full batch of 69000 items made a Python list of them at every step
        return batch[self.rank::self.world] if self.world > 1 else batch

    def __iter__(self):
        if self.full:
            everything = self._shard(torch.arange(self.n))
            for _ in range(self.steps):
                yield everything
            return
        for _ in range(self.steps):
            if self.order.numel() < self.batch_size:
                fresh = torch.randperm(self.n, generator=self.generator) if self.shuffle else torch.arange(self.n)
                self.order = torch.cat([self.order, fresh])
            batch, self.order = self.order[:self.batch_size], self.order[self.batch_size:]
            yield self._shard(batch)


def _identity(batch):
    return batch


class SplitData(pl.LightningDataModule):
    """Training items (and validation items, if any) of a split, already preprocessed."""

    def __init__(self, features: np.ndarray, labels: np.ndarray | None,
                 validation: tuple[np.ndarray, np.ndarray] | None = None, batch_size: int | None = None,
                 steps: int | None = None, seed: int = 0, rows_only: bool = False,
                 eval_batch_size: int = FORWARD_ROWS, views: TrainingViews | None = None):
        """``views``: random training views of the same items, which the training batches then carry."""
        super().__init__()
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size <= 0):
            raise L2HError(f"batch_size must be a positive integer or null (the full batch), got {batch_size!r}")
        self.train_features = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        self.train_labels = labels
        self.train_targets = label_matrix(labels)
        self.validation = validation
        self.batch_size, self.steps, self.seed, self.rows_only = batch_size, steps, seed, rows_only
        self.eval_batch_size = eval_batch_size
        if views is not None and labels is not None and len(views) != len(labels):
            raise L2HError(f"{len(views)} training views for {len(labels)} training items")
        self.views = views
        # with views, ``features`` may be a sample (what the encoder's inputs were fitted on): the items are the views'
        self.n_train = len(views) if views is not None else len(self.train_features)

    @property
    def global_batch_size(self) -> int:
        """Items in one optimiser step over all processes."""
        n = self.n_train
        return n if not self.batch_size or self.batch_size >= n else self.batch_size

    @property
    def classes(self) -> int | None:
        return None if self.train_targets is None else self.train_targets.shape[1]

    def _world(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> DataLoader:
        rank, world = self._world()
        batches = StepBatches(self.n_train, self.batch_size, self.steps, self.seed, rank, world)
        if self.views is not None:
            workers = self.views.workers
            return DataLoader(self.views, batch_sampler=batches, collate_fn=_identity, num_workers=workers,
                              persistent_workers=workers > 0, pin_memory=torch.cuda.is_available())
        items = Items(self.train_features, self.train_targets, self.rows_only)
        return DataLoader(items, batch_sampler=batches, collate_fn=_identity)

    def val_dataloader(self):
        if self.validation is None:
            return []
        x, y = self.validation
        items = Items(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), torch.from_numpy(np.asarray(y)))
        batches = StepBatches(len(x), self.eval_batch_size, None, 0, shuffle=False)
        return DataLoader(items, batch_sampler=batches, collate_fn=_identity)
