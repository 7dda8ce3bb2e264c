"""The benchmark record: runs appended as they finish, a rerun skips them, a broken file is a clear error."""

import json

import pytest

from tinybert_lab.core.errors import TinyBertLabError
from tinybert_lab.core.records import RunRecord, invoked_command


def key(run):
    return run["method"], run["seed"]


def test_runs_are_saved_as_they_finish_and_found_again(tmp_path):
    path = tmp_path / "sub" / "record.json"
    record = RunRecord(path, key=key, command="python sweep.py")
    record.add({"method": "kd", "seed": 0, "accuracy": 0.8})
    record.add({"method": "kd", "seed": 1, "accuracy": 0.7})
    stored = json.loads(path.read_text())
    assert stored["command"] == "python sweep.py" and "torch" in stored["machine"]
    assert [r["seed"] for r in stored["runs"]] == [0, 1]
    assert {"date", "commit"} <= set(stored["runs"][0])
    again = RunRecord(path, key=key)  # a new session
    assert again.meta["command"] == "python sweep.py"
    assert again.has({"method": "kd", "seed": 1}) and not again.has({"method": "kd", "seed": 2})
    assert again.find({"method": "kd", "seed": 0, "other": "ignored"})["accuracy"] == 0.8
    assert [r["seed"] for r in again.where(method="kd")] == [0, 1] and again.where(method="labels") == []


def test_each_run_carries_its_own_command_machine_and_code_state(tmp_path):
    record = RunRecord(tmp_path / "r.json", key=key, command="python sweep.py --seeds 0")
    record.add({"method": "kd", "seed": 0, "accuracy": 0.5})
    later = RunRecord(tmp_path / "r.json", key=key, command="python sweep.py --seeds 1")  # another session's command
    later.add({"method": "kd", "seed": 1, "accuracy": 0.6, "command": "python sweep.py --seeds 1 --fast"})
    first, second = RunRecord(tmp_path / "r.json", key=key).runs
    assert first["command"] == "python sweep.py --seeds 0" and second["command"] == "python sweep.py --seeds 1 --fast"
    assert "torch" in first["machine"] and first["uncommitted_changes"] in (True, False, None)


def test_the_command_a_record_stores_can_be_retyped(monkeypatch):
    monkeypatch.setattr("sys.argv", ["benchmarks/sweep.py", "--record", "/tmp/my runs.json", "--seeds", "0"])
    assert invoked_command() == "python benchmarks/sweep.py --record '/tmp/my runs.json' --seeds 0"


def test_a_run_names_the_commit_its_process_started_from_not_a_later_one(tmp_path, monkeypatch):
    from tinybert_lab.core import records

    monkeypatch.setattr(records, "commit", lambda: "start01")
    monkeypatch.setattr(records, "uncommitted_changes", lambda: False)
    record = RunRecord(tmp_path / "r.json", key=key)  # a long sweep opens its record at the start
    monkeypatch.setattr(records, "commit", lambda: "later02")  # someone commits while it trains
    monkeypatch.setattr(records, "uncommitted_changes", lambda: True)
    stored = record.add({"method": "kd", "seed": 0, "accuracy": 0.5})
    assert (stored["commit"], stored["uncommitted_changes"]) == ("start01", False)
    resumed = RunRecord(tmp_path / "r.json", key=key).add({"method": "kd", "seed": 1})  # the next session's process
    assert (resumed["commit"], resumed["uncommitted_changes"]) == ("later02", True)


def test_two_processes_adding_to_one_record_keep_each_others_runs(tmp_path):
    first = RunRecord(tmp_path / "r.json", key=key)
    second = RunRecord(tmp_path / "r.json", key=key)  # opened before the first one wrote anything
    first.add({"method": "kd", "seed": 0, "accuracy": 0.5})
    second.add({"method": "kd", "seed": 1, "accuracy": 0.6})
    first.add({"method": "kd", "seed": 2, "accuracy": 0.7})
    assert sorted(r["seed"] for r in RunRecord(tmp_path / "r.json", key=key).runs) == [0, 1, 2]


def test_adding_the_same_run_replaces_it(tmp_path):
    record = RunRecord(tmp_path / "r.json", key=key)
    record.add({"method": "kd", "seed": 0, "accuracy": 0.5})
    record.add({"method": "kd", "seed": 0, "accuracy": 0.6})
    assert [r["accuracy"] for r in RunRecord(tmp_path / "r.json", key=key).runs] == [0.6]
    assert not (tmp_path / "r.tmp").exists()


def test_a_broken_record_names_the_file(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("{oops")
    with pytest.raises(TinyBertLabError, match="r.json is not valid JSON"):
        RunRecord(path, key=key)


def test_only_code_changes_count_as_uncommitted(tmp_path):
    """A sweep's own record (and prose) changes while it runs: that is not a change of its code."""
    import subprocess

    from tinybert_lab.core.records import uncommitted_changes

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    files = {"train.py": "x = 1\n", "README.md": "# r\n", "benchmarks/results/sweep.json": "{}\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert uncommitted_changes(tmp_path) is None  # not a git checkout yet
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "first")
    assert uncommitted_changes(tmp_path / "benchmarks") is False
    (tmp_path / "benchmarks" / "results" / "sweep.json").write_text('{"runs": []}\n')
    (tmp_path / "README.md").write_text("# tables regenerated\n")
    assert uncommitted_changes(tmp_path / "benchmarks") is False
    (tmp_path / "train.py").write_text("x = 2\n")
    assert uncommitted_changes(tmp_path / "benchmarks") is True
