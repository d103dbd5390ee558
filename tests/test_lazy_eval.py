"""Image data at the field's sizes: evaluation and index.py read lazy data a bounded chunk at a time (a byte
budget per chunk), evaluation that needs every image's pixels at once is refused before training, and an image
dataset is fingerprinted by its files, not by decoding every image."""

import os

import pytest
from PIL import Image

from l2h import pipeline
from l2h.data import dataset as dataset_module
from l2h.data.dataset import Dataset, chunk_rows
from l2h.errors import L2HError
from tests import commands
from tests.test_images import cifar_batches, class_folder, source

FAST = ["trainer=cpu", "trainer.enable_progress_bar=false", "model.epochs=2", "bits=16", "model=csq",
        "encoder=cnn", "protocol.n_query=10", "protocol.n_train=40", "model.batch_size=20"]
CHUNK = 7  # rows per chunk once the byte budget is patched to 7 rows of 12 x 12 RGB images


@pytest.fixture
def folder(tmp_path):
    class_folder(tmp_path / "folder", per_class=6, size=(12, 12))  # 60 items of 432 values
    return ["data=image_folder", f"data.path={tmp_path / 'folder'}"]


@pytest.fixture
def largest_read(monkeypatch):
    """The most rows one ``Dataset.rows`` call has read, reset with ``.clear()``."""
    sizes = []
    rows = Dataset.rows

    def counted(self, index):
        block = rows(self, index)
        sizes.append(len(block))
        return block

    monkeypatch.setattr(Dataset, "rows", counted)
    return sizes


def test_the_chunk_of_a_large_item_follows_the_byte_budget():
    assert chunk_rows(3 * 224 * 224) == 445  # 256 MiB / (150528 float32 values of 4 bytes) = 445.8
    assert chunk_rows(3 * 32 * 32) == 21845  # 2**28 / 12288
    assert chunk_rows(960) == 65536  # GIST vectors: the row limit, not the budget
    assert chunk_rows(3 * 224 * 224, 100) == 100


def test_lazy_images_are_evaluated_a_chunk_at_a_time_with_the_in_memory_scores(folder, tmp_path, monkeypatch,
                                                                              largest_read):
    hamming = "eval.rerank=hamming"  # the metrics need the codes and labels only
    commands.train(tmp_path / "run", *folder, *FAST, hamming)
    ckpt = f"ckpt_path={tmp_path / 'run' / 'model.ckpt'}"
    monkeypatch.setattr(dataset_module, "CHUNK_BYTES", CHUNK * 4 * 3 * 12 * 12)
    largest_read.clear()
    chunked = commands.evaluate(tmp_path / "chunked", ckpt, hamming)
    assert chunked["n_database"] == 50 and max(largest_read) == CHUNK
    assert sum(largest_read) == 60  # each query and database image read once, the fingerprint decodes none
    # the reference: the in-memory path (every query, then every database item, read and preprocessed whole)
    monkeypatch.setattr(pipeline, "features_needed", lambda settings, data: True)
    largest_read.clear()
    whole = commands.evaluate(tmp_path / "whole", ckpt, hamming)
    assert max(largest_read) == 50
    for key in ("map", "map@1000", "map@5000", "ranking", "data_sha256"):
        assert chunked[key] == whole[key], key
    untimed = [[{k: v for k, v in r.items() if k != "mean_query_ms"} for r in run["radius"]]
               for run in (chunked, whole)]
    assert untimed[0] == untimed[1]


def test_evaluation_needing_every_image_at_once_is_refused_before_training(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "IMAGES_IN_MEMORY", 60 * 4 * 3 * 12 * 12 - 1)  # one byte short of them all
    with pytest.raises(L2HError, match=r"^eval\.rerank=cosine needs the pixels of all 60 query and database "
                                        r"images in memory .*: set eval\.rerank=hamming"):
        commands.train(tmp_path / "run", *folder, *FAST)
    with pytest.raises(L2HError, match=r"^eval\.relevance=neighbours .*set eval\.relevance=labels"):
        commands.train(tmp_path / "run", *folder, *FAST, "eval.rerank=hamming", "eval.relevance=neighbours")
    assert not (tmp_path / "run" / "model.ckpt").exists()
    monkeypatch.setattr(pipeline, "IMAGES_IN_MEMORY", 60 * 4 * 3 * 12 * 12)  # exactly fits: evaluated whole
    assert commands.train(tmp_path / "run", *folder, *FAST)["n_database"] == 50


def test_index_py_encodes_large_items_a_budget_at_a_time(folder, tmp_path, monkeypatch):
    commands.train(tmp_path / "run", *folder, *FAST, "eval.rerank=hamming")
    monkeypatch.setattr(dataset_module, "CHUNK_BYTES", CHUNK * 4 * 3 * 12 * 12)
    blocks = []
    chunks = Dataset.chunks
    monkeypatch.setattr(Dataset, "chunks", lambda self, size: (blocks.append(len(b)) or (i, b)
                                                              for i, b in chunks(self, size)))
    indexed = commands.index(tmp_path / "index", f"ckpt_path={tmp_path / 'run' / 'model.ckpt'}", "index=flat")
    assert indexed["items"] == 60 and max(blocks) == CHUNK and sum(blocks) == 60


def test_image_files_are_fingerprinted_without_decoding_them(tmp_path):
    pixels, _ = class_folder(tmp_path / "folder", per_class=2)
    data = ["data=image_folder", f"data.path={tmp_path / 'folder'}"]
    first = source(*data).load()
    before = first.features.decodes
    fingerprint = first.fingerprint()
    assert first.features.decodes == before  # not one image decoded
    assert source(*data).load().fingerprint() == fingerprint  # the same files: the same fingerprint
    small = source(*data, "transform=small").load().fingerprint()
    assert source(*data, "transform=small", "transform.normalise=false").load().fingerprint() != small  # same shape
    image = tmp_path / "folder" / "c3" / "1.png"
    stat = image.stat()
    with open(image, "ab") as f:
        f.write(b"\0")  # a longer file (Pillow still reads it), its modification time put back
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert source(*data).load().fingerprint() != fingerprint
    Image.fromarray(255 - pixels[7].transpose(1, 2, 0)).save(image)  # other pixels, the file as long as it was
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # rewritten later: only the time tells
    assert image.stat().st_size == stat.st_size
    assert source(*data).load().fingerprint() != fingerprint

def test_cifar10_batches_are_fingerprinted_by_their_bytes(tmp_path):
    cifar_batches(tmp_path / "cifar")
    data = ["data=cifar10", f"data.path={tmp_path / 'cifar'}"]
    fingerprint = source(*data).load().fingerprint()
    batch = tmp_path / "cifar" / "data_batch_3.bin"
    stat = batch.stat()
    records = bytearray(batch.read_bytes())
    records[100] ^= 1  # one pixel of the first record
    batch.write_bytes(bytes(records))
    os.utime(batch, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same time: only the bytes tell
    assert source(*data).load().fingerprint() != fingerprint


def test_training_on_views_holds_a_sample_of_the_items_not_all_of_them(tmp_path, monkeypatch):
    """With training views, the fixed features are one chunk of training items (what the preprocessing and the
    pixel scale are fitted on), read once, and never moved to the device: the 40 training items reach the model
    only as views (counted in this process, data.workers=0)."""
    from l2h.data.images import ImageArray
    from l2h.training.deep import DeepModule

    class_folder(tmp_path / "folder", per_class=6, size=(32, 32))
    decoded = {True: 0, False: 0}
    item = ImageArray.item

    def counted(self, i, train=False):
        decoded[train] += 1
        return item(self, i, train)

    monkeypatch.setattr(ImageArray, "item", counted)
    on_device = []
    fit_start = DeepModule.on_fit_start
    monkeypatch.setattr(DeepModule, "on_fit_start",
                        lambda self: (fit_start(self), on_device.append(hasattr(self, "embedded")))[0])
    monkeypatch.setattr(dataset_module, "CHUNK_BYTES", CHUNK * 4 * 3 * 32 * 32)
    trained = commands.train(tmp_path / "run", f"data.path={tmp_path / 'folder'}", "data=image_folder",
                             "transform=small", "data.workers=0", *FAST, "eval.rerank=hamming")
    assert trained["n_train"] == 40 and decoded[True] == 2 * 40  # two epochs of views of every training item
    assert decoded[False] == 1 + CHUNK + 60  # the first image at load, the fitting sample, the evaluation
    assert on_device == [False]


def test_every_table_trains_on_the_views(tmp_path, monkeypatch):
    from l2h.data.images import ImageArray

    class_folder(tmp_path / "folder", per_class=4, size=(32, 32))
    views = []
    item = ImageArray.item
    monkeypatch.setattr(ImageArray, "item", lambda self, i, train=False: (views.append(i) if train else None,
                                                                          item(self, i, train))[1])
    trained = commands.train(tmp_path / "run", f"data.path={tmp_path / 'folder'}", "data=image_folder",
                             "transform=small", "data.workers=0", *FAST[:-2], "protocol.n_query=10",
                             "protocol.n_train=20", "model.batch_size=10", "tables=2", "eval.rerank=hamming")
    assert trained["tables"] == 2 and len(views) == 2 * 2 * 20  # two tables, two epochs each, of 20 items
