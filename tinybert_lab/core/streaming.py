"""Text for general distillation read as a stream: a corpus larger than memory, one pool at a time.

``TextStream(source, tokenizer)`` reads lines from a text file, a folder of ``.txt`` files (sorted
by name) or a hub dataset (``datasets`` streaming). ``training.fit`` takes it where it takes an
``encode``-d dataset: it reads ``pool_batches × batch_size`` lines, tokenises them, sorts them by
length, cuts them into batches and shuffles the batches' order (seeded by epoch and pool), then
reads the next pool. Memory holds one pool, whatever the corpus size. Lines keep their order in
the corpus: shuffle a large file once beforehand (``shuf corpus.txt > shuffled.txt``).

Resuming skips whole pools by counting lines (each full pool is ``pool_batches`` batches), so
nothing before the checkpoint is tokenised again.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Callable, Iterator

import torch

from .errors import DataNotFoundError, TinyBertLabError


class TextStream:
    """Unlabelled text, streamed: see the module docstring. ``max_length`` cuts longer lines."""

    def __init__(self, source, tokenizer, *, max_length: int = 64, pool_batches: int = 64, text_column: str = "text"):
        if max_length < 8:
            raise TinyBertLabError(f"max_length={max_length} is too short to hold a sentence; use at least 8.")
        if pool_batches < 1:
            raise TinyBertLabError(f"pool_batches must be at least 1, got {pool_batches}.")
        self.source, self.tokenizer = str(source), tokenizer
        self.max_length, self.pool_batches, self.text_column = max_length, pool_batches, text_column
        path = Path(source).expanduser()
        if path.is_file():
            self.files = [path]
        elif path.is_dir():
            self.files = sorted(path.glob("*.txt"))
            if not self.files:
                raise DataNotFoundError(f"{path} holds no .txt files. Give a folder of text files, one example per line.")
        elif "/" in self.source and not path.parent.exists():
            self.files = None  # a hub dataset name, read with datasets' streaming
        else:
            raise DataNotFoundError(f"No file or folder {path}. Give a text file, a folder of .txt files or a hub "
                                    "dataset name (owner/name).")
        if self.files is not None and next(self.lines(), None) is None:
            raise TinyBertLabError(f"{self.source} has no text lines.")

    def lines(self) -> Iterator[str]:
        """The corpus's non-empty lines, in order, read lazily."""
        if self.files is None:
            yield from self._hub_lines()
            return
        for path in self.files:
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    line = line.strip()
                    if line:
                        yield line

    def _hub_lines(self) -> Iterator[str]:
        import datasets

        try:
            rows = datasets.load_dataset(self.source, split="train", streaming=True)
        except Exception as error:  # offline or an unknown name: one clear message
            raise DataNotFoundError(f"The hub dataset {self.source!r} could not be streamed ({type(error).__name__}). "
                                    "Offline, give a text file or a folder of .txt files.") from None
        for row in rows:
            text = row.get(self.text_column)
            if isinstance(text, str) and text.strip():
                yield text.strip()

    def key(self) -> str:
        """What identifies this corpus and these settings (for a checkpoint's run key)."""
        stamps = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in self.files] if self.files else [self.source]
        return hashlib.sha256(json.dumps([stamps, self.max_length, self.pool_batches]).encode()).hexdigest()[:16]

    def _pools(self, size: int) -> Iterator[list[str]]:
        pool = []
        for line in self.lines():
            pool.append(line)
            if len(pool) == size:
                yield pool
                pool = []
        if pool:
            yield pool

    def batches(self, batch_size: int, seed: int, epoch: int = 0, position: int = 0
                ) -> Iterator[tuple[int, int, Callable[[], dict]]]:
        """``(epoch, index, build)`` forever, from batch ``position`` of ``epoch`` on; ``build()``
        returns the padded batch (``data.collate``'s keys; labels -1, idx the line number)."""
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        while True:
            index, first_line = 0, 0
            for number, pool in enumerate(self._pools(self.pool_batches * batch_size)):
                count = -(-len(pool) // batch_size)
                if index + count <= position:  # before the resume point: counted, not tokenised
                    index, first_line = index + count, first_line + len(pool)
                    continue
                ids = self.tokenizer(pool, truncation=True, max_length=self.max_length,
                                     return_attention_mask=False)["input_ids"]
                order = sorted(range(len(pool)), key=lambda i: len(ids[i]))
                groups = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
                random.Random(f"{seed}-{epoch}-{number}").shuffle(groups)
                for rows in groups:
                    if index >= position:
                        yield epoch, index, _builder([ids[i] for i in rows], [first_line + i for i in rows], pad)
                    index += 1
                first_line += len(pool)
            epoch, position = epoch + 1, 0


def _builder(ids: list[list[int]], lines: list[int], pad: int) -> Callable[[], dict]:
    def build() -> dict[str, torch.Tensor]:
        longest = max(len(x) for x in ids)
        input_ids = torch.full((len(ids), longest), pad, dtype=torch.long)
        attention_mask = torch.zeros((len(ids), longest), dtype=torch.long)
        for row, x in enumerate(ids):
            input_ids[row, :len(x)] = torch.tensor(x)
            attention_mask[row, :len(x)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": torch.zeros_like(input_ids),
                "labels": torch.full((len(ids),), -1, dtype=torch.long), "idx": torch.tensor(lines, dtype=torch.long)}

    return build
