"""Every ``model=`` option goes train -> index -> search and comes back with exactly what brute force over its
checkpoint's codes gives: through the library functions ``index.py`` and ``search.py`` call, and through
``Searcher.load``. A weight the artefact stores wrongly (a scalar saved as shape (1,), a dtype changed) fails here
for the models that have one."""

from pathlib import Path

import numpy as np
import pytest

from l2h import Searcher, checkpoint, codes
from l2h.data import DataSource
from tests import commands

MODELS = sorted(p.stem for p in (Path(commands.__file__).parents[1] / "l2h" / "conf" / "model").glob("*.yaml"))
IMAGE_MODELS = {"grh_cnn"}  # a CNN reads images: trained on digits read as 8x8 images, in the slow suite
# each model as short as it trains on 300 items (the settings that make it slow do not change what is stored)
SHORT = {"deep": ("model.epochs=2", "encoder.anchors=100", "encoder.hidden=64"),
         "grh": ("model.rounds=1", "model.steps=5"),
         "grh_mlp": ("model.partitioner.anchors=100", "model.partitioner.hidden=64"),
         "grh_kernel": ("model.partitioner.anchors=100",),
         "ksh": ("model.anchors=100",), "sdh": ("model.anchors=100",)}
DEEP = {"classifier", "csq", "dpsh", "dsh", "greedyhash", "hashnet", "orthohash"}
CROSS_MODAL = {"cca_itq", "grh_crossmodal", "scm"}  # need two views: the digits' halves, indexed by view a


def overrides_for(model: str) -> tuple[str, ...]:
    extra = SHORT["deep"] if model in DEEP else ()
    if model.startswith("grh_") and model not in ("grh_tutorial", "grh_online"):  # grh_online: one pass, no steps
        extra += SHORT["grh"]
    return (f"model={model}", "bits=16", *commands.FAST, *extra, *SHORT.get(model, ()))


def brute_force(query_codes, db_codes, k):
    dist = codes.hamming_matrix(query_codes, db_codes)
    order = np.lexsort((np.broadcast_to(np.arange(db_codes.shape[0]), dist.shape), dist), axis=1)[:, :k]
    return dist, np.take_along_axis(dist, order, 1), order


def check_round_trip(model_name, overrides, tmp_path, features):
    metrics = commands.train(tmp_path / "run", *overrides)
    ckpt = Path(metrics["checkpoint"])
    queries = features[::37] + 0.25  # raw vectors, none of them a database row
    np.save(tmp_path / "q.npy", queries)
    artefact = tmp_path / "db.l2h"
    commands.index(tmp_path / "i", f"ckpt_path={ckpt}", f"out={artefact}")
    commands.search(tmp_path / "s", f"index_path={artefact}", f"queries.path={tmp_path / 'q.npy'}", "k=10",
                    f"out={tmp_path / 'knn.npz'}")
    commands.search(tmp_path / "r", f"index_path={artefact}", f"queries.path={tmp_path / 'q.npy'}", "radius=1",
                    f"out={tmp_path / 'range.npz'}")

    model, _ = checkpoint.load(ckpt)
    dist, D_ref, I_ref = brute_force(model.encode(queries), model.encode(features), 10)
    knn = np.load(tmp_path / "knn.npz")
    assert np.array_equal(knn["D"], D_ref) and np.array_equal(knn["I"], I_ref), model_name
    found = np.load(tmp_path / "range.npz")
    for row in range(len(queries)):
        want = np.flatnonzero(dist[row] <= 1)
        assert np.array_equal(found["I"][found["lims"][row]:found["lims"][row + 1]],
                              want[np.lexsort((want, dist[row, want]))]), model_name
    D, I = Searcher.load(artefact).search(queries, 10)
    assert np.array_equal(D, D_ref) and np.array_equal(I, I_ref), model_name
    D, I = Searcher.load(artefact, mmap=False).search(queries, 10)
    assert np.array_equal(D, D_ref) and np.array_equal(I, I_ref), model_name


@pytest.fixture(scope="module")
def digits():
    return DataSource("digits", "digits").load().features


@pytest.mark.parametrize("model_name", [m for m in MODELS if m not in IMAGE_MODELS])
def test_every_model_round_trips_through_index_and_search(model_name, tmp_path, digits):
    if model_name in CROSS_MODAL:
        halves = DataSource("digits", "digits", views="halves").load().features
        check_round_trip(model_name, (*overrides_for(model_name), "data.views=halves"), tmp_path, halves)
        return
    check_round_trip(model_name, overrides_for(model_name), tmp_path, digits)


@pytest.mark.slow
@pytest.mark.parametrize("model_name", sorted(IMAGE_MODELS) + ["csq"])
def test_image_models_round_trip(model_name, tmp_path):
    """The CNN on images: the digits as 8x8 images in an .npz."""
    data = DataSource("digits", "digits").load()
    np.savez(tmp_path / "digits.npz", X=data.features.reshape(-1, 1, 8, 8), y=data.labels)
    image_data = ("data=file", f"data.path={tmp_path / 'digits.npz'}", "data.features=X", "data.labels=y",
                  "protocol.n_query=60", "protocol.n_train=300")
    short = overrides_for(model_name) if model_name in IMAGE_MODELS else \
        (f"model={model_name}", "bits=16", *commands.FAST, "encoder=cnn", "model.epochs=2")
    check_round_trip(model_name, (*short, *image_data), tmp_path, data.features.reshape(len(data.features), -1))
