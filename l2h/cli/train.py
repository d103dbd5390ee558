"""l2h-train: learn binary codes, save a checkpoint, index the database, search it and report.

    l2h-train                                   # grh_mlp on the embedded digits data
    l2h-train model=itq bits=64 data=cifar10_gist data.path=Gist512CIFAR10.mat
    l2h-train -m model=lsh,grh_svm bits=16,32,64 seed=0,1,2      # one job per combination"""

import hydra
from omegaconf import DictConfig

from l2h import cli


@hydra.main(version_base="1.3", config_path=cli.CONFIG_PATH, config_name="train")
def main(cfg: DictConfig) -> float | None:
    from l2h import pipeline

    return cli.run(pipeline.train, cfg, overridden=cli.overridden_groups())


if __name__ == "__main__":
    main()
