"""Environment variables and default folders, in one place.

| variable | meaning | default |
|---|---|---|
| ``TINYBERT_LAB_DATA`` | folder holding ``sst2/train.tsv`` etc. (GLUE layout) | unset: try the hub |
| ``TINYBERT_LAB_CACHE`` | where fine-tuned teachers and other results are cached | ``~/.cache/tinybert_lab`` |
| ``TINYBERT_LAB_FAST`` | ``1`` shrinks data and steps so every notebook runs in seconds (CI) | ``0`` |
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "TINYBERT_LAB_DATA"
CACHE_ENV = "TINYBERT_LAB_CACHE"
FAST_ENV = "TINYBERT_LAB_FAST"


def data_dir_from_env() -> Path | None:
    """The folder named by ``TINYBERT_LAB_DATA``, or None when the variable is unset."""
    value = os.environ.get(DATA_ENV, "").strip()
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """Folder for cached fine-tuned teachers (created on first use)."""
    value = os.environ.get(CACHE_ENV, "").strip()
    path = Path(value).expanduser() if value else Path.home() / ".cache" / "tinybert_lab"
    path.mkdir(parents=True, exist_ok=True)
    return path


def fast_mode() -> bool:
    """True when ``TINYBERT_LAB_FAST`` is set to 1/true/yes: small data, few steps."""
    return os.environ.get(FAST_ENV, "").strip().lower() in {"1", "true", "yes", "on"}
