"""Every option of every config group composes and instantiates into the object its group promises, and the
single-preset groups' YAML values equal their classes' Python defaults."""

import dataclasses
import inspect
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from l2h import pipeline
from l2h.data.protocols import Protocol
from l2h.encoders.base import Encoder
from l2h.errors import L2HError
from l2h.eval.settings import EvalSettings
from l2h.hashers.base import Hasher
from l2h.index.base import BinaryIndex
from tests.conftest import ROOT

CONF = ROOT / "l2h" / "conf"


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def composed(*overrides: str):
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose("train", overrides=list(overrides))


def test_top_level_conf_is_the_packaged_one():
    assert (ROOT / "conf").resolve() == CONF.resolve()


@pytest.mark.parametrize("option", options("model"))
def test_every_model_builds_a_hasher(option):
    cfg = composed(f"model={option}")
    assert cfg.model.name == option and cfg.model.bits == cfg.bits
    hasher = pipeline.build_hasher(cfg)
    assert isinstance(hasher, Hasher) and hasher.bits == cfg.bits


@pytest.mark.parametrize("option", options("data"))
def test_every_data_option_builds_a_source(option):
    source = pipeline.build(composed(f"data={option}").data, "data")
    assert type(source).__name__ == "DataSource"


@pytest.mark.parametrize("option", options("protocol"))
def test_every_protocol_builds(option):
    assert isinstance(pipeline.build(composed(f"protocol={option}").protocol, "protocol"), Protocol)


@pytest.mark.parametrize("option", options("index"))
@pytest.mark.parametrize("bits", [8, 32, 128])
def test_every_index_option_builds_an_index(option, bits):
    make = pipeline.build(composed(f"index={option}").index, "index")
    if option == "hash" and bits > 64:
        with pytest.raises(L2HError, match="64"):
            make(bits=bits)
        return
    index = make(bits=bits)
    assert isinstance(index, BinaryIndex) and index.bits == bits


@pytest.mark.parametrize("option", options("trainer"))
def test_every_trainer_option_builds_or_is_refused_in_one_line(option):
    cfg = composed(f"trainer={option}")
    needs_gpu = cfg.trainer.accelerator in ("gpu", "cuda")
    if needs_gpu and not torch.cuda.is_available():
        with pytest.raises(L2HError, match="no.*GPU|none"):
            pipeline.check_trainer(cfg)
    else:
        pipeline.check_trainer(cfg)


@pytest.mark.parametrize("option", options("logger"))
def test_every_logger_option_builds(option, tmp_path):
    logger = pipeline.build(composed(f"logger={option}").logger, "logger", save_dir=str(tmp_path))
    assert hasattr(logger, "log_metrics")


@pytest.mark.parametrize("option", options("encoder"))
def test_every_encoder_option_builds_an_encoder(option):
    make = pipeline.build(composed(f"encoder={option}").encoder, "encoder")
    shape = {"image_shape": [1, 8, 8]} if "image_shape" in OmegaConf.to_container(composed(f"encoder={option}").encoder) else {}
    encoder = make(in_dim=64, bits=16, **shape)
    assert isinstance(encoder, Encoder)
    assert encoder(torch.zeros(3, 64)).shape == (3, 16)


def test_eval_group_builds_settings():
    assert isinstance(pipeline.build(composed().eval, "eval"), EvalSettings)


@pytest.mark.parametrize("option", options("hparams_search"))
def test_every_sweep_composes(option):
    if option == "grh_optuna":
        pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    cfg = composed(f"hparams_search={option}")
    assert cfg.protocol.n_validation > 0  # sweeps select on validation, never on the test queries


def defaults_of(cls) -> dict:
    if dataclasses.is_dataclass(cls):
        return {f.name: f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
                for f in dataclasses.fields(cls)}
    return {name: p.default for name, p in inspect.signature(cls).parameters.items()
            if p.default is not inspect.Parameter.empty}


def yaml_values(group: str, option: str) -> dict:
    values = OmegaConf.to_container(OmegaConf.load(CONF / group / f"{option}.yaml"))
    return {k: v for k, v in values.items() if not k.startswith("_") and not (isinstance(v, str) and "${" in v)}


@pytest.mark.parametrize("group, option", [("eval", "default"), ("protocol", "standard"), ("protocol", "tutorial"),
                                           ("protocol", "train_as_database"), ("protocol", "full"),
                                           ("protocol", "given"), ("index", "mih")])
def test_yaml_defaults_equal_python_defaults(group, option):
    target = instantiate({"_target_": OmegaConf.load(CONF / group / f"{option}.yaml")["_target_"],
                          "_partial_": True}).func
    defaults = defaults_of(target)
    for key, value in yaml_values(group, option).items():
        assert defaults[key] == value, f"{group}/{option}.yaml {key}={value!r}, Python default {defaults[key]!r}"


def test_every_model_yaml_names_its_source():
    for path in sorted((CONF / "model").glob("*.yaml")):
        head = Path(path).read_text().split("\n", 1)[0]
        assert head.startswith("#"), f"{path.name} should open with a comment saying what it is and where its settings come from"
