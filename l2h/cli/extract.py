"""l2h-extract: a backbone's features for every item of an image dataset, with its labels and provenance beside them.

    l2h-extract encoder=resnet50 encoder.weights=imagenet data=mnist data.path=mnist_folder out=features.npy
    l2h-train model=sdh data=file data.path=features.npy data.labels_path=features_labels.npy"""

import hydra
from omegaconf import DictConfig

from l2h import cli


@hydra.main(version_base="1.3", config_path=cli.CONFIG_PATH, config_name="extract")
def main(cfg: DictConfig) -> None:
    from l2h import extraction

    cli.run(extraction.extract, cfg, table=extraction.table, overridden=cli.overridden_groups())


if __name__ == "__main__":
    main()
