"""MiniLMv2 relations and Patient KD as objectives: terms equal the named losses, layer choices,
teachers frozen, a few fit steps lower the loss, clear errors."""

import pytest
import torch

from tinybert_lab import data, losses, models, training
from tinybert_lab.core.errors import TinyBertLabError
from tinybert_lab.core.mapping import LayerMap
from tinybert_lab.methods.minilm import MiniLMObjective, default_relation_heads, qkv_modules, recording_qkv
from tinybert_lab.methods.patient import PatientObjective, pkd_pairs


def tiny(tokenizer, seed=0, width=32, layers=1, heads=2, **kw):
    return models.build_student("bert_tiny", tokenizer=tokenizer, seed=seed, hidden_size=width, num_attention_heads=heads,
                                intermediate_size=2 * width, num_hidden_layers=layers, **kw)


@pytest.fixture(scope="module")
def encoded(sst2, tokenizer):
    return data.encode(data.subsample(sst2["train"], 32, seed=3), tokenizer, max_length=64)


@pytest.fixture(scope="module")
def batch(encoded, tokenizer):
    return next(iter(data.make_loader(encoded, tokenizer, batch_size=8, shuffle=True, seed=0)))


def fit_briefly(objective, encoded, tokenizer):
    config = training.TrainConfig(steps=16, batch_size=16, learning_rate=3e-3, warmup_ratio=0.0, log_every=4)
    return training.fit(objective, encoded, tokenizer, config, progress=False)


# ---------------------------------------------------------------- MiniLMv2
def test_default_relation_heads_divides_both_widths():
    assert default_relation_heads(312, 384) == 24  # TinyBERT-4 and the MiniLM teacher
    assert default_relation_heads(768, 768) == 48 and default_relation_heads(32, 48) == 16


def test_minilm_terms_are_the_named_losses_across_widths_and_head_counts(tokenizer, batch):
    student, teacher = tiny(tokenizer, width=32, heads=2), tiny(tokenizer, seed=4, width=48, heads=3, layers=2)
    objective = MiniLMObjective(student, teacher, weights={"prediction": 1.0}).eval()
    assert (objective.student_layer, objective.teacher_layer, objective.relation_heads) == (1, 2, 16)
    terms = objective.loss_terms(batch)
    inputs = data.model_inputs(batch)
    with torch.no_grad(), recording_qkv(student, 1) as s_qkv, recording_qkv(teacher, 2) as t_qkv:
        s_out, t_out = student(**inputs), teacher(**inputs)
    assert [x.shape[-1] for x in s_qkv + t_qkv] == [32] * 3 + [48] * 3
    torch.testing.assert_close(terms["relations"], losses.minilm_relation_loss(s_qkv, t_qkv, batch["attention_mask"], 16))
    torch.testing.assert_close(terms["prediction"], losses.soft_kl(s_out.logits, t_out.logits, 1.0))
    torch.testing.assert_close(terms["hard_label"], losses.hard_ce(s_out.logits, batch["labels"]))
    assert terms["relations"] > 0
    # the hooks are gone after the block: another forward pass records nothing
    assert all(not m._forward_hooks for m in qkv_modules(student, 1) + qkv_modules(teacher, 2))


def test_minilm_relations_vanish_for_a_copy_and_train_only_the_student(tokenizer, batch):
    teacher = tiny(tokenizer, seed=4, layers=2)
    copy = tiny(tokenizer, seed=9, layers=2)
    copy.load_state_dict(teacher.state_dict())
    objective = MiniLMObjective(copy, teacher, weights={"hard_label": 0}).eval()
    assert objective.loss_terms(batch)["relations"].item() == pytest.approx(0.0, abs=1e-6)
    student = tiny(tokenizer)
    objective = MiniLMObjective(student, teacher, teacher_layer=1).train()
    assert not teacher.training and all(not p.requires_grad for p in teacher.parameters())
    objective.loss_terms(batch)["relations"].backward()
    assert student.bert.encoder.layer[0].attention.self.key.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())


def test_minilm_fit_lowers_the_relation_loss(tokenizer, encoded):
    history = fit_briefly(MiniLMObjective(tiny(tokenizer), tiny(tokenizer, seed=4, width=48, layers=2)), encoded, tokenizer)
    assert set(history.terms) == {"relations", "hard_label"}
    assert history.terms["relations"][-1] < history.terms["relations"][0]


def test_minilm_errors(tokenizer):
    student, teacher = tiny(tokenizer), tiny(tokenizer, seed=4, width=48, layers=2)
    with pytest.raises(TinyBertLabError, match=r"relation_heads=5 must divide both widths \(32, 48\); choose a divisor of 16"):
        MiniLMObjective(student, teacher, relation_heads=5)
    with pytest.raises(TinyBertLabError, match=r"Layer 3 is out of range: this model has layers 1..2"):
        MiniLMObjective(student, teacher, teacher_layer=3)
    with pytest.raises(TinyBertLabError, match="'relation' \\(did you mean 'relations'\\?\\)"):
        MiniLMObjective(student, teacher, weights={"relation": 1})
    with pytest.raises(TinyBertLabError, match="prediction term needs the same label set"):
        MiniLMObjective(student, tiny(tokenizer, num_labels=3), weights={"prediction": 1})


# ---------------------------------------------------------------- Patient KD
def test_pkd_pairs_skip_last_and_a_map():
    assert pkd_pairs(6, 12, "skip") == [(1, 2), (2, 4), (3, 6), (4, 8), (5, 10)]
    assert pkd_pairs(6, 12, "last") == [(1, 7), (2, 8), (3, 9), (4, 10), (5, 11)]
    assert pkd_pairs(4, 6, "skip") == [(1, 1), (2, 3), (3, 4)]  # uniform, rounded down
    assert pkd_pairs(3, 6, LayerMap.from_list([0, 2, 5, 6], 6)) == [(1, 2), (2, 5)]
    with pytest.raises(TinyBertLabError, match="Unknown PKD strategy 'middle'"):
        pkd_pairs(3, 6, "middle")
    with pytest.raises(TinyBertLabError, match="no intermediate layer"):
        pkd_pairs(1, 6, "skip")
    with pytest.raises(TinyBertLabError, match="map is for 3 → 6 layers, the models have 2 → 6"):
        pkd_pairs(2, 6, LayerMap.uniform(3, 6))


def test_pkd_terms_are_the_named_losses(tokenizer, batch):
    student, teacher = tiny(tokenizer, layers=3), tiny(tokenizer, seed=4, layers=6)
    objective = PatientObjective(student, teacher, strategy="last").eval()
    assert objective.pairs == [(1, 4), (2, 5)] and objective.weights == {"pkd": 100.0, "prediction": 0.5, "hard_label": 0.5}
    terms = objective.loss_terms(batch)
    inputs = data.model_inputs(batch)
    with torch.no_grad():
        s_out = student(**inputs, output_hidden_states=True)
        t_out = teacher(**inputs, output_hidden_states=True)
    expected = losses.pkd_loss([s_out.hidden_states[1][:, 0], s_out.hidden_states[2][:, 0]],
                               [t_out.hidden_states[4][:, 0], t_out.hidden_states[5][:, 0]])
    torch.testing.assert_close(terms["pkd"], expected)
    torch.testing.assert_close(terms["prediction"], losses.soft_kl(s_out.logits, t_out.logits, 5.0))
    torch.testing.assert_close(terms["hard_label"], losses.hard_ce(s_out.logits, batch["labels"]))


def test_pkd_fit_lowers_the_loss_and_refuses_mismatched_widths(tokenizer, encoded):
    student, teacher = tiny(tokenizer, layers=2), tiny(tokenizer, seed=4, layers=4)
    history = fit_briefly(PatientObjective(student, teacher), encoded, tokenizer)
    assert history.terms["pkd"][-1] < history.terms["pkd"][0]
    with pytest.raises(TinyBertLabError, match="equal width: the student is 32 wide, the teacher 48"):
        PatientObjective(tiny(tokenizer, layers=2), tiny(tokenizer, seed=4, width=48, layers=4))
    with pytest.raises(TinyBertLabError, match="temperature must be positive"):
        PatientObjective(student, teacher, temperature=0)


# ---------------------------------------------------------------- teacher assistant
def test_teacher_assistant_chain_trains_assistant_then_student(tokenizer, sst2):
    from tinybert_lab.methods.assistant import teacher_assistant_chain
    from tinybert_lab.methods.tinybert import INTERMEDIATE, PREDICTION, DistillConfig

    rows = data.subsample(sst2["train"], 32, seed=3)
    teacher, assistant, student = tiny(tokenizer, seed=1, width=48, layers=2), tiny(tokenizer, seed=2), tiny(tokenizer, seed=3, width=16)
    before = [p.detach().clone() for p in student.parameters()]
    stage = DistillConfig(steps=4, batch_size=8, learning_rate=3e-3, weights=PREDICTION, log_every=1)
    histories = teacher_assistant_chain(teacher, assistant, student, rows, tokenizer, stage=stage, progress=False)
    assert list(histories) == ["assistant", "student"] and len(histories["student"].loss) == 4
    faster = DistillConfig(steps=2, batch_size=8, learning_rate=1e-2, weights=PREDICTION, log_every=1)
    hops = teacher_assistant_chain(teacher, tiny(tokenizer, seed=2), tiny(tokenizer, seed=3, width=16), rows, tokenizer,
                                   stage=stage, student_stage=faster, progress=False)
    assert [len(h.loss) for h in hops.values()] == [4, 2] and hops["student"].lr[0] > hops["assistant"].lr[0]
    assert any(not torch.equal(a, b) for a, b in zip(before, student.parameters()))
    with pytest.raises(TinyBertLabError, match="sits between teacher and student in size"):
        teacher_assistant_chain(teacher, student, assistant, rows, tokenizer, stage=stage)
    with pytest.raises(TinyBertLabError, match="prediction-layer terms only"):
        teacher_assistant_chain(teacher, assistant, student, rows, tokenizer, stage=DistillConfig(weights=INTERMEDIATE))
