"""Train a hasher, save its checkpoint, index the database in a hash table and report the evaluation.

    python train.py                                   # GRH-MLP on the embedded digits data
    python train.py data=cifar10_gist data.path=Gist512CIFAR10.mat protocol=tutorial model=grh_svm bits=16
    python train.py -m model=lsh,grh_svm,grh_mlp bits=16,32,64     # one job per combination

Config groups: data, protocol, model, trainer, eval (see conf/). `python train.py --help` lists the options."""

import hydra
from omegaconf import DictConfig

from l2h import cli, pipeline


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    return cli.run(pipeline.train, cfg)


if __name__ == "__main__":
    main()
