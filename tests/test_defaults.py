"""One place per default: every setting a shipped YAML gives to one of l2h's own classes or functions (a node with
an ``l2h.`` ``_target_``, at any depth, in any file under ``l2h/conf``) equals the Python default of that
parameter, so that ``GRH(bits, MLP)`` in a script and ``model=grh_mlp`` on the command line train the same model.
Where a YAML means to differ, the difference is in :data:`DELIBERATE`, with its reason. Third-party targets
(Lightning's Trainer, its loggers, Optuna's samplers) keep their own defaults, which are not l2h's to change."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
from hydra.utils import get_object
from omegaconf import OmegaConf

from tests.conftest import ROOT

CONF = ROOT / "l2h" / "conf"
TOP = OmegaConf.load(CONF / "train.yaml")  # what ${bits} and ${seed} stand for when nothing overrides them

GRH_PRESET = "the partitioner's own rounds, steps and step size, chosen by validation mAP for it (the Python " \
             "defaults are grh_mlp's, the default model)"
DATA_PRESET = "a dataset preset: its format, the names inside its file and the protocol sizes that suit it"

#: (file, keys) -> why that YAML deliberately differs from the Python default of those keys
DELIBERATE = {
    ("model/*.yaml", "name model.name"): "model.name names the run (outputs/<name>/...): the pipeline reads it, "
                                         "the hasher never sees it",
    ("model/dpsh.yaml", "lr"): "DPSH merged classes' codes on MNIST at the other losses' 1e-3 (README)",
    ("model/grh_svm.yaml", "rounds steps lr"): GRH_PRESET,
    ("model/grh_kernel.yaml", "rounds steps lr"): GRH_PRESET,
    ("model/grh_cnn.yaml", "model.rounds model.steps model.batch_size"): GRH_PRESET + "; the CNN trains on "
                                                                          "mini-batches",
    ("model/grh_mlp.yaml", "partitioner.anchors"): "GRH's MLP reads 1000 anchors (validation on CIFAR-10 GIST); "
                                                   "the deep losses' MLP (encoder/mlp.yaml, the default) reads 2000",
    ("model/grh_kernel.yaml", "partitioner.anchors partitioner.kernel_width"): "the linear partitioner's anchor "
        "kernel, chosen by validation; a Linear encoder reads the raw features by default",
    ("data/cifar10_gist.yaml", "format example features labels"): DATA_PRESET,
    ("data/digits.yaml", "format n_query n_train"): DATA_PRESET,
    ("data/mnist.yaml", "format example"): DATA_PRESET,
    ("data/file.yaml", "example"): "the file name the missing-path message shows for data=file",
}


def settings(node, path=""):
    """Every dict with an ``l2h.`` target inside a loaded YAML, with its dotted path."""
    if OmegaConf.is_dict(node):
        target = node.get("_target_")
        if isinstance(target, str) and target.startswith("l2h."):
            yield path, node
        for key in node:
            yield from settings(node._get_node(key), f"{path}{key}.")


def defaults_of(target) -> dict:
    """Parameter -> default of a class (its ``__init__`` and, through ``**kwargs``, its bases') or a function;
    dataclass factories called."""
    if dataclasses.is_dataclass(target):
        return {f.name: f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
                for f in dataclasses.fields(target)}
    found = {}
    for fn in [c.__init__ for c in target.__mro__ if "__init__" in vars(c)] if isinstance(target, type) else [target]:
        params = inspect.signature(fn).parameters.values()
        for p in params:
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                found.setdefault(p.name, p.default)
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return found


def value(node, key):
    """A YAML value as the command line sees it with no override: interpolations resolved against train.yaml's
    top level (``${seed}`` is 0, ``${oc.select:data.n_query,1000}`` its fallback)."""
    raw = OmegaConf.to_container(node, resolve=False)[key]
    if isinstance(raw, str) and "${" in raw:
        return OmegaConf.create({"bits": TOP.bits, "seed": TOP.seed, "v": raw}).v
    return raw


def names(pattern: str, file: str) -> bool:
    """``model/*.yaml`` names every model file; any other pattern one file."""
    return file == pattern or (pattern.endswith("/*.yaml") and file.startswith(pattern[:-len("*.yaml")]))


def deliberate(file: str, setting: str) -> bool:
    return any(names(pattern, file) and setting in keys.split() for pattern, keys in DELIBERATE)


def rows():
    for path in sorted(CONF.rglob("*.yaml")):
        file = str(path.relative_to(CONF))
        for where, node in settings(OmegaConf.load(path)):
            target = get_object(node._target_)
            defaults = defaults_of(target)
            for key in node:
                if key.startswith("_") or OmegaConf.is_dict(node._get_node(key)):
                    continue  # a nested target is checked as a node of its own
                if defaults.get(key) is inspect.Parameter.empty:
                    continue  # a required parameter (bits, the encoder, a data set's name): no default to match
                yield file, where + key, node._target_, key, value(node, key), defaults.get(key, KeyError)


ROWS = list(rows())


def comparable(x):
    return list(x) if isinstance(x, tuple) else x


SAME = [r for r in ROWS if not deliberate(r[0], r[1])]
DIFFERENT = [r for r in ROWS if deliberate(r[0], r[1])]


@pytest.mark.parametrize("file, setting, target, key, shipped, default", SAME, ids=[f"{r[0]}:{r[1]}" for r in SAME])
def test_yaml_setting_equals_python_default(file, setting, target, key, shipped, default):
    assert default is not KeyError, f"{file} {setting}: {target} takes no parameter {key!r}"
    assert comparable(shipped) == comparable(default), \
        f"{file} {setting}={shipped!r} but {target}'s default is {default!r}: change the Python default, or list " \
        "the difference in DELIBERATE with its reason"


@pytest.mark.parametrize("file, setting, target, key, shipped, default", DIFFERENT,
                         ids=[f"{r[0]}:{r[1]}" for r in DIFFERENT])
def test_a_deliberate_difference_still_differs(file, setting, target, key, shipped, default):
    assert comparable(shipped) != comparable(default), \
        f"{file} {setting} is listed in DELIBERATE but equals the Python default: remove it from DELIBERATE"


def test_every_deliberate_difference_names_a_setting_that_exists():
    for pattern, keys in DELIBERATE:
        for setting in keys.split():
            assert any(names(pattern, file) and s == setting for file, s, *_ in ROWS), \
                f"DELIBERATE lists {pattern} {setting}, which no YAML sets: remove it"


def test_the_walk_reaches_every_kind_of_node():
    """The walk is not vacuous: nested partitioners and losses, @package _global_ presets, the eval dataclass,
    interpolated seeds and protocol sizes are all among the rows."""
    settings_seen = {(file, setting) for file, setting, *_ in ROWS}
    for expected in [("model/grh_mlp.yaml", "partitioner.hidden"), ("model/csq.yaml", "loss.pairwise"),
                     ("model/grh_cnn.yaml", "model.alpha"), ("eval/default.yaml", "ks"),
                     ("encoder/mlp.yaml", "seed"), ("protocol/standard.yaml", "n_query"),
                     ("index/mih.yaml", "m")]:
        assert expected in settings_seen, expected
