"""Encode a database with a trained model into a searchable artefact (the same command as ``l2h-index``).

    python index.py ckpt_path=outputs/.../model.ckpt data=file data.path=db.npy out=db.l2h
"""

from l2h.cli.index import main

if __name__ == "__main__":
    main()
