"""Head similarity and head behaviour: hand values on toy attention with padding, a model against itself."""

import math

import pytest
import torch

from tinybert_lab import comparison, data, headsim, models
from tinybert_lab.core.errors import TinyBertLabError
from tinybert_lab.core.mapping import LayerMap


def kl(p, q):
    return sum(a * math.log(a / b) for a, b in zip(p, q) if a > 0)


def js(p, q):
    m = [(a + b) / 2 for a, b in zip(p, q)]
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def test_js_divergence_by_hand_with_padding():
    # one sentence, 3 positions, the last one padding; p: 1 head, q: 2 heads
    p = torch.tensor([[[[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [9.0, 9.0, 9.0]]]])
    q = torch.tensor([[[[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [7.0, 7.0, 7.0]],
                       [[1.0, 0.0, 0.0], [0.2, 0.8, 0.0], [5.0, 5.0, 5.0]]]])
    mask = torch.tensor([[1, 1, 0]])
    value = headsim.js_divergence(p, q, mask)
    assert value.shape == (1, 2)
    expected_0 = (js([1, 0], [0.5, 0.5]) + 0.0) / 2  # row 1, row 2; the padded row is left out
    expected_1 = (0.0 + js([0.5, 0.5], [0.2, 0.8])) / 2
    assert abs(expected_0 - expected_1) > 0.01
    assert value[0, 0].item() == pytest.approx(expected_0, rel=1e-6)
    assert value[0, 1].item() == pytest.approx(expected_1, rel=1e-6)
    assert torch.allclose(headsim.js_divergence(q, p, mask).T, value)  # symmetric
    disjoint = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]]), torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])
    assert headsim.js_divergence(*disjoint, torch.ones(1, 2)).item() == pytest.approx(comparison.MAX_JS)


def test_js_divergence_errors():
    p = torch.rand(2, 3, 4, 4)
    with pytest.raises(TinyBertLabError, match="does not match attention"):
        headsim.js_divergence(p, p, torch.ones(2, 5))
    with pytest.raises(TinyBertLabError, match="all zeros"):
        headsim.js_divergence(p, p, torch.zeros(2, 4))
    with pytest.raises(TinyBertLabError, match=r"\(batch, heads, length, length\)"):
        headsim.js_divergence(p[0], p[0], torch.ones(3, 4))


def test_behaviour_of_by_hand():
    # tokens: [CLS]=101 "hi"=7 "."=1012 [SEP]=102 PAD=0; one head
    ids = torch.tensor([[101, 7, 1012, 102, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 0]])
    rows = [[0.25, 0.25, 0.25, 0.25, 0.0],  # uniform over the 4 real tokens
            [1.0, 0.0, 0.0, 0.0, 0.0],  # all on [CLS] = the previous token
            [0.0, 0.0, 0.0, 1.0, 0.0],  # all on [SEP] = the next token
            [0.0, 0.0, 0.5, 0.5, 0.0],
            [3.0, 3.0, 3.0, 3.0, 3.0]]  # padded row: ignored
    sums, real = headsim.behaviour_of(torch.tensor([[rows]]), ids, mask, cls_id=101, sep_id=102,
                                      punctuation_ids=torch.tensor([1012]))
    assert real == 4
    means = (sums / real)[0].tolist()
    entropy, cls, sep, punct, previous, following = means
    assert entropy == pytest.approx((math.log(4) + 0 + 0 + math.log(2)) / 4)
    assert cls == pytest.approx((0.25 + 1) / 4) and sep == pytest.approx((0.25 + 1 + 0.5) / 4)
    assert punct == pytest.approx((0.25 + 0.5) / 4)
    assert previous == pytest.approx((0 + 1 + 0 + 0.5) / 4)  # row 1 → key 0, row 3 → key 2
    assert following == pytest.approx((0.25 + 0 + 1 + 0) / 4)  # row 0 → key 1, row 2 → key 3


@pytest.fixture(scope="module")
def sentences(sst2):
    return sst2["validation"].select(range(12))


def tiny(tokenizer, seed, layers):
    return models.build_student("bert_tiny", tokenizer=tokenizer, seed=seed, hidden_size=32, num_attention_heads=2,
                                intermediate_size=64, num_hidden_layers=layers)


def test_a_model_against_itself_and_a_copy_of_its_layers(tokenizer, sentences):
    teacher = tiny(tokenizer, 1, layers=3)
    sim = headsim.head_similarity(teacher, teacher, sentences, tokenizer, n=10, batch_size=4)
    assert sim.matrix.shape == (6, 6) and sim.sentences == 10
    assert torch.allclose(sim.matrix.diagonal(), torch.zeros(6), atol=1e-6)
    assert sim.closest_teacher_layer() == {1: 1, 2: 2, 3: 3}
    assert sim.suggested_map() == LayerMap.uniform(3, 3)
    by_hand = headsim.HeadSimilarity(torch.tensor([[0.5, 0.1, 0.4], [0.3, 0.6, 0.05]]), 2, 3, 1, 1, sentences=1)
    assert by_hand.closest_teacher_layer() == {1: 2, 2: 3}
    assert by_hand.suggested_map() == LayerMap.from_list([0, 2, 3], 3)
    assert sim.mapped_divergence(LayerMap.uniform(3, 3)) == pytest.approx({1: 0.0, 2: 0.0, 3: 0.0}, abs=1e-6)
    assert ((sim.matrix >= -1e-7) & (sim.matrix <= comparison.MAX_JS + 1e-6)).all()
    other = tiny(tokenizer, 2, layers=2)
    mapped = headsim.head_similarity(teacher, other, sentences, tokenizer, n=10).mapped_divergence(LayerMap.uniform(2, 3))
    assert set(mapped) == {1, 2} and all(v > 0 for v in mapped.values())
    with pytest.raises(TinyBertLabError, match="Layers are 1..3"):
        sim.block(4, 1)


def test_head_behaviour_shapes_and_ranges(tokenizer, sentences):
    model = tiny(tokenizer, 1, layers=2)
    model.train()
    stats = headsim.head_behaviour(model, sentences, tokenizer, n=8)
    assert model.training  # the mode is restored
    assert stats.shape == (2, 2, len(headsim.BEHAVIOURS))
    assert (stats[..., 1:] >= 0).all() and (stats[..., 1:] <= 1).all()
    assert (stats[..., 0] > 0).all()  # a random model spreads its attention
    with pytest.raises(TinyBertLabError, match="at least 1 sentence"):
        headsim.head_behaviour(model, sentences, tokenizer, n=0)


def test_recording_attention_leaves_training_unchanged_and_survives_resume(tokenizer, sst2, sentences, tmp_path):
    from tinybert_lab import training
    from tinybert_lab.methods.tinybert import INTERMEDIATE, DistillConfig, Distiller, Stage, run_stages

    rows = data.subsample(sst2["train"], 48, seed=5)
    teacher = tiny(tokenizer, 1, layers=2)

    def run(record, **options):
        student = tiny(tokenizer, 3, layers=2)
        callbacks = [headsim.AttentionRecorder(student, teacher, sentences, tokenizer, every=2, probe_size=4)] if record else []
        config = DistillConfig(steps=6, batch_size=8, learning_rate=3e-3, weights=INTERMEDIATE, log_every=1, **options)
        histories = run_stages(Distiller(student, teacher), [Stage("intermediate", config)], rows, tokenizer,
                               callbacks=callbacks, progress=False, **({"checkpoint_dir": tmp_path} if record else {}))
        return student, histories["intermediate"]

    plain, _ = run(False)
    recorded, history = run(True, checkpoint_every=3)
    assert all(torch.equal(a, b) for a, b in zip(plain.parameters(), recorded.parameters()))  # same weights
    steps = [step for step, _ in history.records["attention_js"]]
    assert steps == [0, 2, 4, 6] and all(len(values) == 2 for _, values in history.records["attention_js"])
    untrained = headsim.AttentionRecorder(tiny(tokenizer, 3, layers=2), teacher, sentences, tokenizer, probe_size=4)
    assert history.records["attention_js"][0][1] == untrained.start[0]  # step 0: the student before training
    assert history.records["attention_js"][-1][1] != untrained.start[0]
    first_map = torch.tensor(history.records["attention_map"][0][1])
    assert first_map.shape[:2] == (2, 2) and torch.allclose(first_map.sum(-1), torch.ones(first_map.shape[:3]))
    saved = torch.load(tmp_path / "intermediate" / training.CHECKPOINT_FILE, weights_only=True)
    assert [s for s, _ in saved["history"]["records"]["attention_js"]] == [0, 2, 4, 6]  # kept with the checkpoint
    with pytest.raises(TinyBertLabError, match="every must be a positive"):
        headsim.AttentionRecorder(plain, teacher, sentences, tokenizer, every=0)


def test_mapped_divergences_agree_with_the_full_matrix(tokenizer, sentences):
    teacher, a, b = tiny(tokenizer, 1, layers=3), tiny(tokenizer, 2, layers=2), tiny(tokenizer, 3, layers=2)
    layer_map = LayerMap.uniform(2, 3)
    both = headsim.mapped_divergences(teacher, {"a": a, "b": b}, sentences, tokenizer, layer_map, n=10, batch_size=4)
    for name, model in (("a", a), ("b", b)):
        full = headsim.head_similarity(teacher, model, sentences, tokenizer, n=10, batch_size=4).mapped_divergence(layer_map)
        assert both[name] == pytest.approx(full, rel=1e-5)
    assert both["a"] != pytest.approx(both["b"])
    with pytest.raises(TinyBertLabError, match="at least one student"):
        headsim.mapped_divergences(teacher, {}, sentences, tokenizer, layer_map)


def test_attention_track_joins_stages_and_round_trips(tokenizer, sst2, sentences, tmp_path):
    from tinybert_lab.methods.tinybert import INTERMEDIATE, PREDICTION, DistillConfig, Distiller, Stage, run_stages

    rows = data.subsample(sst2["train"], 32, seed=5)
    teacher, student = tiny(tokenizer, 1, layers=2), tiny(tokenizer, 3, layers=2)
    recorder = headsim.AttentionRecorder(student, teacher, sentences, tokenizer, every=2, probe_size=4)
    stages = [Stage("intermediate", DistillConfig(steps=4, batch_size=8, weights=INTERMEDIATE, log_every=1)),
              Stage("prediction", DistillConfig(steps=4, batch_size=8, weights=PREDICTION, log_every=1))]
    histories = run_stages(Distiller(student, teacher), stages, rows, tokenizer, callbacks=[recorder], progress=False)
    assert [s for s, _ in histories["prediction"].records["attention_js"]] == [2, 4]  # step 0 only once, in the first stage
    track = recorder.track(histories)
    assert track.steps == [0, 2, 4, 6, 8] and track.pairs == [[1, 1], [2, 2]]
    assert track.boundaries == {"intermediate → prediction": 4}
    assert track.mean_divergence()[0] == pytest.approx(sum(recorder.start[0]) / 2)
    assert recorder.track(histories["intermediate"]).steps == [0, 2, 4]
    assert len(track.maps) == 5 and len(track.tokens) == len(track.maps[0][0][0]) == len(track.teacher_map[0][0])
    assert headsim.AttentionTrack.load(track.save(tmp_path / "track.json")) == track
    with pytest.raises(TinyBertLabError, match="Run notebook 06 first"):
        headsim.AttentionTrack.load(tmp_path / "missing.json")
    empty = headsim.AttentionTrack([[1, 1]], ["a"], [], [], [], [[[[1.0]]]]).save(tmp_path / "empty.json")
    with pytest.raises(TinyBertLabError, match="no recorded steps"):
        headsim.AttentionTrack.load(empty)


def test_divergence_over_seeds_and_paired_comparison():
    def run(student, seed, values, layer_map="default"):
        return {"student": student, "seed": seed, "layer_map": layer_map,
                "divergence": {str(m): v for m, v in enumerate(values, start=1)}}

    runs = [run("untrained", s, [0.2, 0.4]) for s in range(3)]
    runs += [run("kd-teacher", s, [0.1 + 0.01 * s, 0.2]) for s in range(3)]
    runs += [run("kd-teacher", 0, [0.9, 0.9], layer_map="uniform")]  # another map: left out
    summary = headsim.divergence_over_seeds(runs)
    assert list(summary) == ["untrained start", "two-step KD (06's map)"]
    assert summary["two-step KD (06's map)"][1] == pytest.approx((0.11, 0.01))
    assert summary["untrained start"][2] == pytest.approx((0.4, 0.0))
    mean, std, seeds, words = headsim.compare_divergence(runs, "kd-teacher", "untrained")
    assert mean == pytest.approx(-0.145) and std == pytest.approx(0.005) and seeds == 3
    assert words == "closer to the teacher"
    assert headsim.compare_divergence(runs, "untrained", "kd-teacher")[3] == "farther from the teacher"
    assert headsim.compare_divergence(runs[:3] + runs[3:4], "kd-teacher", "untrained")[3] == "too few seeds to tell"
    assert headsim.compare_divergence(runs, "labels-teacher", "untrained") is None


def test_map_comparison_pairs_the_uniform_map_with_notebook_06s_map_by_seed():
    from tinybert_lab import headsim

    runs = [{"student": "kd-teacher", "seed": s, "layer_map": "default", "dev_accuracy": a}
            for s, a in enumerate((0.85, 0.86, 0.84))]
    assert headsim.map_comparison(runs) is None  # no uniform-map run yet
    runs += [{"student": "kd-teacher", "seed": s, "layer_map": "uniform", "dev_accuracy": a}
             for s, a in enumerate((0.84, 0.85, 0.83))]
    default, uniform, mean, std, count, words = headsim.map_comparison(runs)
    assert (round(default, 6), round(uniform, 6), round(mean, 6), count, words) == (0.85, 0.84, -0.01, 3, "clear loss")
    only_seed_0 = [{"student": "kd-teacher", "seed": s, "layer_map": "default", "dev_accuracy": a}
                   for s, a in enumerate((0.90, 0.80, 0.70))]
    only_seed_0.append({"student": "kd-teacher", "seed": 0, "layer_map": "uniform", "dev_accuracy": 0.88})
    default, uniform, mean, _, count, _ = headsim.map_comparison(only_seed_0)
    assert (round(default, 6), round(uniform, 6), round(mean, 6), count) == (0.9, 0.88, -0.02, 1)  # seed 0 against seed 0
