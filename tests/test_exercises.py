"""Workshop exercises: every check accepts the right answer and rejects wrong ones; the learner's
notebooks hold stubs and no solution text; the instructor's hold everything; an exercise notebook
with its solutions put back runs end to end."""

import math
import statistics

import nbformat
import pytest
import torch

from conftest import REPO
from tinybert_lab import checks, exercises, losses

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
NB01 = REPO / "notebooks" / "01_soft_targets_and_temperature.ipynb"
NB04 = REPO / "notebooks" / "04_tinybert_losses.ipynb"


def _tags(cell):
    return cell.metadata.get("tags", [])


def _between_markers(source):
    """A solution cell's own lines: those between ``### BEGIN SOLUTION`` and ``### END SOLUTION``."""
    lines = source.split("\n")
    markers = [i for i, line in enumerate(lines) if line.strip() in ("### BEGIN SOLUTION", "### END SOLUTION")]
    assert len(markers) == 2, source
    return [line for line in lines[markers[0] + 1:markers[1]] if line.strip()]


# ---------------------------------------------------------------- every check, right and wrong
def _not_written(*args):
    raise NotImplementedError


FUNCTION_CHECKS = {
    checks.check_softmax_with_temperature: (
        lambda z, t: torch.softmax(z / t, -1),
        [lambda z, t: torch.softmax(z, -1), lambda z, t: torch.softmax(z * t, -1), lambda z, t: z / t]),
    checks.check_kd_loss: (
        lambda s, t, T: T**2 * (torch.softmax(t / T, -1) * (torch.log_softmax(t / T, -1)
                                                            - torch.log_softmax(s / T, -1))).sum(-1).mean(),
        [lambda s, t, T: losses.soft_kl(s, t, T) / T**2,  # forgot T²
         lambda s, t, T: T**2 * (torch.softmax(t / T, -1) * (torch.log_softmax(t / T, -1)
                                                             - torch.log_softmax(s / T, -1))).mean(),  # over classes too
         lambda s, t, T: losses.soft_kl(t, s, T)]),  # KL the wrong way round
    checks.check_attention_mse: (
        lambda s, t, mask: (s - t)[(mask[:, None, :, None] * mask[:, None, None, :]).bool().expand_as(s)].pow(2).mean(),
        [lambda s, t, mask: (s - t).pow(2).mean(),  # ignores the mask
         lambda s, t, mask: (s - t)[mask[:, None, :, None].bool().expand_as(s)].pow(2).mean()]),  # real queries only
    checks.check_hidden_mse: (
        lambda s, t, mask, w: (w(s) - t)[mask.bool()].pow(2).mean(),
        [lambda s, t, mask, w: (w(s) - t).pow(2).mean(),  # padding counted
         lambda s, t, mask, w: (w(s) - t)[mask.bool()].pow(2).sum(-1).mean(),  # summed over dimensions
         lambda s, t, mask, w: (s[..., :t.shape[-1] - 2] - t[..., :t.shape[-1] - 2])[mask.bool()].pow(2).mean()]),
    checks.check_prediction_loss: (
        lambda s, t, T: -(torch.softmax(t / T, -1) * torch.log_softmax(s / T, -1)).sum(-1).mean(),
        [lambda s, t, T: -(torch.softmax(t / T, -1) * torch.log_softmax(s / T, -1)).mean(),  # TinyBERT issue #176
         lambda s, t, T: -T**2 * (torch.softmax(t / T, -1) * torch.log_softmax(s / T, -1)).sum(-1).mean(),  # T²
         lambda s, t, T: -(torch.softmax(t, -1) * torch.log_softmax(s, -1)).sum(-1).mean()]),  # no temperature
    checks.check_attention_gap: (
        lambda s, t: (s - t).abs().mean(),
        [lambda s, t: (s - t).mean(),  # signed: rows sum to 1, so it is 0
         lambda s, t: (s - t).pow(2).mean(),
         lambda s, t: (s - t).abs().sum()]),
    checks.check_token_kl: (
        lambda s, t, mask, d: (lambda q, p: ((p.exp() * (p - q)) if d == "forward" else (q.exp() * (q - p))).sum(-1).mean())(
            torch.log_softmax(s[mask.bool()], -1), torch.log_softmax(t[mask.bool()], -1)),
        [lambda s, t, mask, d: torch.nan_to_num((torch.softmax(t, -1) * (torch.log_softmax(t, -1) - torch.log_softmax(
            s, -1))).sum(-1))[mask.bool()].mean(),  # forward only, and NaN hidden after the fact
         lambda s, t, mask, d: torch.tensor(0.0)]),
    checks.check_uniform_layers: (
        lambda M, N: [m * N // M for m in range(1, M + 1)],
        [lambda M, N: [round(m * N / M) for m in range(1, M + 1)],  # rounds 4.5 to 4 but 1.5 to 2
         lambda M, N: [m * N // M for m in range(M)],  # counts from 0
         lambda M, N: [math.ceil(m * N / M) for m in range(1, M + 1)]]),
    checks.check_binomial_halfwidth: (
        lambda p, n: 1.96 * math.sqrt(p * (1 - p) / n),
        [lambda p, n: math.sqrt(p * (1 - p) / n), lambda p, n: 1.96 * p * (1 - p) / n]),
    checks.check_ensemble_soft_targets: (
        lambda zs, T: torch.stack([torch.softmax(z / T, -1) for z in zs]).mean(0),
        [lambda zs, T: torch.softmax(torch.stack(zs).mean(0) / T, -1),  # averages logits
         lambda zs, T: torch.softmax(zs[0] / T, -1)]),
    checks.check_paired_difference: (
        lambda a, b: (statistics.mean(x - y for x, y in zip(a, b)), statistics.stdev(x - y for x, y in zip(a, b))),
        [lambda a, b: (statistics.mean(a) - statistics.mean(b), statistics.stdev(a) + statistics.stdev(b)),
         lambda a, b: (statistics.mean(x - y for x, y in zip(a, b)), statistics.pstdev(x - y for x, y in zip(a, b)))]),
}


@pytest.mark.parametrize("check", FUNCTION_CHECKS, ids=lambda f: f.__name__)
def test_function_checks_accept_the_answer_and_reject_wrong_ones(check, capsys):
    right, wrongs = FUNCTION_CHECKS[check]
    assert check(right) == True
    assert "✓" in capsys.readouterr().out
    for wrong in [*wrongs, _not_written, None, lambda *args: "nonsense"]:
        assert check(wrong) == False
        out = capsys.readouterr().out
        assert out.startswith("✗") and "Traceback" not in out


def test_a_wrong_function_gets_a_hint_not_a_traceback(capsys):
    checks.check_softmax_with_temperature(lambda z, t: torch.softmax(z, -1))
    assert "divide the logits by T" in capsys.readouterr().out
    checks.check_attention_mse(lambda s, t, mask: 1 / 0)
    assert "your function raised ZeroDivisionError" in capsys.readouterr().out
    checks.check_kd_loss(_not_written)
    assert "not written yet" in capsys.readouterr().out


@pytest.mark.parametrize("question", sorted(checks.QUESTIONS))
def test_choice_checks_accept_only_the_right_letter(question, capsys):
    q = checks.QUESTIONS[question]
    assert checks.check_choice(question, q.correct) and checks.check_choice(question, f"({q.correct.upper()})")
    for letter in set(q.reasons) - {q.correct}:
        assert checks.check_choice(question, letter) == False
    assert checks.check_choice(question, None) == False and checks.check_choice(question, "z") == False
    out = capsys.readouterr().out
    assert "no answer yet" in out and "answer with one of" in out


def test_prediction_check_uses_the_tolerance(capsys):
    assert checks.check_prediction("x", 0.55, 0.5, tolerance=0.1, why="because")
    assert not checks.check_prediction("x", 0.7, 0.5, tolerance=0.1, why="because")
    assert not checks.check_prediction("x", None, 0.5, tolerance=0.1, why="")
    assert not checks.check_prediction("x", "half", 0.5, tolerance=0.1, why="")
    out = capsys.readouterr().out
    assert "off by 0.2" in out and "no prediction yet" in out and "a prediction is a number" in out


# ---------------------------------------------------------------- the notebooks' exercises
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_has_two_exercises_each_with_its_check(path):
    notebook = nbformat.read(path, as_version=4)
    solutions = [i for i, c in enumerate(notebook.cells) if "solution" in _tags(c)]
    assert len(solutions) >= 2, f"{path.name} has {len(solutions)} exercise(s)"
    for i, end in zip(solutions, [*solutions[1:], len(notebook.cells)]):
        # the check follows its solution; a prediction's check may come after the cell that computes the answer
        following = [c for c in notebook.cells[i + 1:end] if "check" in _tags(c)]
        assert following and "checks.check_" in following[0].source, f"{path.name}: no check after cell {i}"


def test_solution_cells_become_stubs_that_keep_the_signature():
    original = nbformat.read(NB04, as_version=4)
    exercise, count = exercises.make_exercise(original)
    assert count >= 1
    stub = next(c for c in exercise.cells if "def attention_mse" in c.source)
    assert stub.source.startswith("def attention_mse(") and "exercise" in _tags(stub)
    assert stub.source.endswith("\n    # YOUR CODE HERE\n    raise NotImplementedError()")  # nbgrader's stub
    assert "pow(2)" not in stub.source and "SOLUTION" not in stub.source
    namespace = {}
    exec(stub.source, namespace)
    assert checks.check_attention_mse(namespace["attention_mse"]) == False


def test_answer_cells_become_none():
    stub = exercises.stub_for('answer = None  # your answer\n### BEGIN SOLUTION\nanswer = "b"\n### END SOLUTION')
    namespace = {}
    with pytest.raises(NotImplementedError):  # nbgrader's stub: the learner replaces it with the answer
        exec(stub, namespace)
    assert namespace["answer"] is None and '"b"' not in stub
    # a cell without the markers (a notebook of one's own) still gets the TODO stub
    stub = exercises.stub_for('answer = "b"\nguess = 30_522 * 312 / 1e6  # millions\n')
    namespace = {}
    exec(stub, namespace)
    assert namespace["answer"] is None and namespace["guess"] is None and "30_522" not in stub


def test_learner_folder_holds_no_solution_text_and_instructor_folder_holds_all(tmp_path):
    counts = exercises.write_workshop(tmp_path)
    assert sorted(counts) == sorted(p.name for p in NOTEBOOKS)
    for path in NOTEBOOKS:
        original = nbformat.read(path, as_version=4)
        learner = (tmp_path / "learner" / path.name).read_text()
        solution_lines = {line.strip() for c in original.cells if "solution" in _tags(c)
                          for line in _between_markers(c.source)}
        assert solution_lines, path.name
        leaked = [line for line in solution_lines if line in learner]
        assert not leaked, f"{path.name}: solution text in the learner's copy: {leaked}"
        assert "BEGIN SOLUTION" not in learner and "END SOLUTION" not in learner
        assert '"instructor"' not in learner
        instructor = nbformat.read(tmp_path / "instructor" / path.name, as_version=4)
        assert [c.source for c in instructor.cells] == [c.source for c in original.cells]


def test_exercise_notebook_with_solutions_put_back_runs(tmp_path, monkeypatch):
    from tinybert_lab.teaching.tutorial import execute_notebook

    monkeypatch.setenv("TINYBERT_LAB_FAST", "1")
    monkeypatch.setenv("TINYBERT_LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TINYBERT_LAB_OUT", str(tmp_path / "out"))
    original = nbformat.read(NB01, as_version=4)
    exercise, count = exercises.make_exercise(original)
    restored = exercises.put_solutions_back(exercise, original)
    execute_notebook(restored, timeout=600, folder=NB01.parent)
    text = "".join(o.get("text", "") for c in restored.cells for o in c.get("outputs", []))
    assert text.count("✓") == count and "✗" not in text


def test_a_check_cell_shows_its_line_and_no_return_value(tmp_path):
    """A check is a check cell's last expression: the learner sees its ✓/✗ line, not a stray `True`."""
    import nbformat

    from tinybert_lab.teaching.tutorial import execute_notebook

    question = next(iter(checks.QUESTIONS))
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_code_cell(
        f"from tinybert_lab import checks\nchecks.check_choice({question!r}, {checks.QUESTIONS[question].correct!r})"))
    execute_notebook(notebook, timeout=120)
    outputs = notebook.cells[0].outputs
    assert [o.output_type for o in outputs] == ["stream"] and outputs[0].text.startswith("✓")
    verdict = checks.check_choice(question, "z")
    assert not verdict and verdict == False and repr(verdict) == "Verdict(False)"
