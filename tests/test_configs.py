"""Every option of every config group composes and instantiates into an object that does its group's job
(YAML values against Python defaults: tests/test_defaults.py)."""

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from l2h import codes as codes_mod
from l2h import pipeline
from l2h.data import DataSource
from l2h.data.protocols import Protocol
from l2h.encoders.base import Encoder
from l2h.errors import L2HError
from l2h.eval.settings import EvalSettings
from l2h.hashers.base import Hasher
from tests.conftest import ROOT

CONF = ROOT / "l2h" / "conf"


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def composed(*overrides: str, hydra: bool = False):
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=hydra)


def test_top_level_conf_is_the_packaged_one():
    assert (ROOT / "conf").resolve() == CONF.resolve()


@pytest.mark.parametrize("option", options("model"))
def test_every_model_builds_a_hasher_of_the_chosen_length(option):
    cfg = composed(f"model={option}", "bits=24")
    assert cfg.model.name == option  # the run's folder and report are named by it: outputs/<model>/...
    hasher = pipeline.build_hasher(cfg)
    assert isinstance(hasher, Hasher) and hasher.bits == 24


@pytest.mark.parametrize("option", options("data"))
def test_every_data_option_builds_a_source(option):
    assert isinstance(pipeline.build(composed(f"data={option}").data, "data"), DataSource)


@pytest.mark.parametrize("option", options("protocol"))
def test_every_protocol_builds(option):
    assert isinstance(pipeline.build(composed(f"protocol={option}").protocol, "protocol"), Protocol)


@pytest.mark.parametrize("option, bits", [(o, b) for o in options("index") for b in (8, 32, 128)
                                          if not (o == "hash" and b > 64)])  # see the next test
def test_every_index_option_stores_and_finds_codes(option, bits, rng):
    index = pipeline.build(composed(f"index={option}").index, "index")(bits=bits)
    codes = codes_mod.pack(rng.integers(0, 2, (20, bits)))
    codes[:, 0] = rng.choice(256, 20, replace=False)  # distinct codes: each is its own unique nearest
    index.add(codes)
    distances, ids = index.search(codes[:3], 1)
    assert ids[:, 0].tolist() == [0, 1, 2] and distances[:, 0].tolist() == [0, 0, 0]


def test_a_hash_table_refuses_long_codes():
    with pytest.raises(L2HError, match="64"):
        pipeline.build(composed("index=hash").index, "index")(bits=65)


CPU_TRAINERS = [o for o in options("trainer") if composed(f"trainer={o}").trainer.accelerator not in ("gpu", "cuda")]


@pytest.mark.parametrize("option", CPU_TRAINERS)
def test_every_trainer_option_that_needs_no_gpu_builds(option):
    pipeline.check_trainer(composed(f"trainer={option}"))


def test_a_gpu_trainer_on_a_machine_without_one_is_refused_in_one_line(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(L2HError, match="no.*GPU|none"):
        pipeline.check_trainer(composed("trainer=gpu"))


@pytest.mark.parametrize("option", options("logger"))
def test_every_logger_option_writes_metrics(option, tmp_path):
    logger = pipeline.build(composed(f"logger={option}").logger, "logger", save_dir=str(tmp_path))
    logger.log_metrics({"val_map": 0.5}, step=0)
    logger.save()
    assert any("val_map" in p.read_text() for p in tmp_path.rglob("*") if p.is_file())


@pytest.mark.parametrize("option", options("encoder"))
def test_every_encoder_option_builds_an_encoder(option):
    make = pipeline.build(composed(f"encoder={option}").encoder, "encoder")
    encoder = make(in_dim=64, bits=16, **({"image_shape": [1, 8, 8]} if option == "cnn" else {}))
    assert isinstance(encoder, Encoder)
    assert encoder(torch.zeros(3, 64)).shape == (3, 16)


def test_eval_group_builds_settings():
    assert isinstance(pipeline.build(composed().eval, "eval"), EvalSettings)


# Optuna's sweep params are distributions (interval(0.5, 1.0)), not lists of values
@pytest.mark.parametrize("option", [o for o in options("hparams_search") if o != "grh_optuna"])
def test_every_grid_sweep_point_builds(option):
    """Every value a grid sweep tries names an existing setting and builds a hasher (a misspelled key or an
    impossible value would end the sweep's jobs one by one)."""
    params = composed(f"hparams_search={option}", hydra=True).hydra.sweeper.params
    assert params
    for key, values in params.items():
        for value in str(values).split(","):
            cfg = composed(f"hparams_search={option}", f"{key}={value}")
            assert OmegaConf.select(cfg, key) is not None, key
            pipeline.build_hasher(cfg)
