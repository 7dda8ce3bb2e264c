"""Teacher logits computed once per example and looked up by example id.

Prediction-layer distillation (TinyBERT's second step, DistilBERT-style soft labels, the BiLSTM
student, multi-teacher objectives, the label-source study) needs only the teacher's logits, and
they never change: ``TeacherLogitCache.build(teacher, encoded, tokenizer)`` scores the data once
and keeps the result on disk, so each training step costs a student step.
"""

from __future__ import annotations

from pathlib import Path

import torch

from . import parallel
from .errors import TinyBertLabError
from .settings import cache_dir
from .training import fingerprint


def _write_arrays(folder: Path, ids: torch.Tensor, logits: torch.Tensor) -> None:
    """``ids.npy`` and ``logits.npy`` in ``folder``, written to a temporary folder and renamed, so
    a crash mid-write leaves no half-written cache."""
    import shutil

    import numpy as np

    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    np.save(partial / "ids.npy", ids.numpy())
    np.save(partial / "logits.npy", logits.numpy())
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)


def _read_arrays(folder: Path, mmap_mode: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``ids`` and ``logits`` from what ``_write_arrays`` wrote; ``mmap_mode="c"`` maps the logits."""
    import numpy as np

    return (torch.from_numpy(np.load(folder / "ids.npy")),
            torch.from_numpy(np.load(folder / "logits.npy", mmap_mode=mmap_mode)))


class TeacherLogitCache:
    """Teacher logits for every example of an encoded dataset, looked up by example id.

    Prediction-layer distillation only needs the teacher's logits, which never change: compute
    them once (one eval pass) and each training step costs a student step. Lookups go by the
    ``idx`` each batch carries, never by position, so a shuffled, bucketed loader gets the right
    rows. Saved under ``$TINYBERT_LAB_CACHE/teacher_logits/<key>/`` as two ``.npy`` files that are
    memory-mapped when read back (a large transfer set's logits stay on disk until looked up);
    the key hashes the teacher's weights, the token ids (so the max length) and the labels:
    change any of them and the cache is rebuilt. When several processes train, each scores a
    contiguous share of the examples, the main one joins the shares into the file, and every
    process maps it.
    """

    def __init__(self, ids: torch.Tensor, logits: torch.Tensor, key: str = ""):
        self.ids, self.key = ids.long(), key
        self.logits = logits if logits.dtype == torch.float32 else logits.float()  # a mapped file stays mapped
        self.row_of_id = torch.full((int(ids.max()) + 1,), -1, dtype=torch.long)
        self.row_of_id[self.ids] = torch.arange(len(ids))

    @classmethod
    def build(cls, teacher, encoded, tokenizer, *, batch_size: int = 64, persist: bool = True,
              key: str | None = None) -> "TeacherLogitCache":
        """Load the cache for (teacher, encoded) or compute it; ``key``: their ``fingerprint``
        when the caller has it already (hashing the teacher's weights is not free)."""
        from .evaluation import predict

        key = key or fingerprint(teacher, encoded)
        folder = cache_dir() / "teacher_logits" / key
        world = parallel.world()
        if persist and world.main_says((folder / "logits.npy").is_file()):
            return cls.open(folder, key)
        if persist and world.parallel:
            cls._build_in_shares(teacher, encoded, tokenizer, folder, batch_size, world)
            return cls.open(folder, key)
        logits, ids = predict(teacher, encoded, tokenizer, batch_size=batch_size)
        if persist:
            _write_arrays(folder, ids, logits)
        return cls(ids, logits, key)

    @staticmethod
    def _build_in_shares(teacher, encoded, tokenizer, folder: Path, batch_size: int, world) -> None:
        """Several processes: each scores its contiguous share of the examples and writes it; the
        main one joins the shares in order (the same file one process would write)."""
        import shutil

        from .evaluation import predict

        def share_folder(rank: int) -> Path:
            return folder.with_name(f"{folder.name}.share{rank}")

        n = len(encoded)
        share = encoded.select(range(n * world.rank // world.size, n * (world.rank + 1) // world.size))
        if len(share):
            logits, ids = predict(teacher, share, tokenizer, batch_size=batch_size)
        else:  # fewer examples than processes
            logits, ids = torch.empty(0, teacher.config.num_labels), torch.empty(0, dtype=torch.long)
        _write_arrays(share_folder(world.rank), ids, logits)
        world.barrier()
        if world.is_main:
            parts = [_read_arrays(share_folder(r)) for r in range(world.size)]
            _write_arrays(folder, torch.cat([ids for ids, _ in parts]), torch.cat([logits for _, logits in parts]))
            for r in range(world.size):
                shutil.rmtree(share_folder(r), ignore_errors=True)
        world.barrier()

    def save(self, folder) -> None:
        """``ids.npy`` and ``logits.npy`` in ``folder``, written to a temporary folder and renamed."""
        _write_arrays(Path(folder), self.ids, self.logits)

    @classmethod
    def open(cls, folder, key: str = "") -> "TeacherLogitCache":
        """A saved cache, its logits memory-mapped (copy-on-write: read from disk as rows are used)."""
        ids, logits = _read_arrays(Path(folder), mmap_mode="c")
        return cls(ids, logits, key)

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        """Teacher logits (B, C) for example ids ``idx`` (B,)."""
        idx = idx.cpu()
        inside = idx < len(self.row_of_id)
        rows = torch.where(inside, self.row_of_id[idx.clamp(max=len(self.row_of_id) - 1)], -1)
        if (rows < 0).any():
            raise TinyBertLabError(
                f"Example ids {idx[rows < 0][:5].tolist()} are not in the teacher-logit cache: it was built for "
                "other data. Build it from the same encoded dataset you train on."
            )
        return self.logits[rows]
