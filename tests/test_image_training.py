"""Training on image data: the DataModule's workers decode, transform and preprocess each batch of training views;
train / evaluate / index / search run on image files end to end."""

import numpy as np
import pytest
import torch

from l2h import checkpoint
from l2h.data.images import ImageArray
from l2h.data.preprocess import Preprocessor
from l2h.errors import L2HError
from l2h.training.data import SplitData, TrainingViews
from tests import commands
from tests.test_images import cifar_batches, class_folder, image_lists, list_overrides, source


def test_training_views_are_decoded_by_worker_processes(tmp_path):
    pixels, labels = class_folder(tmp_path / "folder", per_class=4)
    data = source("data=image_folder", f"data.path={tmp_path / 'folder'}").load()
    train = np.arange(0, 40, 2)
    preprocess = Preprocessor(data.dim).fit(data.rows(train))
    views = TrainingViews(data.features, train, data.labels[train], preprocess, workers=2)
    module = SplitData(preprocess.transform(data.rows(train)), data.labels[train], batch_size=5, seed=0,
                       views=views)
    before = data.features.decodes
    loader = module.train_dataloader()
    assert loader.num_workers == 2 and loader.persistent_workers
    seen = []
    for positions, x, y in loader:
        rows = train[positions.numpy()]
        expected = preprocess.transform(pixels[rows].reshape(len(rows), -1).astype(np.float32))
        np.testing.assert_allclose(x.numpy(), expected, rtol=1e-6, atol=1e-6)
        assert torch.equal(y.argmax(1), torch.as_tensor(labels[rows]))
        seen += rows.tolist()
    assert sorted(seen) == train.tolist()  # one pass over the training items
    assert data.features.decodes == before  # every image of the pass was decoded in a worker, none here


FAST = ["trainer=cpu", "trainer.enable_progress_bar=false", "model.epochs=2", "bits=16"]


def index_and_search(tmp_path, ckpt, data, rows):
    """index.py on the checkpoint's own data, then search.py with some of its items (as the model sees them) as
    queries: the distances found are those of a brute-force scan over the model's codes of every item."""
    indexed = commands.index(tmp_path / "index", f"ckpt_path={ckpt}", "index=flat")
    assert indexed["items"] == data.n
    np.save(tmp_path / "queries.npy", data.rows(rows))
    commands.search(tmp_path / "search", f"index_path={indexed['index_path']}",
                    f"queries.path={tmp_path / 'queries.npy'}", "k=3", f"out={tmp_path / 'results.npz'}")
    found = np.load(tmp_path / "results.npz")
    model, _ = checkpoint.load(ckpt)
    codes, query_codes = model.encode(data.rows(slice(None))), model.encode(data.rows(rows))
    distances = np.unpackbits(query_codes[:, None] ^ codes[None], axis=2).sum(axis=2)
    assert np.array_equal(found["D"], np.sort(distances, axis=1)[:, :3])
    assert (found["D"][:, 0] == 0).all()  # each query is in the database


def test_train_evaluate_index_and_search_a_class_folder(tmp_path):
    class_folder(tmp_path / "folder", per_class=6, size=(12, 12))
    data = ["data=image_folder", f"data.path={tmp_path / 'folder'}"]
    trained = commands.train(tmp_path / "run", "model=csq", "encoder=cnn", *data, *FAST, "protocol.n_query=10",
                             "protocol.n_train=40", "model.batch_size=20")
    assert trained["n_database"] == 50 and trained["dataset"] == "image_folder"
    ckpt = tmp_path / "run" / "model.ckpt"
    evaluated = commands.evaluate(tmp_path / "eval", f"ckpt_path={ckpt}")
    assert evaluated["map"] == trained["map"]  # the checkpoint's own data, transform and split, encoded the same
    index_and_search(tmp_path, ckpt, source(*data).load(), np.array([5, 40]))


def test_an_augmenting_transform_trains_on_fresh_views_every_epoch(tmp_path, monkeypatch):
    """transform=small: every epoch draws a new crop and flip of each training item (counted in this process,
    data.workers=0); evaluation, from the checkpoint too, encodes the central view."""
    class_folder(tmp_path / "folder", per_class=5, size=(32, 32))
    views = []
    item = ImageArray.item
    monkeypatch.setattr(ImageArray, "item", lambda self, i, train=False: (views.append(i) if train else None,
                                                                          item(self, i, train))[1])
    data = ["data=image_folder", f"data.path={tmp_path / 'folder'}", "transform=small", "data.workers=0"]
    trained = commands.train(tmp_path / "run", "model=csq", "encoder=cnn", *data, *FAST, "protocol.n_query=10",
                             "protocol.n_train=30", "model.batch_size=10")
    assert len(views) == 2 * 30 and len(set(views)) == 30  # two epochs, each over every training item once
    evaluated = commands.evaluate(tmp_path / "eval", f"ckpt_path={tmp_path / 'run' / 'model.ckpt'}")
    assert evaluated["map"] == trained["map"] and len(views) == 60  # evaluation draws no training view
    assert evaluated["config"]["data"]["transform"]["name"] == "small"


def test_training_reads_the_views_it_draws(tmp_path, monkeypatch):
    """Training views made of NaN poison the loss only if the training steps read them."""
    class_folder(tmp_path / "folder", per_class=3, size=(32, 32))
    item = ImageArray.item
    monkeypatch.setattr(ImageArray, "item",
                        lambda self, i, train=False: item(self, i, train) * (np.nan if train else 1))
    with pytest.raises(L2HError, match="loss became nan"):
        commands.train(tmp_path / "run", "model=csq", "encoder=cnn", "data=image_folder",
                       f"data.path={tmp_path / 'folder'}", "transform=small", "data.workers=0", *FAST,
                       "protocol.n_query=10", "protocol.n_train=20", "model.batch_size=10")


def test_cifar10_batches_train_with_worker_processes_and_index(tmp_path):
    cifar_batches(tmp_path / "cifar", per_file=10)
    data = ["data=cifar10", f"data.path={tmp_path / 'cifar'}", "transform=small", "data.workers=2"]
    trained = commands.train(tmp_path / "run", "model=csq", "encoder=cnn", *data, *FAST, "protocol=given",
                             "model.batch_size=25")
    assert (trained["n_query"], trained["n_train"], trained["n_database"]) == (10, 50, 50)
    index_and_search(tmp_path, tmp_path / "run" / "model.ckpt", source(*data).load(), np.array([0, 57]))


def test_image_lists_train_on_their_own_split(tmp_path):
    image_lists(tmp_path, counts=(("train", 20), ("test", 6), ("database", 24)))
    trained = commands.train(tmp_path / "run", "model=csq", "encoder=cnn", *list_overrides(tmp_path), *FAST,
                             "protocol=given", "model.batch_size=10")
    assert (trained["n_query"], trained["n_train"], trained["n_database"]) == (6, 20, 24)
    evaluated = commands.evaluate(tmp_path / "eval", f"ckpt_path={tmp_path / 'run' / 'model.ckpt'}")
    assert evaluated["map"] == trained["map"]


def test_resnet18_trains_on_augmented_cifar10_batches(tmp_path):
    cifar_batches(tmp_path / "cifar", per_file=6)
    data = ["data=cifar10", f"data.path={tmp_path / 'cifar'}", "transform=small", "data.workers=2"]
    trained = commands.train(tmp_path / "run", "model=csq", "encoder=resnet18", "encoder.weights=none", *data, *FAST,
                             "protocol=given", "model.batch_size=10", "model.epochs=1")
    evaluated = commands.evaluate(tmp_path / "eval", f"ckpt_path={tmp_path / 'run' / 'model.ckpt'}")
    assert evaluated["map"] == trained["map"] and trained["n_train"] == 30


@pytest.mark.slow
def test_dpsh_alexnet_trains_on_an_image_list(tmp_path):
    """AlexNet needs 63-pixel images at least: the list's 8-pixel images are resized up to 224 by transform=imagenet."""
    image_lists(tmp_path, counts=(("train", 10), ("test", 4), ("database", 10)))
    trained = commands.train(tmp_path / "run", "model=dpsh", "encoder=alexnet", "encoder.weights=none",
                             *list_overrides(tmp_path), "transform=imagenet", "data.workers=0", *FAST,
                             "protocol=given", "model.batch_size=10", "model.epochs=1")
    evaluated = commands.evaluate(tmp_path / "eval", f"ckpt_path={tmp_path / 'run' / 'model.ckpt'}")
    assert evaluated["map"] == trained["map"]
