"""protocol=stream: the per-batch records of metrics.json against a replay of the stream scored by brute force,
a stream of one batch against batch GRH, the checkpoint through index.py and search.py, and the refusal of a model
that cannot learn online."""

import numpy as np
import pytest
import torch

from l2h import checkpoint, pipeline
from l2h.data.preprocess import Preprocessor
from l2h.errors import L2HError
from tests import brute_force, commands
from tests.test_roundtrip import check_round_trip

STREAM = ("protocol=stream", "bits=16", *commands.FAST)


def replay(overrides):
    """The run's data, split, stream order and a fresh hasher, from the same config as the run."""
    cfg = commands.config("train", overrides)
    data = pipeline.build(cfg.data, "data").load()
    protocol = pipeline.build(cfg.protocol, "protocol")
    split = protocol.split(data, seed=cfg.seed)
    return data, split, protocol.batches(split, cfg.seed), pipeline.build_hasher(cfg)


def test_a_stream_records_each_batch_as_a_replay_scores_it(tmp_path):
    overrides = (*STREAM, "model=grh_online", "protocol.batch=120")
    metrics = commands.train(tmp_path / "run", *overrides)
    records = metrics["stream"]
    assert [r["items_seen"] for r in records] == [120, 240, 300]
    assert all(r["update_seconds"] > 0 for r in records)
    assert records[-1]["map"] == pytest.approx(metrics["map"], abs=1e-12)  # the final model, scored twice

    data, split, batches, hasher = replay(overrides)
    assert sorted(np.concatenate(batches)) == sorted(split.train)
    preprocess = Preprocessor(data.dim).fit(data.rows(batches[0]))
    query_x, database_x = preprocess.transform(data.rows(split.query)), preprocess.transform(data.rows(split.database))
    relevant = data.labels[split.query][:, None] == data.labels[split.database][None, :]
    previous = None
    for batch, record in zip(batches, records):
        encoder = hasher.partial_fit(preprocess.transform(data.rows(batch)), data.labels[batch]).cpu()
        with torch.no_grad():
            bits = encoder(torch.from_numpy(database_x)).numpy() >= 0
            query_bits = encoder(torch.from_numpy(query_x)).numpy() >= 0
        pack = lambda b: np.packbits(b, axis=1)  # noqa: E731 - any bit order serves Hamming distances
        assert record["map"] == pytest.approx(brute_force.hamming_map(pack(query_bits), pack(bits), relevant),
                                              abs=1e-9)
        assert record["changed_bits"] == pytest.approx(1.0 if previous is None else (bits != previous).mean())
        previous = bits
    assert 0 < records[-1]["changed_bits"] < 1


def test_a_stream_of_one_batch_is_one_round_of_batch_grh(tmp_path):
    """With every training item in one batch, the stream is one partial_fit on all of them, which for a
    gradient-trained partitioner is one round of GRH.fit on the items in the stream's order (preprocessing fitted
    on them too)."""
    overrides = (*STREAM, "model=grh_svm", "model.rounds=1", "model.steps=5", "protocol.batch=1000")
    metrics = commands.train(tmp_path / "run", *overrides)
    assert [r["items_seen"] for r in metrics["stream"]] == [300]
    streamed, _ = checkpoint.load(metrics["checkpoint"])

    data, split, (order,), hasher = replay(overrides)
    preprocess = Preprocessor(data.dim).fit(data.rows(order))
    batch = hasher.fit(preprocess.transform(data.rows(order)), data.labels[order])
    assert torch.allclose(streamed.preprocess.mean, preprocess.mean)
    for name, value in batch.state_dict().items():
        assert torch.allclose(value, streamed.encoder.state_dict()[name], atol=1e-6), name


def test_a_stream_checkpoint_round_trips_through_index_and_search(tmp_path):
    from l2h.data import DataSource

    features = DataSource("digits", "digits").load().features
    check_round_trip("grh_online", (*STREAM, "model=grh_online", "protocol.batch=100"), tmp_path, features)
    metrics = commands.evaluate(tmp_path / "evaluated", f"ckpt_path={tmp_path / 'run' / 'model.ckpt'}")
    assert metrics["protocol"] == "stream" and "stream" not in metrics  # evaluating a checkpoint streams nothing


def test_the_stream_order_is_a_seeded_shuffle_of_the_training_items():
    from l2h.data import DataSource
    from l2h.stream import Stream

    protocol = Stream(n_query=60, n_train=300, batch=128)
    data = DataSource("digits", "digits").load()
    split = protocol.split(data, seed=0)
    batches = protocol.batches(split, seed=0)
    assert [len(b) for b in batches] == [128, 128, 44]
    order = np.concatenate(batches)
    assert sorted(order) == sorted(split.train) and not np.array_equal(order, np.sort(order))
    assert np.array_equal(order, np.concatenate(protocol.batches(split, seed=0)))
    assert not np.array_equal(order, np.concatenate(protocol.batches(split, seed=1)))


def test_a_batch_only_model_or_several_tables_are_refused_before_any_data_are_read(tmp_path, monkeypatch):
    from l2h.data.source import DataSource

    def no_reading(self):
        raise AssertionError("the data were read before the refusal")

    monkeypatch.setattr(DataSource, "load", no_reading)
    with pytest.raises(L2HError, match="no partial_fit"):
        commands.train(tmp_path / "run", *STREAM, "model=lsh")
    with pytest.raises(L2HError, match="tables=2"):
        commands.train(tmp_path / "run", *STREAM, "model=grh_online", "tables=2")
