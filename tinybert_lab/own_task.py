"""Your own task, end to end: the tutorial's recipe on any classification file.

    task = own_task.load_task("my_data.tsv", text_column=1, label_column=0, header=False)
    print(task)                                        # labels, lengths, the max_length chosen
    teacher = own_task.fine_tune_teacher(task, steps=300).model
    runs = own_task.distil(task, teacher, steps=300)   # distilled student + labels-only baseline, same start
    print(own_task.results_table(task, teacher, runs))

``write_example`` writes a small offline example in the widespread SentEval layout
(``label<TAB>sentence``, no header): TREC questions, 6 classes.
"""

from __future__ import annotations

import warnings
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .methods import recipe
from .core import data, evaluation, models, training
from .core.errors import TinyBertLabError


def write_example(path, *, size: int = 1_500, seed: int = 0) -> Path:
    """``size`` TREC training questions as ``label<TAB>question`` lines, no header (Latin-1 source,
    written as UTF-8): a stand-in for a learner's own file."""
    trec = data.load_trec()["train"]
    rows = data.subsample(trec, min(size, len(trec)), seed=seed)
    names = trec.features["label"].names
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{names[label]}\t{text}\n" for label, text in zip(rows["label"], rows["text"])),
                    encoding="utf-8")
    return path


@dataclass
class OwnTask:
    """A loaded task: ``train`` / ``dev`` (a seeded split of the file), ``label_names``, the
    token-length report of the training part and the ``max_length`` chosen from it (covers 99 %
    of the examples, capped by the model's 512 positions)."""

    train: object
    dev: object
    label_names: list[str]
    lengths: data.LengthReport
    max_length: int
    source: str

    @property
    def pairs(self) -> bool:
        return "text_pair" in self.train.column_names

    def label_counts(self) -> dict[str, int]:
        counts = Counter(self.train["label"])
        return {name: counts.get(i, 0) for i, name in enumerate(self.label_names)}

    def __str__(self) -> str:
        counts = ", ".join(f"{name} {count}" for name, count in self.label_counts().items())
        truncated = "no example is cut" if self.max_length >= self.lengths.longest else \
            f"examples longer than {self.max_length} tokens are cut (at most 1 %)"
        return (f"{self.source}: {len(self.train)} training and {len(self.dev)} dev examples"
                f"{' (sentence pairs)' if self.pairs else ''}, {len(self.label_names)} classes\n"
                f"training labels: {counts}\n"
                f"lengths: {self.lengths}; max_length {self.max_length}: {truncated}")


@contextmanager
def _truncation_already_reported():
    """The task's summary says how many examples max_length cuts: no repeat at every encoding."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*were truncated.*", category=UserWarning)
        yield


def evaluate(task: OwnTask, model) -> evaluation.EvalResult:
    """``evaluation.evaluate`` on the task's dev part with its ``max_length``."""
    with _truncation_already_reported():
        return evaluation.evaluate(model, task.dev, models.load_tokenizer(), max_length=task.max_length)


def load_task(source, *, dev_fraction: float = 0.2, seed: int = 0, **options) -> OwnTask:
    """Read ``source`` with ``data.load_text_classification(source, **options)`` (columns by
    name or position, ``header``, ``encoding``, ``label_names``...), hold out ``dev_fraction`` of
    it as a dev set (seeded), and choose ``max_length`` from the training part's lengths."""
    if not 0 < dev_fraction < 1:
        raise TinyBertLabError(f"dev_fraction must be between 0 and 1, got {dev_fraction!r}.")
    table = data.load_text_classification(source, **options)
    if len(table) < 10:
        raise TinyBertLabError(f"{source} has {len(table)} examples: too few to train and evaluate on (use at least 10).")
    parts = table.train_test_split(test_size=dev_fraction, seed=seed, shuffle=True)
    tokenizer = models.load_tokenizer()
    lengths = data.length_report(parts["train"], tokenizer)
    names = list(table.features["label"].names)
    return OwnTask(parts["train"], parts["test"], names, lengths, lengths.covering(0.99), str(source))


def fine_tune_teacher(task: OwnTask, *, steps: int = 300, batch_size: int = 32, progress: bool = True):
    """The offline MiniLM fine-tuned on the task's training part (cached like the tutorial's)."""
    config = training.TrainConfig(steps=steps, batch_size=batch_size, max_length=task.max_length,
                                  eval_every=max(steps // 4, 1))
    with _truncation_already_reported():
        return training.fine_tune_teacher(train_data=task.train, eval_data=task.dev, config=config, progress=progress)


def distil(task: OwnTask, teacher, *, steps: int = 300, batch_size: int = 32, seed: int = 0, checkpoint_dir=None,
           progress: bool = True) -> dict:
    """Notebook 06's recipe on the task (``methods.recipe``): a TinyBERT-4 started from the
    teacher, distilled in two steps with the settings chosen for SST-2 (``recipe.CHOSEN``), next
    to the same start trained on the labels alone for the same steps. Returns ``{"distilled":
    model, "labels only": model, "histories": {...}}``; ``checkpoint_dir`` makes both runs resume
    after a crash."""
    with _truncation_already_reported():
        return recipe.compare_with_labels(teacher, task.train, models.load_tokenizer(), steps=steps, seed=seed,
                                          batch_size=batch_size, max_length=task.max_length, progress=progress,
                                          checkpoint_dir=checkpoint_dir, resume=checkpoint_dir is not None)


def results_table(task: OwnTask, teacher, runs: dict) -> evaluation.ResultsTable:
    """Teacher, distilled student and labels-only student on the task's dev part: accuracy,
    size, speed (``evaluation.benchmark_inference``); macro-F1 added to each row."""
    tokenizer = models.load_tokenizer()
    models_ = {"teacher (MiniLM-L6, fine-tuned)": teacher, "TinyBERT-4, distilled": runs["distilled"],
               "TinyBERT-4, labels only (same start)": runs["labels only"]}
    with _truncation_already_reported():
        return evaluation.scored_table(models_, task.dev, tokenizer, max_length=task.max_length)


def attention_figure(task: OwnTask, teacher, student, *, example: int = 0, head: int = 1):
    """Teacher vs student attention on dev example ``example`` (both segments for pairs): the
    student's last mapped layer next to the teacher layer the default map pairs with it."""
    import torch

    from .core import viz
    from .core.mapping import default_map

    if not 0 <= example < len(task.dev):
        raise TinyBertLabError(f"example must be between 0 and {len(task.dev) - 1} (the dev part's rows), got {example}.")
    row = task.dev[example]
    tokenizer = models.load_tokenizer()
    encoded = dict(tokenizer(row["text"], row.get("text_pair"), truncation=True, max_length=task.max_length,
                             return_tensors="pt"))
    last = default_map(student.config, teacher.config).attention_matches[-1]
    with torch.no_grad():
        t_att = teacher.eval()(**encoded, output_attentions=True).attentions[last.teacher[0] - 1][0, head - 1]
        s_att = student.eval()(**encoded, output_attentions=True).attentions[last.student - 1][0, head - 1]
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
    return viz.plot_attention_comparison(
        t_att, s_att, tokens, title=f"student layer {last.student} ← teacher layer {last.teacher[0]}, head {head}")
