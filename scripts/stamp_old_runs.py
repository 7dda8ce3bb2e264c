"""One-off migration (2026-12-06): give every run of the committed records its own command,
machine and uncommitted-changes flag, as ``RunRecord.add`` now stamps new runs.

Runs recorded before per-run stamps carried only the file's header (one ``command`` and
``machine`` per file, which for ``own_task.json`` and ``when_kd_pays.json`` named the command of
the last invocation only). For those runs this writes the command that reproduces the run, built
from the run's own fields, the header's machine, ``uncommitted_changes: null`` (not known) and
``"stamped": "later"`` so a reader can tell. Runs that already have stamps are left as they are.

    .venv/bin/python scripts/stamp_old_runs.py           # rewrite benchmarks/results/*.json in place
"""

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


def command_for(name: str, run: dict, header: dict) -> str:
    if name == "beyond_seeds":
        return f"python benchmarks/beyond_seeds.py --methods {run['method']} --seeds {run['seed']}"
    if name == "when_kd_pays":
        return (f"python benchmarks/when_kd_pays.py --task {run['task']} --n-gold {run['n_gold']} --seeds {run['seed']} "
                f"--starts {run['start']} --sources {run['source']} --steps {run['steps']}")
    if name == "own_task":
        if run["task"].startswith("notebook 12's example"):
            return f"python benchmarks/own_task.py --example --steps {run['steps']} --seeds {run['seed']}"
        return header["command"].strip() + f" --seeds {run['seed']}"
    if name == "lm_distill":
        return f"python benchmarks/lm_distill.py --regimes {run['regime']} --rows {run['row']} --seeds {run['seed']}"
    if name == "lm_tokenizer":
        return f"python benchmarks/lm_tokenizer.py --steps {run['steps']}"
    return f"python benchmarks/{name}.py"


def main():
    for path in sorted(RESULTS.glob("*.json")):
        record = json.loads(path.read_text())
        header = {k: v for k, v in record.items() if k != "runs"}
        changed = 0
        for run in record["runs"]:
            if all(k in run for k in ("command", "machine", "uncommitted_changes")):
                continue
            run.setdefault("command", command_for(path.stem, run, header))
            run.setdefault("machine", header.get("machine", "unknown"))
            run.setdefault("uncommitted_changes", None)
            run["stamped"] = "later"
            changed += 1
        if changed:
            path.write_text(json.dumps(record, indent=1))
        print(f"{path.name}: {changed} of {len(record['runs'])} runs stamped")


if __name__ == "__main__":
    main()
