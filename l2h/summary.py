"""``python -m l2h.summary RUN_FOLDER ...``: the multi-run report (the same command as ``l2h-summary``)."""

import sys

from l2h.cli.summary import main

if __name__ == "__main__":
    sys.exit(main())
