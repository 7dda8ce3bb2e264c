"""The BiLSTM student and Tang et al.'s logit-matching objective (tinybert_lab.bilstm)."""

import math

import pytest
import torch
from torch import nn

from tinybert_lab import bilstm, data, evaluation, logit_cache, models, training
from tinybert_lab.core.errors import TinyBertLabError

SMALL = dict(embedding_dim=32, hidden_size=16, mlp_size=16, dropout=0.0)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """A model this small gains nothing from a second intra-op thread, and on busy shared cores
    two threads that wait on each other make each step several times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def small(tokenizer):
    return bilstm.build_bilstm(tokenizer, num_labels=3, seed=0, **SMALL).eval()


@pytest.fixture(scope="module")
def tiny_train(sst2):
    return data.subsample(sst2["train"], 64, seed=0)


def _batch(tokenizer, sentences):
    return dict(tokenizer(sentences, padding=True, return_tensors="pt"))


# ---------------------------------------------------------------- the model
def test_output_shapes_and_config(small, tokenizer):
    batch = _batch(tokenizer, ["a fine film", "dull , long and badly acted"])
    out = small(**batch)  # token_type_ids are accepted and ignored
    assert out.logits.shape == (2, 3) and out.loss is None
    assert small.sentence_vector(batch["input_ids"], batch["attention_mask"]).shape == (2, 2 * 16)
    with_loss = small(**batch, labels=torch.tensor([0, 2]))
    torch.testing.assert_close(with_loss.loss, nn.functional.cross_entropy(out.logits, torch.tensor([0, 2])))
    c = small.config
    assert (c.vocab_size, c.num_labels, c.model_type, c.max_position_embeddings) == (len(tokenizer), 3, "bilstm", 512)
    models.check_tokenizer_matches(small, tokenizer)
    models.check_fits_positions(small, 128)
    with pytest.raises(TinyBertLabError, match="exceeds the model's 512 position embeddings"):
        models.check_fits_positions(small, 600)


def test_padding_does_not_change_the_logits(small, tokenizer):
    batch = _batch(tokenizer, ["a fine film", "dull , long and badly acted , with a weak ending"])
    ids, mask = batch["input_ids"], batch["attention_mask"]
    reference = small(ids, mask).logits
    padded_ids = torch.cat([ids, torch.full((2, 7), tokenizer.pad_token_id)], dim=1)
    padded_mask = torch.cat([mask, torch.zeros(2, 7, dtype=mask.dtype)], dim=1)
    torch.testing.assert_close(small(padded_ids, padded_mask).logits, reference, rtol=0, atol=1e-6)
    # each sentence alone (no padding at all, mask None) gives the same logits as in the batch
    for row in range(2):
        alone = ids[row, : int(mask[row].sum())][None]
        torch.testing.assert_close(small(alone).logits[0], reference[row], rtol=0, atol=1e-6)
    # junk in padded slots is never read
    junk = padded_ids.masked_fill(padded_mask == 0, 1999)
    torch.testing.assert_close(small(junk, padded_mask).logits, reference, rtol=0, atol=1e-6)


def test_bad_masks_are_refused(small):
    ids = torch.ones(2, 4, dtype=torch.long)
    with pytest.raises(TinyBertLabError, match="not right-padded"):
        small(ids, torch.tensor([[0, 1, 1, 1], [1, 1, 0, 0]]))
    with pytest.raises(TinyBertLabError, match="all zeros"):
        small(ids, torch.tensor([[0, 0, 0, 0], [1, 1, 0, 0]]))
    with pytest.raises(TinyBertLabError, match="attention_mask has shape"):
        small(ids, torch.ones(2, 3))
    with pytest.raises(TinyBertLabError, match="input_ids must be"):
        small(torch.ones(4, dtype=torch.long))


def test_same_seed_same_weights(tokenizer):
    a, b = (bilstm.build_bilstm(tokenizer, seed=1, **SMALL) for _ in range(2))
    c = bilstm.build_bilstm(tokenizer, seed=2, **SMALL)
    for (name, x), (_, y), (_, z) in zip(a.state_dict().items(), b.state_dict().items(), c.state_dict().items()):
        assert torch.equal(x, y), name
    assert not torch.equal(a.lstm.weight_ih_l0, c.lstm.weight_ih_l0)


def test_parameter_counts_split_embedding_from_the_rest(tokenizer, small):
    V, E, H, M, C = len(tokenizer), 32, 16, 16, 3
    lstm = 2 * (4 * H * E + 4 * H * H + 8 * H)  # two directions: W_ih, W_hh, b_ih, b_hh
    head = (2 * H * M + M) + (M * C + C)
    assert models.parameter_counts(small) == {"total": V * E + lstm + head, "embedding": V * E,
                                              "non_embedding": lstm + head}
    default = bilstm.build_bilstm(tokenizer)
    assert models.parameter_counts(default)["non_embedding"] == 2 * (4 * 150 * 300 + 4 * 150 * 150 + 8 * 150) + (
        300 * 200 + 200) + (200 * 2 + 2)
    assert models.describe(default).startswith("BiLSTM: embedding 300, 1 layer, hidden 150×2, MLP 200: 9.8 M")
    assert models.size_on_disk(small) > 4 * V * E


def test_save_and_load_round_trip(small, tokenizer, tmp_path):
    folder = small.save_pretrained(tmp_path / "student")
    loaded = bilstm.BiLSTMStudent.from_pretrained(folder)
    assert loaded.config == small.config and not loaded.training
    batch = _batch(tokenizer, ["a fine film"])
    torch.testing.assert_close(loaded(**batch).logits, small(**batch).logits, rtol=0, atol=0)
    with pytest.raises(TinyBertLabError, match="holds no saved BiLSTM student"):
        bilstm.BiLSTMStudent.from_pretrained(tmp_path)


def test_build_validates_sizes(tokenizer):
    with pytest.raises(TinyBertLabError, match=r"'hiden_size' \(did you mean 'hidden_size'\?\)"):
        bilstm.build_bilstm(tokenizer, hiden_size=10)
    with pytest.raises(TinyBertLabError, match="hidden_size must be a positive integer"):
        bilstm.build_bilstm(tokenizer, hidden_size=0)
    with pytest.raises(TinyBertLabError, match=r"dropout must be in \[0, 1\)"):
        bilstm.build_bilstm(tokenizer, dropout=1.0)
    with pytest.raises(TinyBertLabError, match="BiLSTMConfig.num_labels must be an integer >= 2, got 1"):
        bilstm.build_bilstm(tokenizer, num_labels=1)


class _FakeTeacher(nn.Module):
    """Just a word-embedding table, enough for the embedding initialisation."""

    def __init__(self, vocab, width):
        super().__init__()
        self.words = nn.Embedding(vocab, width)

    def get_input_embeddings(self):
        return self.words


def test_embeddings_from_the_teacher_copied_or_pca(tokenizer):
    V = len(tokenizer)
    teacher = _FakeTeacher(V, 32)
    same = bilstm.build_bilstm(tokenizer, teacher=teacher, **SMALL)
    torch.testing.assert_close(same.embeddings.weight, teacher.words.weight, rtol=0, atol=0)
    narrow = bilstm.build_bilstm(tokenizer, teacher=teacher, **{**SMALL, "embedding_dim": 6})
    P = models.pca_projection(teacher.words.weight, 6)
    assert P.shape == (32, 6)
    torch.testing.assert_close(P.T @ P, torch.eye(6), atol=1e-4, rtol=0)
    torch.testing.assert_close(narrow.embeddings.weight, teacher.words.weight.detach() @ P)
    with pytest.raises(TinyBertLabError, match="PCA can only shrink"):
        bilstm.build_bilstm(tokenizer, teacher=teacher, **{**SMALL, "embedding_dim": 64})
    with pytest.raises(TinyBertLabError, match="vocabulary .100 tokens. differs"):
        bilstm.build_bilstm(tokenizer, teacher=_FakeTeacher(100, 32), **SMALL)


# ---------------------------------------------------------------- what a BiLSTM cannot do
def test_check_supports_names_the_problem_and_the_fix(small, tokenizer):
    bilstm.check_supports(small, "prediction", "hard_label", "logit_mse")
    for feature in ("attention", "hidden", "embedding"):
        with pytest.raises(TinyBertLabError, match=f"'{feature}' loss: a BiLSTM has no attention maps.*LogitMatching"):
            bilstm.check_supports(small, feature)
    with pytest.raises(TinyBertLabError, match="Unknown distillation feature"):
        bilstm.check_supports(small, "atention")
    bert = models.build_student("mini2", tokenizer=tokenizer, num_hidden_layers=1)
    bilstm.check_supports(bert, *bilstm.FEATURES)  # a BERT student supports everything
    batch = _batch(tokenizer, ["a fine film"])
    with pytest.raises(TinyBertLabError, match="no attention maps"):
        small(**batch, output_attentions=True)


# ---------------------------------------------------------------- the objective
class _FixedLogits(nn.Module):
    """A 'student' whose logits are given rows of a table, chosen by the batch's input_ids[:, 0]."""

    def __init__(self, table):
        super().__init__()
        self.table = nn.Parameter(table.clone())
        self.config = bilstm.BiLSTMConfig(vocab_size=10, num_labels=table.shape[1])

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        return bilstm.BiLSTMOutput(logits=self.table[input_ids[:, 0]])


def test_logit_mse_and_cross_entropy_golden_values():
    student = _FixedLogits(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    # teacher logits for example ids 7 and 3, stored in the cache in another order
    cache = logit_cache.TeacherLogitCache(torch.tensor([3, 7]), torch.tensor([[1.0, 1.0], [0.0, 2.0]]))
    objective = bilstm.LogitMatching(student, logit_cache=cache, weights={"logit_mse": 0.7, "hard_label": 0.3})
    batch = {"input_ids": torch.tensor([[0, 5], [1, 5]]), "attention_mask": torch.ones(2, 2, dtype=torch.long),
             "labels": torch.tensor([1, 0]), "idx": torch.tensor([7, 3])}
    terms = objective.loss_terms(batch)
    # z_S − z_T = [[1, 0], [2, 3]]: (1 + 0 + 4 + 9) / (B·C = 4) = 3.5
    assert terms["logit_mse"].item() == pytest.approx(3.5)
    # CE: row 0, label 1: log(1 + e^{-1}); row 1, label 0: log(1 + e^{1}); mean of the two
    assert terms["hard_label"].item() == pytest.approx((math.log(1 + math.exp(-1)) + math.log(1 + math.exp(1))) / 2)
    assert objective.weights == {"logit_mse": 0.7, "hard_label": 0.3}
    only_mse = bilstm.LogitMatching(student, logit_cache=cache)
    assert set(only_mse.loss_terms(batch)) == {"logit_mse"} and only_mse.weights == {"logit_mse": 1.0}


def test_weights_are_validated():
    W = bilstm.LogitMatchingWeights
    assert W.from_alpha(0.25).to_dict() == {"logit_mse": 0.25, "hard_label": 0.75}
    with pytest.raises(TinyBertLabError, match="'logit_mse' must be a finite number >= 0"):
        W(logit_mse=-1.0)
    with pytest.raises(TinyBertLabError, match="'hard_label' must be a finite number >= 0"):
        W(hard_label=float("nan"))
    with pytest.raises(TinyBertLabError, match="All LogitMatching weights are 0"):
        W(logit_mse=0.0)
    with pytest.raises(TinyBertLabError, match=r"'logit_mes' \(did you mean 'logit_mse'\?\)"):
        W.from_dict({"logit_mes": 1.0})
    with pytest.raises(TinyBertLabError, match=r"alpha must be in \[0, 1\]"):
        W.from_alpha(1.5)


def test_objective_refuses_what_cannot_work(small, tokenizer):
    with pytest.raises(TinyBertLabError, match="needs teacher logits"):
        bilstm.LogitMatching(small)
    labels_only = bilstm.LogitMatching(small, weights={"logit_mse": 0, "hard_label": 1})
    assert labels_only.weights == {"hard_label": 1.0}
    two_labels = models.build_student("mini2", tokenizer=tokenizer, num_hidden_layers=1, num_labels=2)
    with pytest.raises(TinyBertLabError, match="student has 3 labels and the teacher 2"):
        bilstm.LogitMatching(small, two_labels)
    with pytest.raises(TinyBertLabError, match="must be LogitMatchingWeights or a dict"):
        bilstm.LogitMatching(small, logit_cache=object(), weights=0.5)


def test_cached_and_live_teacher_logits_agree(tokenizer, tiny_train, tmp_cache):
    teacher = models.load_teacher()  # our own copy: LogitMatching freezes it
    encoded = data.encode(data.subsample(tiny_train, 16, seed=0), tokenizer)
    cache = logit_cache.TeacherLogitCache.build(teacher, encoded, tokenizer, persist=False)
    student = bilstm.build_bilstm(tokenizer, seed=0, **SMALL)
    cached, live = bilstm.LogitMatching(student, teacher, logit_cache=cache), bilstm.LogitMatching(student, teacher)
    assert not any(p.requires_grad for p in teacher.parameters()) and not teacher.training
    batch = next(iter(data.make_loader(encoded, tokenizer, batch_size=8)))  # shuffled: found by idx
    torch.testing.assert_close(cached.teacher_logits(batch), live.teacher_logits(batch), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(cached.loss_terms(batch)["logit_mse"], live.loss_terms(batch)["logit_mse"],
                               atol=1e-5, rtol=1e-4)


def test_fit_lowers_the_loss(tokenizer, tiny_train):
    encoded = data.encode(tiny_train, tokenizer)
    # a "teacher" that knows the answers: logits ±2 around the gold label, keyed by example id
    labels = torch.tensor(encoded["label"])
    cache = logit_cache.TeacherLogitCache(torch.tensor(encoded["idx"]), 4.0 * nn.functional.one_hot(labels, 2) - 2.0)
    student = bilstm.build_bilstm(tokenizer, seed=0, **SMALL)
    objective = bilstm.LogitMatching(student, logit_cache=cache, weights=bilstm.LogitMatchingWeights.from_alpha(0.8))
    config = training.TrainConfig(steps=20, batch_size=16, learning_rate=3e-2, warmup_ratio=0.0, log_every=5)
    history = training.fit(objective, encoded, tokenizer, config, progress=False)
    assert history.step == [5, 10, 15, 20] and set(history.terms) == {"logit_mse", "hard_label"}
    assert history.weights == {"logit_mse": 0.8, "hard_label": pytest.approx(0.2)}
    assert history.loss[-1] < 0.5 * history.loss[0]
    assert history.terms["logit_mse"][-1] < 0.5 * history.terms["logit_mse"][0]
    assert not student.training


def test_evaluate_and_benchmark_run_on_a_bilstm(small, tokenizer, sst2):
    dev = data.subsample(sst2["validation"], 40, seed=0)
    student = bilstm.build_bilstm(tokenizer, num_labels=2, **SMALL)
    result = evaluation.evaluate(student, dev, tokenizer)
    assert result.n == 40 and 0 <= result.accuracy <= 1 and result.f1 is not None
    table = evaluation.benchmark_inference({"bilstm": student}, dev, tokenizer, accuracy={"bilstm": result.accuracy})
    row = table.rows[0]
    assert row["sentences_per_s"] > 0 and row["params_m"] == pytest.approx(models.parameter_counts(student)["total"] / 1e6)
    assert "bilstm" in table.to_markdown()
