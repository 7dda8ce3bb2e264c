"""Workshop notebooks: ``python -m tinybert_lab.teaching.exercises [--out exercises]`` writes two folders.

- ``learner/``: in every cell tagged ``solution`` (in the py:percent file ``# %% tags=["solution"]``)
  the code between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes nbgrader's stub,
  ``# YOUR CODE HERE`` / ``raise NotImplementedError()`` at the marker's indent: a function keeps
  its ``def`` line, an answer cell keeps its ``answer = None`` line. Markdown cells tagged
  ``instructor`` (discussion notes) are left out. No solution text remains.
- ``instructor/``: the notebooks as they are, solutions and discussion notes included.

The ``check`` cell after each exercise tells the learner right or wrong, with a hint
(``tinybert_lab.checks``): write a function, predict a number before running, or explain a figure.

The same notebooks are nbgrader source notebooks: solution cells carry nbgrader's "autograded
answer" metadata and check cells its "autograder tests" metadata (read-only, 1 point), so
``nbgrader generate_assignment`` writes the same learner cells as this command.
``--nbgrader-course DIR`` lays out an nbgrader course folder (``DIR/source/tinybert_lab/`` and a
``DIR/nbgrader_config.py`` that also leaves out the ``instructor`` notes); see docs/workshop.md.
"""

from __future__ import annotations

import argparse
import copy
import re
from pathlib import Path

import nbformat

from .tutorial import NOTEBOOKS, notebook_paths

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"  # nbgrader's ClearSolutions.code_stub for Python
STUB = "# TODO: your solution here (see the exercise above), then run the check cell below."
_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)")
ASSIGNMENT_ID = "tinybert_lab"  # the nbgrader assignment that --nbgrader-course lays out
NBGRADER_CONFIG = f'''\
# nbgrader course configuration written by `python -m tinybert_lab.teaching.exercises --nbgrader-course`.
from nbconvert.preprocessors import TagRemovePreprocessor
from nbgrader.converters import GenerateAssignment

c = get_config()  # noqa: F821 (nbgrader defines it)
c.CourseDirectory.course_id = "{ASSIGNMENT_ID}"
# The instructor's discussion notes (markdown cells tagged "instructor") stay out of the learners'
# copies, as with `python -m tinybert_lab.teaching.exercises`.
c.GenerateAssignment.preprocessors = [TagRemovePreprocessor, *GenerateAssignment.preprocessors.default()]
c.TagRemovePreprocessor.enabled = True
c.TagRemovePreprocessor.remove_cell_tags = {{"instructor"}}
'''


def clear_solutions(source: str) -> str:
    """``source`` with each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region replaced by
    ``CODE_STUB``, indented as the BEGIN line: line for line what nbgrader's ``ClearSolutions`` does."""
    lines, inside = [], False
    for line in source.split("\n"):
        if "BEGIN SOLUTION" in line:
            if inside:
                raise ValueError(f"nested BEGIN SOLUTION in:\n{source}")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            lines += [indent + stub for stub in CODE_STUB.split("\n")]
        elif "END SOLUTION" in line:
            inside = False
        elif not inside:
            lines.append(line)
    if inside:
        raise ValueError(f"BEGIN SOLUTION without END SOLUTION in:\n{source}")
    return "\n".join(lines)


def stub_for(source: str) -> str:
    """The learner's stub of one solution cell. With ``### BEGIN SOLUTION`` / ``### END SOLUTION``
    markers (every notebook's solution cells have them): ``clear_solutions``, as nbgrader. Without:
    the TODO line; each ``def`` line kept with a body ``raise NotImplementedError``; each top-level
    answer ``name = ...`` turned into ``name = None``."""
    if BEGIN_SOLUTION in source:
        return clear_solutions(source)
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


def write_nbgrader_course(root: Path, paths: list[Path] | None = None) -> Path:
    """Lay out an nbgrader course folder: ``root/source/tinybert_lab/`` (the notebooks as they are:
    they are nbgrader source notebooks) and ``root/nbgrader_config.py``. Then, in ``root``:
    ``nbgrader generate_assignment tinybert_lab`` writes the learners' copies to
    ``root/release/tinybert_lab/``. Returns the source folder."""
    source = root / "source" / ASSIGNMENT_ID
    source.mkdir(parents=True, exist_ok=True)
    for path in notebook_paths(NOTEBOOKS) if paths is None else paths:
        nbformat.write(nbformat.read(path, as_version=4), source / path.name)
    (root / "nbgrader_config.py").write_text(NBGRADER_CONFIG)
    return source


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("exercises"), help="output folder (default: exercises/)")
    parser.add_argument("--nbgrader-course", type=Path, metavar="DIR",
                        help="instead, lay out an nbgrader course folder in DIR (source/ and nbgrader_config.py)")
    args = parser.parse_args(argv)
    if args.nbgrader_course:
        source = write_nbgrader_course(args.nbgrader_course)
        print(f"nbgrader source notebooks: {source.resolve()}/")
        print(f"Next: cd {args.nbgrader_course} && nbgrader generate_assignment {ASSIGNMENT_ID} "
              f"(learners' copies in release/{ASSIGNMENT_ID}/)")
        return
    for name, count in write_workshop(args.out).items():
        print(f"{name}: {count} exercise(s)")
    print(f"Learners' notebooks: {(args.out / 'learner').resolve()}/ (no solutions)")
    print(f"Instructor's notebooks: {(args.out / 'instructor').resolve()}/ (solutions and discussion notes)")


if __name__ == "__main__":
    main()
