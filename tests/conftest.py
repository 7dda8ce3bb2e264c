"""Shared fixtures. Tests read SST-2 from $TINYBERT_LAB_DATA (default: ../shared/data beside the repo)."""

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
_shared = REPO.parent / "shared" / "data"
if not os.environ.get("TINYBERT_LAB_DATA") and _shared.is_dir():
    os.environ["TINYBERT_LAB_DATA"] = str(_shared)

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def sst2():
    from tinybert_lab import data

    return data.load_sst2()


@pytest.fixture(scope="session")
def tokenizer():
    from tinybert_lab import models

    return models.load_tokenizer()


@pytest.fixture(scope="session")
def teacher():
    """The offline MiniLM teacher, untouched (tests must not train it in place)."""
    from tinybert_lab import models

    return models.load_teacher().eval()


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYBERT_LAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"
