"""The transform group's operations against independent references: Pillow's bilinear resize, crops located by
hand, every training view found by brute force among the windows (and mirror images) of the padded image, and
ImageNet normalisation by its formula."""

import numpy as np
import pytest
import torch
from PIL import Image

from l2h import pipeline
from l2h.errors import L2HError
from l2h.transforms import IMAGENET_MEAN, IMAGENET_STD, centre_crop, resize
from tests.commands import config


def transform(name):
    return pipeline.build(config("train", [f"transform={name}"]).transform, "transform")


def random_image(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def chw(image):
    return torch.from_numpy(image.transpose(2, 0, 1).copy())


@pytest.mark.parametrize("h, w, size", [(40, 30, 20), (30, 50, 24), (32, 32, 256)])
def test_resize_matches_pillows_bilinear_resize(h, w, size):
    image = random_image(h, w)
    out = resize(chw(image).float(), size)
    short, long = min(h, w), max(h, w)
    other = int(size * long / short)
    width, height = (size, other) if w <= h else (other, size)
    reference = np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR)).transpose(2, 0, 1)
    assert tuple(out.shape) == (3, height, width)
    assert np.abs(out.numpy() - reference).max() <= 2  # Pillow rounds to 8 bits and works in fixed point


def test_centre_crop_takes_the_middle():
    image = chw(random_image(9, 7))
    assert torch.equal(centre_crop(image, 5), image[:, 2:7, 1:6])
    with pytest.raises(L2HError, match="smaller than transform.crop=10: set transform.resize"):
        centre_crop(image, 10)


def test_normalisation_is_imagenets():
    mean_image = torch.tensor([round(255 * m) for m in IMAGENET_MEAN], dtype=torch.uint8).view(3, 1, 1)
    mean_image = mean_image.expand(3, 32, 32)
    out = transform("small")(mean_image)
    expected = [(round(255 * m) / 255 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]
    assert torch.allclose(out.mean(dim=(1, 2)), torch.tensor(expected), atol=1e-6)
    assert torch.equal(transform("none")(mean_image), mean_image.float())  # none: the pixels as they are


def unnormalise(x):
    """The pixels (0 to 255) of an ImageNet-normalised image."""
    return (x * torch.tensor(IMAGENET_STD).view(3, 1, 1) + torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) * 255


def windows(image, pad, size):
    """Every view a random crop of the zero-padded image (and its mirror image) can give."""
    padded = np.pad(image, ((0, 0), (pad, pad), (pad, pad)))
    found = []
    for top in range(padded.shape[1] - size + 1):
        for left in range(padded.shape[2] - size + 1):
            window = padded[:, top:top + size, left:left + size]
            found += [(top, left, False, window), (top, left, True, window[:, :, ::-1])]
    return found


def test_small_training_views_are_random_windows_of_the_padded_image_and_evaluation_is_fixed():
    small = transform("small")
    image = chw(random_image(32, 32))
    candidates = windows(image.numpy().astype(np.float32), 4, 32)
    torch.manual_seed(0)
    seen = []
    for _ in range(30):
        view = unnormalise(small(image, train=True)).numpy()
        matches = [(t, l, f) for t, l, f, w in candidates if np.allclose(view, w, atol=1e-3)]
        assert matches, "a training view that is no window of the padded image"
        seen.append(matches[0])
    assert len(set(seen)) > 10 and {f for _, _, f in seen} == {False, True}  # crops move, and flips happen
    torch.manual_seed(0)
    assert torch.allclose(unnormalise(small(image, train=True)), torch.from_numpy(view_at(candidates, seen[0])),
                          atol=1e-3)  # the same seed, the same views
    assert torch.allclose(unnormalise(small(image)), image.float(), atol=1e-3)  # evaluation: the image itself


def view_at(candidates, where):
    return next(np.ascontiguousarray(w) for t, l, f, w in candidates if (t, l, f) == where)


def test_imagenet_evaluation_is_the_central_224_of_the_image_resized_to_256():
    image = random_image(32, 48)
    out = transform("imagenet")(chw(image))
    assert tuple(out.shape) == (3, 224, 224)
    resized = resize(chw(image).float(), 256)  # 256 x 384
    expected = (resized[:, 16:240, 80:304] / 255 - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) \
        / torch.tensor(IMAGENET_STD).view(3, 1, 1)
    assert torch.allclose(out, expected, atol=1e-5)
    view = transform("imagenet")(chw(image), train=True)
    assert tuple(view.shape) == (3, 224, 224)
