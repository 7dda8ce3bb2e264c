import matplotlib
import pytest
from matplotlib.figure import Figure
from transformers import BertConfig

from tinybert_lab.core.errors import TinyBertLabError
from tinybert_lab.core.mapping import LayerMap, LayerMatch

matplotlib.use("Agg")


def teachers(lm):
    return [list(m.teacher) for m in lm.matches]


def test_uniform_is_m_times_n_over_m():
    assert teachers(LayerMap.uniform(4, 12)) == [[0], [3], [6], [9], [12]]
    assert teachers(LayerMap.uniform(4, 6)) == [[0], [1], [3], [4], [6]]  # floor(m·6/4)
    assert teachers(LayerMap.uniform(2, 6)) == [[0], [3], [6]]


def test_last_k():
    assert teachers(LayerMap.last(4, 6)) == [[0], [3], [4], [5], [6]]


def test_custom_and_many_to_one_round_trip_through_plain_data():
    lm = LayerMap.from_list([0, [3, 4, 5], 6], teacher_layers=6)
    assert lm.student_layers == 2
    dicts = lm.to_dicts()
    assert dicts == [{"student": 0, "teacher": [0], "weight": 1.0},
                     {"student": 1, "teacher": [3, 4, 5], "weight": 1.0},
                     {"student": 2, "teacher": [6], "weight": 1.0}]
    assert LayerMap.from_dicts(dicts, 2, 6) == lm
    assert [m.student for m in lm.attention_matches] == [1, 2]


def test_subset_of_layers_and_entry_order_do_not_matter():
    lm = LayerMap.from_dicts([{"student": 2, "teacher": 6}, {"student": 1, "teacher": [2]}], 2, 6)
    assert [m.student for m in lm.matches] == [1, 2]


def test_weights_and_depth_decay():
    lm = LayerMap.uniform(2, 6).with_depth_decay(0.5)
    assert [m.weight for m in lm.matches] == [1.0, 0.5, 0.25]
    assert [m.weight for m in LayerMap.uniform(2, 6).with_weights([0, 1, 2]).matches] == [0.0, 1.0, 2.0]
    with pytest.raises(TinyBertLabError, match="Got 2 weights for 3 layer map entries"):
        LayerMap.uniform(2, 6).with_weights([1, 2])


@pytest.mark.parametrize("entries,message", [
    ([{"student": 5, "teacher": [3]}], r"entry 0 .*student layer must be in 0..2 \(0 = embeddings\), got 5"),
    ([{"student": 1, "teacher": [7]}], r"entry 0 .*teacher layers .* must be in 1..6, got \[7\]"),
    ([{"student": 1, "teacher": [0]}], r"must be in 1..6, got \[0\]"),
    ([{"student": 0, "teacher": [2]}], r"student embeddings \(0\) can only learn from teacher embeddings"),
    ([{"student": 1, "teacher": [2]}, {"student": 1, "teacher": [3]}], "student layer 1 is mapped twice"),
    ([{"student": 1, "teacher": []}], "no teacher layer"),
    ([{"student": 1, "teacher": [2], "weight": -1}], "weight must be a finite number >= 0, got -1"),
    ([{"student": 1, "teacher": [2], "weight": float("inf")}], "weight must be a finite number >= 0, got inf"),
    ([{"student": 1, "teacher": [2], "weight": True}], "weight must be a finite number >= 0, got True"),
    ([{"student": 1, "teacher": [2], "weight": 0}], "Every layer weight is 0"),
    ([{"student": 1, "teacher": [2], "wieght": 2}], r"'wieght' \(did you mean 'weight'\?\)"),
    ([{"teacher": [2]}], "needs 'student' and 'teacher'"),
    ([], "empty"),
])
def test_invalid_maps_name_the_entry_and_the_valid_range(entries, message):
    with pytest.raises(TinyBertLabError, match=message):
        LayerMap.from_dicts(entries, 2, 6)


def test_wrong_length_and_impossible_strategies():
    with pytest.raises(TinyBertLabError, match="needs at least 2 items"):
        LayerMap.from_list([0], 6)
    with pytest.raises(TinyBertLabError, match="more layers .8. than the teacher .6."):
        LayerMap.uniform(8, 6)


def _config(layers, heads, hidden):
    return BertConfig(num_hidden_layers=layers, num_attention_heads=heads, hidden_size=hidden)


def test_check_models_layer_counts_and_heads():
    lm = LayerMap.uniform(2, 6)
    lm.check_models(_config(2, 12, 192), _config(6, 12, 384))
    with pytest.raises(TinyBertLabError, match="map is for a 2-layer student but the student has 4 layers"):
        lm.check_models(_config(4, 12, 312), _config(6, 12, 384))
    with pytest.raises(TinyBertLabError, match="student has 2 heads and the teacher 12.*head_average=True"):
        lm.check_models(_config(2, 2, 128), _config(6, 12, 384))
    lm.check_models(_config(2, 2, 128), _config(6, 12, 384), head_average=True)
    lm.check_models(_config(2, 2, 128), _config(6, 12, 384), attention=False)


def test_describe_and_draw():
    lm = LayerMap.from_list([0, [3, 4, 5], 6], teacher_layers=6)
    text = lm.describe()
    assert "student embeddings ← teacher embeddings" in text
    assert "mean of layers 3, 4, 5" in text and "prediction layer" in text
    fig = lm.draw()
    assert isinstance(fig, Figure)
    # 1 (embeddings) + 3 (averaged) + 1 (layer 2) + 1 (logits) arrows
    assert sum(1 for t in fig.axes[0].texts if getattr(t, "arrow_patch", None) is not None) == 6


def test_layer_match_is_plain_data():
    assert LayerMatch(1, (2, 3), 0.5).to_dict() == {"student": 1, "teacher": [2, 3], "weight": 0.5}


def test_default_map_follows_the_layers_a_student_was_initialised_from():
    from tinybert_lab.core.mapping import default_map, init_layers, record_init_layers

    student, teacher = BertConfig(num_hidden_layers=4), BertConfig(num_hidden_layers=6)
    assert teachers(default_map(student, teacher)) == [[0], [1], [3], [4], [6]]  # random start: uniform
    record_init_layers(student, [1, 2, 4, 6])
    assert init_layers(student) == [1, 2, 4, 6]
    assert teachers(default_map(student, teacher)) == [[0], [1], [2], [4], [6]]
    assert teachers(default_map(student, BertConfig(num_hidden_layers=5))) == [[0], [1], [2], [3], [5]]  # shallower teacher: uniform
    assert BertConfig.from_dict(student.to_dict()).teacher_layers_at_init == [1, 2, 4, 6]  # survives save/load


def test_projected_and_distilbert_students_carry_their_map_into_the_distiller(teacher, tokenizer, sst2):
    from tinybert_lab import teacher_init, data, tinybert, distilbert

    sample = data.subsample(sst2["train"], 32, seed=0)
    projected, _ = teacher_init.projected_student(teacher, tokenizer, sample, layers=[2, 3, 5, 6])
    assert teachers(tinybert.Distiller(projected, teacher).layer_map) == [[0], [2], [3], [5], [6]]
    explicit = LayerMap.uniform(4, 6)
    assert tinybert.Distiller(projected, teacher, layer_map=explicit).layer_map is explicit  # told otherwise
    copied = distilbert.student_from_teacher(teacher)  # zero-based layers 0, 2, 4 → 1-based 1, 3, 5
    assert teachers(tinybert.Distiller(copied, teacher).layer_map) == [[0], [1], [3], [5]]
