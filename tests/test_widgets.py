"""Widget callbacks, driven without a kernel: set a control's value, assert on ``ui.result``."""

import math

import matplotlib
import pytest
import torch
from matplotlib.figure import Figure

from tinybert_lab import losses, models, widgets
from tinybert_lab.core.errors import TinyBertLabError

matplotlib.use("Agg")


def control(ui, description):
    return next(c for c in ui.children if getattr(c, "description", None) == description)


def test_temperature_widget_redraws_and_reports_the_kd_loss():
    ui = widgets.temperature_widget([2.0, 0.0], student_logits=[0.0, 1.0], class_names=["pos", "neg"])
    control(ui, "temperature T").value = 4.0
    fig = ui.result
    assert isinstance(fig, Figure)
    softened = [bar.get_height() for bar in fig.axes[1].patches]
    assert softened == pytest.approx([math.exp(0.5) / (math.exp(0.5) + 1), 1 / (math.exp(0.5) + 1)])
    expected = losses.soft_kl(torch.tensor([[0.0, 1.0]]), torch.tensor([[2.0, 0.0]]), 4.0).item()
    assert f"{expected:.4f}" in fig.texts[0].get_text()


def test_custom_list_parsing():
    assert widgets.parse_teacher_list("0, 3, [4, 5], 6") == [0, 3, [4, 5], 6]
    with pytest.raises(TinyBertLabError, match="Could not read"):
        widgets.parse_teacher_list("0, 3, [4")


def test_layer_map_widget_draws_valid_maps_and_explains_invalid_ones():
    ui = widgets.layer_map_widget(4, 6)
    assert isinstance(ui.result, Figure)  # uniform by default
    control(ui, "strategy").value = "custom"
    control(ui, "custom (teacher layer per student layer)").value = "0, 1, [2, 3], 5, 6"
    assert isinstance(ui.result, Figure)
    arrows = sum(1 for t in ui.result.axes[0].texts if getattr(t, "arrow_patch", None) is not None)
    assert arrows == 1 + 1 + 2 + 1 + 1 + 1  # embeddings, 1, [2,3], 5, 6, logits
    control(ui, "custom (teacher layer per student layer)").value = "0, 1, 9, 5, 6"
    assert isinstance(ui.result, str) and "must be in 1..6, got [9]" in ui.result
    control(ui, "custom (teacher layer per student layer)").value = "0, 2, 4"
    assert "give 5 items" in ui.result


def test_loss_weights_widget_reweights_without_rerunning_models():
    ui = widgets.loss_weights_widget({"attention": 2.0, "hidden": 1.0})
    control(ui, "hidden").value = 3.0
    control(ui, "attention").value = 0.5
    heights = [bar.get_height() for bar in ui.result.axes[0].patches]
    assert heights == pytest.approx([2.0, 1.0, 1.0, 3.0])
    assert "weighted total = 4.000" in ui.result.axes[0].get_title()


def test_attention_widget_follows_the_layer_map(teacher, tokenizer):
    from tinybert_lab.core.mapping import LayerMap

    student = models.build_student("mini2", tokenizer=tokenizer)
    ui = widgets.attention_widget(teacher, student, tokenizer, LayerMap.uniform(2, 6))
    control(ui, "student layer").value = 2
    control(ui, "head").value = 3
    fig = ui.result
    assert "student layer 2 ← teacher layer 6, head 3" in fig.texts[0].get_text()
    teacher_img = fig.axes[0].images[0]
    assert teacher_img.get_array().shape == (10, 10)  # [CLS] + 8 word pieces + [SEP]
    control(ui, "sentence").value = "   "
    assert ui.result == "Type a sentence."


def test_method_widget_highlights_the_chosen_methods_rows():
    from tinybert_lab.core.evaluation import ResultsTable

    rows = [dict(model="teacher", accuracy=0.9, speedup=1.0, sentences_per_s=10, method="teacher"),
            dict(model="bilstm kd", accuracy=0.8, speedup=10.0, sentences_per_s=100, method="bilstm"),
            dict(model="rkd", accuracy=0.7, speedup=2.0, sentences_per_s=20, method="rkd")]
    ui = widgets.method_widget(ResultsTable(rows), {"bilstm": "a BiLSTM", "rkd": "relations", "mutual": "not run"})
    assert control(ui, "method").options == ("bilstm", "rkd")  # methods without rows are not offered
    control(ui, "method").value = "rkd"
    fig = ui.result
    colors = [tuple(bar.get_facecolor()) for bar in fig.axes[0].patches]  # bottom-up: rkd, bilstm, teacher
    assert colors[0] != colors[1] and colors[1] != colors[2]
    assert "rkd: relations" in fig.axes[0].get_title()
    assert [round(bar.get_width(), 6) for bar in fig.axes[0].patches] == [70.0, 80.0, 90.0]
    with pytest.raises(TinyBertLabError, match="No rows for method 'mutual'"):
        widgets.viz.plot_method_rows(ResultsTable(rows), "mutual")


def test_attention_track_widget_slides_over_recorded_steps():
    from tinybert_lab.studies.headsim import AttentionTrack

    tokens = ["[CLS]", "good", "[SEP]"]

    def maps(layers, value):  # (layers, 2 heads, 3, 3): every row puts `value` on [CLS]
        row = [value, (1 - value) / 2, (1 - value) / 2]
        return [[[row] * 3] * 2] * layers

    track = AttentionTrack(pairs=[[1, 2], [2, 4]], tokens=tokens, steps=[0, 50, 100],
                           divergence=[[0.3, 0.4], [0.2, 0.3], [0.1, 0.2]],
                           maps=[maps(2, 0.2), maps(2, 0.5), maps(2, 0.8)], teacher_map=maps(4, 0.9))
    ui = widgets.attention_track_widget({"distilled": track})
    assert "step 0: student layer 2 ← teacher layer 4, head 1" in ui.result.texts[0].get_text()
    control(ui, "recorded step (0 = before training)").value = 2
    fig = ui.result
    assert "step 100" in fig.texts[0].get_text() and "0.200" in fig.texts[0].get_text()
    assert fig.axes[1].images[0].get_array()[0, 0] == pytest.approx(0.8)  # the student at step 100
    assert fig.axes[0].images[0].get_array()[0, 0] == pytest.approx(0.9)  # its teacher layer
    with pytest.raises(widgets.TinyBertLabError, match="No recorded steps"):
        widgets.attention_track_widget({})
