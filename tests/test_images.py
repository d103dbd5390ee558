"""Image datasets (data=image_folder, image_list, cifar10) built on the fly: each reads the pixels written into its
files (checked against the arrays the test wrote), decodes lazily (a decode counter), follows its own split, and
refuses a bad file in one line that names it."""

import numpy as np
import pytest
from PIL import Image

from l2h import pipeline
from l2h.errors import L2HError
from tests.commands import config

CLASSES = 10


def source(*overrides):
    return pipeline.build(config("train", list(overrides)).data, "data")


def class_folder(root, per_class=3, size=(8, 6), seed=0):
    """``root/c<k>/<i>.png`` holding random RGB pixels; the pixels (items, 3, h, w) and class of each, in the
    order a sorted walk of the folders finds them."""
    rng = np.random.default_rng(seed)
    pixels, labels = [], []
    for c in range(CLASSES):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(per_class):
            image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            Image.fromarray(image).save(root / f"c{c}" / f"{i}.png")
            pixels.append(image.transpose(2, 0, 1))
            labels.append(c)
    return np.stack(pixels), np.array(labels)


def image_lists(root, counts=(("train", 12), ("test", 5), ("database", 20)), multi_hot=False, seed=1):
    """PNG files under ``root/images`` and DeepHash-style lists ``root/<role>.txt``; returns the pixels and label
    rows of each list's lines."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    written = {}
    for role, n in counts:
        lines, pixels, hot = [], [], []
        for i in range(n):
            image = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(image).save(root / "images" / f"{role}{i}.png")
            row = np.zeros(CLASSES, dtype=np.uint8)
            row[rng.choice(CLASSES, 2 if multi_hot and i % 2 else 1, replace=False)] = 1
            lines.append(f"images/{role}{i}.png " + " ".join(map(str, row)))
            pixels.append(image.transpose(2, 0, 1))
            hot.append(row)
        (root / f"{role}.txt").write_text("\n".join(lines) + "\n")
        written[role] = (np.stack(pixels), np.stack(hot))
    return written


def list_overrides(root):
    lists = (f"data.{role}={root / role}.txt" for role in ("train", "test", "database"))
    return ["data=image_list", f"data.root={root}", *lists]


def cifar_batches(folder, per_file=4, seed=2):
    """The six CIFAR-10 binary batch files, ``per_file`` records each; the pixels (60000-style order: the five
    training batches, then the test batch) and labels."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    pixels, labels = [], []
    for name in [f"data_batch_{k}.bin" for k in range(1, 6)] + ["test_batch.bin"]:
        y = rng.integers(0, CLASSES, per_file, dtype=np.uint8)
        x = rng.integers(0, 256, (per_file, 3, 32, 32), dtype=np.uint8)
        records = np.concatenate([y[:, None], x.reshape(per_file, -1)], axis=1)
        (folder / name).write_bytes(records.tobytes())
        pixels.append(x)
        labels.append(y)
    return np.concatenate(pixels), np.concatenate(labels).astype(np.int64)


def test_a_class_folder_reads_its_pixels_lazily(tmp_path):
    pixels, labels = class_folder(tmp_path / "folder")
    data = source("data=image_folder", f"data.path={tmp_path / 'folder'}").load()
    assert data.features.decodes == 1  # loading decodes the first image only, for the item shape
    assert data.item_shape == (3, 8, 6) and data.n == 30 and data.lazy
    assert np.array_equal(data.labels, labels) and data.class_names == tuple(f"c{c}" for c in range(CLASSES))
    rows = np.array([29, 4, 17])
    assert np.array_equal(data.rows(rows), pixels[rows].reshape(3, -1).astype(np.float32))
    assert data.features.decodes == 1 + 3  # only the rows asked for were decoded
    block = [b for _, b in data.chunks(7)]
    assert np.array_equal(np.concatenate(block), pixels.reshape(30, -1))
    assert data.features.decodes == 1 + 3 + 30


def test_image_lists_give_their_items_labels_and_roles(tmp_path):
    written = image_lists(tmp_path)
    data = source(*list_overrides(tmp_path)).load()
    order = [written[r] for r in ("train", "test", "database")]
    assert data.n == 37 and data.features.decodes == 1
    assert np.array_equal(data.rows(slice(None)), np.concatenate([p for p, _ in order]).reshape(37, -1))
    assert np.array_equal(data.labels, np.concatenate([h for _, h in order]).argmax(1))  # one-hot: class ids
    split = pipeline.build(config("train", ["protocol=given"]).protocol, "protocol").split(data)
    assert split.train.tolist() == list(range(12)) and split.query.tolist() == list(range(12, 17))
    assert split.database.tolist() == list(range(17, 37)) and not split.external_queries


def test_multi_hot_lists_keep_their_label_vectors(tmp_path):
    written = image_lists(tmp_path, multi_hot=True)
    data = source(*list_overrides(tmp_path)).load()
    assert data.multilabel
    assert np.array_equal(data.labels, np.concatenate([written[r][1] for r in ("train", "test", "database")]))


def test_cifar10_binary_batches_are_read_as_published(tmp_path):
    pixels, labels = cifar_batches(tmp_path / "cifar")
    data = source("data=cifar10", f"data.path={tmp_path / 'cifar'}").load()
    assert data.n == 24 and data.item_shape == (3, 32, 32) and np.array_equal(data.labels, labels)
    assert np.array_equal(data.rows(np.array([23, 0, 9])), pixels[[23, 0, 9]].reshape(3, -1))
    assert data.roles["query"].tolist() == list(range(20, 24))
    assert np.array_equal(data.roles["train"], data.roles["database"]) and data.roles["train"].size == 20


def expect_one_line(match, load):
    with pytest.raises(L2HError, match=match) as err:
        load()
    assert "\n" not in str(err.value)


def test_a_bad_image_list_is_named_with_its_line(tmp_path):
    image_lists(tmp_path)
    load = source(*list_overrides(tmp_path)).load
    test_list = tmp_path / "test.txt"
    lines = test_list.read_text().splitlines()

    test_list.write_text("\n".join([*lines[:2], "images/gone.png " + lines[2].split(" ", 1)[1], *lines[3:]]))
    expect_one_line(r"test.txt line 3: .*gone.png does not exist: .*data.root", load)

    test_list.write_text("\n".join([*lines[:3], lines[3] + " 0", *lines[4:]]))
    expect_one_line(r"test.txt line 4 has 11 labels after the image path, but .*train.txt line 1 has 10", load)

    test_list.write_text("\n")
    expect_one_line(r"test.txt lists no images", load)

    test_list.write_text("\n".join(lines))
    (tmp_path / "images" / "database3.png").write_bytes(b"not an image at all")
    data = load()  # decoding waits until the image is read
    expect_one_line(r"database.txt line 4 .*database3.png\): Pillow cannot decode the image .*replace the file",
                    lambda: data.rows(np.array([12 + 5 + 3])))


def test_a_bad_cifar10_folder_is_refused_in_one_line(tmp_path):
    cifar_batches(tmp_path / "cifar")
    load = source("data=cifar10", f"data.path={tmp_path / 'cifar'}").load
    batch = tmp_path / "cifar" / "data_batch_3.bin"
    batch.write_bytes(batch.read_bytes()[:-1])
    expect_one_line(r"data_batch_3.bin holds 12291 bytes, not a whole number of 3073-byte records", load)
    batch.unlink()
    (tmp_path / "cifar" / "data_batch_3").write_bytes(b"pickle")
    expect_one_line(r"has no data_batch_3.bin \(it holds the pickled Python version", load)


def test_images_of_several_sizes_need_a_resizing_transform(tmp_path):
    class_folder(tmp_path / "folder", per_class=1)
    Image.fromarray(np.zeros((9, 9, 3), dtype=np.uint8)).save(tmp_path / "folder" / "c3" / "big.png")
    data = source("data=image_folder", f"data.path={tmp_path / 'folder'}").load()
    expect_one_line(r"c3/big.png gives an image of shape \(3, 9, 9\) .* transform=small or transform=imagenet",
                    lambda: data.rows(slice(None)))
