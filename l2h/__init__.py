"""l2h: learn binary codes, index them in hash tables, search and evaluate them in one run."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("l2h")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
