"""Streamed text for general distillation: pools read lazily, every line in exactly one batch per
epoch, a seeded order, resume by counting lines, and fit / general distillation on a stream
ending with the same weights as after an interruption and resume."""

import pytest
import torch

from tinybert_lab import tinybert, models, streaming, training
from tinybert_lab.core.errors import DataNotFoundError, TinyBertLabError

LINES = [f"line {i} " + "word " * (i % 7) for i in range(45)]


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text("\n".join(LINES[:20]) + "\n\n")
    (folder / "b.txt").write_text("\n".join(LINES[20:]) + "\n")
    return folder


def test_every_line_once_per_epoch_in_pools(corpus, tokenizer):
    stream = streaming.TextStream(corpus, tokenizer, pool_batches=2)
    assert list(stream.lines()) == [line.strip() for line in LINES]
    batches = stream.batches(batch_size=4, seed=0)
    epoch_zero = []
    while True:
        epoch, index, build = next(batches)
        if epoch == 1:
            break
        epoch_zero.append((index, build()))
    assert [i for i, _ in epoch_zero] == list(range(12))  # 45 lines: pools of 8 -> 6 pools, 12 batches
    ids = sorted(int(i) for _, b in epoch_zero for i in b["idx"])
    assert ids == list(range(45))
    first = epoch_zero[0][1]
    assert set(first) == {"input_ids", "attention_mask", "token_type_ids", "labels", "idx"}
    assert (first["labels"] == -1).all() and first["attention_mask"].sum(1).tolist() == [
        len(tokenizer(LINES[int(i)])["input_ids"]) for i in first["idx"]]
    epoch, index, build = next(streaming.TextStream(corpus, tokenizer, pool_batches=2).batches(4, 0, 0, 5))
    assert (epoch, index) == (0, 5) and build()["idx"].tolist() == epoch_zero[5][1]["idx"].tolist()  # resume at 5
    reseeded = [build()["idx"].tolist() for _, _, build in
                (next(iterator) for iterator in [stream.batches(4, seed=1)] * 12)]
    assert reseeded != [b["idx"].tolist() for _, b in epoch_zero]  # another seed, another batch order


def test_bad_sources_are_refused(tmp_path, tokenizer):
    with pytest.raises(DataNotFoundError, match="No file or folder"):
        streaming.TextStream(tmp_path / "missing.txt", tokenizer)
    with pytest.raises(DataNotFoundError, match="holds no .txt files"):
        streaming.TextStream(tmp_path, tokenizer)
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(TinyBertLabError, match="has no text lines"):
        streaming.TextStream(tmp_path / "empty.txt", tokenizer)


def tiny(tokenizer, seed, layers):
    return models.build_student("bert_tiny", tokenizer=tokenizer, seed=seed, num_hidden_layers=layers, hidden_size=32,
                                num_attention_heads=2, intermediate_size=64)


class _Stop(Exception):
    pass


def test_general_distillation_on_a_stream_resumes_exactly(corpus, tokenizer, tmp_path, tmp_cache):
    teacher = tiny(tokenizer, 1, 4)
    config = tinybert.DistillConfig(steps=8, batch_size=4, learning_rate=1e-3, weights=tinybert.INTERMEDIATE,
                                   mask_probability=0.15, checkpoint_every=3, log_every=1)
    stream = streaming.TextStream(corpus, tokenizer, pool_batches=2)
    straight = tiny(tokenizer, 2, 2)
    history = tinybert.general_distillation(straight, stream, tokenizer, teacher=teacher, config=config, progress=False,
                                           checkpoint_dir=tmp_path / "a")[1]
    assert len(history.loss) == 8 and all(torch.isfinite(torch.tensor(history.loss)))

    def crash(step, history):
        if step == 5:
            raise _Stop

    interrupted = tiny(tokenizer, 2, 2)
    with pytest.raises(_Stop):
        tinybert.general_distillation(interrupted, stream, tokenizer, teacher=teacher, config=config, progress=False,
                                     checkpoint_dir=tmp_path / "b", callbacks=[crash])
    resumed = tiny(tokenizer, 2, 2)
    tinybert.general_distillation(resumed, stream, tokenizer, teacher=teacher, config=config, progress=False,
                                 checkpoint_dir=tmp_path / "b", resume=True)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    with pytest.raises(TinyBertLabError, match="without a hard-label term"):
        training.fit(training.LabelObjective(tiny(tokenizer, 3, 1)), stream, tokenizer,
                     training.TrainConfig(steps=1, batch_size=4), progress=False)
