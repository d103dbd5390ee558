"""What keeps a GPU busy, checked on the CPU: the ``device`` setting of evaluate, index and search (on the CPU the
codes are the model's own formula's; a device that does not exist is one line), which device training and
encoding pick, and GRH's scoring of the training items in bounded chunks."""

import functools
import traceback

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from l2h import checkpoint, devices
from l2h.encoders import LinearSVM
from l2h.errors import L2HError
from l2h.hashers.deep import DeepHasher
from l2h.hashers.grh import GRH
from l2h.hashers.itq import ITQ
from l2h.losses import DPSH
from l2h.pipeline import build
from l2h.searcher import Searcher
from l2h.training import grh as grh_module
from tests.commands import FAST, config, evaluate, index, search, train
from tests.conftest import blobs


@pytest.fixture(scope="module")
def itq_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("itq")
    train(out, "model=itq", "bits=16", *FAST)
    return out


def formula_bits(ckpt, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ITQ's bits by its formula in float64 numpy, [(l2_normalise(x) - mean) @ W^T + b >= 0], and where they are
    sure: a score within 1e-4 of 0 may fall either side in float32."""
    model, _ = checkpoint.load(ckpt)
    state = {k: v.double().numpy() for k, v in model.state_dict().items()}
    x = rows.astype(np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True) - state["preprocess.mean"]
    scores = x @ state["encoder.linear.weight"].T + state["encoder.linear.bias"]
    return scores >= 0, np.abs(scores) > 1e-4


def assert_formula_codes(packed: np.ndarray, ckpt, rows: np.ndarray) -> None:
    bits, sure = formula_bits(ckpt, rows)
    assert sure.mean() > 0.99
    assert np.array_equal(np.unpackbits(packed, axis=1, bitorder="little")[sure], bits[sure])


def test_evaluate_and_index_on_the_cpu_give_the_formulas_codes(itq_run, tmp_path):
    ckpt = itq_run / "model.ckpt"
    evaluate(tmp_path / "eval", f"ckpt_path={ckpt}", "device=cpu", "eval.save_codes=true")
    saved = np.load(tmp_path / "eval" / "codes.npz")
    data = build(config("evaluate").data, "data").load()
    assert_formula_codes(saved["database"], ckpt, data.rows(saved["database_rows"]))
    index(tmp_path / "index", f"ckpt_path={ckpt}", "device=cpu", "index=flat", f"out={tmp_path / 'db.l2h'}")
    assert_formula_codes(Searcher.load(tmp_path / "db.l2h").index.codes(), ckpt, data.rows(np.arange(data.n)))


@pytest.mark.parametrize("device, message", [
    ("moon", "device='moon' is not a torch device: use auto, cpu, cuda or cuda:N"),
    ("cuda", "device=cuda asks for a GPU but this machine has none: use auto or cpu"),
    ("cuda:3", "device=cuda:3 asks for a GPU but this machine has none: use auto or cpu"),
])
@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_device_that_is_not_there_is_one_line_in_every_command(itq_run, tmp_path, device, message):
    ckpt = itq_run / "model.ckpt"
    np.save(tmp_path / "q.npy", np.zeros((2, 64), np.float32))
    index(tmp_path / "built", f"ckpt_path={ckpt}", "index=flat", f"out={tmp_path / 'db.l2h'}")
    runs = [lambda: evaluate(tmp_path / "e", f"ckpt_path={ckpt}", f"device={device}"),
            lambda: index(tmp_path / "i", f"ckpt_path={ckpt}", "index=flat", f"device={device}"),
            lambda: search(tmp_path / "s", f"index_path={tmp_path / 'db.l2h'}", f"queries.path={tmp_path / 'q.npy'}",
                           f"device={device}")]
    for run in runs:
        with pytest.raises(L2HError) as refused:
            run()
        assert str(refused.value) == message


@pytest.fixture
def two_gpus(monkeypatch):
    """A machine with two GPUs, as far as the device rules can tell."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.delenv("LOCAL_RANK", raising=False)


@pytest.mark.parametrize("settings, expected", [
    ({"accelerator": "cpu", "devices": 1}, "cpu"),
    ({"accelerator": "auto", "devices": 1}, "cuda:0"),
    ({"accelerator": "gpu", "devices": [1]}, "cuda:1"),
    ({}, "cuda:0"),
])
def test_the_trainer_device_is_the_one_lightning_trains_on(two_gpus, settings, expected):
    import pytorch_lightning as pl

    factory = functools.partial(pl.Trainer, **settings)
    assert devices.trainer_device(factory) == torch.device(expected)
    assert devices.trainer_device(settings) == torch.device(expected)


def test_each_data_parallel_process_trains_on_its_own_gpu(two_gpus, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert devices.trainer_device({"accelerator": "auto", "devices": 2}) == torch.device("cuda:1")
    assert devices.trainer_device({"accelerator": "gpu", "devices": [1, 0]}) == torch.device("cuda:0")


def test_a_hasher_trains_on_its_own_device_setting_or_on_its_trainers(two_gpus):
    assert devices.training_device(ITQ(8, device="cpu"), {"accelerator": "gpu"}) == torch.device("cpu")
    assert devices.training_device(GRH(8, LinearSVM), {"accelerator": "gpu", "devices": [1]}) == torch.device("cuda:1")
    assert devices.training_device(GRH(8, LinearSVM), {"accelerator": "cpu"}) == torch.device("cpu")
    with pytest.raises(L2HError, match="names GPU 2 but this machine has 2: use cuda:0 to cuda:1"):
        devices.resolve_device("cuda:2")


class CountingSVM(LinearSVM):
    """A linear SVM that records the most items it was given at once outside the training steps."""

    largest = 0

    def embed(self, x):
        CountingSVM.largest = max(CountingSVM.largest, len(x))
        return super().embed(x)

    def score(self, z):
        if not torch.is_grad_enabled():
            CountingSVM.largest = max(CountingSVM.largest, len(z))
        return super().score(z)


def test_grh_embeds_and_scores_the_training_items_in_bounded_chunks(rng, monkeypatch):
    monkeypatch.setattr(grh_module, "FORWARD_ROWS", 64)
    x, y = blobs(rng, n=500)
    CountingSVM.largest = 0
    GRH(8, CountingSVM, rounds=3, steps=2, batch_size=32).fit(x, y)
    assert CountingSVM.largest == 64  # never the 500 items at once


def host_waits(monkeypatch, fit) -> int:
    """How often ``fit()`` turns a tensor into a Python value: on a GPU each is a wait for the device. Adam's step
    counter is left out: it lives on the CPU whatever the device."""
    counted = {"n": 0}
    for name in ("item", "tolist", "__bool__", "__float__", "__int__"):
        original = getattr(torch.Tensor, name)

        def wrapper(self, *args, _original=original, **kwargs):
            if not any("torch/optim/" in frame.filename for frame in traceback.extract_stack(limit=6)):
                counted["n"] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, wrapper)
    fit()
    monkeypatch.undo()
    return counted["n"]


@pytest.mark.parametrize("make", [
    lambda steps: DeepHasher(8, LinearSVM, DPSH(), epochs=1, batch_size=600 // steps),
    lambda steps: GRH(8, LinearSVM, rounds=1, steps=steps),
], ids=["deep", "grh"])
def test_training_steps_do_not_wait_for_the_device(rng, monkeypatch, make):
    """60 more steps (progress bar on) cost at most two more waits: the loss watch's look every 50 steps, not the
    loss's finiteness or the progress bar's number at every step."""
    x, y = blobs(rng, n=600)
    trainer = functools.partial(pl.Trainer, accelerator="cpu", devices=1, logger=False, enable_progress_bar=True,
                                enable_model_summary=False)
    waits = [host_waits(monkeypatch, lambda: make(steps).fit(x, y, trainer=trainer)) for steps in (30, 90)]
    assert waits[1] - waits[0] <= 2


def test_grhs_targets_are_not_buffers_that_ddp_would_send_at_every_step(rng):
    """DDP sends every buffer of the module from the first process to the others before each step: GRH's
    per-item targets and weights (every process computes the same) must not be among them."""
    from l2h.graphs import LabelGraph
    from l2h.losses import Hinge

    initial = np.where(rng.normal(size=(500, 8)) >= 0, 1.0, -1.0)
    module = grh_module.GRHModule(LinearSVM(16, 8), Hinge(), LabelGraph(), initial, 1.0, False, 0.1, True)
    assert module.targets.shape == (500, 8)
    assert all(buffer.shape[:1] != (500,) for buffer in module.buffers())


def test_mixed_precision_is_float16_where_bfloat16_is_only_emulated(monkeypatch):
    from l2h.hashers.deep import with_precision

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    emulated = {"native": False}
    monkeypatch.setattr(torch.cuda, "is_bf16_supported",
                        lambda including_emulation=True: including_emulation or emulated["native"])
    assert with_precision(None, "auto").keywords["precision"] == "16-mixed"
    emulated["native"] = True
    assert with_precision(None, "auto").keywords["precision"] == "bf16-mixed"
