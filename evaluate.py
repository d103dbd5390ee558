"""Evaluate a trained checkpoint without training: encode, index, search and report.

    python evaluate.py ckpt_path=outputs/.../model.ckpt data=cifar10_gist data.path=Gist512CIFAR10.mat protocol=tutorial
"""

import hydra
from omegaconf import DictConfig

from l2h import cli, pipeline


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> float:
    return cli.run(pipeline.evaluate, cfg)


if __name__ == "__main__":
    main()
