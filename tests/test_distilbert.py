import math
import re
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from tinybert_lab import data, logit_cache, models, training
from tinybert_lab.core.attention import SCORES_ATTENTION
from tinybert_lab.methods.distilbert import (GENERAL_WEIGHTS, PAPER_WEIGHTS, TASK_WEIGHTS, DistilBertObjective,
                                     DistilBertWeights, TiedMLMHead, copy_teacher_layers, every_other_layer,
                                     mlm_targets, student_from_teacher)
from tinybert_lab.core.errors import TinyBertLabError


# ---------------------------------------------------------------- tiny models and data
def tiny_config(tokenizer, **overrides):
    from transformers import BertConfig

    settings = dict(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
                    intermediate_size=64, max_position_embeddings=64, num_labels=2,
                    attn_implementation=SCORES_ATTENTION)
    return BertConfig(**{**settings, **overrides})


def tiny_teacher(tokenizer, seed=0, **overrides):
    from transformers import BertForSequenceClassification

    torch.manual_seed(seed)
    return BertForSequenceClassification(tiny_config(tokenizer, **overrides)).eval()


def tiny_mlm_teacher(tokenizer, seed=0):
    from transformers import BertForMaskedLM

    torch.manual_seed(seed)
    return BertForMaskedLM(tiny_config(tokenizer)).eval()


@pytest.fixture(scope="module")
def sentences(sst2):
    return data.subsample(sst2["train"], 64, seed=3)


@pytest.fixture(scope="module")
def encoded(sentences, tokenizer):
    return data.encode(sentences, tokenizer, max_length=64)


@pytest.fixture(scope="module")
def batch(encoded, tokenizer):
    return next(iter(data.make_loader(encoded, tokenizer, batch_size=8, shuffle=True, seed=0)))


def with_mlm_labels(batch, tokenizer, generator_seed=0):
    """Mask a batch as fit does; add ``mlm_labels`` if this version of data.mask_tokens does not."""
    masked = data.mask_tokens(batch, tokenizer, 0.15, torch.Generator().manual_seed(generator_seed))
    if "mlm_labels" not in masked:
        masked["mlm_labels"] = torch.where(masked["masked"], batch["input_ids"], -100)
    return masked


@pytest.fixture
def mlm_masking(monkeypatch):
    """Make ``fit``'s masking provide ``mlm_labels`` (a no-op once data.mask_tokens returns them)."""
    real = data.mask_tokens

    def mask_tokens(batch, tokenizer, probability=0.15, generator=None):
        out = real(batch, tokenizer, probability, generator)
        if "mlm_labels" not in out:
            out["mlm_labels"] = torch.where(out["masked"], batch["input_ids"], -100)
        return out

    monkeypatch.setattr(data, "mask_tokens", mask_tokens)


def config(**kw):
    return training.TrainConfig(**{"steps": 12, "batch_size": 16, "learning_rate": 1e-3, "max_length": 64,
                                   "log_every": 1, "warmup_ratio": 0.0, **kw})


# ---------------------------------------------------------------- initialisation
def test_every_other_layer_is_zero_based_and_keeps_the_first():
    assert every_other_layer(6) == [0, 2, 4]
    assert every_other_layer(12) == [0, 2, 4, 6, 8, 10]
    assert every_other_layer(1) == [0]


def test_student_weights_are_exact_copies_of_the_chosen_teacher_layers(tokenizer):
    teacher = tiny_teacher(tokenizer)
    student = student_from_teacher(teacher)  # 4 teacher layers -> [0, 2]
    assert student.config.num_hidden_layers == 2 and student.config.hidden_size == 32
    assert student.config._attn_implementation == SCORES_ATTENTION
    teacher_layer = {0: 0, 1: 2}
    s, t = student.state_dict(), teacher.state_dict()
    for name, value in s.items():  # every student tensor equals its teacher source exactly
        source = re.sub(r"encoder\.layer\.(\d+)\.", lambda m: f"encoder.layer.{teacher_layer[int(m[1])]}.", name)
        assert torch.equal(value, t[source]), name
    with torch.no_grad():  # copies, not shared tensors
        student.bert.encoder.layer[1].output.dense.weight.add_(1.0)
    assert not torch.equal(student.bert.encoder.layer[1].output.dense.weight, teacher.bert.encoder.layer[2].output.dense.weight)


def test_copy_teacher_layers_reports_what_it_copied(tokenizer):
    teacher = tiny_teacher(tokenizer)
    student = models.build_student("mini2", tokenizer=tokenizer, hidden_size=32, num_attention_heads=4,
                                   intermediate_size=64, max_position_embeddings=64, num_hidden_layers=2)
    copied = copy_teacher_layers(student, teacher, [1, 3])
    assert copied == ["embeddings", "layer 0 ← teacher layer 1", "layer 1 ← teacher layer 3", "pooler", "classifier"]
    assert torch.equal(student.bert.encoder.layer[0].attention.self.query.weight,
                       teacher.bert.encoder.layer[1].attention.self.query.weight)


def test_a_student_with_all_teacher_layers_is_the_teacher(tokenizer, batch):
    teacher = tiny_teacher(tokenizer)
    student = student_from_teacher(teacher, [0, 1, 2, 3]).eval()
    inputs = data.model_inputs(batch)
    with torch.no_grad():
        assert torch.equal(student(**inputs).logits, teacher(**inputs).logits)


def test_real_teacher_all_layers_bit_identical_and_every_other_layer_runs(teacher, tokenizer, batch):
    inputs = data.model_inputs(batch)
    with torch.no_grad():
        full = student_from_teacher(teacher, list(range(6))).eval()
        assert torch.equal(full(**inputs).logits, teacher(**inputs).logits)
        half = student_from_teacher(teacher).eval()
        assert half.config.num_hidden_layers == 3 and half.config.intermediate_size == 1536
        assert half(**inputs).logits.shape == (batch["input_ids"].shape[0], 2)
    assert torch.equal(half.bert.encoder.layer[2].intermediate.dense.weight,
                       teacher.bert.encoder.layer[4].intermediate.dense.weight)


def test_classifier_for_another_label_count_is_not_copied(tokenizer):
    teacher = tiny_teacher(tokenizer)
    student = student_from_teacher(teacher, num_labels=3)
    assert student.config.num_labels == 3 and student.classifier.weight.shape == (3, 32)
    assert torch.equal(student.bert.pooler.dense.weight, teacher.bert.pooler.dense.weight)


def test_from_a_masked_lm_teacher(tokenizer):
    teacher = tiny_mlm_teacher(tokenizer)
    student = student_from_teacher(teacher, [1, 3])
    assert type(student).__name__ == "BertForSequenceClassification"
    assert torch.equal(student.bert.embeddings.word_embeddings.weight, teacher.bert.embeddings.word_embeddings.weight)


@pytest.mark.parametrize("layers, message", [
    ([], "layers is empty"),
    ([0, 4], r"Teacher layer\(s\) \[4\] do not exist: the teacher has 4 layers, numbered 0..3"),
    ([-1, 2], r"\[-1\] do not exist"),
    ([2, 0], "not strictly increasing"),
    ([1, 1], "not strictly increasing"),
    ([0.0, 2], "must be integer"),
])
def test_layer_choice_errors(tokenizer, layers, message):
    with pytest.raises(TinyBertLabError, match=message):
        student_from_teacher(tiny_teacher(tokenizer), layers)


def test_copy_refuses_a_student_of_another_shape(tokenizer):
    teacher = tiny_teacher(tokenizer)
    narrow = models.build_student("mini2", tokenizer=tokenizer, num_hidden_layers=2, hidden_size=16,
                                  num_attention_heads=4, intermediate_size=64, max_position_embeddings=64)
    with pytest.raises(TinyBertLabError, match=r"hidden_size 16 vs 32.*widths must match.*init_embeddings_from_teacher"
                                               r".*hidden_size=32"):
        copy_teacher_layers(narrow, teacher, [0, 2])
    heads = models.build_student("mini2", tokenizer=tokenizer, num_hidden_layers=2, hidden_size=32,
                                 num_attention_heads=8, intermediate_size=64, max_position_embeddings=64)
    with pytest.raises(TinyBertLabError, match="num_attention_heads 8 vs 4"):
        copy_teacher_layers(heads, teacher, [0, 2])
    other_vocab = tiny_teacher(tokenizer, vocab_size=100, num_hidden_layers=2)
    with pytest.raises(TinyBertLabError, match="100-token vocabulary.*teacher's tokenizer"):
        copy_teacher_layers(other_vocab, teacher, [0, 2])
    with pytest.raises(TinyBertLabError, match="student has 2 layers but layers=.0, 1, 2. names 3"):
        copy_teacher_layers(tiny_teacher(tokenizer, num_hidden_layers=2), teacher, [0, 1, 2])


# ---------------------------------------------------------------- weights and checks
def test_weights_validate():
    assert DistilBertWeights() == PAPER_WEIGHTS and PAPER_WEIGHTS.to_dict() == {"ce": 5.0, "mlm": 2.0, "cos": 1.0, "hard_label": 0.0}
    assert TASK_WEIGHTS.active() == {"ce": 5.0, "cos": 1.0} and GENERAL_WEIGHTS.active() == {"mlm": 2.0, "cos": 1.0}
    with pytest.raises(TinyBertLabError, match="'cos' must be a finite number >= 0, got -1"):
        DistilBertWeights(cos=-1)
    with pytest.raises(TinyBertLabError, match="must be a finite number"):
        DistilBertWeights(ce=float("nan"))
    with pytest.raises(TinyBertLabError, match="must be a finite number"):
        DistilBertWeights(ce=True)
    with pytest.raises(TinyBertLabError, match="All DistilBERT loss weights are 0"):
        DistilBertWeights(ce=0, mlm=0, cos=0)
    with pytest.raises(TinyBertLabError, match=r"'cosine' \(did you mean 'cos'\?\)"):
        DistilBertWeights.from_dict({"cosine": 1})


def test_objective_refuses_what_cannot_be_computed(tokenizer):
    teacher = tiny_teacher(tokenizer)
    student = student_from_teacher(teacher)
    cases = [
        (dict(mode="pretrain"), "Unknown mode 'pretrain'"),
        (dict(mode="task", temperature=0), "temperature must be a positive number"),
        (dict(mode="task", temperature=-1.0), "temperature must be a positive number"),
        (dict(mode="general", weights=PAPER_WEIGHTS), "has no MLM head.*Set ce=0"),
        (dict(mode="general", weights={"mlm": 1, "hard_label": 1, "ce": 0}), "hard_label in general mode"),
        (dict(mode="task", weights=PAPER_WEIGHTS), "mlm=2.0 in task mode.*Set mlm=0"),
        (dict(mode="task", cosine_layers=(3, 4)), r"cosine_layers=\(3, 4\) is out of range.*0..2 for the student"),
        (dict(mode="task", weights={"cos": 1, "ce": 0, "mlm": 0}, cosine_layers=(1,)), "must be a pair"),
    ]
    for kwargs, message in cases:
        with pytest.raises(TinyBertLabError, match=message):
            DistilBertObjective(student, teacher, **kwargs)
    narrow = models.build_student("mini2", tokenizer=tokenizer, hidden_size=16, num_attention_heads=4)
    with pytest.raises(TinyBertLabError, match="cosine loss compares hidden states directly"):
        DistilBertObjective(narrow, teacher, mode="task")
    with pytest.raises(TinyBertLabError, match="3 labels and the teacher 2"):
        DistilBertObjective(student_from_teacher(teacher, num_labels=3), teacher, mode="task")
    with pytest.raises(TinyBertLabError, match="not a masked-LM model"):
        DistilBertObjective(student, tiny_mlm_teacher(tokenizer), mode="task")


def test_default_weights_follow_mode_and_teacher(tokenizer):
    teacher, mlm_teacher = tiny_teacher(tokenizer), tiny_mlm_teacher(tokenizer)
    assert DistilBertObjective(student_from_teacher(teacher), teacher, mode="task").weights == {"ce": 5.0, "cos": 1.0}
    assert DistilBertObjective(student_from_teacher(teacher), teacher, mode="general").weights == {"mlm": 2.0, "cos": 1.0}
    general = DistilBertObjective(student_from_teacher(mlm_teacher), mlm_teacher, mode="general")
    assert general.weights == {"ce": 5.0, "mlm": 2.0, "cos": 1.0}
    assert not any(p.requires_grad for p in mlm_teacher.parameters())


# ---------------------------------------------------------------- loss values by hand
class Stub(nn.Module):
    """A 'model' that returns fixed logits and hidden states, whatever the input."""

    def __init__(self, logits, hidden_states, vocab_size=10):
        super().__init__()
        self.out = SimpleNamespace(logits=logits, hidden_states=hidden_states)
        self.config = SimpleNamespace(vocab_size=vocab_size, hidden_size=hidden_states[-1].shape[-1],
                                      num_labels=logits.shape[-1], num_hidden_layers=len(hidden_states) - 1)

    def forward(self, **inputs):
        return self.out


def test_task_loss_by_hand():
    # one sentence of 3 tokens, the last one padding (its hidden states are garbage)
    hidden_s = torch.tensor([[[1.0, 0.0], [1.0, 1.0], [float("nan"), 5.0]]])
    hidden_t = torch.tensor([[[0.0, 1.0], [2.0, 2.0], [7.0, float("inf")]]])
    student = Stub(torch.tensor([[0.0, 0.0]]), (hidden_s * 0, hidden_s))
    teacher = Stub(torch.tensor([[2 * math.log(3.0), 0.0]]), (hidden_t * 0, hidden_t))
    objective = DistilBertObjective(student, teacher, mode="task", weights={"ce": 5, "mlm": 0, "cos": 1, "hard_label": 0.5},
                                    temperature=2.0)
    batch = {"input_ids": torch.zeros(1, 3, dtype=torch.long), "attention_mask": torch.tensor([[1, 1, 0]]),
             "labels": torch.tensor([1])}
    terms = objective.loss_terms(batch)
    # T=2: p_T = softmax([ln 3, 0]) = [3/4, 1/4]; p_S = [1/2, 1/2]
    kl = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert terms["ce"].item() == pytest.approx(4 * kl)
    # token 1: cos([1,0],[0,1]) = 0 -> 1; token 2: cos([1,1],[2,2]) = 1 -> 0; padding ignored
    assert terms["cos"].item() == pytest.approx(0.5)
    assert terms["hard_label"].item() == pytest.approx(math.log(2))
    total = training._weighted_total(terms, objective.weights, step=1)
    assert total.item() == pytest.approx(5 * 4 * kl + 1 * 0.5 + 0.5 * math.log(2))


def test_tied_head_is_berts_head_with_decoder_tied():
    from transformers import BertConfig
    from transformers.models.bert.modeling_bert import BertLMPredictionHead

    config = BertConfig(vocab_size=11, hidden_size=8, num_attention_heads=2, intermediate_size=16)
    torch.manual_seed(0)
    head, embeddings, hidden = TiedMLMHead(config), torch.randn(11, 8), torch.randn(5, 8)
    with torch.no_grad():
        head.bias.normal_()
    reference = BertLMPredictionHead(config)
    reference.transform.load_state_dict(head.transform.state_dict())
    reference.decoder.weight, reference.decoder.bias = nn.Parameter(embeddings), head.bias
    assert torch.allclose(head(hidden, embeddings), reference(hidden), atol=1e-6)
    assert "decoder.weight" not in dict(head.named_parameters())


def test_general_loss_by_hand(tokenizer, batch):
    teacher = tiny_mlm_teacher(tokenizer)
    objective = DistilBertObjective(student_from_teacher(teacher, [1, 3]), teacher, mode="general", temperature=2.0).eval()
    masked = with_mlm_labels(batch, tokenizer)
    terms = objective.loss_terms(masked)
    inputs, real = data.model_inputs(masked), masked["attention_mask"].bool()
    with torch.no_grad():
        h_s = objective.student(**inputs, output_hidden_states=True).hidden_states[-1]
        out_t = teacher(**inputs, output_hidden_states=True)
        head = objective.mlm_head
        logits_s = head.transform(h_s) @ objective.student.bert.embeddings.word_embeddings.weight.T + head.bias
        picked = masked["mlm_labels"] != -100
        log_p = torch.log_softmax(logits_s[picked], -1)
        mlm = -log_p.gather(1, masked["mlm_labels"][picked][:, None]).mean()
        p_t = torch.softmax(out_t.logits[real] / 2, -1)
        kl = (p_t * (torch.log(p_t) - torch.log_softmax(logits_s[real] / 2, -1))).sum(-1).mean()
        cos = 1 - nn.functional.cosine_similarity(h_s[real], out_t.hidden_states[-1][real], dim=-1).mean()
    assert picked.any()
    assert terms["mlm"].item() == pytest.approx(mlm.item(), rel=1e-5)
    assert terms["ce"].item() == pytest.approx(4 * kl.item(), rel=1e-4)
    assert terms["cos"].item() == pytest.approx(cos.item(), rel=1e-5, abs=1e-6)


def test_mlm_needs_targets(tokenizer, batch):
    teacher = tiny_teacher(tokenizer)
    objective = DistilBertObjective(student_from_teacher(teacher), teacher, mode="general")
    with pytest.raises(TinyBertLabError, match="mask_probability=0.15"):
        objective.loss_terms(batch)
    with pytest.raises(TinyBertLabError, match="must also return 'mlm_labels'"):
        objective.loss_terms({**batch, "masked": torch.zeros_like(batch["input_ids"], dtype=torch.bool)})
    assert torch.equal(mlm_targets({"mlm_labels": batch["input_ids"]}), batch["input_ids"])
    nothing = {**batch, "mlm_labels": torch.full_like(batch["input_ids"], -100)}
    assert objective.loss_terms(nothing)["mlm"].item() == 0.0  # no token drawn: no MLM signal, no NaN


# ---------------------------------------------------------------- training
def _loss_on(objective, batch):
    objective.eval()
    with torch.no_grad():
        return training._weighted_total(objective.loss_terms(batch), objective.weights, 1).item()


def test_general_distillation_fit_lowers_the_loss_and_checkpoints(tokenizer, encoded, batch, mlm_masking, tmp_path):
    teacher = tiny_teacher(tokenizer)
    objective = DistilBertObjective(student_from_teacher(teacher), teacher, mode="general")
    fixed = with_mlm_labels(batch, tokenizer)
    before = _loss_on(objective, fixed)
    history = training.fit(objective, encoded, tokenizer, config(mask_probability=0.15, checkpoint_every=6),
                           progress=False, checkpoint_dir=tmp_path)
    assert set(history.terms) == {"mlm", "cos"}
    assert _loss_on(objective, fixed) < before
    assert (tmp_path / "trainable.safetensors").is_file()  # the tied head saves (no shared tensor)
    # the head is trained and sits beside the student, the teacher is untouched
    assert not torch.equal(objective.mlm_head.bias, torch.zeros_like(objective.mlm_head.bias))
    assert torch.equal(teacher.bert.encoder.layer[0].output.dense.weight,
                       tiny_teacher(tokenizer).bert.encoder.layer[0].output.dense.weight)


def test_task_distillation_fit_lowers_the_loss(tokenizer, encoded, batch):
    teacher = tiny_teacher(tokenizer)
    with torch.no_grad():  # a random teacher is almost uniform; give it opinions worth distilling
        teacher.classifier.weight.mul_(30.0)
    student = tiny_teacher(tokenizer, seed=1, num_hidden_layers=2)  # random, so there is much to learn
    objective = DistilBertObjective(student, teacher, mode="task",
                                    weights={"ce": 5, "mlm": 0, "cos": 1, "hard_label": 0.1})
    before = _loss_on(objective, batch)
    history = training.fit(objective, encoded, tokenizer, config(), progress=False)
    assert set(history.terms) == {"ce", "cos", "hard_label"}
    assert _loss_on(objective, batch) < before


def test_cached_teacher_logits_skip_the_teacher(tokenizer, encoded, batch):
    teacher = tiny_teacher(tokenizer)
    cache = logit_cache.TeacherLogitCache.build(teacher, encoded, tokenizer, persist=False)
    objective = DistilBertObjective(student_from_teacher(teacher), teacher, mode="task",
                                    weights={"ce": 1, "mlm": 0, "cos": 0}, logit_cache=cache).eval()
    expected = objective.loss_terms(batch)["ce"]

    def no_forward(*args, **kwargs):
        raise AssertionError("the teacher ran although its logits are cached")

    teacher.forward = no_forward
    assert torch.equal(objective.loss_terms(batch)["ce"], expected)
    with pytest.raises(TinyBertLabError, match="Cached teacher logits belong to the unmasked sentences"):
        objective.loss_terms(with_mlm_labels(batch, tokenizer))


def test_same_seed_same_result(tokenizer, encoded, mlm_masking):
    def run():
        teacher = tiny_teacher(tokenizer)
        objective = DistilBertObjective(student_from_teacher(teacher), teacher, mode="general")
        history = training.fit(objective, encoded, tokenizer, config(steps=4, mask_probability=0.15), progress=False)
        return history.loss, objective.state_dict()

    (loss_a, state_a), (loss_b, state_b) = run(), run()
    assert loss_a == loss_b
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
