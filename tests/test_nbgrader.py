"""nbgrader-ready exercises: every solution cell has nbgrader's markers and "autograded answer"
metadata, every check cell its "autograder tests" metadata, with unique grade ids, in the notebook
and in its py:percent pair; ``nbgrader generate_assignment`` writes the same learner cells as
``python -m tinybert_lab.teaching.exercises``; ``nbgrader autograde`` gives a solved copy every
point and an untouched one none (the checks raise under nbgrader, and only there)."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import jupytext
import nbformat
import pytest

from conftest import REPO
from tinybert_lab.teaching import checks, exercises

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NB01 = REPO / "notebooks" / "01_soft_targets_and_temperature.ipynb"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
SOLUTION_META = {"grade": False, "solution": True, "locked": False, "task": False, "schema_version": 3}
CHECK_META = {"grade": True, "solution": False, "locked": True, "points": 1, "task": False, "schema_version": 3}


def _tags(cell):
    return cell.metadata.get("tags", [])


def _inside_markers(source: str) -> list[str]:
    """The solution's own lines: those between BEGIN and END SOLUTION, stripped, non-empty."""
    lines, inside = [], False
    for line in source.split("\n"):
        if BEGIN in line:
            inside = True
        elif END in line:
            inside = False
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


def _problems(notebook) -> list[str]:
    """What keeps ``notebook`` from being an nbgrader source notebook that agrees with its tags."""
    problems = []
    for i, cell in enumerate(notebook.cells):
        meta = cell.metadata.get("nbgrader")
        lines = [line.strip() for line in cell.source.split("\n")]
        grade_id = (meta or {}).get("grade_id", "")
        if "solution" in _tags(cell):
            if lines.count(BEGIN) != 1 or lines.count(END) != 1 or lines.index(BEGIN) > lines.index(END):
                problems.append(f"cell {i}: solution without one {BEGIN} ... {END} region")
            elif not _inside_markers(cell.source):
                problems.append(f"cell {i}: nothing between the markers")
            if meta != {**SOLUTION_META, "grade_id": grade_id}:
                problems.append(f"cell {i}: solution cell's nbgrader metadata is {meta}")
        elif "check" in _tags(cell):
            if meta != {**CHECK_META, "grade_id": grade_id}:
                problems.append(f"cell {i}: check cell's nbgrader metadata is {meta}")
            if not re.search(r"\bchecks\.check_\w+\(", cell.source):
                problems.append(f"cell {i}: check cell calls no check")
        else:
            if meta is not None:
                problems.append(f"cell {i}: nbgrader metadata on a cell tagged neither solution nor check")
            if "BEGIN SOLUTION" in cell.source or "END SOLUTION" in cell.source:
                problems.append(f"cell {i}: solution markers outside a solution cell")
        if meta is not None and not re.fullmatch(r"[A-Za-z0-9_-]+", grade_id):
            problems.append(f"cell {i}: grade_id {grade_id!r} is not a valid nbgrader id")
    return problems


def _grade_ids(notebook) -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in notebook.cells if "nbgrader" in c.metadata]


# ---------------------------------------------------------------- the source notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercise_cells_carry_markers_and_nbgrader_metadata_in_both_files(path):
    notebook = nbformat.read(path, as_version=4)
    assert not _problems(notebook), f"{path.name}: {_problems(notebook)}"
    assert sum("solution" in _tags(c) for c in notebook.cells) >= 2
    paired = jupytext.read(path.with_suffix(".py"))  # the py:percent file carries the same metadata
    assert [c.metadata.get("nbgrader") for c in paired.cells] == [c.metadata.get("nbgrader") for c in notebook.cells]


def test_grade_ids_are_unique_across_all_notebooks():
    ids = [i for path in NOTEBOOKS for i in _grade_ids(nbformat.read(path, as_version=4))]
    assert len(ids) >= 2 * 2 * len(NOTEBOOKS)  # a solution and a check for each of at least two exercises
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_the_metadata_check_catches_what_it_should():
    """``_problems`` (above) fails on a notebook that lost a marker, its metadata or an id's format."""
    original = nbformat.read(NB01, as_version=4)
    first_solution = next(i for i, c in enumerate(original.cells) if "solution" in _tags(c))
    first_check = next(i for i, c in enumerate(original.cells) if "check" in _tags(c))
    breakages = {
        "no END marker": lambda nb: setattr(nb.cells[first_solution], "source",
                                            nb.cells[first_solution].source.replace(END, "")),
        "no metadata": lambda nb: nb.cells[first_solution].metadata.pop("nbgrader"),
        "check not read-only": lambda nb: nb.cells[first_check].metadata["nbgrader"].update(locked=False),
        "check without points": lambda nb: nb.cells[first_check].metadata["nbgrader"].pop("points"),
        "bad id": lambda nb: nb.cells[first_check].metadata["nbgrader"].update(grade_id="kd loss"),
        "stray marker": lambda nb: setattr(nb.cells[0], "source", nb.cells[0].source + "\n" + BEGIN),
    }
    for name, breakage in breakages.items():
        broken = nbformat.from_dict(original)
        breakage(broken)
        assert _problems(broken), name


def test_the_grading_extra_is_installed_with_dev():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(r.startswith("nbgrader") for r in extras["grading"])
    assert set(extras["grading"]) <= set(extras["dev"])  # so scripts/setup.sh (and CI) install it


# ---------------------------------------------------------------- the package's own learner copy
def test_the_package_stub_is_nbgraders_at_the_markers_indent():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION"
    assert exercises.stub_for(source) == "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    answer = 'answer = None  # your answer\n### BEGIN SOLUTION\nanswer = "b"\n### END SOLUTION'
    assert exercises.stub_for(answer) == "answer = None  # your answer\n# YOUR CODE HERE\nraise NotImplementedError()"
    with pytest.raises(ValueError):
        exercises.stub_for(f"{BEGIN}\nx = 1")


# ---------------------------------------------------------------- the checks under nbgrader
def test_checks_raise_only_under_nbgrader(monkeypatch, capsys):
    right = checks.QUESTIONS["temperature"].correct
    wrong = next(letter for letter in checks.QUESTIONS["temperature"].reasons if letter != right)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert checks.check_choice("temperature", wrong) == False and checks.check_kd_loss(None) == False
    for mode in ("autograde", "validate"):
        monkeypatch.setenv("NBGRADER_EXECUTION", mode)
        with pytest.raises(AssertionError, match="check_choice"):
            checks.check_choice("temperature", wrong)
        with pytest.raises(AssertionError, match="check_kd_loss"):
            checks.check_kd_loss(None)
        assert checks.check_choice("temperature", right) == True
    out = capsys.readouterr().out
    assert "not it" in out and "no function yet" in out  # the hint is printed before the raise


# ---------------------------------------------------------------- nbgrader itself
def _require_nbgrader():
    """nbgrader comes with the dev extra (scripts/setup.sh, so CI): skipped only outside CI."""
    try:
        import nbgrader  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("nbgrader is not installed: pip install -e '.[grading]' (the dev extra includes it)")


def _nbgrader(root: Path, *args: str) -> subprocess.CompletedProcess:
    _require_nbgrader()
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # nbgrader runs `alembic`
    env.pop("NBGRADER_EXECUTION", None)
    run = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--force"], cwd=root, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "ERROR" not in run.stderr, run.stdout[-3000:] + run.stderr[-3000:]
    return run


def test_nbgrader_generate_assignment_writes_what_the_exercise_command_writes(tmp_path):
    source = exercises.write_nbgrader_course(tmp_path, [NB01])
    assert (tmp_path / "nbgrader_config.py").is_file() and (source / NB01.name).is_file()
    _nbgrader(tmp_path, "generate_assignment", exercises.ASSIGNMENT_ID)
    released = nbformat.read(tmp_path / "release" / exercises.ASSIGNMENT_ID / NB01.name, as_version=4)
    original = nbformat.read(NB01, as_version=4)
    ours, count = exercises.make_exercise(original)
    assert count == 3
    assert [(c.cell_type, c.source) for c in released.cells] == [(c.cell_type, c.source) for c in ours.cells]
    assert [c.id for c in released.cells] == [c.id for c in ours.cells]
    # solutions stripped, checks kept read-only, no instructor note, no solution text
    text = "\n".join(c.source for c in released.cells)
    assert text.count("raise NotImplementedError()") == count and BEGIN not in text
    assert not [line for c in original.cells if "solution" in _tags(c) for line in _inside_markers(c.source)
                if line in text]
    assert not [c for c in released.cells if "instructor" in _tags(c)]
    for cell in (c for c in released.cells if "check" in _tags(c)):
        assert cell.metadata["nbgrader"]["locked"] and cell.metadata["editable"] is False
        assert cell.source in [c.source for c in original.cells]


def test_nbgrader_autograde_scores_solved_and_untouched_copies(tmp_path):
    """A small assignment made of notebook 01's three exercises: the learner copy with the solutions
    put back gets 3 points of 3, the untouched learner copy 0."""
    _require_nbgrader()
    from nbgrader.api import Gradebook

    original = nbformat.read(NB01, as_version=4)
    cells = [nbformat.v4.new_code_cell("import torch\n\nfrom tinybert_lab import checks")]
    cells += [c for c in original.cells if "nbgrader" in c.metadata]
    small = nbformat.v4.new_notebook(cells=cells, metadata=original.metadata)
    exercises.write_nbgrader_course(tmp_path, [])
    (tmp_path / "source" / "nb01").mkdir()
    nbformat.write(small, tmp_path / "source" / "nb01" / "exercises.ipynb")
    _nbgrader(tmp_path, "generate_assignment", "nb01")
    released = nbformat.read(tmp_path / "release" / "nb01" / "exercises.ipynb", as_version=4)
    for student, notebook in (("solved", exercises.put_solutions_back(released, small)), ("untouched", released)):
        (tmp_path / "submitted" / student / "nb01").mkdir(parents=True)
        nbformat.write(notebook, tmp_path / "submitted" / student / "nb01" / "exercises.ipynb")
    _nbgrader(tmp_path, "autograde", "nb01")
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gradebook:
        scores = {s: gradebook.find_submission("nb01", s).score for s in ("solved", "untouched")}
        assert gradebook.find_assignment("nb01").max_score == 3
    assert scores == {"solved": 3, "untouched": 0}
