"""Bad settings, bad outputs and interruptions: one line naming the problem and the fix (exit 2 at the command
line, L2HError from Python), always before any work is done or anything is written; a run folder never
holds files of two runs."""

import json
import os
import signal
import subprocess
import sys

import pytest

from l2h import pipeline
from l2h.errors import L2HError
from l2h.report.folder import RunFolder
from tests import commands
from tests.conftest import ROOT

FAST = list(commands.FAST)


def composed(*overrides):
    return commands.config("train", [*FAST, *overrides])


def run(script, *args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / script), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def one_line(done):
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    return done.stderr


SETTINGS = [
    (["bits=abc"], "bits='abc'"),
    (["bits=null"], "bits=None"),
    (["bits=0"], "bits=0"),
    (["bits=true"], "bits=True"),
    (["seed=-1"], "seed=-1"),
    (["model=grh_svm", "model.lr=-1"], "lr must be positive"),
    (["model=grh_svm", "model.batch_size=-5"], "batch_size must be a positive integer"),
    (["model=grh_svm", "model.alpha=1.5"], "alpha must be in"),
    (["model=grh_svm", "model.rounds=0"], "rounds >= 1"),
    (["model=grh_svm", "model.patience=0"], "patience"),
    (["model=grh_mlp", "model.partitioner.dropout=1.5"], "dropout"),
    (["model=grh_tutorial", "model.C=0"], "C > 0"),
    (["trainer.accelerator=tpu"], "trainer"),
    (["eval.k=0"], "eval.k must be an integer >= 1"),
    (["eval.k=-3"], "eval.k must be an integer >= 1"),
    (["eval.k=2.5"], "eval.k must be an integer >= 1"),
    (["eval.max_radius=-1"], "eval.max_radius"),
    (["bits=8", "eval.max_radius=9"], "eval.max_radius=9 is larger than the code length"),
    (["eval.ks=[0]"], "eval.ks entry"),
    (["eval.ks=[-5]"], "eval.ks entry"),
    (["eval.map_at=[0]"], "eval.map_at entry"),
    (["eval.neighbours_k=0"], "eval.neighbours_k"),
    (["eval.device=foo"], "eval.device='foo'"),
    (["eval.rerank=l1"], "eval.rerank"),
    (["eval.empty_policy=ignore"], "eval.empty_policy"),
    (["eval.relevance=magic"], "eval.relevance"),
    (["eval.compute_map=maybe"], "eval.compute_map"),
    (["protocol.n_query=0"], "protocol.n_query"),
    (["protocol.n_validation=300"], "n_validation"),
    (["index=hash", "bits=128"], "64"),
    (["data=cifar10_gist"], "add data.path="),
    (["data=cifar10_gist", "data.path=/nonexistent/Gist512CIFAR10.mat"], "does not exist"),
    (["model._target_=os.system"], "model"),
]
if not __import__("torch").cuda.is_available():
    SETTINGS += [(["trainer=gpu"], "asks for a GPU but this machine has none"),
                 (["eval.device=cuda"], "asks for a GPU but this machine has none")]


@pytest.mark.parametrize("overrides, message", SETTINGS)
def test_impossible_settings_are_refused_before_any_work(tmp_path, overrides, message):
    out = tmp_path / "run"
    with pytest.raises(L2HError, match=message.replace("(", r"\(").replace("[", r"\[")) as caught:
        pipeline.train(composed(*overrides), out)
    assert "\n" not in str(caught.value)
    assert not out.exists()  # refused before the run folder is made


@pytest.mark.parametrize("args, message", [
    (["model=grh_svm", "encoder=cnn"], "does not read the encoder group"),
    (["model=grh_svm", "model.graph._target_=l2h.graphs.LabelGraph", "eval.relevance=labels",
      "data=file", "data.path=/nonexistent.npy"], "does not exist"),
])
def test_settings_the_command_line_names_are_refused(tmp_path, args, message):
    """Refusals that depend on which groups the user named (``encoder=``, ``data=``)."""
    with pytest.raises(L2HError, match=message) as caught:
        commands.train(tmp_path / "run", "model=lsh", *FAST, *args)
    assert "\n" not in str(caught.value) and not (tmp_path / "run" / "metrics.json").exists()


def test_the_command_line_prints_one_line_and_exits_2(tmp_path):
    stderr = one_line(run("train.py", "model=lsh", *FAST, "bits=abc", f"hydra.run.dir={tmp_path}"))
    assert "bits='abc'" in stderr


def test_outputs_that_cannot_be_written_are_one_line(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    for mode in ([f"hydra.run.dir={blocker}/run"], ["-m", f"hydra.sweep.dir={blocker}/sweep"]):
        with pytest.raises(SystemExit) as caught:  # refused by the Hydra callback, before Hydra makes the folder
            commands.command_line("train", *mode, "model=lsh", *FAST)
        stderr = capsys.readouterr().err
        assert caught.value.code == 2 and len(stderr.strip().splitlines()) == 1, stderr
        assert "is a file, not a folder" in stderr
    folder = tmp_path / "run"
    (folder / "metrics.json").mkdir(parents=True)
    with pytest.raises(L2HError, match="a folder of that name is in the way"):
        commands.train(folder, "model=lsh", *FAST)


def test_a_full_disk_or_a_read_only_folder_is_one_line_and_writes_nothing(tmp_path, monkeypatch):
    import errno

    from l2h import atomic

    out = tmp_path / "run"
    real = os.replace

    def refuse(src, dst):
        if str(dst).endswith(".staged"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", refuse)
    with pytest.raises(L2HError, match="the disk is full"):
        pipeline.train(composed("model=lsh"), out)
    assert not (out / "model.ckpt").exists() and not (out / "metrics.json").exists()
    assert not list(out.glob(".*.staged"))


def test_evaluate_refuses_damaged_or_missing_checkpoints_in_one_line(tmp_path):
    bogus = tmp_path / "model.ckpt"
    bogus.write_text("hello")
    assert "not an l2h checkpoint" in one_line(run("evaluate.py", f"ckpt_path={bogus}",
                                                   f"hydra.run.dir={tmp_path / 'out'}"))
    with pytest.raises(L2HError, match="no checkpoint given"):
        commands.evaluate(tmp_path / "out")


def output_until(child, marker: bytes) -> bytes:
    """What the child wrote to stdout up to ``marker``, or up to its end if it stopped first."""
    seen = b""
    while marker not in seen:
        chunk = os.read(child.stdout.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
    return seen


def test_ctrl_c_during_training_stops_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    child = subprocess.Popen([sys.executable, str(ROOT / "train.py"), "model=grh_mlp", "model.rounds=500",
                              "model.steps=50", *FAST, "trainer.enable_progress_bar=true", f"hydra.run.dir={out}"],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # the progress bar shows a loss once the first training step is done: Ctrl-C lands inside the training loop
    seen = output_until(child, b"loss=")
    child.send_signal(signal.SIGINT)
    try:
        stdout, stderr = child.communicate(timeout=600)  # a guard against a hang, not a time limit
    except subprocess.TimeoutExpired:
        child.kill()
        raise
    stderr = stderr.decode(errors="replace")
    assert b"loss=" in seen, (seen + stdout).decode(errors="replace")[-3000:] + stderr
    assert child.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr, stderr
    assert not (out / "model.ckpt").exists() and not (out / "metrics.json").exists()
    assert not list(out.glob(".*.staged"))


def test_a_commit_interrupted_at_any_step_leaves_files_of_one_run(tmp_path, monkeypatch):
    """Re-running into a folder: a crash before, during or after each rename of the commit leaves either the old
    run whole, or a subset of one run; never files of both."""
    def write_run(folder, tag, extra, crash_after=None):
        calls = {"n": 0}
        real = os.replace

        def counting(src, dst):
            if crash_after is not None and calls["n"] >= crash_after and not str(dst).endswith(".staged"):
                raise KeyboardInterrupt  # the process dies here
            calls["n"] += 1
            return real(src, dst)

        monkeypatch.setattr("l2h.report.folder.os.replace", counting)
        try:
            run = RunFolder(folder)
            for name in ["model.ckpt", "radius.png", *extra]:
                run.stage(name, tag.encode())
            run.commit(json.dumps({"files": ["model.ckpt", "radius.png", *extra], "tag": tag}).encode())
        except KeyboardInterrupt:
            pass
        finally:
            monkeypatch.setattr("l2h.report.folder.os.replace", real)

    for crash_after in range(12):
        folder = tmp_path / f"f{crash_after}"
        write_run(folder, "old", ["codes.npz"])
        write_run(folder, "new", [], crash_after)
        visible = {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")}
        tags = {v for k, v in visible.items() if k != "metrics.json"}
        if "metrics.json" in visible:
            manifest = json.loads(visible["metrics.json"])
            assert tags == {manifest["tag"].encode()}, (crash_after, visible)
            assert set(visible) == {"metrics.json", *manifest["files"]}, (crash_after, visible)
        else:
            assert len(tags) <= 1, (crash_after, visible)
