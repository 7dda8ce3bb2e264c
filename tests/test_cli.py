"""The command line: settings from TOML/YAML files and --set flags, validated (unknown keys and
wrong types named with the fix); a tiny end-to-end run of every command on the offline defaults,
whose saved students are the ones `evaluate` reads back; clear errors instead of stack traces."""

import json

import pytest

from tinybert_lab import cli, runconfig
from tinybert_lab.core.errors import TinyBertLabError


def test_defaults_are_the_tutorials():
    from tinybert_lab.core.settings import FULL_PLAN

    config = runconfig.load()
    assert (config.data.task, config.data.train_size, config.teacher.model) == ("sst2", FULL_PLAN.train_size, "offline")
    assert config.task.steps == FULL_PLAN.budget and config.teacher.steps == FULL_PLAN.teacher_steps
    assert config.task.learning_rate is None  # the settings chosen on the held-out slice


def test_files_and_overrides(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('seed = 2\n[task]\nsteps = 300\nlearning_rate = 5e-5\n[data]\ntask = "trec"\n')
    config = runconfig.load(toml, ["task.steps=120", "task.augment=true", "student.start=random", "out_dir=runs/x"])
    assert (config.seed, config.task.steps, config.task.learning_rate, config.task.augment) == (2, 120, 5e-5, True)
    assert (config.data.task, config.student.start, config.out_dir) == ("trec", "random", "runs/x")
    yaml = tmp_path / "run.yaml"
    yaml.write_text("task:\n  steps: 50\n  intermediate_fraction: 0.5\n")
    assert runconfig.load(yaml).task.intermediate_fraction == 0.5
    again = tmp_path / "again.toml"
    again.write_text(runconfig.to_toml(config))
    assert runconfig.load(again) == config  # --print-config's output reads back as the same settings


@pytest.mark.parametrize("values, message", [
    ({"task": {"stpes": 3}}, r"'stpes' \(did you mean 'steps'\?\)"),
    ({"trainer": {}}, "'trainer'"),
    ({"task": {"steps": "many"}}, "task.steps must be an integer, got 'many'"),
    ({"task": {"steps": 0}}, "task.steps must be a positive integer, got 0"),
    ({"task": {"augment": 1}}, "task.augment must be True or False, got 1"),
    ({"task": {"intermediate_fraction": 1.5}}, r"intermediate_fraction must be in \[0, 1\)"),
    ({"student": {"preset": "huge"}}, "student.preset must be one of"),
    ({"student": {"start": "no/such/folder"}}, "student.start must be .*a folder with a saved student, got .*That folder does not exist"),
    ({"data": {"train_size": -1}}, "data.train_size must be an integer >= 0, got -1"),
    ({"task": 3}, r"\[task\] must be a table"),
])
def test_bad_settings_are_refused_with_the_key(values, message):
    with pytest.raises(TinyBertLabError, match=message):
        runconfig.RunConfig.from_dict(values)


def test_bad_files_and_flags(tmp_path):
    with pytest.raises(TinyBertLabError, match="not found"):
        runconfig.load(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[task\nsteps = 3")
    with pytest.raises(TinyBertLabError, match="not valid TOML"):
        runconfig.load(bad)
    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(TinyBertLabError, match="TOML .* or YAML"):
        runconfig.load(tmp_path / "run.json")
    with pytest.raises(TinyBertLabError, match="section.key=value"):
        runconfig.load(None, ["task.steps"])


def test_command_line_errors_are_one_line(capsys):
    assert cli.main(["task", "--set", "task.stpes=3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinybert-lab: ") and "did you mean 'steps'" in err and "Traceback" not in err
    assert cli.main(["general", "--set", "data.dev_size=4"]) == 2
    assert "general.corpus is empty" in capsys.readouterr().err


def test_every_command_end_to_end_on_a_tiny_run(tmp_path, tmp_cache, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"a plain sentence number {i} about films ." for i in range(40)) + "\n")
    common = ["--set", f"out_dir={tmp_path / 'run'}", "--set", "data.train_size=48", "--set", "data.teacher_train_size=48",
              "--set", "data.dev_size=24", "--set", "teacher.steps=2", "--set", "teacher.batch_size=8",
              "--set", "task.steps=4", "--set", "task.batch_size=8", "--set", "task.checkpoint_every=2"]
    assert cli.main(["all", *common]) == 0
    out = capsys.readouterr().out
    assert "| teacher |" in out and "| distilled |" in out and "| labels only |" in out
    run = tmp_path / "run"
    assert all((run / name / "config.json").is_file() for name in ("teacher", "distilled", "labels_only"))
    rows = json.loads((run / "results.json").read_text())["rows"]
    assert [r["model"] for r in rows] == ["teacher", "distilled", "labels only"]
    assert cli.main(["evaluate", *common]) == 0  # reads the saved models back: the same accuracies
    again = json.loads((run / "results.json").read_text())["rows"]
    assert [r["accuracy"] for r in again] == [r["accuracy"] for r in rows]
    general = ["--set", f"general.corpus={corpus}", "--set", "general.steps=2", "--set", "general.batch_size=8",
               "--set", "student.start=random"]
    assert cli.main(["general", *common, *general]) == 0
    assert (run / "general" / "config.json").is_file()
    with pytest.warns(UserWarning, match="belongs to a different run"):  # another start: the checkpoint is not reused
        assert cli.main(["task", *common, "--set", f"student.start={run / 'general'}", "--set", "task.baseline=false",
                         "--set", "task.intermediate_fraction=0"]) == 0
    assert "saved distilled to" in capsys.readouterr().out


def test_task_trains_notebook_06s_student(tmp_cache, tmp_path):
    """The command's defaults are notebook 06's calls: at the fast plan's sizes both end with the
    same weights (the full plan differs only in its numbers)."""
    import torch

    from tinybert_lab import models, recipe, settings, tutorial

    plan = settings.FAST_PLAN
    tokenizer = models.load_tokenizer()
    teacher = tutorial.fine_tuned_teacher(plan, progress=False).model  # notebook 06's cells, in order
    train, dev = tutorial.load_data(plan)
    begin = recipe.start("teacher", teacher, tokenizer, train)
    kd_student = begin.student
    recipe.distil(recipe.distiller(begin, teacher), train, tokenizer, steps=plan.budget,
                  setting=recipe.CHOSEN["kd-teacher"], eval_data=dev, progress=False,
                  checkpoint_dir=tmp_path / "kd", resume=True, batch_size=plan.batch_size, eval_every=2, log_every=1)
    config = runconfig.load(None, [f"out_dir={tmp_path / 'cli'}", f"data.train_size={plan.train_size}",
                                   f"data.teacher_train_size={plan.teacher_train_size}", f"data.dev_size={plan.dev_size}",
                                   f"teacher.steps={plan.teacher_steps}", f"teacher.batch_size={plan.batch_size}",
                                   f"task.steps={plan.budget}", f"task.batch_size={plan.batch_size}", "task.eval_every=2",
                                   "task.baseline=false"])
    cli_teacher = cli.teacher(config, progress=False)  # the tutorial's cached teacher: same settings, same key
    assert all(torch.equal(a, b) for a, b in zip(cli_teacher.state_dict().values(), teacher.state_dict().values()))
    distilled = cli.task(config, cli_teacher, progress=False)["distilled"]
    for (name, a), b in zip(kd_student.state_dict().items(), distilled.state_dict().values()):
        assert torch.equal(a, b), name


def fake_glue_hub(name_seen):
    """A stand-in for ``datasets.load_dataset("nyu-mll/glue", task)``: MRPC's columns, 12 pairs."""
    import datasets

    def load_dataset(path, name):
        name_seen.append((path, name))
        rows = {"sentence1": [f"the first sentence number {i}" for i in range(12)],
                "sentence2": [f"and its paraphrase, maybe {i}" for i in range(12)],
                "label": [i % 2 for i in range(12)], "idx": list(range(12))}
        features = datasets.Features({"sentence1": datasets.Value("string"), "sentence2": datasets.Value("string"),
                                      "label": datasets.ClassLabel(names=["not_equivalent", "equivalent"]),
                                      "idx": datasets.Value("int32")})
        table = datasets.Dataset.from_dict(rows, features=features)
        return datasets.DatasetDict({"train": table, "validation": table.select(range(4)), "test": table.select(range(2))})

    return load_dataset


def test_glue_tasks_from_the_hub_are_read_as_pairs(monkeypatch, tmp_path, tmp_cache, capsys):
    from tinybert_lab import data
    from tinybert_lab.core.errors import DataNotFoundError

    seen = []
    splits = data.load_glue("MRPC", load_dataset=fake_glue_hub(seen))
    assert seen == [("nyu-mll/glue", "mrpc")] and sorted(splits) == ["train", "validation"]
    assert splits["train"].column_names == ["text", "text_pair", "label", "idx"] and len(splits["validation"]) == 4
    assert data.text_columns(splits["train"]) == ("text", "text_pair")
    with pytest.raises(TinyBertLabError, match="STS-B is a regression task"):
        data.load_glue("sts-b")
    with pytest.raises(TinyBertLabError, match="Unknown GLUE task 'mrcp': pick one of cola, sst2, mrpc"):
        data.load_glue("mrcp")

    def offline(path, name):
        raise ConnectionError("no network")

    with pytest.raises(DataNotFoundError, match="GLUE rte could not be loaded .* Go online once"):
        data.load_glue("rte", load_dataset=offline)
    assert len(data.load_glue("sst2")["validation"]) == 872  # SST-2: the local files, no hub
    import datasets

    monkeypatch.setattr(datasets, "load_dataset", fake_glue_hub(seen))
    config = runconfig.load(None, ["data.task=glue/mrpc", "data.train_size=8"])
    teacher_train, train, dev = cli.load_data(config)
    assert (len(teacher_train), len(train), len(dev)) == (12, 8, 4) and "text_pair" in train.column_names
    tiny = ["--set", "data.task=glue/mrpc", "--set", f"out_dir={tmp_path / 'mrpc'}", "--set", "teacher.steps=2",
            "--set", "teacher.batch_size=4", "--set", "task.steps=2", "--set", "task.batch_size=4"]
    assert cli.main(["all", *tiny]) == 0  # pairs through teacher, projected start, both students, the table
    rows = json.loads((tmp_path / "mrpc" / "results.json").read_text())["rows"]
    assert [r["model"] for r in rows] == ["teacher", "distilled", "labels only"] and "| distilled |" in capsys.readouterr().out
