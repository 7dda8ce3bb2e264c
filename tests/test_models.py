import json

import pytest
import torch
from transformers import BertForSequenceClassification

from tinybert_lab import attention, data, models
from tinybert_lab.core.errors import TinyBertLabError


@pytest.fixture(scope="module")
def batch(sst2, tokenizer):
    enc = data.encode(sst2["validation"].select(range(6)), tokenizer)
    return next(iter(data.make_loader(enc, tokenizer, batch_size=6, shuffle=False, bucket=False)))


# ---------------------------------------------------------------- the offline teacher
def test_offline_teacher_is_minilm_l6(teacher, tokenizer):
    c = teacher.config
    assert (c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.intermediate_size) == (6, 384, 12, 1536)
    assert c.vocab_size == len(tokenizer) == 30522
    assert c._attn_implementation == attention.SCORES_ATTENTION
    counts = models.parameter_counts(teacher)
    # 22,713,216 in the sentence-transformers checkpoint (incl. pooler) + a fresh 384x2 classifier.
    assert counts["total"] == 22_713_216 + 384 * 2 + 2
    assert counts["embedding"] == (30522 + 512 + 2) * 384 + 2 * 384
    assert counts["non_embedding"] == counts["total"] - counts["embedding"]


def test_size_on_disk_is_four_bytes_per_parameter(teacher):
    size = models.size_on_disk(teacher)
    params = models.parameter_counts(teacher)["total"]
    buffers = sum(b.numel() * b.element_size() for b in teacher.buffers())
    assert 4 * params + buffers <= size < 4 * params + buffers + 100_000  # + safetensors header


# ---------------------------------------------------------------- pre-softmax scores
def test_softmax_of_scores_plus_mask_equals_hf_probabilities(teacher, batch):
    with torch.no_grad():
        feats = attention.forward_features(teacher, batch)
    assert len(feats.attention_scores) == len(feats.attention_probs) == 6
    assert len(feats.hidden_states) == 7 and feats.embeddings is feats.hidden_states[0]
    B, L = batch["input_ids"].shape
    mask = attention.additive_mask(batch["attention_mask"])
    for scores, probs in zip(feats.attention_scores, feats.attention_probs):
        assert scores.shape == probs.shape == (B, 12, L, L)
        torch.testing.assert_close(torch.softmax(scores + mask, -1), probs, rtol=0, atol=1e-6)
        assert torch.isfinite(scores).all()  # unmasked: no -3.4e38 sentinels to overflow
        # padded keys get exactly zero probability
        assert (probs.masked_select(batch["attention_mask"][:, None, None, :] == 0) == 0).all()


def test_scores_are_q_k_over_sqrt_d_by_hand(teacher, batch):
    with torch.no_grad():
        feats = attention.forward_features(teacher, batch)
        layer = teacher.bert.encoder.layer[0].attention.self
        x = feats.hidden_states[0]  # input of layer 1
        B, L, _ = x.shape
        q = layer.query(x).view(B, L, 12, 32).transpose(1, 2)
        k = layer.key(x).view(B, L, 12, 32).transpose(1, 2)
        expected = q @ k.transpose(-1, -2) / 32 ** 0.5
    torch.testing.assert_close(feats.attention_scores[0], expected, rtol=1e-5, atol=1e-5)


def test_outputs_are_identical_to_plain_eager_attention(teacher, batch):
    path = models.offline_teacher_path()
    eager = BertForSequenceClassification.from_pretrained(path, num_labels=2, attn_implementation="eager").eval()
    eager.load_state_dict(teacher.state_dict())
    inputs = data.model_inputs(batch)
    with torch.no_grad():
        ref = eager(**inputs, output_hidden_states=True, output_attentions=True)
        ours = attention.forward_features(teacher, batch)
        plain = teacher(**inputs)
    assert torch.equal(ref.logits, ours.logits) and torch.equal(ref.logits, plain.logits)
    for a, b in zip(ref.hidden_states, ours.hidden_states):
        assert torch.equal(a, b)
    for a, b in zip(ref.attentions, ours.attention_probs):
        assert torch.equal(a, b)


def test_features_need_the_scores_implementation(batch):
    eager = BertForSequenceClassification.from_pretrained(
        models.offline_teacher_path(), num_labels=2, attn_implementation="eager")
    with pytest.raises(TinyBertLabError, match="use_scores_attention"):
        attention.forward_features(eager, batch)
    attention.use_scores_attention(eager)
    with torch.no_grad():
        assert len(attention.forward_features(eager, batch).attention_scores) == 6


def test_scores_carry_gradients_for_the_student(tokenizer, batch):
    student = models.build_student("mini2", tokenizer=tokenizer)
    feats = attention.forward_features(student, batch)
    feats.attention_scores[-1].sum().backward()
    assert student.bert.encoder.layer[-1].attention.self.query.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------- students
@pytest.mark.parametrize("preset,layers,hidden,heads", [
    ("tinybert4", 4, 312, 12), ("tinybert6", 6, 768, 12), ("bert_tiny", 2, 128, 2), ("mini2", 2, 192, 12)])
def test_student_presets(tokenizer, preset, layers, hidden, heads):
    student = models.build_student(preset, tokenizer=tokenizer)
    c = student.config
    assert (c.num_hidden_layers, c.hidden_size, c.num_attention_heads) == (layers, hidden, heads)
    assert c.vocab_size == 30522 and c._attn_implementation == attention.SCORES_ATTENTION


def test_tinybert4_parameter_count_matches_the_paper(tokenizer):
    counts = models.parameter_counts(models.build_student("tinybert4", tokenizer=tokenizer))
    assert round(counts["total"] / 1e6, 1) == 14.4  # paper: 14.5 M (with its pooler/vocab details)
    assert counts["non_embedding"] == 4 * (4 * 312 * 312 + 4 * 312 + 2 * 312 * 1200 + 1200 + 312 + 4 * 312) \
        + 312 * 312 + 312 + 312 * 2 + 2


def test_student_init_is_seeded(tokenizer):
    a, b, c = (models.build_student("mini2", tokenizer=tokenizer, seed=s) for s in (1, 1, 2))
    wa, wb, wc = (m.bert.encoder.layer[0].attention.self.query.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_student_overrides_and_their_errors(tokenizer):
    s = models.build_student("tinybert4", tokenizer=tokenizer, num_hidden_layers=3)
    assert s.config.num_hidden_layers == 3
    with pytest.raises(TinyBertLabError, match="Unknown student preset 'tinybert5'. Choose one of: tinybert4"):
        models.build_student("tinybert5", tokenizer=tokenizer)
    with pytest.raises(TinyBertLabError, match=r"'hiden_size' \(did you mean 'hidden_size'\?\)"):
        models.build_student("tinybert4", tokenizer=tokenizer, hiden_size=256)
    with pytest.raises(TinyBertLabError, match="vocab_size=1000 differs from the tokenizer's 30522"):
        models.build_student("tinybert4", tokenizer=tokenizer, vocab_size=1000)
    with pytest.raises(TinyBertLabError, match="not divisible by num_attention_heads=12"):
        models.build_student("tinybert4", tokenizer=tokenizer, hidden_size=100)


def test_vocab_mismatch_between_model_and_tokenizer_is_refused(tokenizer):
    from transformers import BertConfig

    alien = BertForSequenceClassification(BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=64))
    with pytest.raises(TinyBertLabError, match="1000-token vocabulary but the tokenizer has 30522"):
        models.check_tokenizer_matches(alien, tokenizer)


def test_position_limit_is_checked(tokenizer):
    student = models.build_student("mini2", tokenizer=tokenizer, max_position_embeddings=32)
    with pytest.raises(TinyBertLabError, match="max_length=64 exceeds the model's 32 position embeddings"):
        models.check_fits_positions(student, 64)


def test_save_load_and_pipeline_round_trip(tmp_path, tokenizer, sst2):
    from transformers import pipeline

    student = models.build_student("mini2", tokenizer=tokenizer, seed=5).eval()
    student.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    reloaded = models.load_classifier(tmp_path)  # any saved BERT classifier loads, with scores attention
    assert not reloaded.training
    sentence = sst2["validation"][0]["sentence"]
    inputs = tokenizer(sentence, return_tensors="pt")
    with torch.no_grad():
        expected = student(**inputs).logits.softmax(-1)[0]
        assert torch.allclose(reloaded(**inputs).logits.softmax(-1)[0], expected, atol=1e-6)
    classify = pipeline("text-classification", model=str(tmp_path), top_k=None)
    scores = {d["label"]: d["score"] for d in classify([sentence])[0]}
    assert pytest.approx(scores["LABEL_1"], abs=1e-4) == expected[1].item()


# ---------------------------------------------------------------- teacher paths that are not BERT
def test_teacher_path_that_is_not_a_model(tmp_path):
    with pytest.raises(TinyBertLabError, match="not a Hugging Face model folder"):
        models.load_teacher(tmp_path)
    with pytest.raises(TinyBertLabError, match="not a Hugging Face model folder"):
        models.load_classifier(tmp_path)
    with pytest.raises(TinyBertLabError, match="load_classifier needs a folder.*load_teacher"):
        models.load_classifier(None)


def test_teacher_path_that_is_not_bert(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(TinyBertLabError, match="holds a 'gpt2' model"):
        models.load_teacher(tmp_path)


def test_unknown_hub_name_offline_is_a_clear_error(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # fail fast, no retries
    with pytest.raises(TinyBertLabError, match="Offline, use load_teacher\\(\\)"):
        models.load_teacher("no-such-user/no-such-bert")


def test_teacher_head_init_is_seeded():
    a, b, c = (models.load_teacher(seed=s).classifier.weight for s in (0, 0, 1))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_pca_embedding_init_from_the_teacher(tokenizer, teacher):
    student = models.build_student("tinybert4", tokenizer=tokenizer)
    P = models.init_embeddings_from_teacher(student, teacher)
    E_t = teacher.bert.embeddings.word_embeddings.weight.detach()
    E_s = student.bert.embeddings.word_embeddings.weight.detach()
    assert P.shape == (384, 312)
    torch.testing.assert_close(P.T @ P, torch.eye(312), atol=1e-4, rtol=0)  # orthonormal directions
    torch.testing.assert_close(E_s, E_t @ P)
    # the 312 top directions keep most of the table: reconstruction error well under 30 %
    error = (E_s @ P.T - E_t).norm() / E_t.norm()
    assert error < 0.3
    pos_t = teacher.bert.embeddings.position_embeddings.weight.detach()
    torch.testing.assert_close(student.bert.embeddings.position_embeddings.weight.detach(), pos_t @ P)
    wide = models.build_student("tinybert6", tokenizer=tokenizer)
    with pytest.raises(TinyBertLabError, match="wider .768. than the teacher .384."):
        models.init_embeddings_from_teacher(wide, teacher)


def test_loading_the_base_teacher_prints_no_load_report(capfd):
    from tinybert_lab import models

    models.load_teacher(num_labels=3)
    captured = capfd.readouterr()
    assert "LOAD REPORT" not in captured.err + captured.out and "MISSING" not in captured.err + captured.out
    from transformers.utils import logging as hf_logging

    assert hf_logging.is_progress_bar_enabled()  # settings restored afterwards
