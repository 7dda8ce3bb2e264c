"""Figures a learner can read: every public plot function of ``viz`` rendered on small synthetic
inputs (as ``save_figure`` saves it) and checked for labelled axes and colour bars, tick labels of
at least 8 pt, bar axes from 0 and log scales where promised. ``test_the_checks_can_fail`` shows
each check rejecting a figure that breaks it. Also: a training loop's progress, as a saved
notebook keeps it."""

import inspect
import io
import re

import matplotlib
import pytest
import torch
from matplotlib.colors import LogNorm
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from tinybert_lab import beyond, headsim, label_sources, training, viz
from tinybert_lab.core.evaluation import ResultsTable
from tinybert_lab.core.mapping import LayerMap

matplotlib.use("Agg")

MIN_POINTS = 8


def _shared_label(ax, axis: str) -> str:
    """The axis label of ``ax`` or of an axes it shares that axis with (twin axes, shared panels)."""
    group = ax.get_shared_x_axes() if axis == "x" else ax.get_shared_y_axes()
    for other in [ax, *group.get_siblings(ax)]:
        label = other.get_xlabel() if axis == "x" else other.get_ylabel()
        if label:
            return label
    return ""


def check_readable(fig) -> None:
    """Assert what a learner needs to read ``fig`` at its saved size; raises AssertionError."""
    assert isinstance(fig, Figure), f"expected a Figure, got {type(fig).__name__}"
    fig.savefig(io.BytesIO(), format="png", dpi=120, bbox_inches="tight")  # as save_figure: ticks resolved
    for ax in fig.axes:
        if not ax.axison:  # a diagram (the layer map): no scale to read
            continue
        ticks = [t for t in ax.get_xticklabels(which="both") + ax.get_yticklabels(which="both")
                 if t.get_visible() and t.get_text()]
        small = [(t.get_text(), t.get_fontsize()) for t in ticks if t.get_fontsize() < MIN_POINTS]
        assert not small, f"tick labels under {MIN_POINTS} pt: {small[:3]}"
        if ax.get_label() == "<colorbar>":
            label = ax.get_ylabel() or ax.get_xlabel()
            assert label, "a colour bar without a label"
            assert "log" in label or "log" not in (ax.get_yscale(), ax.get_xscale()), "a log colour scale not said"
            continue
        if ax.images:  # one map of an image grid: its own labels or the figure's
            assert ax.get_xlabel() or fig.get_supxlabel(), "an image without an x label"
            assert ax.get_ylabel() or fig.get_supylabel(), "an image without a y label"
            assert any(other.get_label() == "<colorbar>" for other in fig.axes), "an image without a colour bar"
            continue
        assert _shared_label(ax, "x"), f"axes {ax.get_title()!r} has no x label"
        assert _shared_label(ax, "y"), f"axes {ax.get_title()!r} has no y label"
        for axis in ("x", "y"):
            scale = ax.get_xscale() if axis == "x" else ax.get_yscale()
            if scale == "log":
                assert "log" in _shared_label(ax, axis), f"a log {axis} axis whose label does not say so"
        for bars in (c for c in ax.containers if isinstance(c, BarContainer)):
            axis = "y" if bars.orientation == "vertical" else "x"
            if (ax.get_yscale() if axis == "y" else ax.get_xscale()) == "log":
                continue  # no 0 on a log axis; the label says log scale (checked above)
            low = (ax.get_ylim() if axis == "y" else ax.get_xlim())[0]
            assert low == 0, f"a bar axis starting at {low}, not 0"


def _log_axes(fig) -> set:
    """``{(axes index, "x"/"y")}`` of every log-scaled axis of ``fig``."""
    return {(i, a) for i, ax in enumerate(fig.axes) for a in "xy"
            if (ax.get_xscale() if a == "x" else ax.get_yscale()) == "log"}


# ---------------------------------------------------------------- small synthetic inputs
TOKENS = ["[CLS]", "a", "witty", "film", ".", "[SEP]"]


def _attention(layers=3, heads=12):
    return torch.softmax(torch.randn(layers, heads, len(TOKENS), len(TOKENS), generator=torch.Generator().manual_seed(0)), -1)


def _history():
    return training.History(step=[10, 20, 30], loss=[40.0, 4.0, 0.5], eval=[(30, 0.8)],
                            terms={"attention": [39.0, 3.8, 0.45], "hidden": [1.0, 0.2, 0.05]},
                            weights={"attention": 1.0, "hidden": 1.0})


def _results_table():
    return ResultsTable([
        {"model": "teacher", "method": "teacher", "accuracy": 0.87, "params_m": 22.7, "sentences_per_s": 260.0, "speedup": 1.0},
        {"model": "TinyBERT-4", "method": "tinybert", "accuracy": 0.83, "params_m": 14.4, "sentences_per_s": 900.0,
         "speedup": 3.5}])


def _label_source_cells():
    runs = [{"task": "sst2", "start": start, "source": source, "n_gold": n, "seed": seed, "steps": 60,
             "temperature": 1.0, "learning_rate": 1e-4, "accuracy": 0.6 + 0.1 * (source != "gold") + 0.01 * seed}
            for start in ("random", "teacher") for source in label_sources.SOURCES for n in (100, 1000) for seed in range(2)]
    return label_sources.summarise(runs)


def _seeded_rows():
    runs = [{"method": "reference", "row": row, "seed": s, "steps": 150, "accuracy": 0.8 + 0.01 * s}
            for row in ("TinyBERT-4, labels only", "TinyBERT-4, prediction KD") for s in range(3)]
    return beyond.seeded_rows(runs)


def _scaled_differences():
    from tinybert_lab.studies.ablation import ScaledDifference

    return [ScaledDifference("KD − labels", scale, mean, 0.01, 3, "within noise")
            for scale, mean in (("small", -0.008), ("large", 0.015))]


def _similarity():
    from tinybert_lab.studies.headsim import HeadSimilarity

    return HeadSimilarity(torch.rand(2 * 4, 3 * 4) * 0.6, 2, 3, 4, 4, sentences=10)


# name: (function, call, {(axes index, axis)} that must be log-scaled)
CASES = {
    "history, log": ("plot_history", lambda: viz.plot_history(_history(), terms=True, log=True), {(0, "y")}),
    "history, linear": ("plot_history", lambda: viz.plot_history(_history()), set()),
    "layer map": ("plot_layer_map", lambda: viz.plot_layer_map(LayerMap.uniform(4, 6)), set()),
    "temperature": ("plot_temperature", lambda: viz.plot_temperature([2.0, 0.5, -1.0], class_names=["a", "b", "c"]), set()),
    "attention grid": ("plot_attention_grid", lambda: viz.plot_attention_grid(_attention(), TOKENS, heads=range(6)), set()),
    "attention comparison": ("plot_attention_comparison",
                             lambda: viz.plot_attention_comparison(_attention()[0, 0], _attention()[1, 0], TOKENS), set()),
    "loss terms, log": ("plot_loss_terms", lambda: viz.plot_loss_terms(
        {"embedding": 0.4, "attention": 60.0, "hidden": 2.0, "prediction": 0.05}, {"attention": 0.1}), {(0, "y")}),
    "loss terms, linear": ("plot_loss_terms", lambda: viz.plot_loss_terms({"attention": 2.0, "hidden": 1.0}), set()),
    "accuracy vs step": ("plot_accuracy_vs_step", lambda: viz.plot_accuracy_vs_step(
        {"KD": [(0, 0.7), (100, 0.8)], "labels only": [(100, 0.75), (200, 0.78)]}, boundaries={"stage 2": 100}), set()),
    "results": ("plot_results", lambda: viz.plot_results(_results_table(), eval_size=872), {(0, "x")}),
    "method rows": ("plot_method_rows", lambda: viz.plot_method_rows(_results_table(), "tinybert"), set()),
    "label sources": ("plot_label_sources", lambda: viz.plot_label_sources(
        _label_source_cells(), teacher_accuracy=0.85, eval_size=872), {(0, "x"), (1, "x")}),
    "class similarity": ("plot_class_similarity", lambda: viz.plot_class_similarity(
        [[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.001, 0.2, 0.799]], ["a", "b", "c"]), {(1, "y")}),
    "seeded rows": ("plot_seeded_rows", lambda: viz.plot_seeded_rows(
        _seeded_rows(), teacher_accuracy=0.876, eval_size=872), set()),
    "scaled differences": ("plot_scaled_differences", lambda: viz.plot_scaled_differences(_scaled_differences()), set()),
    "head similarity": ("plot_head_similarity", lambda: viz.plot_head_similarity(_similarity(), LayerMap.uniform(2, 3)),
                        set()),
    "mapped divergence": ("plot_mapped_divergence", lambda: viz.plot_mapped_divergence(
        {"distilled": {1: (0.2, 0.01), 2: (0.3, 0.02)}, "labels only": {1: 0.4, 2: 0.5}}), set()),
    "divergence over training": ("plot_divergence_over_training", lambda: viz.plot_divergence_over_training(
        {"distilled": _track(0.3), "labels only": _track(0.5)}, boundaries={"intermediate → prediction": 20}), set()),
    "confusion matrix": ("plot_confusion_matrix", lambda: viz.plot_confusion_matrix(
        [[50, 3, 1], [4, 40, 6], [0, 9, 30]], ["ABBR", "DESC", "ENTY"]), set()),
    "compression": ("plot_compression", lambda: viz.plot_compression(_compression_rows()), {(0, "x")}),
    "pruning curve": ("plot_pruning_curve", lambda: viz.plot_pruning_curve(
        {"teacher": [(0, 0.87), (24, 0.85), (48, 0.6)], "student": [(0, 0.85), (16, 0.8), (32, 0.55)]}), set()),
    "head behaviour": ("plot_head_behaviour", lambda: viz.plot_head_behaviour(
        {"teacher": torch.rand(3, 4, 6), "student": torch.rand(2, 4, 6)}, headsim.BEHAVIOURS), set()),
    "next-token bars": ("plot_next_token_bars", lambda: viz.plot_next_token_bars(
        ["␣the", "␣my", "⏎"], [0.3, 0.2, 0.1], [0.25, 0.1, 0.2]), set()),
    "one-peak fits": ("plot_one_peak_fits", lambda: viz.plot_one_peak_fits(
        torch.tensor([0.45, 0.05, 0.05, 0.45]), {"forward KL": torch.full((4,), 0.25)}), set()),
    "language-model objectives": ("plot_lm_objectives", lambda: viz.plot_lm_objectives(
        _lm_summaries(), teacher_loss=3.0, live={"text only": 3.4}), set()),
}


def _lm_summaries():
    from tinybert_lab import lm_study

    runs = [{"regime": regime, "row": row, "seed": seed, "validation_loss": loss + 0.01 * seed + 0.002 * (row == "forward_kl") * seed,
             "agreement_top1": 0.6, "seconds": 30} for regime in ("full", "low")
            for row, loss in (("text", 3.5), ("forward_kl", 3.3)) for seed in range(3)]
    return lm_study.summarise(runs, teacher_loss=3.0)


def _compression_rows():
    return [{"model": "teacher fp32", "accuracy": 0.876, "sentences_per_s": 60.0, "size_mb": 91.0},
            {"model": "student fp32", "accuracy": 0.853, "sentences_per_s": 140.0, "size_mb": 58.0},
            {"model": "student int8", "accuracy": 0.851, "sentences_per_s": 260.0, "size_mb": 20.0},
            {"model": "student slow", "accuracy": 0.84, "sentences_per_s": 100.0, "size_mb": 58.0}]


def test_compression_plot_draws_the_pareto_front():
    from tinybert_lab import comparison

    front = comparison.pareto_front(_compression_rows())
    assert [r["model"] for r in front] == ["teacher fp32", "student fp32", "student int8"]  # "slow" is beaten
    line = viz.plot_compression(_compression_rows()).axes[0].lines[0]
    assert list(line.get_xdata()) == [60.0, 140.0, 260.0]
    with pytest.raises(viz.TinyBertLabError, match="needs size_mb"):
        viz.plot_compression([{"model": "a", "accuracy": 0.5, "sentences_per_s": 1.0}])


def _track(level: float, pairs=((1, 2), (2, 4))):
    from tinybert_lab.studies.headsim import AttentionTrack

    steps = [0, 10, 20, 30]
    return AttentionTrack(pairs=[list(p) for p in pairs], tokens=TOKENS, steps=steps,
                          divergence=[[level / (1 + k), level / (2 + k)] for k in range(len(steps))],
                          maps=[_attention(layers=2, heads=2).tolist()] * len(steps),
                          teacher_map=_attention(layers=4, heads=2).tolist())


def test_divergence_over_training_draws_one_panel_per_pair_and_refuses_mixed_maps():
    fig = viz.plot_divergence_over_training({"distilled": _track(0.3), "labels only": _track(0.5)})
    panels = [ax for ax in fig.axes if ax.lines]
    assert [ax.get_title() for ax in panels] == ["student layer 1 ← teacher layer 2", "student layer 2 ← teacher layer 4"]
    assert list(panels[1].lines[1].get_ydata()) == pytest.approx([0.25, 0.5 / 3, 0.125, 0.1])
    assert panels[0].get_ylim()[0] == 0
    with pytest.raises(viz.TinyBertLabError, match="different layer maps"):
        viz.plot_divergence_over_training({"a": _track(0.3), "b": _track(0.3, pairs=((1, 1), (2, 2)))})
    with pytest.raises(viz.TinyBertLabError, match="No recorded steps"):
        viz.plot_divergence_over_training({})


def test_every_public_plot_function_has_a_case():
    public = {name for name, f in inspect.getmembers(viz, inspect.isfunction)
              if name.startswith("plot_") and f.__module__ == viz.__name__}
    assert public == {function for function, _, _ in CASES.values()}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_figure_is_readable(case):
    _, draw, promised_log = CASES[case]
    fig = draw()
    check_readable(fig)
    assert _log_axes(fig) == promised_log


def test_attention_figures_name_tokens_scale_and_heads():
    grid = viz.plot_attention_grid(_attention(), TOKENS, heads=range(6), title="teacher")
    assert "heads 1–6 of 12" in grid.get_suptitle() and "all 3 layers" in grid.get_suptitle()
    assert (grid.get_supxlabel(), grid.get_supylabel()) == ("key token (attended to)", "query token (attending)")
    bars = [ax for ax in grid.axes if ax.get_label() == "<colorbar>"]
    assert [ax.get_ylabel() for ax in bars] == ["attention probability"]
    every = viz.plot_attention_grid(_attention(layers=1, heads=2), TOKENS, layers=[0])
    assert every.get_suptitle() == "layer 1 of 1 · all 2 heads"
    comparison = viz.plot_attention_comparison(_attention()[0, 0], _attention()[1, 0], TOKENS)
    images = [ax for ax in comparison.axes if ax.images]
    assert {(ax.get_xlabel(), ax.get_ylabel()) for ax in images} == {("key token (attended to)", "query token (attending)")}
    assert [ax.get_ylabel() for ax in comparison.axes if ax.get_label() == "<colorbar>"] == [
        "attention probability", "attention probability", "difference in attention probability"]


def test_loss_terms_draw_weighted_bars_only_when_a_weight_is_not_1():
    terms = {"attention": 2.0, "hidden": 1.0}
    single = viz.plot_loss_terms(terms, {"attention": 1.0, "hidden": 1.0}).axes[0]
    assert [b.get_height() for b in single.patches] == [2.0, 1.0]
    assert [t.get_text() for t in single.get_legend().get_texts()] == ["unweighted = weighted (every weight is 1)"]
    pair = viz.plot_loss_terms(terms, {"attention": 0.5, "hidden": 3.0}).axes[0]
    assert [b.get_height() for b in pair.patches] == [2.0, 1.0, 1.0, 3.0]
    assert [t.get_text() for t in pair.get_xticklabels()] == ["attention\n× 0.5", "hidden\n× 3"]
    assert viz.plot_loss_terms({"a": 1.0, "b": 50.0}).axes[0].get_yscale() == "linear"  # within a factor 100
    assert viz.plot_loss_terms({"a": 1.0, "b": 50.0}, log=True).axes[0].get_yscale() == "log"
    with pytest.raises(viz.TinyBertLabError, match="unknown terms"):
        viz.plot_loss_terms(terms, {"atention": 2.0})


def test_accuracy_vs_step_puts_stages_on_one_axis():
    fig = viz.plot_accuracy_vs_step({"intermediate": [(0, 0.8), (100, 0.82)], "prediction": [(100, 0.82), (600, 0.85)]},
                                    boundaries={"intermediate → prediction": 100}, dashed=["prediction"])
    ax = fig.axes[0]
    assert [line.get_linestyle() for line in ax.lines[:2]] == ["-", "--"]
    assert [list(line.get_xdata()) for line in ax.lines[:2]] == [[0, 100], [100, 600]]
    assert list(ax.lines[1].get_ydata()) == pytest.approx([82.0, 85.0])
    assert list(ax.lines[2].get_xdata()) == [100, 100]  # the stage boundary
    assert "intermediate → prediction" in [t.get_text() for t in ax.texts]
    with pytest.raises(viz.TinyBertLabError, match="No accuracies"):
        viz.plot_accuracy_vs_step({"empty": []})
    with pytest.raises(viz.TinyBertLabError, match="fractions"):
        viz.plot_accuracy_vs_step({"percent": [(0, 85.0)]})


def _bad_figures():
    """One figure per check, each breaking only that check."""
    def axes():
        fig = Figure()
        return fig, fig.add_subplot()

    fig, ax = axes()
    ax.plot([0, 1], [0, 1])
    ax.set_ylabel("y")
    yield "no x label", "has no x label", fig
    fig, ax = axes()
    ax.plot([0, 1], [0, 1])
    ax.set_xlabel("x")
    ax.tick_params(labelsize=6)
    ax.set_ylabel("y")
    yield "tick labels under 8 pt", "under 8 pt", fig
    fig, ax = axes()
    ax.bar([0, 1], [5, 6])
    ax.set(xlabel="x", ylabel="y", ylim=(4, 7))
    yield "bar axis starting at 4", "bar axis starting at 4", fig
    fig, ax = axes()
    ax.bar([0, 1], [5, 600])
    ax.set(xlabel="x", ylabel="loss", yscale="log")
    yield "log y axis whose label does not say so", "log y axis whose label", fig
    fig, ax = axes()
    fig.colorbar(ax.imshow([[0, 1], [1, 0]]), ax=ax)
    ax.set(xlabel="key", ylabel="query")
    yield "colour bar without a label", "colour bar without a label", fig
    fig, ax = axes()
    ax.imshow([[0, 1], [1, 0]])
    ax.set(xlabel="key", ylabel="query")
    yield "image without a colour bar", "image without a colour bar", fig
    fig, ax = axes()
    fig.colorbar(ax.imshow([[0.01, 1], [1, 0.01]], norm=LogNorm()), ax=ax).set_label("probability")
    ax.set(xlabel="key", ylabel="query")
    yield "log colour scale whose label does not say so", "log colour scale not said", fig
    yield "not a figure", "expected a Figure", "a message"


@pytest.mark.parametrize("broken", list(_bad_figures()), ids=lambda b: b[0])
def test_the_checks_can_fail(broken):
    _, message, fig = broken
    with pytest.raises(AssertionError, match=message):
        check_readable(fig)


def test_an_unkept_log_promise_is_caught():
    fig = viz.plot_loss_terms({"a": 1.0, "b": 500.0}, log=False)
    check_readable(fig)
    assert _log_axes(fig) != CASES["loss terms, log"][2]


# ---------------------------------------------------------------- progress, as a saved output keeps it
def test_a_loop_ends_with_one_line_saying_where_it_ended(capsys):
    history = training.History(step=[5], loss=[0.3125], seconds=84.6)
    bar, shown = training._progress_bar(5, 0, "fine-tuning teacher", True)
    bar.update(5)
    training._end_progress(bar, shown, history, 5, "fine-tuning teacher")
    assert shown is None  # not in a notebook: a text bar on stderr
    assert capsys.readouterr().out == "fine-tuning teacher: 5/5 steps, loss 0.312, 85 s\n"
    quiet, _ = training._progress_bar(5, 0, "quiet", False)
    training._end_progress(quiet, None, history, 5, "quiet")
    assert capsys.readouterr() == ("", "")


def test_a_log_file_gets_a_line_per_tenth_not_a_redrawn_bar(capsys):
    bar, shown = training._progress_bar(100, 0, "training the language-model teacher", True)  # stderr is captured
    for step in range(100):
        bar.update(1)
        bar.set_postfix(loss="3.1")
    training._end_progress(bar, shown, training.History(step=[100], loss=[3.0], seconds=9.0), 100,
                           "training the language-model teacher")
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 9 and "\r" not in captured.err  # 10 %, 20 %, ... 90 %; the end is the stdout line
    assert lines[0].startswith("training the language-model teacher: 10/100 steps (10%), loss 3.1, ")
    assert captured.out == "training the language-model teacher: 100/100 steps, loss 3, 9 s\n"


def test_a_saved_notebook_keeps_the_bar_at_its_end_not_at_0_percent():
    import nbformat

    from tinybert_lab.teaching.tutorial import execute_notebook

    code = ("from tinybert_lab import training\n"
            "bar, shown = training._progress_bar(4, 0, 'fine-tuning teacher', True)\n"
            "bar.update(4)\n"
            "training._end_progress(bar, shown, training.History(step=[4], loss=[0.5], seconds=2.0), 4, 'fine-tuning teacher')")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    execute_notebook(notebook, timeout=120)
    outputs = notebook.cells[0].outputs
    bars = [o["data"]["text/plain"] for o in outputs if o["output_type"] == "display_data"]
    assert len(bars) == 1 and re.search(r"100%.*4/4", bars[0]) and "0%|" not in bars[0].replace("100%|", "")
    assert [o["text"] for o in outputs if o["output_type"] == "stream"] == ["fine-tuning teacher: 4/4 steps, loss 0.5, 2 s\n"]
