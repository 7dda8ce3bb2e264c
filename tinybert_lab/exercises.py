"""Exercise versions of the notebooks, for workshops: ``python -m tinybert_lab.exercises [--out exercises]``.

Cells tagged ``solution`` (in the py:percent file: ``# %% tags=["solution"]``) are replaced by a
``# TODO`` stub that keeps their ``def`` lines, so the check cell that follows each of them (tagged
``check``) tells the learner whether their answer is right. Notebooks without solution cells are
copied unchanged.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import nbformat

from .tutorial import NOTEBOOKS, notebook_paths

STUB = "# TODO: your solution here (see the explanation above), then run the check cell below.\n"


def stub_for(source: str) -> str:
    """The exercise stub for one solution cell: the TODO line, each ``def`` line kept, bodies
    replaced by ``raise NotImplementedError``."""
    lines = [STUB.rstrip("\n")]
    for line in source.splitlines():
        if line.lstrip().startswith("def "):
            indent = line[: len(line) - len(line.lstrip())]
            lines += [line, f"{indent}    raise NotImplementedError"]
    return "\n".join(lines) + "\n"


def make_exercise(notebook):
    """A copy of ``notebook`` with every solution cell stubbed; returns (exercise, count)."""
    exercise = copy.deepcopy(notebook)
    count = 0
    for cell in exercise.cells:
        if cell.cell_type == "code" and "solution" in cell.metadata.get("tags", []):
            cell.source = stub_for(cell.source)
            cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != "solution"] + ["exercise"]
            count += 1
    return exercise, count


def put_solutions_back(exercise, original):
    """The exercise with the original solution cells restored (matched by cell id)."""
    solutions = {c.id: c.source for c in original.cells if "solution" in c.metadata.get("tags", [])}
    restored = copy.deepcopy(exercise)
    for cell in restored.cells:
        if cell.id in solutions:
            cell.source = solutions[cell.id]
    return restored


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("exercises"), help="output folder (default: exercises/)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in notebook_paths(NOTEBOOKS):
        exercise, count = make_exercise(nbformat.read(path, as_version=4))
        nbformat.write(exercise, args.out / path.name)
        print(f"{path.name}: {count} exercise(s)")
    print(f"Exercise notebooks written to {args.out.resolve()}/")


if __name__ == "__main__":
    main()
