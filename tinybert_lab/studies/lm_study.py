"""Which objective distils a language model best? Text only vs token-level KD vs reverse KL vs
sequence-level KD (vs on-policy), same student start, same steps, over seeds (issue 26).

Two regimes. ``full``: the student trains on all of the training text. ``low``: it has only the
first 5 % of the text, and the teacher may write more (continuations of prompts cut from that 5 %):
the text-only row sees the 5 % alone; the KD rows see the 5 % plus the teacher's text. So in the
low regime ``seq_kd`` − ``text`` is what the teacher's *text* adds, and ``forward_kl`` − ``seq_kd``
what its *soft targets* add on the same text.

Every row's paired difference is taken against the text-only row from the same start (same seed:
same start, same batch order); a positive difference is a lower validation loss. ``gap_closed``:
the share of the text-only student's gap to the teacher that the row closes.
``benchmarks/lm_distill.py`` runs the grid into a committed record; notebook 13 reads it.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..core.config import Settings
from ..core.errors import TinyBertLabError
from ..core.training import TrainConfig, fit
from ..methods import causal_lm as lm
from ..methods import lm_eval
from ..core.comparison import paired_difference, verdict

RECORD = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "lm_distill.json"
SEEDS = (0, 1, 2)
REGIMES = ("full", "low")
LOW_FRACTION = 0.05


@dataclass(frozen=True)
class Row:
    """One way to train the student: its start, its loss weights, and which text it sees
    (``"text"``: the real text; ``"generated"``: the teacher's continuations, plus the real text in
    the low regime)."""

    start: str
    weights: dict
    data: str = "text"
    label: str = ""
    on_policy: bool = False
    temperature: float | None = None  # forward KL's; None: the plan's (DistilGPT-2's T = 2)


ROWS = {
    "text": Row("teacher_layers", {"next_token": 1.0}, label="text only"),
    "forward_kl": Row("teacher_layers", {"next_token": 0.5, "forward_kl": 0.5}, label="token-level KD (forward KL, T=2)"),
    "forward_kl_t1": Row("teacher_layers", {"next_token": 0.5, "forward_kl": 0.5}, label="token-level KD (forward KL, T=1)",
                         temperature=1.0),
    "reverse_kl": Row("teacher_layers", {"next_token": 0.5, "reverse_kl": 0.5}, label="reverse KL (token-level MiniLLM)"),
    "seq_kd": Row("teacher_layers", {"next_token": 1.0}, data="generated", label="sequence-level KD (teacher's text)"),
    "on_policy": Row("teacher_layers", {"next_token": 0.5, "on_policy_jsd": 0.5}, label="on-policy (GKD, JSD)",
                     on_policy=True),
    "text_random": Row("random", {"next_token": 1.0}, label="text only, random start"),
    "forward_kl_random": Row("random", {"next_token": 0.5, "forward_kl": 0.5}, label="token-level KD, random start"),
}
DEFAULT_ROWS = ("text", "forward_kl", "reverse_kl", "seq_kd", "text_random", "forward_kl_random", "forward_kl_t1",
                "on_policy")
BASELINE = {"teacher_layers": "text", "random": "text_random"}


@dataclass(frozen=True)
class StudyPlan(Settings):
    """Student training: ``steps`` of ``batch_size`` windows at ``learning_rate``, the same for every row."""

    steps: int = 300
    batch_size: int = 16
    learning_rate: float = 1e-3
    temperature: float = 2.0

    def check(self):
        self.require_int("steps", "batch_size")
        self.require_number("learning_rate", low_open=True)
        self.require_number("temperature", low_open=True)

    def config(self, seed: int) -> TrainConfig:
        return TrainConfig(steps=self.steps, batch_size=self.batch_size, learning_rate=self.learning_rate,
                           warmup_ratio=0.05, weight_decay=0.1, seed=seed, log_every=25)


PLAN = StudyPlan()
FAST_PLAN = StudyPlan(steps=6, batch_size=4)


def plan() -> StudyPlan:
    """``FAST_PLAN`` when ``TINYBERT_LAB_FAST=1`` (seconds), else ``PLAN``."""
    from ..core.settings import fast_mode

    return FAST_PLAN if fast_mode() else PLAN


class Setup:
    """The teacher and the text every row shares, built once: training windows of each regime and
    the teacher's continuations (cached on disk)."""

    def __init__(self, teacher: lm.LMTeacher, corpus, study_plan: StudyPlan | None = None, *, progress: bool = True):
        if not isinstance(teacher, lm.LMTeacher) or teacher.spec is None:
            raise TinyBertLabError("The study needs the offline teacher as lm_teacher() returns it (its spec gives "
                                   "the window length); a hub model such as gpt2 is not set up for it.")
        self.teacher, self.corpus, self.plan = teacher, corpus, study_plan or plan()
        self.tokenizer = teacher.tokenizer
        spec = teacher.spec
        self.block, self.stride = spec.block, spec.stride
        self.ids = lm.encode_text(self.tokenizer, corpus.train)
        self.low_ids = self.ids[: int(len(self.ids) * LOW_FRACTION)]
        self.progress = progress
        self._data = {}

    def data(self, regime: str, which: str):
        """The encoded windows a row of ``regime`` trains on (``which``: "text" or "generated")."""
        import datasets

        if regime not in REGIMES:
            raise TinyBertLabError(f"Unknown regime {regime!r}: use one of {REGIMES}.")
        key = (regime, which)
        if key not in self._data:
            ids = self.ids if regime == "full" else self.low_ids
            real = lm.token_blocks(ids, self.block, stride=self.stride)
            if which == "text":
                self._data[key] = real
            else:
                prompt = self.block // 4
                count = self.plan.steps * self.plan.batch_size
                prompts = lm.prompts_from(ids, count=count, length=prompt, seed=11)
                written = lm.teacher_generations(self.teacher, prompts, new_tokens=self.block - prompt,
                                                 progress=self.progress)
                if regime == "low":  # the 5 % of real text, plus what the teacher wrote (ids renumbered)
                    rows = list(real["input_ids"]) + list(written["input_ids"])
                    written = datasets.Dataset.from_dict({"input_ids": rows, "token_type_ids": [[0] * len(r) for r in rows],
                                                          "label": [-1] * len(rows), "idx": list(range(len(rows)))})
                self._data[key] = written
        return self._data[key]

    def student(self, start: str, seed: int):
        return lm.half_depth_student(self.teacher.model, start, seed=seed)


def train_row(setup: Setup, regime: str, row_name: str, seed: int, *, steps: int | None = None) -> dict:
    """Train one row for one seed (``steps``: the plan's by default); returns the run (validation
    loss, bits per character, agreement with the teacher, seconds) and the student under ``"model"``."""
    row = ROWS[row_name]
    student = setup.student(row.start, seed)
    kd_text = regime == "low" and any(k != "next_token" for k in row.weights)  # KD rows see the teacher's text too
    train = setup.data(regime, "generated" if row.data == "generated" or kd_text else "text")
    on_policy = lm.OnPolicy(fraction=0.5, prompt=setup.block // 4) if row.on_policy else None
    objective = lm.LMObjective(student, setup.teacher.model, weights=row.weights,
                               temperature=row.temperature or setup.plan.temperature,
                               on_policy=on_policy, seed=seed)
    config = setup.plan.config(seed)
    if steps is not None:
        config = TrainConfig.from_dict({**config.to_dict(), "steps": steps})
    history = fit(objective, train, setup.tokenizer, config, progress=False)
    if steps is not None and steps < setup.plan.steps:  # a timing or a quick look: no scores
        return {"regime": regime, "row": row_name, "seed": seed, "steps": steps, "seconds": history.seconds,
                "model": student}
    scores = lm_eval.language_scores(student, setup.tokenizer, setup.corpus.validation, block=setup.block)
    agree = lm_eval.agreement(setup.teacher.model, student, setup.tokenizer, setup.corpus.validation,
                              block=setup.block, limit=200)
    return {"regime": regime, "row": row_name, "seed": seed, "steps": config.steps,
            "validation_loss": scores.loss, "bits_per_character": scores.bits_per_character,
            "perplexity": scores.perplexity, "agreement_top1": agree.top1, "agreement_kl": agree.kl,
            "train_windows": len(train), "seconds": history.seconds, "model": student}


def load_runs(path: Path = RECORD, corpus=None) -> list[dict]:
    """The committed record's runs (empty when there is none yet); with ``corpus``, only those of
    the package's default teacher (``causal_lm.TEACHER`` on that corpus), the one the record was made with."""
    runs = json.loads(path.read_text())["runs"] if path.is_file() else []
    if corpus is None:
        return runs
    key = lm.teacher_key(lm.TEACHER, corpus)
    return [r for r in runs if r.get("teacher", key) == key]


@dataclass(frozen=True)
class Summary:
    """One row of one regime over its seeds: mean ± std validation loss; the paired difference
    against the same-start text-only row (positive: lower loss), its verdict, and the share of the
    text-only gap to the teacher it closes."""

    regime: str
    row: str
    label: str
    seeds: int  # the row's own runs; the difference uses the seeds it shares with its baseline (``paired``)
    loss: float
    loss_std: float
    difference: float | None
    difference_std: float | None
    verdict: str
    gap_closed: float | None
    agreement: float
    minutes: float
    paired: int = 0


def summarise(runs: list[dict], teacher_loss: float) -> list[Summary]:
    """``Summary`` per (regime, row) present in ``runs``, in ``ROWS`` order."""
    out = []
    for regime in REGIMES:
        for name, row in ROWS.items():
            mine = {r["seed"]: r for r in runs if r["regime"] == regime and r["row"] == name}
            if not mine:
                continue
            losses = [r["validation_loss"] for r in mine.values()]
            base_name = BASELINE[row.start]
            base = {r["seed"]: r for r in runs if r["regime"] == regime and r["row"] == base_name}
            common = sorted(set(mine) & set(base))
            difference = difference_std = gap = None
            words = "baseline" if name == base_name else "no paired runs yet"
            if name != base_name and common:
                diffs = [base[s]["validation_loss"] - mine[s]["validation_loss"] for s in common]
                difference = statistics.mean(diffs)
                difference_std = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
                words = verdict(difference, difference_std, len(diffs))
                base_loss = statistics.mean(base[s]["validation_loss"] for s in common)
                if base_loss > teacher_loss:
                    gap = difference / (base_loss - teacher_loss)
            out.append(Summary(regime, name, row.label, len(losses), statistics.mean(losses),
                               statistics.stdev(losses) if len(losses) > 1 else 0.0, difference, difference_std,
                               words, gap, statistics.mean(r["agreement_top1"] for r in mine.values()),
                               sum(r["seconds"] for r in mine.values()) / 60, len(common)))
    return out


def compare(runs: list[dict], regime: str, better: str, worse: str) -> tuple[float, float, int, str] | None:
    """``worse − better`` validation loss, seed by seed, in ``regime`` (positive: ``better`` has the
    lower loss): ``(mean, std, seeds, verdict)``, or None when they share no seed."""
    a = {r["seed"]: r["validation_loss"] for r in runs if r["regime"] == regime and r["row"] == worse}
    b = {r["seed"]: r["validation_loss"] for r in runs if r["regime"] == regime and r["row"] == better}
    if not set(a) & set(b):
        return None
    mean, std, count = paired_difference(a, b)
    return mean, std, count, verdict(mean, std, count)


def report(runs: list[dict], teacher_loss: float) -> str:
    """Markdown table of ``summarise``: one line per regime and row."""
    lines = [f"Teacher validation loss: {teacher_loss:.3f} nats per token.", "",
             "| regime | row | seeds | validation loss (mean ± std) | vs text only, same start (mean ± std) | "
             "verdict | gap to teacher closed | top-1 agreement | minutes (all seeds) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in summarise(runs, teacher_loss):
        diff = "" if s.difference is None else f"{s.difference:+.3f} ± {s.difference_std:.3f}"
        gap = "" if s.gap_closed is None else f"{s.gap_closed:.0%}"
        lines.append(f"| {s.regime} | {s.label} | {s.seeds} | {s.loss:.3f} ± {s.loss_std:.3f} | {diff} | {s.verdict} | "
                     f"{gap} | {s.agreement:.1%} | {s.minutes:.1f} |")
    return "\n".join(lines)


def timed(setup: Setup, regime: str, row_name: str, seed: int) -> dict:
    """``train_row`` with its wall time (generation of the teacher's text included on first use)."""
    started = time.perf_counter()
    run = train_row(setup, regime, row_name, seed)
    run["wall_seconds"] = time.perf_counter() - started
    return run


def live_run(setup: Setup, row_name: str, *, steps: int, seed: int = 0) -> dict:
    """A notebook's own small run of one row (full text, ``steps`` steps, one seed): the run as
    ``train_row`` returns it, the student under ``"model"``. Kept in the cache by teacher, row,
    steps and seed, so a rerun (or a restarted kernel) loads it instead of training again."""
    from transformers import GPT2LMHeadModel

    from ..core.models import quiet_transformers
    from ..core.settings import cache_dir

    if row_name not in ROWS:
        raise TinyBertLabError(f"Unknown row {row_name!r}: use one of {', '.join(ROWS)}.")
    settings = json.dumps([asdict(ROWS[row_name]), asdict(setup.plan)], sort_keys=True)
    key = hashlib.sha256(settings.encode()).hexdigest()[:8]  # the row's weights and temperature, the plan
    folder = cache_dir() / "lm_live" / f"{setup.teacher.path.name}-{row_name}-{steps}-{seed}-{key}"
    if (folder / "run.json").is_file():
        run = json.loads((folder / "run.json").read_text())
        with quiet_transformers():
            run["model"] = GPT2LMHeadModel.from_pretrained(folder).eval()
        return run
    small = Setup(setup.teacher, setup.corpus, StudyPlan(steps=steps, batch_size=setup.plan.batch_size,
                                                         learning_rate=setup.plan.learning_rate,
                                                         temperature=setup.plan.temperature), progress=setup.progress)
    small._data = setup._data  # the windows are the same; only the number of steps differs
    run = timed(small, "full", row_name, seed)
    model = run["model"]
    partial = folder.with_name(folder.name + ".partial")
    with quiet_transformers():
        model.save_pretrained(partial)
    (partial / "run.json").write_text(json.dumps({k: v for k, v in run.items() if k != "model"}))
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    partial.rename(folder)
    return run


TOKENIZER_RECORD = RECORD.with_name("lm_tokenizer.json")


def tokenizer_table(path: Path = TOKENIZER_RECORD) -> str:
    """The tokenizer measurement (``benchmarks/lm_tokenizer.py``) as a markdown table."""
    runs = load_runs(path)
    if not runs:
        return "(no tokenizer record yet: run `python benchmarks/lm_tokenizer.py`)"
    lines = ["| tokenizer | vocabulary | characters per token | bits per character | entropy (bits per token) | "
             "plausible tokens (2^entropy) | tokens covering 90 % | top-1 probability |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['tokenizer']} ({r['steps']} steps) | {r['vocabulary']} | {r['characters_per_token']:.2f} | "
              f"{r['bits_per_character']:.3f} | {r['spread_entropy_bits']:.2f} | {r['spread_plausible']:.1f} | "
              f"{r['spread_tokens_for_90']:.1f} | {r['spread_top1']:.2f} |" for r in runs]
    return "\n".join(lines)


def findings(summaries: list[Summary], runs: list[dict] = ()) -> list[str]:
    """One plain sentence per compared row, written from the numbers (never typed by hand); with
    ``runs``, also what the teacher's distributions add to its text in the low regime (the KL rows
    against sequence-level KD, which sees the same text)."""
    sentences = []
    for s in summaries:
        if s.difference is None:
            continue
        where = "on all the text" if s.regime == "full" else f"with {LOW_FRACTION:.0%} of the text"
        gap = f", closing {s.gap_closed:.0%} of the gap to the teacher" if s.gap_closed is not None else ""
        seeds = f"over {s.paired} seed{'s' if s.paired > 1 else ''}"
        if s.verdict == "too few seeds to tell":
            sentences.append(f"{s.label} {where}: {s.difference:+.3f} against text only {seeds}: too few seeds to "
                             "tell (a verdict needs 3).")
        elif s.verdict == "clear gain":
            sentences.append(f"{s.label} {where}: lower validation loss than text only from the same start by "
                             f"{s.difference:.3f} ± {s.difference_std:.3f} nats per token {seeds}{gap}.")
        elif s.verdict == "clear loss":
            sentences.append(f"{s.label} {where}: *higher* validation loss than text only from the same start, by "
                             f"{-s.difference:.3f} ± {s.difference_std:.3f} {seeds}: it did not help here.")
        else:
            sentences.append(f"{s.label} {where}: {s.difference:+.3f} ± {s.difference_std:.3f} against text only "
                             f"{seeds}, within noise: smaller than two standard errors of the per-seed differences.")
    for row in ("forward_kl", "forward_kl_t1", "reverse_kl"):
        result = compare(list(runs), "low", row, "seq_kd") if runs else None
        if result is not None:
            mean, std, count, words = result
            sentences.append(f"{ROWS[row].label} vs sequence-level KD, both on the {LOW_FRACTION:.0%} plus the "
                             f"teacher's text (what the distributions add to the teacher's text): {mean:+.3f} ± "
                             f"{std:.3f} over {count} seed{'s' if count > 1 else ''}, {words}.")
    return sentences

