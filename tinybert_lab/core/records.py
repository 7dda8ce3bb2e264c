"""Benchmark records: every finished run appended to a JSON file, so a long sweep resumes.

A record is ``{"command", "machine", "runs": [{...identity, accuracy, command, machine, date, commit,
uncommitted_changes}]}``: each run names the command, machine and code that produced it. Each run
is written as soon as it finishes (to a temporary file, then renamed), so an interrupted sweep
loses at most the run in progress, and a rerun asks ``has`` to skip what is already there. What
identifies a run (task, seed, steps...) is the ``key`` function the benchmark passes in.

    record = RunRecord("results/sweep.json", key=lambda run: (run["method"], run["seed"]))
    if not record.has({"method": "kd", "seed": 0}):
        record.add({"method": "kd", "seed": 0, "accuracy": train()})
"""

from __future__ import annotations

import datetime
import json
import platform
import shlex
import subprocess
import sys
from collections.abc import Callable, Hashable
from pathlib import Path

import torch

from .errors import TinyBertLabError


def commit() -> str:
    """The short git commit of this checkout, or ``unknown`` outside a git checkout."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


#: tracked files that are not code: the records themselves (``benchmarks/results/`` at the top of
#: the checkout: a sweep's own record changes while it runs) and every ``.md`` file at any depth
#: (``*`` matches across folders); a change to them does not make a run's code differ from its commit
NOT_CODE = (":(exclude,top)benchmarks/results", ":(exclude,top)*.md")


def uncommitted_changes(checkout: Path | None = None) -> bool | None:
    """True when tracked files of the git checkout holding the folder ``checkout`` (default: this
    package's), other than ``NOT_CODE``, differ from its commit (the run's code is then not exactly the commit it
    names); None outside a git checkout."""
    try:
        done = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":/", *NOT_CODE],
                              capture_output=True, text=True, cwd=checkout or Path(__file__).parent, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(done.stdout.strip()) if done.returncode == 0 else None


def machine() -> str:
    """A one-line description of this machine (CPU threads, torch version)."""
    return f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, {platform.python_version()}"


#: what ``RunRecord.add`` stamps on every run (beside what the run measured): readers that rebuild a
#: run's settings from it leave these out
STAMPS = ("command", "machine", "date", "commit", "uncommitted_changes", "stamped")
"""(``stamped: "later"`` marks runs recorded before per-run stamps, stamped by ``scripts/stamp_old_runs.py``.)"""


def invoked_command() -> str:
    """The command line that started this process, as a reader would retype it
    (``python benchmarks/x.py --seeds 0 1``): the ``command`` a record stores."""
    return " ".join(["python", *map(shlex.quote, sys.argv)])


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def refuse_smoke_run_into(record: str | Path, committed: str | Path, smoke: bool, flag: str = "--train-size") -> None:
    """A smoke test (``smoke``: e.g. ``--train-size`` was given) must not write into the
    committed record ``committed``: raise unless ``record`` is another file."""
    from .errors import TinyBertLabError

    if smoke and Path(record).resolve() == Path(committed).resolve():
        raise TinyBertLabError(f"{flag} is a smoke test: pass --record /tmp/smoke.json (and a scratch "
                               "TINYBERT_LAB_CACHE) so the committed record keeps only full runs.")


class RunRecord:
    """Finished runs stored in ``path``; ``key(run)`` says which runs are the same run."""

    def __init__(self, path: str | Path, *, key: Callable[[dict], Hashable], command: str = ""):
        self.path = Path(path)
        self.key = key
        if self.path.is_file():
            try:
                stored = json.loads(self.path.read_text())
            except json.JSONDecodeError as error:
                raise TinyBertLabError(f"{self.path} is not valid JSON ({error}); fix or move it.") from None
        else:
            stored = {"runs": []}
        self.runs: list[dict] = stored.get("runs", [])
        self.meta = {k: v for k, v in stored.items() if k != "runs"}
        if command:
            self.meta["command"] = command
        self.meta.setdefault("machine", machine())
        # the code this process runs: read now, at its start, since commits made while a long
        # sweep runs do not change what it has loaded
        self.code = {"commit": commit(), "uncommitted_changes": uncommitted_changes()}

    def find(self, identity: dict) -> dict | None:
        """The stored run with ``identity``'s key, or None."""
        wanted = self.key(identity)
        return next((run for run in self.runs if self.key(run) == wanted), None)

    def has(self, identity: dict) -> bool:
        return self.find(identity) is not None

    def where(self, **values) -> list[dict]:
        """Stored runs whose fields equal ``values`` (e.g. ``where(method="kd", seed=0)``)."""
        return [run for run in self.runs if all(run.get(k) == v for k, v in values.items())]

    def add(self, run: dict) -> dict:
        """Store ``run`` (stamped with the date, the commit checked out and whether tracked files
        had uncommitted changes when this record was opened, i.e. the code the process loaded, and,
        unless the run names its own, the record's command and this machine), replacing a run with
        the same key, and save."""
        run = {"command": self.meta.get("command", ""), "machine": machine(), **run, "date": now(), **self.code}
        wanted = self.key(run)
        if self.path.is_file():  # another process may have added runs since we read the file: keep them
            try:
                stored = json.loads(self.path.read_text()).get("runs", [])
            except json.JSONDecodeError:
                stored = []
            mine = {self.key(r) for r in self.runs}
            self.runs += [r for r in stored if self.key(r) not in mine]
        self.runs = [r for r in self.runs if self.key(r) != wanted] + [run]
        self.save()
        return run

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps({**self.meta, "runs": self.runs}, indent=1))
        partial.replace(self.path)
