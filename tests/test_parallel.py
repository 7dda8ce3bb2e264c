"""Data-parallel fit: two CPU processes under torchrun (gloo) take exactly the steps of one
process with the same global batch, for the labels alone and for TinyBERT's two steps (and for
the labels under `accelerate launch`); a
checkpoint written by one process resumes under two and the other way round. The control (one
process, half the global batch) must differ, so the comparison can fail. Runs in CI (about a
minute): benchmarks/parallel.py --parity is the same code, printed."""

import importlib.util
import os
from pathlib import Path

import pytest
import torch

from tinybert_lab import parallel
from tinybert_lab.core.errors import TinyBertLabError

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "parallel.py"


def load_script():
    spec = importlib.util.spec_from_file_location("parallel_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_processes_match_one_with_the_same_global_batch(tmp_path):
    gaps = load_script().parity(tmp_path)
    assert gaps["labels"] <= 1e-4 and gaps["two-step"] <= 1e-4
    resumed = {k: v for k, v in gaps.items() if "resumed" in k}
    assert sorted(resumed) == ["1 process, stopped after step 12, resumed by 2 at step 11",
                               "2 processes, stopped after step 12, resumed by 1 at step 11"]
    assert all(gap <= 1e-4 for gap in resumed.values())
    assert gaps["labels, 2 processes under accelerate launch"] <= 1e-4  # the other launcher the README names
    assert gaps["control: 1 process, half the global batch"] > 1e-3


def test_one_process_is_todays_path(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    world = parallel.world()
    assert (world.rank, world.size, world.is_main, world.parallel) == (0, 1, True, False)
    assert world.average(torch.tensor([4.0])).tolist() == [4.0] and len(world.gather(torch.zeros(2))) == 1


def test_a_world_size_without_a_launcher_is_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(TinyBertLabError, match="start the processes with a launcher, e.g. `torchrun"):
        parallel.world()
