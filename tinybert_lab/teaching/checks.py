"""Checks for the workshop exercises. Each prints ``✓`` or ``✗`` with a hint and returns a
``Verdict`` (true when right, and shown as nothing when it is a cell's last value: the printed
line is the whole output); none raises, so a wrong answer in class is a line of advice, not a stack trace. Under nbgrader
(``nbgrader autograde`` or ``validate``, which set ``NBGRADER_EXECUTION``) a failed check raises
``AssertionError`` after its hint, so the autograder gives the check cell no points.

Three kinds, all graded by the library, never by text in the notebook:

- **write a function**: the learner's function against the library's on random inputs;
- **predict, then run**: the number the learner wrote down before running, against what the run
  computed, within a tolerance;
- **explain a figure**: a multiple-choice answer (``"a"``, ``"b"``...), with a short reason for
  each option. The right letters live here (``QUESTIONS``), so a learner's notebook holds none.
"""

from __future__ import annotations

import functools
import math
import os
import statistics
from dataclasses import dataclass

import torch



def _report(ok: bool, what: str, hint: str) -> bool:
    if ok:
        print(f"✓ {what}: correct.")
    else:
        print(f"✗ {what}: not yet. Hint: {hint}")
    return ok


def _call(fn, what: str, *args):
    """``fn(*args)``, or a ✗ line saying what went wrong (not written yet, or it raised)."""
    if fn is None or not callable(fn):
        print(f"✗ {what}: no function yet. Write it in the cell above and run that cell first.")
        return None
    try:
        return fn(*args)
    except NotImplementedError:
        print(f"✗ {what}: not written yet. Replace `raise NotImplementedError` with your code.")
    except Exception as error:  # the learner's code: say what it raised, in one line
        print(f"✗ {what}: your function raised {type(error).__name__}: {error}")
    return None


def _close(value, expected: torch.Tensor, atol: float = 1e-5) -> bool:
    try:
        value = torch.as_tensor(value).float()
    except (TypeError, ValueError, RuntimeError):
        return False
    return value.shape == expected.shape and torch.allclose(value, expected.float(), atol=atol)


def _random(*shape, seed: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale


def _check_cases(fn, what: str, cases, hint: str, atol: float = 1e-5) -> bool:
    """``fn(*args)`` against ``expected`` for each ``(args, expected)`` in ``cases``; one ✓ or ✗ line."""
    for args, expected in cases:
        value = _call(fn, what, *args)
        if value is None:
            return False
        if not _close(value, expected, atol=atol):
            return _report(False, what, hint)
    return _report(True, what, "")


# --------------------------------------------------------------------------------------------
# Expected answers, written with plain Python loops: a check grades the learner against these,
# never against the library function the exercise asks them to write.
# --------------------------------------------------------------------------------------------
def _softmax_row(row: list[float], temperature: float = 1.0) -> list[float]:
    top = max(row)
    exps = [math.exp((z - top) / temperature) for z in row]
    return [e / sum(exps) for e in exps]


def _kd_by_hand(student, teacher, temperature: float) -> float:
    """``T² · mean_b Σ_c p_T log(p_T / p_S)``."""
    rows = [(_softmax_row(t, temperature), _softmax_row(s, temperature)) for s, t in zip(student.tolist(), teacher.tolist())]
    return temperature**2 * statistics.mean(sum(p * math.log(p / q) for p, q in zip(pt, ps)) for pt, ps in rows)


def _soft_ce_by_hand(student, teacher, temperature: float) -> float:
    """``mean_b −Σ_c p_T log p_S`` (no T²)."""
    rows = [(_softmax_row(t, temperature), _softmax_row(s, temperature)) for s, t in zip(student.tolist(), teacher.tolist())]
    return statistics.mean(-sum(p * math.log(q) for p, q in zip(pt, ps)) for pt, ps in rows)


def _attention_mse_by_hand(student, teacher, mask) -> float:
    """Mean squared difference over every head's (query, key) pairs where both tokens are real."""
    squares = [(student[b, h, i, j].item() - teacher[b, h, i, j].item()) ** 2
               for b in range(student.shape[0]) for h in range(student.shape[1])
               for i in range(student.shape[2]) for j in range(student.shape[3]) if mask[b, i] and mask[b, j]]
    return statistics.mean(squares)


def _hidden_mse_by_hand(projected, teacher, mask) -> float:
    """Mean squared difference over the real tokens' vectors (every dimension of each)."""
    squares = [(projected[b, t, d].item() - teacher[b, t, d].item()) ** 2 for b in range(teacher.shape[0])
               for t in range(teacher.shape[1]) if mask[b, t] for d in range(teacher.shape[2])]
    return statistics.mean(squares)


def _ensemble_by_hand(logits, temperature: float) -> torch.Tensor:
    rows = [[_softmax_row(row, temperature) for row in z.tolist()] for z in logits]
    return torch.tensor([[statistics.mean(k[b][c] for k in rows) for c in range(len(rows[0][b]))]
                         for b in range(len(rows[0]))])


# --------------------------------------------------------------------------------------------
# Write a function
# --------------------------------------------------------------------------------------------
def check_softmax_with_temperature(fn) -> Verdict:
    """``fn(logits (B, C), temperature) -> probabilities (B, C)``, i.e. softmax(logits / T)."""
    logits = _random(4, 3, seed=0, scale=3)
    results = [_call(fn, "softmax_with_temperature", logits, t) for t in (1.0, 2.0, 5.0)]
    if any(r is None for r in results):
        return False
    ok = all(_close(r, torch.softmax(logits / t, -1)) for r, t in zip(results, (1.0, 2.0, 5.0)))
    return _report(ok, "softmax_with_temperature", "divide the logits by T, then softmax over the last dimension.")


def check_kd_loss(fn) -> Verdict:
    """``fn(student_logits (B, C), teacher_logits (B, C), temperature) -> scalar``: Hinton's
    ``T² · KL(p_T ‖ p_S)`` averaged over the batch, as ``losses.soft_kl``."""
    student, teacher = _random(5, 4, seed=2, scale=2), _random(5, 4, seed=3, scale=2)
    cases = [((student, teacher, t), torch.tensor(_kd_by_hand(student, teacher, t))) for t in (1.0, 2.0, 4.0)]
    return _check_cases(fn, "kd_loss", cases, "soften both with softmax(z / T); KL(p_T ‖ p_S) = Σ p_T (log p_T − "
                        "log p_S) over classes, mean over the batch, then multiply by T².", atol=1e-4)


def check_attention_mse(fn) -> Verdict:
    """``fn(student_scores, teacher_scores, attention_mask) -> scalar``: TinyBERT's attention MSE
    over real (query, key) pairs, as ``losses.attention_loss(kind="scores")``."""
    student, teacher = _random(2, 3, 5, 5, seed=1), _random(2, 3, 5, 5, seed=4)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    value = _call(fn, "attention_mse", student, teacher, mask)
    if value is None:
        return False
    return _report(_close(value, torch.tensor(_attention_mse_by_hand(student, teacher, mask))), "attention_mse",
                   "keep only pairs where both the query and the key are real tokens "
                   "(mask[:, None, :, None] * mask[:, None, None, :]), then average the squared differences.")


def check_hidden_mse(fn) -> Verdict:
    """``fn(student_hidden (B, L, d_S), teacher_hidden (B, L, d_T), attention_mask (B, L), projection)
    -> scalar``: ``MSE(projection(H_S), H_T)`` over real tokens, as ``losses.hidden_mse``."""
    student, teacher = _random(2, 5, 6, seed=8), _random(2, 5, 8, seed=9)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    projection = torch.nn.Linear(6, 8)
    with torch.no_grad():
        projection.weight.copy_(_random(8, 6, seed=10))
        value = _call(fn, "hidden_mse", student, teacher, mask, projection)
        expected = torch.tensor(_hidden_mse_by_hand(projection(student), teacher, mask))
    if value is None:
        return False
    return _report(_close(value, expected), "hidden_mse", "project the student's vectors to the teacher's width, "
                   "keep the real tokens only (attention_mask == 1), then average the squared differences over "
                   "those tokens and the teacher's dimensions.")


def check_prediction_loss(fn) -> Verdict:
    """``fn(student_logits (B, C), teacher_logits (B, C), temperature) -> scalar``: TinyBERT's
    prediction-layer loss, the soft cross-entropy ``−Σ_c p_T log p_S`` (``losses.soft_cross_entropy``)."""
    student, teacher = _random(4, 3, seed=11, scale=2), _random(4, 3, seed=12, scale=2)
    cases = [((student, teacher, t), torch.tensor(_soft_ce_by_hand(student, teacher, t))) for t in (1.0, 2.0)]
    return _check_cases(fn, "prediction_loss", cases, "p_T = softmax(teacher / T), log p_S = log_softmax(student / T); "
                        "−(p_T · log p_S) summed over classes, averaged over the batch; no T² here.", atol=1e-4)


def check_attention_gap(fn) -> Verdict:
    """``fn(student_probs (L, L), teacher_probs (L, L)) -> scalar``: the mean absolute difference
    of two attention maps."""
    student = torch.softmax(_random(6, 6, seed=13, scale=2), -1)
    teacher = torch.softmax(_random(6, 6, seed=14, scale=2), -1)
    value = _call(fn, "attention_gap", student, teacher)
    if value is None:
        return False
    return _report(_close(value, (student - teacher).abs().mean()), "attention_gap",
                   "both maps' rows sum to 1, so signed differences cancel to exactly 0: average the absolute "
                   "differences, (student − teacher).abs().mean().")


def check_uniform_layers(fn) -> Verdict:
    """``fn(student_layers M, teacher_layers N) -> [g(1), ..., g(M)]``: TinyBERT's uniform map
    g(m) = m·N/M rounded down, as ``LayerMap.uniform``."""
    for m, n in ((4, 6), (4, 12), (3, 12), (6, 6), (2, 5)):
        value = _call(fn, "uniform_layers", m, n)
        if value is None:
            return False
        expected = [k * n // m for k in range(1, m + 1)]
        try:
            got = [int(v) for v in value]
        except (TypeError, ValueError):
            got = None
        if got != expected:
            return _report(False, "uniform_layers", f"for M={m}, N={n} the answer is {expected}, you gave {value!r}: "
                           "student layers count from 1 to M, and m·N/M rounds down (int(m * N / M) or m * N // M).")
    return _report(True, "uniform_layers", "")


def check_binomial_halfwidth(fn) -> Verdict:
    """``fn(accuracy, n) -> half-width``: the 95 % normal-approximation interval 1.96·√(p(1−p)/n)."""
    for p, n in ((0.85, 872), (0.5, 100), (0.96, 500)):
        value = _call(fn, "binomial_halfwidth", p, n)
        if value is None:
            return False
        try:
            ok = math.isclose(float(value), 1.96 * math.sqrt(p * (1 - p) / n), rel_tol=1e-3)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            return _report(False, "binomial_halfwidth", "each sentence is right with probability p: the count's "
                           "standard error is √(p(1−p)/n) in accuracy units; 95 % is 1.96 of them.")
    return _report(True, "binomial_halfwidth", "")


def check_ensemble_soft_targets(fn) -> Verdict:
    """``fn(list of K teacher logits (B, C), temperature) -> (B, C)``: the mean of the teachers'
    softened probabilities, as ``losses.ensemble_soft_targets`` with equal weights."""
    logits = [_random(3, 4, seed=s, scale=3) for s in (5, 6, 7)]
    cases = [((logits, t), _ensemble_by_hand(logits, t)) for t in (1.0, 3.0)]
    return _check_cases(fn, "ensemble_soft_targets", cases, "average the probabilities softmax(z_k / T) of the "
                        "teachers, not their logits: the mean of distributions is a distribution.")


def check_paired_difference(fn) -> Verdict:
    """``fn(a, b) -> (mean, std)`` of the per-seed differences a[i] − b[i] (sample std, n − 1)."""
    a, b = [0.85, 0.86, 0.84], [0.80, 0.83, 0.81]
    value = _call(fn, "paired_difference", a, b)
    if value is None:
        return False
    diffs = [x - y for x, y in zip(a, b)]
    try:
        mean, std = (float(v) for v in value)
        ok = math.isclose(mean, statistics.mean(diffs), abs_tol=1e-9) and math.isclose(std, statistics.stdev(diffs), abs_tol=1e-9)
    except (TypeError, ValueError):
        ok = False
    return _report(ok, "paired_difference", "subtract seed by seed first (same seed: same data and start), then "
                   "take the mean and statistics.stdev of those differences; not the difference of two means "
                   "with their own stds.")


def _token_kl_by_hand(student, teacher, mask, direction: str) -> float:
    """Forward or reverse KL per kept position, averaged: written with plain Python loops, so it
    checks the learner's tensors against an independent formula (not ``losses`` itself)."""
    import math

    total, count = 0.0, 0
    for b in range(student.shape[0]):
        for t in range(student.shape[1]):
            if not mask[b, t]:
                continue
            zs, zt = student[b, t].tolist(), teacher[b, t].tolist()
            q = [math.exp(z - max(zs)) for z in zs]
            p = [math.exp(z - max(zt)) for z in zt]
            q, p = [x / sum(q) for x in q], [x / sum(p) for x in p]
            a, c = (p, q) if direction == "forward" else (q, p)
            total += sum(x * math.log(x / y) for x, y in zip(a, c))
            count += 1
    return total / count


def check_token_kl(fn) -> Verdict:
    """``fn(student_logits (B, L, V), teacher_logits (B, L, V), mask (B, L), direction) -> scalar``:
    ``direction="forward"``: ``Σ_v p (log p − log q)``, ``"reverse"``: ``Σ_v q (log q − log p)``
    (p teacher, q student, T = 1), averaged over the positions where ``mask`` is 1; masked
    positions may hold anything (here NaN and inf) and must not change the result."""
    student, teacher = _random(2, 4, 6, seed=5, scale=2), _random(2, 4, 6, seed=6, scale=2)
    mask = torch.tensor([[1, 1, 0, 1], [1, 0, 0, 1]])
    garbage_s, garbage_t = student.clone(), teacher.clone()
    garbage_s[~mask.bool()] = float("nan")
    garbage_t[~mask.bool()] = float("inf")
    cases = [((garbage_s, garbage_t, mask, d), torch.tensor(_token_kl_by_hand(student, teacher, mask, d)))
             for d in ("forward", "reverse")]
    return _check_cases(fn, "token_kl", cases, "softmax over the vocabulary (last dimension), select the kept "
                        "positions with the mask *before* any arithmetic (student_logits[mask.bool()]), sum over "
                        "the vocabulary, mean over kept positions; forward weights by p (teacher), reverse by q.",
                        atol=1e-4)


# --------------------------------------------------------------------------------------------
# Predict, then run
# --------------------------------------------------------------------------------------------
def check_prediction(what: str, guess, actual: float, tolerance: float, why: str) -> Verdict:
    """The learner's ``guess`` (written before running) against the ``actual`` value the run
    computed: right within ``tolerance``; either way ``why`` explains the number."""
    if guess is None or isinstance(guess, bool):
        print(f"✗ {what}: no prediction yet. Write your number in the cell above before running the code.")
        return False
    try:
        guess = float(guess)
    except (TypeError, ValueError):
        print(f"✗ {what}: a prediction is a number, got {guess!r}.")
        return False
    ok = abs(guess - actual) <= tolerance
    mark = "✓" if ok else "✗"
    verdict = "close enough" if ok else f"off by {abs(guess - actual):.3g} (within {tolerance:.3g} counts)"
    print(f"{mark} {what}: you said {guess:.3g}, the run gave {actual:.3g}: {verdict}. {why}")
    return ok


# --------------------------------------------------------------------------------------------
# Explain a figure (multiple choice)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Question:
    """A multiple-choice question: the right letter and one reason per option."""

    correct: str
    reasons: dict[str, str]


QUESTIONS: dict[str, Question] = {
    "temperature": Question("b", {
        "a": "dividing logits by T > 1 shrinks their differences, so the distribution cannot get sharper.",
        "b": "logits / T shrink towards 0 as T grows, and softmax of equal logits is uniform.",
        "c": "softmax(z / T) keeps the order of the classes, so the argmax never changes; the shape does.",
    }),
    "attention_rows": Question("a", {
        "a": "each row is one query's softmax over the keys, so it sums to 1.",
        "b": "rows are probabilities, not counts: a softmax over keys always sums to 1.",
        "c": "every head applies the same softmax over keys; heads differ in where the mass goes, not its total.",
    }),
    "projection": Question("a", {
        "a": "the student's vectors are 312 wide and the teacher's 384: a learned W maps one onto the other.",
        "b": "the projection adds work; it exists because the widths differ, not for speed.",
        "c": "MSE needs no normalising; it needs two vectors of the same width, which a 312-wide student lacks.",
    }),
    "general_data": Question("a", {
        "a": "general distillation needs no labels: the teacher's attention and hidden states on any text are the targets.",
        "b": "no labels are used in general distillation; that is what makes it general.",
        "c": "the dev set is for evaluation only; the student imitates the teacher's internals on unlabeled text.",
    }),
    "intermediate_stage": Question("b", {
        "a": "the intermediate stage's losses are attention, hidden and embedding MSE: the classifier gets no signal.",
        "b": "it pulls the Transformer layers toward the teacher's attention and hidden states; the prediction "
             "stage then trains the classifier on soft targets.",
        "c": "neither stage uses the gold labels: both learn from the teacher.",
    }),
    "one_sentence": Question("b", {
        "a": "one sentence and one head show a pattern, not what the student learned in general.",
        "b": "a similar map on one sentence is an example; a claim needs many sentences (and a number for the gap).",
        "c": "maps can look alike while the values differ: read the difference panel, and measure many sentences.",
    }),
    "distillation_gap": Question("b", {
        "a": "the random-init baseline differs in its start too, so that gap mixes initialisation and distillation.",
        "b": "same start, same data, same steps, only the loss differs: this gap is what distillation adds.",
        "c": "the teacher is a different, larger model; that gap is what compression costs.",
    }),
    "seed_noise": Question("b", {
        "a": "a mean of +0.8 with a std of 1.1 over 3 seeds is less than two standard errors from 0 (2·1.1/√3 ≈ 1.3).",
        "b": "the difference is smaller than two standard errors: it may be noise; more seeds could tell.",
        "c": "the mean difference is positive; the data give no sign that it hurts either.",
    }),
    "truncation": Question("a", {
        "a": "encode keeps the first max_length tokens and says once how many examples it cut.",
        "b": "nothing is refused: long examples are cut to max_length, and the cut is reported once.",
        "c": "no example is dropped; the longest keep their first max_length tokens.",
    }),
    "small_dev": Question("b", {
        "a": "a 1-point gap on a few hundred dev examples is within the binomial noise of one run.",
        "b": "on a small dev set one run's 1-point gap may be noise: more seeds (or more dev data) could tell.",
        "c": "nothing here says distillation hurt either: the gap is within one run's noise.",
    }),
    "pareto": Question("b", {
        "a": "a variant that another beats on both speed and accuracy is dominated: only an unplotted property can justify it.",
        "b": "on the plotted axes another variant is better; size, memory or a required engine can still decide.",
        "c": "the plot shows two axes only: a dominated variant may still be the smallest, or the only one that runs where you ship.",
    }),
    "curves_meet": Question("b", {
        "a": "with few gold labels the teacher's labels on the transfer set add the most: that is where curves are apart.",
        "b": "when (almost) every transfer example has its gold label, the teacher has little left to add.",
        "c": "the gap shrinks as gold labels grow: look at the right end of the curves.",
    }),
}


def check_choice(question: str, answer) -> Verdict:
    """``answer`` (a letter) to ``QUESTIONS[question]``; prints why it is right or wrong."""
    q = QUESTIONS[question]
    if answer is None:
        print(f"✗ {question}: no answer yet. Write one letter ({', '.join(map(repr, q.reasons))}) in the cell above.")
        return False
    letter = str(answer).strip().lower().strip("()")
    if letter not in q.reasons:
        print(f"✗ {question}: answer with one of {', '.join(map(repr, q.reasons))}, got {answer!r}.")
        return False
    ok = letter == q.correct
    print(f"{'✓' if ok else '✗'} {question}: ({letter}) is {'right' if ok else 'not it'}. {q.reasons[letter]}")
    return ok


class Verdict:
    """A check's result: true when the answer is right (``bool(verdict)``, ``verdict == True``).
    A notebook shows nothing for it, so a check cell's output is its ✓/✗ line alone."""

    __slots__ = ("ok",)

    def __init__(self, ok):
        self.ok = bool(ok)

    def __bool__(self) -> bool:
        return self.ok

    def __eq__(self, other) -> bool:
        return self.ok == (other.ok if isinstance(other, Verdict) else other)

    __hash__ = None

    def __repr__(self) -> str:
        return f"Verdict({self.ok})"

    def _ipython_display_(self) -> None:
        pass  # the check printed its line already


def _graded(check):
    """``check`` returning a ``Verdict``; when it fails under nbgrader's autograder or validator it
    raises after its hint: nbgrader scores a test cell by whether it raised, not by what it printed."""
    @functools.wraps(check)
    def graded(*args, **kwargs) -> Verdict:
        ok = check(*args, **kwargs)
        if not ok and os.environ.get("NBGRADER_EXECUTION"):
            raise AssertionError(f"{check.__name__}: not yet (the line above says why)")
        return Verdict(ok)
    return graded


for _name in [name for name in globals() if name.startswith("check_")]:  # every public check
    globals()[_name] = _graded(globals()[_name])
del _name
