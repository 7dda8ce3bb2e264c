import math

import matplotlib
import pytest
import torch
from matplotlib.figure import Figure

from tinybert_lab import data, training, viz
from tinybert_lab.core.attention import forward_features
from tinybert_lab.core.errors import TinyBertLabError

matplotlib.use("Agg")


def test_history_plot_has_loss_and_accuracy_lines():
    history = training.History(step=[10, 20], loss=[0.7, 0.5], eval=[(20, 0.8)])
    fig = viz.plot_history(history)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert list(fig.axes[0].lines[0].get_ydata()) == [0.7, 0.5]
    assert list(fig.axes[1].lines[0].get_ydata()) == [80.0]


def test_temperature_bars_are_the_softened_distribution():
    fig = viz.plot_temperature([2.0, 0.0], temperatures=(1, 2), class_names=["pos", "neg"])
    heights = [[bar.get_height() for bar in ax.patches] for ax in fig.axes]
    e = math.exp
    assert heights[0] == pytest.approx([e(2) / (e(2) + 1), 1 / (e(2) + 1)])
    assert heights[1] == pytest.approx([e(1) / (e(1) + 1), 1 / (e(1) + 1)])
    with pytest.raises(TinyBertLabError, match="3 class names for 2 logits"):
        viz.plot_temperature([1.0, 0.0], class_names=["a", "b", "c"])


@pytest.fixture(scope="module")
def sentence_features(teacher, tokenizer):
    encoded = tokenizer(["a gorgeous , witty film ."], return_tensors="pt")
    with torch.no_grad():
        features = forward_features(teacher, dict(encoded))
    return features, tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])


def test_attention_grid_takes_hf_attentions_and_tokens(sentence_features):
    features, tokens = sentence_features
    fig = viz.plot_attention_grid(features.attention_probs, tokens, layers=[0, 5], heads=[0, 1, 2])
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 6
    torch.testing.assert_close(torch.as_tensor(images[-1].get_array()), features.attention_probs[5][0, 2])
    assert len({im.get_clim() for im in images}) == 1  # one colour scale
    with pytest.raises(TinyBertLabError, match="3 tokens for attention maps of length 8"):
        viz.plot_attention_grid(features.attention_probs, tokens[:3])
    with pytest.raises(TinyBertLabError, match="expected HF outputs.attentions"):
        viz.plot_attention_grid(torch.zeros(2, 3), tokens)


def test_attention_comparison_shares_the_scale_and_shows_the_difference(sentence_features):
    features, tokens = sentence_features
    t, s = features.attention_probs[0][0, 0], features.attention_probs[1][0, 0]
    fig = viz.plot_attention_comparison(t, s, tokens)
    teacher_img, student_img, diff_img = (ax.images[0] for ax in fig.axes if ax.images)
    assert teacher_img.get_clim() == student_img.get_clim()
    torch.testing.assert_close(torch.as_tensor(diff_img.get_array()), s - t)
    with pytest.raises(TinyBertLabError, match="same .L, L. shape"):
        viz.plot_attention_comparison(t, s[:3, :3], tokens)


def test_loss_terms_bars():
    fig = viz.plot_loss_terms({"attention": 2.0, "hidden": 1.0}, {"attention": 0.5, "hidden": 3.0})
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    assert heights == [2.0, 1.0, 1.0, 3.0]


def test_results_plot_places_each_model():
    from tinybert_lab.core.evaluation import ResultsTable

    table = ResultsTable([{"model": "t", "accuracy": 0.87, "params_m": 22.7, "sentences_per_s": 260.0, "speedup": 1.0},
                          {"model": "s", "accuracy": 0.80, "params_m": 14.4, "sentences_per_s": 520.0, "speedup": 2.0}])
    fig = viz.plot_results(table)
    points = [tuple(c.get_offsets()[0]) for c in fig.axes[0].collections]
    assert points == [(260.0, 87.0), (520.0, 80.0)]
    with_noise = viz.plot_results(table, eval_size=872).axes[0]
    from matplotlib.collections import LineCollection

    segments = [seg for c in with_noise.collections if isinstance(c, LineCollection) for seg in c.get_segments()]
    halfwidth = 1.96 * math.sqrt(0.87 * 0.13 / 872) * 100
    assert segments[0].flatten().tolist() == pytest.approx([260.0, 87.0 - halfwidth, 260.0, 87.0 + halfwidth])
    assert "binomial 95 %" in with_noise.get_ylabel()
    with pytest.raises(TinyBertLabError, match="No accuracies"):
        viz.plot_results(ResultsTable([{"model": "x", "params_m": 1.0, "sentences_per_s": 1.0, "speedup": 1.0}]))


def test_label_source_curves_show_means_bands_teacher_noise_and_live_runs():
    from tinybert_lab import label_sources as ls

    runs = [{"task": "sst2", "start": start, "source": source, "n_gold": n, "seed": seed, "steps": 600,
             "temperature": 1.0, "learning_rate": 1e-4, "accuracy": 0.6 + 0.1 * (source != "gold") + 0.01 * seed}
            for start in ("random", "teacher") for source in ls.SOURCES for n in (100, 1000) for seed in range(3)]
    fig = viz.plot_label_sources(ls.summarise(runs), teacher_accuracy=0.85, eval_size=872,
                                 live={("teacher", "soft", 100): 0.9})
    left, right = fig.axes
    assert [ax.get_title() for ax in (left, right)] == ["from random weights", "from teacher-projected start"]
    assert left.get_xscale() == "log" and left.get_ylabel() == "accuracy (%)" and "gold labels" in left.get_xlabel()
    soft = [line for line in left.lines if list(line.get_xdata()) == [100, 1000] and line.get_color() == "tab:orange"]
    assert list(soft[0].get_ydata()) == pytest.approx([71.0, 71.0])  # mean of 70, 71, 72
    assert any(list(line.get_ydata()) == [85.0, 85.0] for line in left.lines)  # the teacher
    assert any(list(line.get_ydata()) == [90.0] for line in right.lines)  # the live run, right panel only
    assert not any(list(line.get_ydata()) == [90.0] for line in left.lines)
    assert "dev noise\n±2.4" in [t.get_text() for t in left.texts]
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "teacher's soft targets (KD) + gold (3 seeds)" in legend and "your live run (1 seed)" in legend
    assert min(label.get_fontsize() for label in left.get_xticklabels() + left.get_yticklabels()) >= 8
    with pytest.raises(TinyBertLabError, match="No runs to plot"):
        viz.plot_label_sources([], teacher_accuracy=0.85, eval_size=872)


def test_class_similarity_from_soft_targets_by_hand():
    from tinybert_lab import evaluation

    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    labels = torch.tensor([0, 0, 1])
    matrix = evaluation.mean_soft_targets(logits, labels, 3, temperature=2.0)
    e = math.exp(1.0)
    assert matrix[0].tolist() == pytest.approx([(e / (e + 2) + 1 / 3) / 2, (1 / (e + 2) + 1 / 3) / 2, (1 / (e + 2) + 1 / 3) / 2])
    assert matrix[1].tolist() == pytest.approx([1 / (e**0.5 + 2), e**0.5 / (e**0.5 + 2), 1 / (e**0.5 + 2)])
    assert torch.isnan(matrix[2]).all()  # no example of class 2
    fig = viz.plot_class_similarity(matrix, ["a", "b", "c"], temperature=2.0)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert ax.get_xlabel() and ax.get_ylabel() == "gold class" and "T = 2" in fig.axes[1].get_ylabel()
    assert min(t.get_fontsize() for t in ax.texts + ax.get_xticklabels()) >= 8
    with pytest.raises(TinyBertLabError, match=r"logits \(N, 3\)"):
        evaluation.mean_soft_targets(logits[:, :2], labels, 3)
    with pytest.raises(TinyBertLabError, match="for 2 class names"):
        viz.plot_class_similarity(matrix, ["a", "b"])
