"""Datasets: loaders for the formats hashing data comes in, preprocessing, and evaluation protocols."""


def __getattr__(name: str):
    # DataSource is imported on first use: the inference path (l2h.data.preprocess) should not pay for readers
    if name == "DataSource":
        from l2h.data.source import DataSource

        return DataSource
    raise AttributeError(name)


__all__ = ["DataSource"]
