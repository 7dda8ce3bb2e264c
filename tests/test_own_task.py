"""own_task: a learner's file read as the loader reads it, split, lengths measured once, max_length
chosen from them; the example file in SentEval's layout; clear refusals."""

import pytest

from tinybert_lab import own_task
from tinybert_lab.core.errors import TinyBertLabError


def test_the_example_file_loads_as_a_six_class_task(tmp_path):
    path = own_task.write_example(tmp_path / "example.tsv", size=200)
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.split("\t")[0] in {"ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"}  # label<TAB>question, no header
    task = own_task.load_task(path, text_column=1, label_column=0, header=False)
    assert (len(task.train), len(task.dev)) == (160, 40) and not task.pairs
    assert sorted(task.label_names) == task.label_names and len(task.label_names) <= 6
    assert sum(task.label_counts().values()) == 160
    assert task.max_length == task.lengths.covering(0.99) and task.max_length % 8 == 0
    assert task.lengths.p99 <= task.max_length <= 512
    text = str(task)
    assert "160 training and 40 dev examples" in text and f"max_length {task.max_length}" in text
    assert own_task.load_task(path, text_column=1, label_column=0, header=False).dev["idx"] == task.dev["idx"]  # seeded


def test_pairs_and_refusals(tmp_path):
    path = tmp_path / "pairs.csv"
    rows = [f"premise {i},hypothesis {i},{'yes' if i % 2 else 'no'}" for i in range(20)]
    path.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    task = own_task.load_task(path, text_column="a", text_pair_column="b", dev_fraction=0.25)
    assert task.pairs and task.label_names == ["no", "yes"] and len(task.dev) == 5
    with pytest.raises(TinyBertLabError, match="dev_fraction must be between 0 and 1"):
        own_task.load_task(path, text_column="a", dev_fraction=1.5)
    tiny = tmp_path / "tiny.tsv"
    tiny.write_text("pos\tgood\nneg\tbad\n")
    with pytest.raises(TinyBertLabError, match="too few to train and evaluate on"):
        own_task.load_task(tiny, text_column=1, label_column=0, header=False)


def test_attention_figure_shows_a_dev_pair_with_both_segments(tmp_path, tokenizer):
    from tinybert_lab import models, viz

    path = tmp_path / "pairs.csv"
    path.write_text("a,b,label\n" + "\n".join(f"a cat sat {i},on the mat,{'yes' if i % 2 else 'no'}" for i in range(20)) + "\n")
    task = own_task.load_task(path, text_column="a", text_pair_column="b")
    teacher = models.build_student("bert_tiny", tokenizer=tokenizer, num_labels=2, seed=0, num_hidden_layers=4)
    student = models.build_student("bert_tiny", tokenizer=tokenizer, num_labels=2, seed=1, num_hidden_layers=2)
    fig = own_task.attention_figure(task, teacher, student, example=1, head=2)
    tokens = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert tokens[viz.segment_boundary(tokens):] == ["on", "the", "mat", "[SEP]"]
    assert "head 2" in fig.texts[0].get_text()
    with pytest.raises(TinyBertLabError, match="example must be between 0 and 3"):
        own_task.attention_figure(task, teacher, student, example=4)
