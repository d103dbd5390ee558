"""l2h-index: encode a database with a trained model and write the searchable artefact (model + index + ids).

    l2h-index ckpt_path=outputs/grh_mlp/<time>/model.ckpt                        # the data it was trained on
    l2h-index ckpt_path=CKPT data=file data.path=db.npy index=mih out=db.l2h ids_path=my_ids.npy"""

import hydra
from omegaconf import DictConfig

from l2h import cli


@hydra.main(version_base="1.3", config_path=cli.CONFIG_PATH, config_name="indexing")
def main(cfg: DictConfig) -> None:
    from l2h import search_runs

    cli.run(search_runs.build_index, cfg, table=search_runs.index_table, overridden=cli.overridden_groups())


if __name__ == "__main__":
    main()
