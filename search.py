"""Search a searchable artefact with raw query vectors (the same command as ``l2h-search``).

    python search.py index_path=db.l2h queries.path=queries.npy k=10
"""

from l2h.cli.search import main

if __name__ == "__main__":
    main()
