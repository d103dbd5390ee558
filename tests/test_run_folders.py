"""A command that fails removes the run folder Hydra made for it when it holds nothing but Hydra's own files, and
never deletes anything else. The commands run in this process through their ``@hydra.main`` (the shell's exit
code and one-line message have their own subprocess tests)."""

import pytest

from l2h.cli import remove_unused_run_folder
from tests import commands

HYDRA_FILES = (".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml")


def run_train(*overrides: str) -> int:
    with pytest.raises(SystemExit) as exit_:
        commands.command_line("train", *overrides)
    return exit_.value.code


def make_run_folder(folder, log: str = ""):
    for name in HYDRA_FILES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("hydra: {}\n")
    (folder / "train.log").write_text(log)


def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_failed_command_leaves_no_run_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_train("model=lsh", "bits=3", "hydra.run.dir=failed") == 2  # max_radius 4 > 3 bits
    assert not (tmp_path / "failed").exists()
    assert run_train("+bit=64", "model=lsh", "hydra.run.dir=misspelt") == 2
    assert not (tmp_path / "misspelt").exists()
    assert run_train("model=lsh", "bits=3") == 2  # Hydra's own outputs/<model>/<time>/
    assert list((tmp_path / "outputs" / "lsh").iterdir()) == []


def test_a_failed_command_keeps_a_folder_that_holds_other_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    assert run_train("model=lsh", "bits=3", "hydra.run.dir=mine") == 2
    assert (tmp_path / "mine" / "notes.txt").read_text() == "mine"
    assert set(files_under(tmp_path / "mine")) >= {"notes.txt", ".hydra", *HYDRA_FILES}
    (tmp_path / "made_by_the_user").mkdir()  # empty, but there before the command: the user's
    assert run_train("model=lsh", "bits=3", "hydra.run.dir=made_by_the_user") == 2
    assert (tmp_path / "made_by_the_user").is_dir()


def test_only_hydras_own_files_are_removed(tmp_path):
    make_run_folder(tmp_path / "bare")
    assert remove_unused_run_folder(tmp_path / "bare", "train") and not (tmp_path / "bare").exists()

    def kept(folder, job_name="train"):
        before = files_under(folder)
        assert not remove_unused_run_folder(folder, job_name)
        assert files_under(folder) == before

    make_run_folder(tmp_path / "logged", log="GPU available: False\n")  # the log says something: keep it
    kept(tmp_path / "logged")
    make_run_folder(tmp_path / "other_job")
    kept(tmp_path / "other_job", job_name="evaluate")  # train.log is not the evaluate job's
    for extra in ("model.ckpt", ".hydra/notes.txt", "logs/metrics.csv"):
        folder = tmp_path / extra.replace("/", "_")
        make_run_folder(folder)
        (folder / extra).parent.mkdir(parents=True, exist_ok=True)
        (folder / extra).write_text("x")
        kept(folder)
    make_run_folder(tmp_path / "empty_subfolder")
    (tmp_path / "empty_subfolder" / "logs").mkdir()
    kept(tmp_path / "empty_subfolder")
    assert not remove_unused_run_folder(tmp_path / "absent", "train")
