"""l2h-evaluate: score a trained checkpoint without training, by default on the data, protocol and seed it was
trained with (any of them given on the command line replaces the checkpoint's, with a note).

    l2h-evaluate ckpt_path=outputs/grh_mlp/<time>/model.ckpt
    l2h-evaluate ckpt_path=FILE protocol=tutorial eval.max_radius=3"""

import hydra
from omegaconf import DictConfig

from l2h import cli


@hydra.main(version_base="1.3", config_path=cli.CONFIG_PATH, config_name="evaluate")
def main(cfg: DictConfig) -> float | None:
    from l2h import pipeline

    return cli.run(pipeline.evaluate, cfg, overridden=cli.overridden_groups())


if __name__ == "__main__":
    main()
