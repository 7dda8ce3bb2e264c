"""Workshop notebooks: ``python -m tinybert_lab.teaching.exercises [--out exercises]`` writes two folders.

- ``learner/``: every cell tagged ``solution`` (in the py:percent file ``# %% tags=["solution"]``)
  becomes a ``# TODO`` stub: a function keeps its ``def`` line with ``raise NotImplementedError``,
  an answer (``answer = "b"``, ``guess = 0.5``) becomes ``answer = None``. Markdown cells tagged
  ``instructor`` (discussion notes) are left out. No solution text remains.
- ``instructor/``: the notebooks as they are, solutions and discussion notes included.

The ``check`` cell after each exercise tells the learner right or wrong, with a hint
(``tinybert_lab.checks``): write a function, predict a number before running, or explain a figure.
"""

from __future__ import annotations

import argparse
import copy
import re
from pathlib import Path

import nbformat

from .tutorial import NOTEBOOKS, notebook_paths

STUB = "# TODO: your solution here (see the exercise above), then run the check cell below."
_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)")


def stub_for(source: str) -> str:
    """The learner's stub of one solution cell: the TODO line; each ``def`` line kept with a body
    ``raise NotImplementedError``; each top-level answer ``name = ...`` turned into ``name = None``."""
    lines = [STUB]
    for line in source.splitlines():
        if line.lstrip().startswith("def "):
            indent = line[: len(line) - len(line.lstrip())]
            lines += [line, f"{indent}    raise NotImplementedError"]
        elif (match := _ASSIGNMENT.match(line)) is not None:
            lines.append(f"{match.group(1)} = None  # your answer")
    return "\n".join(lines) + "\n"


def _tags(cell) -> list[str]:
    return cell.metadata.get("tags", [])


def make_exercise(notebook):
    """The learner's copy of ``notebook``: solution cells stubbed (tagged ``exercise``), instructor
    notes removed. Returns (exercise, number of exercises)."""
    exercise = copy.deepcopy(notebook)
    exercise.cells = [c for c in exercise.cells if "instructor" not in _tags(c)]
    count = 0
    for cell in exercise.cells:
        if cell.cell_type == "code" and "solution" in _tags(cell):
            cell.source = stub_for(cell.source)
            cell.metadata["tags"] = [t for t in _tags(cell) if t != "solution"] + ["exercise"]
            count += 1
    return exercise, count


def put_solutions_back(exercise, original):
    """The learner's copy with the original solution cells restored (matched by cell id)."""
    solutions = {c.id: c.source for c in original.cells if "solution" in _tags(c)}
    restored = copy.deepcopy(exercise)
    for cell in restored.cells:
        if cell.id in solutions:
            cell.source = solutions[cell.id]
    return restored


def write_workshop(out: Path, paths: list[Path] | None = None) -> dict[str, int]:
    """Write ``out/learner/`` and ``out/instructor/``; returns ``{notebook name: exercises}``."""
    counts = {}
    for folder in ("learner", "instructor"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    for path in paths or notebook_paths(NOTEBOOKS):
        original = nbformat.read(path, as_version=4)
        exercise, counts[path.name] = make_exercise(original)
        nbformat.write(exercise, out / "learner" / path.name)
        nbformat.write(original, out / "instructor" / path.name)
    return counts


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("exercises"), help="output folder (default: exercises/)")
    args = parser.parse_args(argv)
    for name, count in write_workshop(args.out).items():
        print(f"{name}: {count} exercise(s)")
    print(f"Learners' notebooks: {(args.out / 'learner').resolve()}/ (no solutions)")
    print(f"Instructor's notebooks: {(args.out / 'instructor').resolve()}/ (solutions and discussion notes)")


if __name__ == "__main__":
    main()
