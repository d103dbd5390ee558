"""Every deep model= option through the commands users type: train.py trains it (one Hydra multirun over all of
them), and evaluate.py, given each checkpoint, scores the codes exactly as the training run did. On the
embedded digits by default; on MNIST's raw pixels through the CNN in the slow suite. The commands' entry points
run in this process (tests/commands.py)."""

import pytest

from tests import commands
from tests.conftest import shared_file

DEEP = ["dpsh", "hashnet", "dsh", "csq", "greedyhash", "orthohash", "classifier", "grh_cnn"]
# ++: a sweep first composes its overrides with the default model, which counts no epochs
FAST = ["trainer.enable_progress_bar=false", "bits=16", "++model.epochs=2", "eval.max_radius=1"]


def sweep(command, folder, *args):
    return {metrics["model"]: metrics for metrics in commands.sweep(command, folder, *args).values()}


def train_then_evaluate(tmp_path, models, data, protocol, encoder=()):
    grh = [m for m in models if m.startswith("grh")]
    deep = [m for m in models if m not in grh]
    trained = sweep("train", tmp_path / "deep", f"model={','.join(deep)}", *data, *encoder, *protocol, *FAST)
    if grh:  # GRH counts rounds and steps, not epochs
        trained |= sweep("train", tmp_path / "grh", f"model={','.join(grh)}", *data, *encoder, *protocol,
                         *[a for a in FAST if "epochs" not in a], "++model.rounds=1", "++model.steps=20")
    assert sorted(trained) == sorted(models)
    checkpoints = ",".join(m["checkpoint"] for m in trained.values())
    evaluated = sweep("evaluate", tmp_path / "eval", f"ckpt_path={checkpoints}", *data, *protocol,
                      "eval.max_radius=1")
    for name, metrics in trained.items():
        assert evaluated[name]["map"] == pytest.approx(metrics["map"], abs=1e-9), name
        assert evaluated[name]["radius"][1]["precision_at_10"] == \
            pytest.approx(metrics["radius"][1]["precision_at_10"], abs=1e-9), name
    return trained


def test_every_deep_model_trains_and_evaluates_through_the_commands_on_the_digits(tmp_path):
    trained = train_then_evaluate(tmp_path, DEEP, [], ["protocol.n_query=100", "protocol.n_train=400"])
    assert trained["grh_cnn"]["config"]["encoder"]["_target_"].endswith(".CNN")
    assert all(m["map"] > 0.2 for m in trained.values()), {k: m["map"] for k, m in trained.items()}


@pytest.mark.slow
def test_every_deep_model_trains_and_evaluates_through_the_commands_on_mnist_pixels(tmp_path):
    folder = shared_file("mnist/train-images-idx3-ubyte.gz").parent
    trained = train_then_evaluate(tmp_path, DEEP, ["data=mnist", f"data.path={folder}"],
                                  ["protocol.n_query=200", "protocol.n_train=2000"], encoder=["encoder=cnn"])
    assert all(m["n_database"] == 70000 - 200 for m in trained.values())
    # two epochs on 2000 items: the point is the round trip; each must still beat chance (about 0.1)
    assert all(m["map"] > 0.12 for m in trained.values()), {k: m["map"] for k, m in trained.items()}
