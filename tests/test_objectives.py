"""Objectives beyond TinyBERT: mutual learning, several teachers, relational KD.

Tiny random BERTs (1-2 layers, width 32-48) keep every test fast; each term is checked against
the loss function it names, computed from separately run forward passes (models in eval mode,
so dropout does not differ), and a few ``fit`` steps must lower the loss.
"""

import math

import pytest
import torch

from tinybert_lab import data, evaluation, losses, models, training
from tinybert_lab.core.logit_cache import TeacherLogitCache
from tinybert_lab.core.errors import TinyBertLabError
from tinybert_lab.methods.objectives import (
    MultiTeacherObjective,
    MutualLearning,
    MutualWeights,
    RelationalObjective,
    RelationalWeights,
    sentence_representation,
)

TERMS = ("hard_label_a", "mutual_a", "hard_label_b", "mutual_b")  # MutualLearning's, as the paper names them


def tiny(tokenizer, seed=0, width=32, layers=1, **kw):
    return models.build_student("bert_tiny", tokenizer=tokenizer, seed=seed, hidden_size=width, num_attention_heads=2,
                                intermediate_size=2 * width, num_hidden_layers=layers, **kw)


@pytest.fixture(scope="module")
def train_rows(sst2):
    return data.subsample(sst2["train"], 32, seed=3)


@pytest.fixture(scope="module")
def encoded(train_rows, tokenizer):
    return data.encode(train_rows, tokenizer, max_length=64)


@pytest.fixture(scope="module")
def batch(encoded, tokenizer):
    return next(iter(data.make_loader(encoded, tokenizer, batch_size=8, shuffle=True, seed=0)))


def inputs(batch):
    return data.model_inputs(batch)


def fit_briefly(objective, encoded, tokenizer, **kw):
    config = training.TrainConfig(steps=16, batch_size=16, learning_rate=3e-3, warmup_ratio=0.0, log_every=4,
                                  max_length=64, **kw)
    return training.fit(objective, encoded, tokenizer, config, progress=False)


def params(model):
    return [p.detach().clone() for p in model.parameters()]


def changed(before, model):
    return any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


# ---------------------------------------------------------------- weights
def test_weights_merge_a_dict_into_the_defaults_and_refuse_bad_values():
    assert RelationalWeights.coerce(None).active() == {"rkd_distance": 25.0, "rkd_angle": 50.0, "hard_label": 1.0}
    assert RelationalWeights.coerce({"rkd_angle": 0, "hard_label": 2}).active() == {"rkd_distance": 25.0, "hard_label": 2.0}
    assert MutualWeights.coerce(MutualWeights(mutual_b=0)).active() == {"hard_label_a": 1.0, "mutual_a": 1.0,
                                                                        "hard_label_b": 1.0}
    with pytest.raises(TinyBertLabError, match=r"Unknown RelationalObjective weight key\(s\): 'rkd_angel' "
                                               r"\(did you mean 'rkd_angle'\?\)"):
        RelationalWeights.coerce({"rkd_angel": 1})
    for bad in (-1, float("nan"), float("inf"), True, "1"):
        with pytest.raises(TinyBertLabError, match="'hard_label' must be a finite number >= 0"):
            RelationalWeights.coerce({"hard_label": bad})
    with pytest.raises(TinyBertLabError, match="All RelationalObjective weights are 0: nothing to learn from"):
        RelationalWeights.coerce({"rkd_distance": 0, "rkd_angle": 0, "hard_label": 0})
    with pytest.raises(TinyBertLabError, match=r"weights must be a RelationalWeights or a dict of its terms \(rkd_distance"):
        RelationalWeights.coerce(MutualWeights())


# ---------------------------------------------------------------- mutual learning
def test_mutual_learning_terms_are_the_named_losses(tokenizer, batch):
    a, b = tiny(tokenizer, seed=1), tiny(tokenizer, seed=2, width=48)
    with torch.no_grad():  # random heads predict ~uniform; shift them apart so the KL is not ~1e-6
        a.classifier.bias.copy_(torch.tensor([1.0, -1.0]))
        b.classifier.bias.copy_(torch.tensor([-0.5, 0.5]))
    objective = MutualLearning(a, b, temperature=2.0).eval()
    assert objective.student is a and objective.weights == dict.fromkeys(TERMS, 1.0)
    terms = objective.loss_terms(batch)
    assert sorted(terms) == sorted(TERMS)
    with torch.no_grad():
        za, zb = a(**inputs(batch)).logits, b(**inputs(batch)).logits
    y = batch["labels"]
    torch.testing.assert_close(terms["hard_label_a"], losses.hard_ce(za, y))
    torch.testing.assert_close(terms["hard_label_b"], losses.hard_ce(zb, y))
    torch.testing.assert_close(terms["mutual_a"], losses.mutual_kl(za, zb, 2.0))  # KL(p_b ‖ p_a)
    torch.testing.assert_close(terms["mutual_b"], losses.mutual_kl(zb, za, 2.0))  # KL(p_a ‖ p_b)
    # by hand for one pair of rows: T²·KL(p_b ‖ p_a)
    pa = torch.softmax(za / 2, -1).tolist()
    pb = torch.softmax(zb / 2, -1).tolist()
    by_hand = 4 * sum(sum(q * math.log(q / p) for p, q in zip(ra, rb)) for ra, rb in zip(pa, pb)) / len(pa)
    assert terms["mutual_a"].item() == pytest.approx(by_hand, rel=1e-4)


def test_mutual_learning_each_students_terms_reach_only_that_student(tokenizer, batch):
    a, b = tiny(tokenizer, seed=1), tiny(tokenizer, seed=2)
    objective = MutualLearning(a, b)
    terms = objective.loss_terms(batch)
    (terms["mutual_a"] + terms["hard_label_a"]).backward()
    assert all(p.grad is None for p in b.parameters())
    assert sum(p.grad.abs().sum() for p in a.parameters() if p.grad is not None) > 0


def test_mutual_learning_one_step_updates_both_and_fit_lowers_the_loss(tokenizer, encoded, sst2):
    a, b = tiny(tokenizer, seed=1), tiny(tokenizer, seed=2)
    before_a, before_b = params(a), params(b)
    objective = MutualLearning(a, b)
    dev = data.subsample(sst2["validation"], 16, seed=0)
    config = training.TrainConfig(steps=16, batch_size=16, learning_rate=3e-3, warmup_ratio=0.0, log_every=4,
                                  max_length=64)
    history = training.fit(objective, encoded, tokenizer, config, eval_data=dev, progress=False)
    assert changed(before_a, a) and changed(before_b, b)
    assert set(history.terms) == set(TERMS)
    assert history.loss[-1] < history.loss[0]
    for name in ("hard_label_a", "hard_label_b"):
        assert history.terms[name][-1] < history.terms[name][0]
    # fit's eval_data scores student_a (objective.student), and only it
    assert history.eval == [(16, evaluation.evaluate(a, dev, tokenizer, max_length=64).accuracy)]
    assert not a.training and not b.training  # fit leaves the objective in eval mode


def test_mutual_learning_errors(tokenizer, batch):
    a = tiny(tokenizer)
    with pytest.raises(TinyBertLabError, match="same model"):
        MutualLearning(a, a)
    with pytest.raises(TinyBertLabError, match="student_a has 2 labels and student_b 3"):
        MutualLearning(a, tiny(tokenizer, num_labels=3))
    from transformers import BertConfig, BertForSequenceClassification

    alien = BertForSequenceClassification(BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=16))
    with pytest.raises(TinyBertLabError, match=r"vocabulary \(30522 tokens\) differs from student_b's \(100\)"):
        MutualLearning(a, alien)
    with pytest.raises(TinyBertLabError, match=r"did you mean 'mutual_a'"):
        MutualLearning(a, tiny(tokenizer, seed=1), weights={"mutal_a": 1})
    with pytest.raises(TinyBertLabError, match="All MutualLearning weights are 0"):
        MutualLearning(a, tiny(tokenizer, seed=1), weights=dict.fromkeys(TERMS, 0))
    with pytest.raises(TinyBertLabError, match="temperature must be positive"):
        MutualLearning(a, tiny(tokenizer, seed=1), temperature=0)
    unlabeled = {**batch, "labels": torch.full_like(batch["labels"], -1)}
    with pytest.raises(TinyBertLabError, match=r"labels \[-1\].*2 classes.*set their weights to 0"):
        MutualLearning(a, tiny(tokenizer, seed=1)).loss_terms(unlabeled)
    # without label terms, unlabeled data is fine: two students distilling each other
    peers = MutualLearning(a, tiny(tokenizer, seed=1), weights={"hard_label_a": 0, "hard_label_b": 0})
    assert sorted(peers.loss_terms(unlabeled)) == ["mutual_a", "mutual_b"]


# ---------------------------------------------------------------- several teachers
def fixed_cache(encoded, rows):
    """A cache whose logits for example idx are ``rows(idx)``: known numbers, not a model's."""
    ids = torch.tensor(list(encoded["idx"]))
    return TeacherLogitCache(ids, torch.tensor([rows(i) for i in ids.tolist()]))


def test_multi_teacher_prediction_by_hand_from_cached_logits(tokenizer, encoded, batch):
    student = tiny(tokenizer)
    first = fixed_cache(encoded, lambda i: [float(i % 3), -1.0])
    second = fixed_cache(encoded, lambda i: [0.5, float(i % 5) / 2])
    T = 2.0
    objective = MultiTeacherObjective(student, [first, second], teacher_weights=[3, 1], temperature=T,
                                      weights={"hard_label": 0.5}).eval()
    assert objective.weights == {"prediction": 1.0, "hard_label": 0.5} and objective.teacher is None
    terms = objective.loss_terms(batch)
    with torch.no_grad():
        z = student(**inputs(batch)).logits
    expected = []
    for row, i in zip(z.tolist(), batch["idx"].tolist()):  # looked up by example id, not position
        p1 = torch.softmax(torch.tensor([float(i % 3), -1.0]) / T, -1).tolist()
        p2 = torch.softmax(torch.tensor([0.5, float(i % 5) / 2]) / T, -1).tolist()
        q = [0.75 * a + 0.25 * b for a, b in zip(p1, p2)]
        p_s = torch.softmax(torch.tensor(row) / T, -1).tolist()
        expected.append(T**2 * sum(qc * math.log(qc / pc) for qc, pc in zip(q, p_s)))
    assert terms["prediction"].item() == pytest.approx(sum(expected) / len(expected), rel=1e-5)
    torch.testing.assert_close(terms["hard_label"], losses.hard_ce(z, batch["labels"]))


def test_multi_teacher_models_and_caches_agree_and_teachers_stay_frozen(tokenizer, encoded, batch):
    student = tiny(tokenizer)
    t1, t2 = tiny(tokenizer, seed=5, width=48, layers=2), tiny(tokenizer, seed=6)
    with_models = MultiTeacherObjective(student, [t1, t2]).train()
    cache = TeacherLogitCache.build(t1, encoded, tokenizer, persist=False)
    mixed = MultiTeacherObjective(student, [cache, t2]).train()
    assert not t1.training and not t2.training  # train() keeps teachers in eval mode (no dropout)
    assert all(not p.requires_grad for p in [*t1.parameters(), *t2.parameters()])
    for a, b in zip(with_models.teacher_logits(batch), mixed.teacher_logits(batch)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    trained = {id(p) for g in training.make_optimizer(with_models, 1e-3, 0.0).param_groups for p in g["params"]}
    assert trained == {id(p) for p in student.parameters()}
    # checkpoints skip teachers by the "teacher." prefix, as for a Distiller
    assert {k.split(".")[0] for k in with_models.state_dict()} == {"student", "teacher"}


def test_multi_teacher_fit_lowers_the_loss(tokenizer, encoded):
    student = tiny(tokenizer)
    label = dict(zip(encoded["idx"], encoded["label"]))
    # two teachers that know the labels, one confident, one hesitant (random tiny models would
    # predict ~uniform targets, leaving almost nothing to learn)
    caches = [fixed_cache(encoded, lambda i: [0.0, 3.0] if label[i] else [3.0, 0.0]),
              fixed_cache(encoded, lambda i: [0.0, 0.5] if label[i] else [0.5, 0.0])]
    objective = MultiTeacherObjective(student, caches, teacher_weights=[1, 2], temperature=2.0,
                                      weights={"hard_label": 1.0})
    history = fit_briefly(objective, encoded, tokenizer)
    assert set(history.terms) == {"prediction", "hard_label"}
    assert history.terms["prediction"][-1] < history.terms["prediction"][0]
    assert history.loss[-1] < history.loss[0]


def test_multi_teacher_errors(tokenizer, encoded):
    student = tiny(tokenizer)
    two = fixed_cache(encoded, lambda i: [0.0, 1.0])
    three = fixed_cache(encoded, lambda i: [0.0, 1.0, 2.0])
    with pytest.raises(TinyBertLabError, match=r"mismatched label sets: \[2, 3\] classes"):
        MultiTeacherObjective(student, [two, three])
    with pytest.raises(TinyBertLabError, match=r"mismatched label sets: \[2, 3\]"):
        MultiTeacherObjective(student, [tiny(tokenizer), tiny(tokenizer, num_labels=3)])
    with pytest.raises(TinyBertLabError, match="teachers predict 3 classes but the student has 2.*num_labels=3"):
        MultiTeacherObjective(student, [three])
    with pytest.raises(TinyBertLabError, match="non-empty list"):
        MultiTeacherObjective(student, [])
    with pytest.raises(TinyBertLabError, match="non-empty list"):
        MultiTeacherObjective(student, two)
    with pytest.raises(TinyBertLabError, match=r"teachers\[1\] is a str"):
        MultiTeacherObjective(student, [two, "bert-base"])
    with pytest.raises(TinyBertLabError, match="Got 1 weights for 2 teachers"):
        MultiTeacherObjective(student, [two, two], teacher_weights=[1])
    with pytest.raises(TinyBertLabError, match=r"finite numbers >= 0, got \[1, -1\]"):
        MultiTeacherObjective(student, [two, two], teacher_weights=[1, -1])
    with pytest.raises(TinyBertLabError, match="sum to 0"):
        MultiTeacherObjective(student, [two, two], teacher_weights=[0, 0])
    with pytest.raises(TinyBertLabError, match=r"'predicton' \(did you mean 'prediction'\?\)"):
        MultiTeacherObjective(student, [two], weights={"predicton": 1})
    with pytest.raises(TinyBertLabError, match="All MultiTeacherObjective weights are 0"):
        MultiTeacherObjective(student, [two], weights={"prediction": 0})


# ---------------------------------------------------------------- relational KD
def test_sentence_representation_by_hand_ignores_padding():
    nan = float("nan")
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [nan, nan]], [[5.0, 6.0], [7.0, 8.0], [9.0, 10.0]]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    assert sentence_representation(hidden, mask, "cls").tolist() == [[1.0, 2.0], [5.0, 6.0]]
    assert sentence_representation(hidden, mask, "mean").tolist() == [[2.0, 3.0], [7.0, 8.0]]
    with pytest.raises(TinyBertLabError, match=r"Unknown pooling 'max'.*'cls', 'mean'"):
        sentence_representation(hidden, mask, "max")


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_relational_terms_are_the_named_losses_across_widths(tokenizer, batch, pooling):
    student, teacher = tiny(tokenizer, width=32), tiny(tokenizer, seed=4, width=48, layers=2)
    objective = RelationalObjective(student, teacher, pooling=pooling, weights={"prediction": 2.0},
                                    temperature=3.0).eval()
    assert objective.weights == {"rkd_distance": 25.0, "rkd_angle": 50.0, "hard_label": 1.0, "prediction": 2.0}
    terms = objective.loss_terms(batch)
    with torch.no_grad():
        s_out = student(**inputs(batch), output_hidden_states=True)
        t_out = teacher(**inputs(batch), output_hidden_states=True)
    mask = batch["attention_mask"]
    s = sentence_representation(s_out.hidden_states[-1], mask, pooling)
    t = sentence_representation(t_out.hidden_states[-1], mask, pooling)
    assert s.shape == (8, 32) and t.shape == (8, 48)  # no projection: only relations are compared
    torch.testing.assert_close(terms["rkd_distance"], losses.rkd_distance(s, t))
    torch.testing.assert_close(terms["rkd_angle"], losses.rkd_angle(s, t))
    torch.testing.assert_close(terms["prediction"], losses.soft_kl(s_out.logits, t_out.logits, 3.0))
    torch.testing.assert_close(terms["hard_label"], losses.hard_ce(s_out.logits, batch["labels"]))
    assert terms["rkd_distance"] > 0 and terms["rkd_angle"] > 0


def test_relational_gradients_reach_the_student_only(tokenizer, batch):
    student, teacher = tiny(tokenizer), tiny(tokenizer, seed=4, width=48)
    objective = RelationalObjective(student, teacher, weights={"hard_label": 0}).train()
    assert not teacher.training and all(not p.requires_grad for p in teacher.parameters())
    terms = objective.loss_terms(batch)
    assert sorted(terms) == ["rkd_angle", "rkd_distance"]
    (terms["rkd_distance"] + terms["rkd_angle"]).backward()
    assert student.bert.encoder.layer[0].attention.self.query.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())


def test_relational_small_batches_contribute_zero_instead_of_stopping(tokenizer, batch):
    objective = RelationalObjective(tiny(tokenizer), tiny(tokenizer, seed=4)).eval()
    for size in (2, 1):
        small = {k: v[:size] for k, v in batch.items()}
        terms = objective.loss_terms(small)
        # B = 2: no triplet, and the one distance normalised by itself is 1 on both sides → 0 too
        assert terms["rkd_distance"].item() == 0 and terms["rkd_angle"].item() == 0
        sum(terms.values()).backward()  # still differentiable
    assert losses.rkd_distance(torch.randn(2, 3), torch.randn(2, 5)).item() == 0


def test_relational_fit_lowers_the_rkd_losses(tokenizer, encoded):
    student, teacher = tiny(tokenizer), tiny(tokenizer, seed=4, width=48, layers=2)
    history = fit_briefly(RelationalObjective(student, teacher), encoded, tokenizer)
    assert set(history.terms) == {"rkd_distance", "rkd_angle", "hard_label"}
    for name in ("rkd_distance", "rkd_angle"):
        assert history.terms[name][-1] < history.terms[name][0]
    assert history.loss[-1] < history.loss[0]


def test_relational_errors(tokenizer):
    student, teacher = tiny(tokenizer), tiny(tokenizer, seed=4)
    with pytest.raises(TinyBertLabError, match="Unknown pooling 'max'"):
        RelationalObjective(student, teacher, pooling="max")
    with pytest.raises(TinyBertLabError, match=r"'rkd_angel' \(did you mean 'rkd_angle'\?\)"):
        RelationalObjective(student, teacher, weights={"rkd_angel": 1})
    with pytest.raises(TinyBertLabError, match="'rkd_angle' must be a finite number >= 0, got -50"):
        RelationalObjective(student, teacher, weights={"rkd_angle": -50})
    with pytest.raises(TinyBertLabError, match="All RelationalObjective weights are 0"):
        RelationalObjective(student, teacher, weights=dict.fromkeys(RelationalWeights().to_dict(), 0))
    with pytest.raises(TinyBertLabError, match="student has 2 labels and the teacher 3.*prediction"):
        RelationalObjective(student, tiny(tokenizer, num_labels=3), weights={"prediction": 1})
    RelationalObjective(student, tiny(tokenizer, num_labels=3))  # relations alone need no common label set
    with pytest.raises(TinyBertLabError, match="temperature must be positive"):
        RelationalObjective(student, teacher, temperature=-1)
