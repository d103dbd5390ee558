"""benchmarks/gpu.py at tiny sizes on the CPU: it says when there is no GPU, every index's answers are checked
against FlatIndex's, and the table divides the CPU time by the GPU time."""

import re

import pytest
import torch

from benchmarks import gpu


def table_rows(printed: str) -> dict[str, list[str]]:
    rows = {}
    for line in printed.splitlines():
        if line.startswith("| ") and not line.startswith("| section"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[1]] = cells
    return rows


def test_the_speed_up_is_the_cpu_time_over_the_gpu_time():
    rows = table_rows(gpu.table([gpu.Row("training", "a", {"cpu": 6.0, "gpu": 0.5}, {"cpu": 0.41, "gpu": 0.4}),
                                 gpu.Row("search", "b", {"cpu": 2.0}, {"cpu": True}),
                                 gpu.Row("search", "c", {"cpu": 1.0, "gpu": 4.0}, {"cpu": False, "gpu": True})]))
    assert rows["a"][2:7] == ["6.000", "0.500", "12.0x", "0.4100", "0.4000"]
    assert rows["b"][2:7] == ["2.000", "-", "-", "same", "-"]
    assert rows["c"][4:7] == ["0.2x", "DIFFERENT", "same"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_the_evaluator_and_search_sections_run_at_tiny_sizes(capsys):
    assert gpu.main(["--tiny", "--sections", "evaluator,search"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("no GPU found: the CPU column only")
    rows = table_rows(printed)
    searched = [cells for case, cells in rows.items() if cells[0] == "search"]
    assert [re.match(r"\w+", cells[1]).group() for cells in searched] == [
        "FlatIndex", "MultiIndexHash", "FAISS", "TorchFlatIndex"]
    assert all(cells[5] in ("reference", "same") or cells[7].startswith("FAISS is not installed")
               for cells in searched)
    assert all(0 < float(cells[5]) < 1 for cells in rows.values() if cells[0] == "evaluator")


@pytest.mark.slow
def test_a_tiny_run_trains_every_model(capsys):
    assert gpu.main(["--tiny"]) == 0
    rows = table_rows(capsys.readouterr().out)
    trained = {case: cells for case, cells in rows.items() if cells[0] == "training"}
    assert list(trained) == ["grh_svm", "grh_mlp", "csq, encoder=mlp", "csq, encoder=cnn"]
    assert all(float(cells[2]) > 0 and 0 < float(cells[5]) <= 1 for cells in trained.values())
    assert float(trained["grh_svm"][5]) > 0.3  # 10 classes: codes that ignore them score about 0.1
