"""l2h-search: search a searchable artefact with raw query vectors; results in FAISS's shapes.

    l2h-search index_path=db.l2h queries.path=queries.npy k=10         # results.npz: D, I (nq, k)
    l2h-search index_path=db.l2h queries.path=q.fvecs radius=2 threads=8   # results.npz: lims, D, I"""

import hydra
from omegaconf import DictConfig

from l2h import cli


@hydra.main(version_base="1.3", config_path=cli.CONFIG_PATH, config_name="search")
def main(cfg: DictConfig) -> None:
    from l2h import search_runs

    cli.run(search_runs.search, cfg, table=search_runs.search_table, overridden=cli.overridden_groups())


if __name__ == "__main__":
    main()
