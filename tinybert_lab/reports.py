"""The measured tables of the README and the workshop guide, written from the committed records:
``python -m tinybert_lab.reports``.

Each table sits in the README (or ``docs/workshop.md``: the tutorial's computing times) between ``<!-- report:NAME -->`` and ``<!-- /report:NAME -->``;
this command rewrites what is between the markers from the record behind it, and
``--check`` only says whether the README is in step (``tests/test_reports.py`` runs it), so a
number in the README is never typed by hand. Each table is its benchmark's own ``--report``
(the benchmark's ``report(runs)``, read from ``benchmarks/<name>.py``) on its committed record
``benchmarks/results/<name>.json``; ``lm_tokenizer`` and ``lm_distill`` come from ``lm_study``.
A benchmark with no committed run yet shows a line saying how to measure it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
WORKSHOP = REPO / "docs" / "workshop.md"
BENCHMARKS = REPO / "benchmarks"


def _benchmark(name: str):
    """The script ``benchmarks/<name>.py`` as a module (its ``main`` does not run)."""
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _from_record(name: str, command: str = "", **options):
    def table() -> str:
        path = BENCHMARKS / "results" / f"{name}.json"
        runs = json.loads(path.read_text())["runs"] if path.is_file() else []
        if not runs:
            return f"(not measured in a committed record yet: run `{command or f'python benchmarks/{name}.py'}`)"
        return _benchmark(name).report(runs, **options).strip()
    return table


def _lm_distill() -> str:
    from .core.data import load_shakespeare
    from .studies import lm_study

    runs = lm_study.load_runs(corpus=load_shakespeare())
    if not runs:
        return "(no runs in benchmarks/results/lm_distill.json yet)"
    sentences = lm_study.findings(lm_study.summarise(runs, runs[0]["teacher_loss"]), runs)
    return lm_study.report(runs, runs[0]["teacher_loss"]) + "\n\n" + "\n".join(f"- {s}" for s in sentences)


def _lm_tokenizer() -> str:
    from .studies import lm_study

    return lm_study.tokenizer_table()


TABLES = {"lm_tokenizer": _lm_tokenizer, "lm_distill": _lm_distill,
          "when_kd_pays": _from_record("when_kd_pays"), "choose_recipe": _from_record("choose_recipe"),
          "attention_seeds": _from_record("attention_seeds"), "own_task": _from_record("own_task"),
          "strong_teacher": _from_record("strong_teacher"), "tinybert_ablation": _from_record("tinybert_ablation"),
          "compression": _from_record("compression"), "stream_memory": _from_record("stream_memory"),
          "parallel": _from_record("parallel", "python benchmarks/parallel.py --scaling")}
WORKSHOP_TABLES = {"tutorial_times": _from_record("tutorial_times")}


def _section(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- report:{name} -->)(.*?)(<!-- /report:{name} -->)", re.S)


def render(text: str, tables: dict = TABLES, where: str = "README.md") -> str:
    """``text`` (the README, or ``where`` with its ``tables``) with every marked table rewritten from its record."""
    for name, table in tables.items():
        pattern = _section(name)
        if not pattern.search(text):
            raise SystemExit(f"{where} has no <!-- report:{name} --> ... <!-- /report:{name} --> markers.")
        body = table()
        text = pattern.sub(lambda m: m.group(1) + "\n" + body + "\n" + m.group(3), text)
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinybert_lab.reports", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if the README differs from the records")
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--workshop", type=Path, default=WORKSHOP)
    args = parser.parse_args(argv)
    stale = 0
    for path, tables in ((args.readme, TABLES), (args.workshop, WORKSHOP_TABLES)):
        text = path.read_text()
        fresh = render(text, tables, path.name)
        if args.check:
            if fresh != text:
                print(f"{path} is out of step with the records: run python -m tinybert_lab.reports", file=sys.stderr)
                stale = 1
            else:
                print(f"{path}: every marked table matches its record.")
        else:
            path.write_text(fresh)
            print(f"{path}: {len(tables)} tables written from the records.")
    return stale


if __name__ == "__main__":
    sys.exit(main())
