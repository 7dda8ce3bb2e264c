"""The tutorial's recipe from the command line: the same library calls the notebooks make.

    tinybert-lab all                                   # teacher, task distillation, results (the tutorial's defaults)
    tinybert-lab task --config my_run.toml --set task.steps=300
    torchrun --nproc_per_node 8 -m tinybert_lab.cli task --config paper.toml    # data-parallel, one process per GPU

Commands: ``teacher`` (fine-tune or load), ``general`` (general distillation on a text corpus),
``task`` (TinyBERT's two steps, optionally on augmented data, next to the labels-only student from
the same start), ``evaluate`` (the results table of what ``out_dir`` holds), ``all`` (teacher, task,
evaluate). Settings: ``tinybert_lab.runconfig``; ``--print-config`` shows them as TOML.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

from . import runconfig
from .core.errors import TinyBertLabError

PAPER_SCALE = """\
TinyBERT-4 at paper scale (Jiao et al. 2020) on 8 GPUs, one process per GPU:

  1. teacher: BERT-base fine-tuned on the task
       torchrun --nproc_per_node 8 -m tinybert_lab.cli teacher --set teacher.model=bert-base-uncased \\
           --set teacher.batch_size=4 --set teacher.steps=6300 --set data.train_size=0 --set out_dir=runs/paper
     (global batch = batch_size x grad_accumulation x processes = 32; 6,300 steps ~ 3 epochs of SST-2)
  2. general distillation: the pre-trained BERT-base's layers on English Wikipedia, max length 128,
     global batch 256 (32 per GPU), 3 epochs (steps = 3 x corpus examples / 256)
       torchrun --nproc_per_node 8 -m tinybert_lab.cli general --set general.corpus=wiki/ \\
           --set general.batch_size=32 --set general.max_length=128 --set general.steps=<3 epochs> \\
           --set teacher.model=bert-base-uncased --set student.start=random
  3. task distillation on augmented data (20 copies per sentence, p=0.4, K=15): intermediate layers
     for 20 epochs at lr 5e-5, then the prediction layer for 3 epochs (lr 1e-5..3e-5), global batch 32,
     max length 64 (128 for sentence pairs)
       torchrun --nproc_per_node 8 -m tinybert_lab.cli task --set teacher.fine_tuned=runs/paper/teacher \\
           --set student.start=runs/paper/general --set task.augment=true --set task.augment_per_sentence=20 \\
           --set task.batch_size=4 --set task.steps=<23 epochs> --set task.intermediate_fraction=0.87 \\
           --set task.learning_rate=5e-5 --set data.train_size=0

(Another GLUE task: --set data.task=glue/mrpc (or qnli, rte, mnli, qqp, cola; from the hub, online
once); sentence pairs are read as pairs.)
(`accelerate launch --multi_gpu --num_processes 8 -m tinybert_lab.cli ...` launches the same processes.)

Small default run: the tutorial's notebook 06 student and its labels-only baseline (SST-2, the
offline MiniLM teacher, TinyBERT-4 from the teacher's weights, 600 steps), with the results table:
       tinybert-lab all                 # or: python -m tinybert_lab.cli all
The teacher is the tutorial's: after the notebooks it comes from their cache; on a fresh machine it
is fine-tuned first (400 steps). A first look at about a quarter of the cost, smaller in every part:
       tinybert-lab all --set teacher.steps=100 --set task.steps=100 --set data.train_size=2000 --set out_dir=runs/quick
A value in --set is read as TOML (numbers, true/false) or else as a plain string.
"""


@functools.lru_cache(maxsize=1)
def _tokenizer():
    """The tokenizer, read from disk once per run (every command and save needs it)."""
    from .core import models

    return models.load_tokenizer()


def load_data(config: runconfig.RunConfig):
    """``(teacher_train, train, dev)`` raw datasets for the configured task."""
    from .core import data
    from . import own_task

    d = config.data
    if d.task == "sst2":
        splits = data.load_sst2()
        full_train, dev = splits["train"], splits["validation"]
    elif d.task == "trec":
        splits = data.load_trec()
        full_train, dev = splits["train"], splits["test"]
    elif d.task.startswith("glue/"):  # e.g. glue/mrpc: the hub's GLUE, train and its dev split
        splits = data.load_glue(d.task.removeprefix("glue/"))
        full_train, dev = splits["train"], splits["validation"]
    else:
        columns = {"text_column": d.text_column or None, "label_column": d.label_column, "header": d.header}
        if d.text_pair_column:
            columns["text_pair_column"] = d.text_pair_column
        if not d.header:
            columns = {k: (int(v) if isinstance(v, str) and v.isdigit() else v) for k, v in columns.items()}
        task = own_task.load_task(d.task, dev_fraction=d.dev_fraction, seed=0, **columns)
        full_train, dev = task.train, task.dev
    train = data.subsample(full_train, d.train_size or None, seed=0)
    teacher_train = data.subsample(full_train, d.teacher_train_size or None, seed=0)
    return teacher_train, train, data.subsample(dev, d.dev_size or None)


def teacher(config: runconfig.RunConfig, *, progress: bool = True):
    """The fine-tuned teacher: loaded from ``teacher.fine_tuned``, or fine-tuned (and cached, so
    the notebooks and this command share it) and saved to ``out_dir/teacher``."""
    from .core import data, models, parallel, training

    t = config.teacher
    if t.fine_tuned:
        return models.load_classifier(t.fine_tuned, num_labels=data.num_labels(load_data(config)[2]))
    teacher_train, _, dev = load_data(config)
    start = None if t.model == "offline" else models.load_teacher(t.model, num_labels=data.num_labels(teacher_train))
    settings = training.TrainConfig(steps=t.steps, batch_size=t.batch_size, learning_rate=t.learning_rate,
                                    eval_every=max(t.steps // 4, 1), max_length=config.data.max_length or None)
    result = training.fine_tune_teacher(start, train_data=teacher_train, eval_data=dev, config=settings, progress=progress)
    if parallel.world().is_main:
        _save(result.model, Path(config.out_dir) / "teacher")
        print(f"teacher: dev accuracy {result.history.eval[-1][1]:.1%}" if result.history.eval else "teacher ready")
    return result.model


def _save(model, folder: Path) -> None:
    from .core import models

    with models.quiet_transformers():
        model.save_pretrained(folder)
    _tokenizer().save_pretrained(folder)


def task(config: runconfig.RunConfig, teacher_model=None, *, progress: bool = True) -> dict:
    """TinyBERT's two steps (notebook 06's recipe, ``methods.recipe``) and the labels-only baseline
    from the same start, checkpointed under ``out_dir/checkpoints`` (a rerun resumes); both saved."""
    from .methods import augment, recipe
    from .core import parallel

    teacher_model = teacher_model if teacher_model is not None else teacher(config, progress=progress)
    _, train, dev = load_data(config)
    tokenizer, k = _tokenizer(), config.task
    kd_data = train
    if k.augment:
        kd_data = augment.transfer_set(train, tokenizer, teacher_model, max_length=config.data.max_length or None,
                                       config=augment.AugmentConfig(n_per_sentence=k.augment_per_sentence)).augmented
    intermediate = None if k.intermediate_fraction is None else round(k.steps * k.intermediate_fraction)
    folder = Path(config.out_dir)
    runs = recipe.compare_with_labels(
        teacher_model, train, tokenizer, steps=k.steps, start_kind=config.student.start, preset=config.student.preset,
        seed=config.seed, kd_data=kd_data, intermediate_steps=intermediate, kd_learning_rate=k.learning_rate,
        labels_learning_rate=k.baseline_learning_rate, baseline=k.baseline, eval_data=dev, progress=progress,
        checkpoint_dir=folder / "checkpoints", resume=True, batch_size=k.batch_size,
        grad_accumulation=k.grad_accumulation, max_length=config.data.max_length or None,
        checkpoint_every=k.checkpoint_every, eval_every=k.eval_every)
    trained = {name: model for name, model in runs.items() if name != "histories"}
    if parallel.world().is_main:
        for name, model in trained.items():
            _save(model, folder / name.replace(" ", "_"))
        print(f"saved {', '.join(trained)} to {folder}/")
    return trained


def evaluate(config: runconfig.RunConfig, models_: dict | None = None):
    """The results table of the teacher and the students in ``out_dir``: accuracy, macro-F1,
    size, speed; written to ``out_dir/results.md`` and ``results.json``."""
    from .core import data, evaluation, models, parallel

    if not parallel.world().is_main:
        return None
    folder = Path(config.out_dir)
    _, _, dev = load_data(config)
    tokenizer = _tokenizer()
    if models_ is None:
        names = {"teacher": folder / "teacher", "distilled": folder / "distilled", "labels only": folder / "labels_only"}
        if config.teacher.fine_tuned:
            names["teacher"] = Path(config.teacher.fine_tuned)
        missing = [str(path) for path in names.values() if not (path / "config.json").is_file()]
        if missing:
            raise TinyBertLabError(f"Nothing to evaluate in {', '.join(missing)}: run `tinybert-lab teacher` and "
                                   "`tinybert-lab task` with the same out_dir first.")
        models_ = {name: models.load_classifier(path, num_labels=data.num_labels(dev)) for name, path in names.items()}
    table = evaluation.scored_table(models_, dev, tokenizer, max_length=config.data.max_length or None)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.md").write_text(table.to_markdown() + "\n")
    (folder / "results.json").write_text(json.dumps({"config": config.to_dict(), "rows": table.rows}, indent=1))
    print(table.to_markdown())
    return table


def general(config: runconfig.RunConfig, *, progress: bool = True):
    """General distillation of the configured student on ``general.corpus``; saved to
    ``out_dir/general`` (use it as ``student.start`` for ``task``)."""
    import itertools

    import datasets

    from .methods import tinybert
    from .core import models, parallel, streaming

    g = config.general
    if not g.corpus:
        raise TinyBertLabError("general.corpus is empty: give a text file, a folder of .txt files or a hub dataset "
                               "name, e.g. --set general.corpus=corpus.txt.")
    tokenizer = _tokenizer()
    corpus = streaming.TextStream(g.corpus, tokenizer, max_length=g.max_length, text_column=g.text_column)
    pretrained = models.load_teacher(None if config.teacher.model == "offline" else config.teacher.model)
    if config.student.start == "teacher":
        from .methods import teacher_init

        sample = datasets.Dataset.from_dict({"text": list(itertools.islice(corpus.lines(), 2_048))})  # for the PCA basis
        student, _ = teacher_init.projected_student(pretrained, tokenizer, sample, config.student.preset, seed=config.seed)
    else:
        student = models.build_student(config.student.preset, tokenizer=tokenizer, seed=config.seed)
    settings = tinybert.DistillConfig(steps=g.steps, batch_size=g.batch_size, grad_accumulation=g.grad_accumulation,
                                     learning_rate=g.learning_rate, max_length=g.max_length, seed=config.seed,
                                     weights=tinybert.INTERMEDIATE, mask_probability=0.15, checkpoint_every=100)
    tinybert.general_distillation(student, corpus, tokenizer, teacher=pretrained, config=settings, progress=progress,
                                 checkpoint_dir=Path(config.out_dir) / "checkpoints" / "general", resume=True)
    if parallel.world().is_main:
        _save(student, Path(config.out_dir) / "general")
        print(f"saved the general-distilled student to {config.out_dir}/general")
    return student


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tinybert-lab", description=__doc__.split("\n\n")[0],
                                     epilog=PAPER_SCALE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["teacher", "general", "task", "evaluate", "all"])
    parser.add_argument("--config", help="a TOML or YAML file of settings (see --print-config)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one setting, e.g. --set task.steps=300 (repeatable)")
    parser.add_argument("--print-config", action="store_true", help="print the settings as TOML and stop")
    args = parser.parse_args(argv)
    try:
        config = runconfig.load(args.config, args.set)
        if args.print_config:
            print(runconfig.to_toml(config), end="")
            return 0
        if args.command == "teacher":
            teacher(config)
        elif args.command == "general":
            general(config)
        elif args.command == "task":
            task(config)
        elif args.command == "evaluate":
            evaluate(config)
        else:
            model = teacher(config)
            evaluate(config, {"teacher": model, **task(config, model)})
    except TinyBertLabError as error:
        print(f"tinybert-lab: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
