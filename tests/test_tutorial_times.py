"""The workshop's modes and its time budget: the live plan, the runner's per-cell times, the
record behind run_times.md, the doctor's estimate and each long cell's announcement."""

import json

import nbformat
import pytest

from tinybert_lab import beyond, settings, tutorial


def test_three_modes_one_teacher(monkeypatch):
    for name in (settings.FAST_ENV, settings.FULL_SIZE_ENV):
        monkeypatch.delenv(name, raising=False)
    assert tutorial.plan() is settings.LIVE_PLAN
    monkeypatch.setenv(settings.FULL_SIZE_ENV, "1")
    assert tutorial.plan() is settings.FULL_PLAN
    monkeypatch.setenv(settings.FAST_ENV, "1")
    assert tutorial.plan() is settings.FAST_PLAN  # fast wins: CI sets it
    live, full = settings.LIVE_PLAN, settings.FULL_PLAN
    assert tutorial.teacher_config(live) == tutorial.teacher_config(full)  # one cached teacher for both
    assert (live.train_size, live.dev_size, live.beyond_steps) == (full.train_size, full.dev_size, full.beyond_steps)
    assert live.budget < full.budget and full.beyond_live is None
    assert len({p.artifacts for p in (live, full, settings.FAST_PLAN)}) == 3  # each mode keeps its own students


def test_notebook_09_trains_a_few_methods_live_and_prints_every_methods_record(capsys):
    class Setup:
        plan = settings.LIVE_PLAN

    live = beyond.live_methods(Setup)
    assert live == list(settings.LIVE_PLAN.beyond_live) and set(live) < set(beyond.METHODS)
    Setup.plan = settings.FULL_PLAN
    assert beyond.live_methods(Setup) == list(beyond.METHODS)
    trained = {}
    beyond.show("mobilebert", Setup, trained, live=[])  # not live: nothing trains, the record speaks
    out = capsys.readouterr().out
    assert trained == {} and "not trained here" in out
    assert "MobileBERT-6 narrow, progressive transfer + KD:" in out and "(3 seeds)" in out and "vs labels only" in out
    with pytest.raises(Exception, match="Unknown method 'mobilebret'"):
        beyond.show("mobilebret", Setup, trained, live=[])


def executed(cells):
    notebook = nbformat.v4.new_notebook()
    for source, seconds, tags in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = tags
        cell.metadata["execution"] = {"iopub.execute_input": "2026-12-06T10:00:00.000000Z",
                                      "shell.execute_reply": f"2026-12-06T10:00:{seconds:02d}.500000Z"}
        notebook.cells.append(cell)
    notebook.cells.append(nbformat.v4.new_markdown_cell("text"))
    return notebook


def test_cell_times_come_from_the_executed_notebooks_metadata():
    notebook = executed([("a = 1", 1, []), ("train()", 42, ["wait:06-kd", "solution"])])
    assert tutorial.cell_times(notebook) == [{"cell": 0, "wait": None, "seconds": 1.5},
                                             {"cell": 1, "wait": "06-kd", "seconds": 42.5}]


def a_run(mode="live", reference=0.5):
    return {"mode": mode, "reference_step_seconds": reference, "date": "today", "commit": "abc",
            "notebooks": [{"notebook": "06.ipynb", "seconds": 200.0, "peak_gb": 1.5,
                           "cells": [{"cell": 12, "wait": "06-kd", "seconds": 60.0},
                                     {"cell": 14, "wait": None, "seconds": 30.0}]},
                          {"notebook": "07.ipynb", "seconds": 10.0, "peak_gb": 1.5, "cells": []}]}


def test_run_times_table_gives_reference_steps_and_names_what_is_over_budget_or_silent():
    table = tutorial.times_table(a_run())
    assert "| 06.ipynb | 200 | 400 (over the 3-minute budget) | 1.50 | 60 |" in table
    assert "| 07.ipynb | 10 | 20 | 1.50 | 0 |" in table
    assert "| **total** | **210** | **420** | | |" in table
    assert "06.ipynb cell 14 (30 s)" in table and "cell 12" not in table.split("announce nothing")[1]


def test_expect_announces_the_recorded_reference_steps_times_this_machines(tmp_path, monkeypatch, capsys):
    record = tmp_path / "tutorial_times.json"
    first_run = {**a_run(reference=0.05), "teachers": "trained in the run"}  # never an estimate's source
    record.write_text(json.dumps({"runs": [a_run(reference=0.5), a_run("full", reference=0.1), first_run]}))
    monkeypatch.setattr(tutorial, "TIMES_RECORD", record)
    monkeypatch.setattr(tutorial, "this_machine_reference", lambda: 0.25)
    monkeypatch.setattr(tutorial, "plan", lambda: settings.LIVE_PLAN)
    assert tutorial.recorded_cell("06-kd", "live", record) == 120  # 60 s / 0.5 s
    retried = a_run(reference=0.05)  # a later run whose notebook 06 needed a second attempt
    retried["notebooks"][0]["attempts"] = 2
    record.write_text(json.dumps({"runs": [a_run(reference=0.5), retried]}))
    assert tutorial.recorded_cell("06-kd", "live", record) == 120  # the retried notebook's cells are passed over
    assert "| 06.ipynb (2 attempts: a cell got no answer; its cells resumed) |" in tutorial.times_table(retried)
    record.write_text(json.dumps({"runs": [a_run(reference=0.5), a_run("full", reference=0.1), first_run]}))
    tutorial.expect("06-kd", "two-step distillation")
    assert capsys.readouterr().out.startswith("two-step distillation: about 30 s here (120 reference steps of 0.25 s")
    tutorial.expect("06-unknown")
    assert "not yet timed in live mode" in capsys.readouterr().out
    from tinybert_lab import doctor

    assert doctor.tutorial_reference_steps("live", record)[0] == 420  # 210 s / 0.5 s, the cached run


def test_the_report_shows_the_cached_tables_and_the_first_run_in_one_line():
    import importlib.util

    spec = importlib.util.spec_from_file_location("tutorial_times", tutorial.TIMES_RECORD.parents[1] / "tutorial_times.py")
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    first_run = {**a_run(reference=0.1), "teachers": "trained in the run", "date": "later"}
    text = benchmark.report([a_run(), first_run])
    assert "**live mode**, teachers cached, today, commit abc:" in text and "| **total** | **210** | **420** | | |" in text
    assert "**live mode, first run**" in text and "210 s, 2,100 reference steps of 0.10 s (budget 3,000: within)" in text
