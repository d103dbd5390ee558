"""``+key=value`` that adds a top-level key no command reads is refused in one line naming the nearest known key
(a misspelt ``+bit=64`` trained silently with the default before); ``+`` stays where it is legitimate."""

import pytest
from hydra import compose, initialize_config_module

from l2h.cli import check_added_keys
from l2h.errors import L2HError

CONFIGS = ("train", "evaluate", "indexing", "search")


def composed(name, overrides=()):
    """The command's composed config (its top-level keys) and its chosen config groups, as Hydra gives them."""
    with initialize_config_module("l2h.conf", version_base="1.3"):
        cfg = compose(name, overrides=list(overrides), return_hydra_config=True)
    return cfg, list(cfg.hydra.runtime.choices)


@pytest.mark.parametrize("name", CONFIGS)
def test_a_misspelt_added_key_names_the_key_it_resembles(name):
    cfg, groups = composed(name)
    for key in [k for k in cfg if len(k) > 3]:
        misspelt = key[:-1]  # the last letter dropped: bits -> bit, ckpt_path -> ckpt_pat
        if misspelt in cfg:
            continue
        with pytest.raises(L2HError) as refused:
            check_added_keys(name, [f"+{misspelt}=1"], groups)
        message = str(refused.value)
        assert f"did you mean {key}=1?" in message and f"'{misspelt}'" in message and "\n" not in message


def test_the_reported_case():
    cfg, groups = composed("train", ["+bit=64"])
    assert cfg.bit == 64 and cfg.bits == 32  # what Hydra alone makes of it: the default code length
    with pytest.raises(L2HError, match=r"^\+bit=64: the train config has no setting 'bit'.*did you mean bits=64\?"):
        check_added_keys("train", ["model=lsh", "+bit=64"], groups)
    with pytest.raises(L2HError, match="its settings are bits, data"):  # nothing near: the known keys listed
        check_added_keys("train", ["+zzzzzz=1"], groups)


def test_legitimate_plus_overrides_pass():
    _, groups = composed("train")
    check_added_keys("train", ["++bits=64", "++seed=3"], groups)  # ++ on a key the config has
    check_added_keys("train", ["+data.labels_path=y.npy", "+hydra.job.env_set.X=1"], groups)  # inside a node
    check_added_keys("train", ["+hydra/launcher=joblib", "+model@x=lsh"], groups)  # group paths and packages
    check_added_keys("train", ["+experiment=mine"], [*groups, "experiment"])  # a group of the user's searchpath
    with pytest.raises(L2HError, match="did you mean seed=3"):
        check_added_keys("train", ["++seeds=3"], groups)  # ++ adds a key too when it is new
    with pytest.raises(L2HError, match="did you mean ckpt_path="):  # evaluate's keys are not train's
        check_added_keys("evaluate", ["+ckpt_pat=x"], composed("evaluate")[1])
