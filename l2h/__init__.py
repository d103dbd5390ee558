"""l2h: learn binary codes, index them in hash tables, search and evaluate them in one run."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("l2h")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"


def __getattr__(name: str):
    # the searchable artefact, imported on first use so that `import l2h` stays cheap
    if name == "Searcher":
        from l2h.searcher import Searcher

        return Searcher
    raise AttributeError(name)
