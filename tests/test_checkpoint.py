"""Checkpoints: weights only, rebuilt by class path, refused whole when damaged, and loaded without the
training framework."""

import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

from l2h import checkpoint
from l2h.data.preprocess import Preprocessor
from l2h.encoders import MLP, KernelSVM, LinearSVM
from l2h.errors import L2HError
from l2h.model import HashModel
from tests.conftest import ROOT, blobs


def mlp_model(rng, bits=24):
    x, _ = blobs(rng, n=100)
    return x, HashModel(Preprocessor(x.shape[1]).fit(x), MLP(x.shape[1], bits, hidden=32))


def test_round_trip_is_weights_only(tmp_path, rng):
    x, model = mlp_model(rng)
    path = checkpoint.save(tmp_path / "m.ckpt", model, {"model": "grh_mlp", "config": {"bits": 24}})
    torch.load(path, weights_only=True)  # plain dicts and tensors only
    loaded, meta = checkpoint.load(path)
    assert meta["model"] == "grh_mlp"
    assert np.array_equal(loaded.encode(x), model.encode(x))
    assert loaded.encode(x).shape == (100, 3)


@pytest.mark.parametrize("kind", ["fourier", "anchors"])
def test_kernel_encoders_round_trip(tmp_path, rng, kind):
    x = rng.normal(size=(80, 6)).astype(np.float32)
    pre = Preprocessor(6).fit(x)
    encoder = (KernelSVM(6, 16, features=64, gamma=0.5, seed=3) if kind == "fourier"
               else MLP(6, 16, hidden=8, anchors=20, kernel_width=0.7, seed=3))
    model = HashModel(pre, encoder.fit_inputs(torch.from_numpy(pre.transform(x))))
    loaded, _ = checkpoint.load(checkpoint.save(tmp_path / "k.ckpt", model, {"model": "grh_kernel"}))
    assert np.array_equal(loaded.encode(x), model.encode(x))


def test_refuses_files_that_are_not_checkpoints(tmp_path):
    (tmp_path / "x.ckpt").write_bytes(b"definitely not torch")
    with pytest.raises(L2HError, match="not an l2h checkpoint"):
        checkpoint.load(tmp_path / "x.ckpt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "y.ckpt")
    with pytest.raises(L2HError, match="not an l2h checkpoint"):
        checkpoint.load(tmp_path / "y.ckpt")
    with pytest.raises(L2HError, match="does not exist"):
        checkpoint.load(tmp_path / "missing.ckpt")
    with pytest.raises(L2HError, match="is a folder"):
        checkpoint.load(tmp_path)
    with pytest.raises(L2HError, match="no checkpoint given"):
        checkpoint.load(None)


def tampered(tmp_path, model, edit) -> str:
    """A checkpoint whose payload ``edit`` changed, saved as torch would save it (so only l2h's checks see it)."""
    path = checkpoint.save(tmp_path / "good.ckpt", model, {"model": "m"})
    payload = torch.load(path, weights_only=True)
    edit(payload)
    torch.save(payload, tmp_path / "bad.ckpt")
    return tmp_path / "bad.ckpt"


def _nan(p):
    p["state_dict"]["encoder.net.0.weight"][0, 0] = float("nan")


def _extra_hparam(p):
    p["encoder"]["hparams"]["mystery"] = 1


def _drop_weight(p):
    del p["state_dict"]["encoder.net.0.bias"]


def _reshape(p):
    p["state_dict"]["encoder.net.0.bias"] = torch.zeros(3)


def _foreign_class(p):
    p["encoder"]["class"] = "os:system"


def _meta(p):
    p["meta"]["model"] = "other"


def _version(p):
    p["format_version"] = 99


@pytest.mark.parametrize("edit, message", [
    (_nan, "damaged"),                       # the digest no longer matches
    (_extra_hparam, "damaged"),
    (_drop_weight, "damaged"),
    (_reshape, "damaged"),
    (_foreign_class, "damaged"),
    (_meta, "damaged"),
    (_version, "format 99"),
])
def test_refuses_damaged_checkpoints(tmp_path, rng, edit, message):
    _, model = mlp_model(rng)
    with pytest.raises(L2HError, match=message):
        checkpoint.load(tampered(tmp_path, model, edit))


@pytest.mark.parametrize("edit, message", [
    (_nan, "NaN"),
    (_extra_hparam, "do not fit this l2h"),
    (_drop_weight, "missing"),
    (_reshape, "shape"),
    (_foreign_class, "not an l2h Encoder"),
])
def test_refuses_consistent_but_wrong_checkpoints(tmp_path, rng, edit, message):
    """The same edits with a recomputed digest (a file made to pass the checksum) are refused by the checks."""
    _, model = mlp_model(rng)

    def edit_and_resign(p):
        edit(p)
        spec = {key: p[key] for key in ("bits", "encoder", "preprocess")}
        p["sha256"] = checkpoint.payload_digest(spec, p["state_dict"], p["meta"])

    with pytest.raises(L2HError, match=message):
        checkpoint.load(tampered(tmp_path, model, edit_and_resign))


def test_a_flipped_byte_of_the_weights_is_refused(tmp_path, rng):
    _, model = mlp_model(rng)
    path = checkpoint.save(tmp_path / "m.ckpt", model, {"model": "m"})
    with zipfile.ZipFile(path) as archive:
        member = max(archive.infolist(), key=lambda info: info.file_size)  # the largest tensor's storage
        start = member.header_offset + 30 + len(member.filename.encode()) + len(member.extra)
    data = bytearray(path.read_bytes())
    data[start + member.file_size // 2] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(L2HError):
        checkpoint.load(path)


def test_encoding_rejects_wrong_dimensions_and_nan(rng):
    model = HashModel(Preprocessor(4), LinearSVM(4, 8))
    with pytest.raises(L2HError, match="takes 4 dimensions"):
        model.encode(rng.normal(size=(3, 5)))
    bad = rng.normal(size=(3, 4))
    bad[1, 2] = np.nan
    with pytest.raises(L2HError, match="row 1"):
        model.encode(bad)


def test_loading_and_encoding_never_import_the_training_framework(tmp_path, rng):
    x, model = mlp_model(rng)
    path = checkpoint.save(tmp_path / "m.ckpt", model, {"model": "grh_mlp"})
    np.save(tmp_path / "x.npy", x)
    code = (f"import sys, numpy as np; from l2h import checkpoint; m, _ = checkpoint.load({str(path)!r}); "
            f"m.encode(np.load({str(tmp_path / 'x.npy')!r})); "
            "heavy = [n for n in ('pytorch_lightning', 'lightning', 'hydra', 'torchmetrics') if n in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
