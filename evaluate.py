"""Evaluate a trained checkpoint without training (the same command as the installed ``l2h-evaluate``).

    python evaluate.py ckpt_path=outputs/.../model.ckpt          # on the data, protocol and seed it was trained with
"""

from l2h.cli.evaluate import main

if __name__ == "__main__":
    main()
