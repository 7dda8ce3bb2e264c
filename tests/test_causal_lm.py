"""Distilling a causal language model (issue 26): the token-level losses against hand-computed
values, forward vs reverse KL on a two-peaked target, the student's initialisation, the
objectives, the cached teacher and the measures."""

import math

import pytest
import torch

from tinybert_lab import losses
from tinybert_lab.core.data import TextCorpus
from tinybert_lab.core.errors import TinyBertLabError
from tinybert_lab.core.training import TrainConfig, fit
from tinybert_lab.methods import causal_lm as lm
from tinybert_lab.methods import lm_eval

LN2 = math.log(2)
TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
        "First Citizen:\nYou are all resolved rather to die than to famish?\n\n") * 30
CORPUS = TextCorpus(TEXT[: len(TEXT) * 9 // 10], TEXT[len(TEXT) * 9 // 10:])
TINY = lm.LMTeacherSpec(layers=4, width=32, heads=4, block=32, stride=16, steps=4, batch_size=4, dropout=0.0)


def _logits(rows):
    """(1, L, V) logits from a list of L rows of V numbers."""
    return torch.tensor([rows], dtype=torch.float32)


# ---------------------------------------------------------------- losses, by hand
# teacher logits [0, ln 2, 0] -> p = [1/4, 1/2, 1/4]; student logits [0, 0, 0] -> q = [1/3, 1/3, 1/3]
P = [0.25, 0.5, 0.25]
Q = [1 / 3] * 3
TEACHER_ROW = [0.0, LN2, 0.0]
STUDENT_ROW = [0.0, 0.0, 0.0]
GARBAGE_ROW = [float("nan"), float("inf"), -3.4e38]  # an ignored position: must not matter


def _kl(a, b):
    return sum(x * math.log(x / y) for x, y in zip(a, b))


def test_forward_and_reverse_kl_hand_computed_and_ignored_positions_excluded():
    student = _logits([STUDENT_ROW, GARBAGE_ROW])
    teacher = _logits([TEACHER_ROW, GARBAGE_ROW])
    mask = torch.tensor([[1, 0]])
    forward = losses.token_forward_kl(student, teacher, mask)
    reverse = losses.token_reverse_kl(student, teacher, mask)
    assert forward.item() == pytest.approx(0.5 * math.log(9 / 8), abs=1e-6)  # Σ p log p/q
    assert forward.item() == pytest.approx(_kl(P, Q), abs=1e-6)
    assert reverse.item() == pytest.approx(math.log(32 / 27) / 3, abs=1e-6)  # Σ q log q/p
    assert reverse.item() == pytest.approx(_kl(Q, P), abs=1e-6)
    assert forward.item() != pytest.approx(reverse.item(), abs=1e-3)  # the two directions differ


def test_kl_is_averaged_over_kept_positions_only():
    student = _logits([STUDENT_ROW, STUDENT_ROW, GARBAGE_ROW])
    teacher = _logits([TEACHER_ROW, STUDENT_ROW, GARBAGE_ROW])  # second position: q = p, KL 0
    mask = torch.tensor([[1, 1, 0]])
    assert losses.token_forward_kl(student, teacher, mask).item() == pytest.approx(_kl(P, Q) / 2, abs=1e-6)


def test_temperature_squared_scaling():
    # at T = 2, logits [0, 2 ln 2, 0] soften to the same p: the loss is T² = 4 times the T = 1 one
    student = _logits([STUDENT_ROW])
    teacher = _logits([[0.0, 2 * LN2, 0.0]])
    mask = torch.ones(1, 1)
    assert losses.token_forward_kl(student, teacher, mask, 2.0).item() == pytest.approx(4 * _kl(P, Q), abs=1e-6)
    assert losses.token_reverse_kl(student, teacher, mask, 2.0).item() == pytest.approx(4 * _kl(Q, P), abs=1e-6)


def test_next_token_ce_hand_computed_with_padding_excluded():
    logits = _logits([TEACHER_ROW, GARBAGE_ROW])
    targets = torch.tensor([[1, -100]])
    value = losses.next_token_ce(logits, targets, torch.tensor([[1, 0]]))
    assert value.item() == pytest.approx(-math.log(0.5), abs=1e-6)


def test_jsd_hand_computed():
    beta = 0.5
    m = [beta * p + (1 - beta) * q for p, q in zip(P, Q)]
    expected = beta * _kl(P, m) + (1 - beta) * _kl(Q, m)
    value = losses.token_jsd(_logits([STUDENT_ROW]), _logits([TEACHER_ROW]), torch.ones(1, 1), beta)
    assert value.item() == pytest.approx(expected, abs=1e-6)
    with pytest.raises(TinyBertLabError, match="beta"):
        losses.token_jsd(_logits([STUDENT_ROW]), _logits([TEACHER_ROW]), torch.ones(1, 1), 1.0)


def test_loss_input_errors_name_the_fix():
    with pytest.raises(TinyBertLabError, match="share one tokenizer"):
        losses.token_forward_kl(torch.zeros(1, 2, 3), torch.zeros(1, 2, 4), torch.ones(1, 2))
    with pytest.raises(TinyBertLabError, match="mask has shape"):
        losses.token_reverse_kl(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), torch.ones(1, 3))
    with pytest.raises(TinyBertLabError, match="all zeros"):
        losses.token_forward_kl(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), torch.zeros(1, 2))
    with pytest.raises(TinyBertLabError, match="temperature"):
        losses.token_forward_kl(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), torch.ones(1, 2), 0.0)


def test_forward_kl_covers_both_modes_reverse_kl_settles_on_one():
    size = 41
    positions = torch.arange(size, dtype=torch.float32)
    target = torch.softmax(-(positions - 10) ** 2 / 8, 0) + torch.softmax(-(positions - 30) ** 2 / 8, 0)
    target = target / target.sum()
    forward = lm.fit_one_peak(target, "forward")
    reverse = lm.fit_one_peak(target, "reverse")
    # forward KL: one wide peak between the modes, covering both with real mass
    assert 17 <= int(forward.argmax()) <= 23
    assert forward[8:13].sum() > 0.05 and forward[28:33].sum() > 0.05
    # reverse KL: the peak sits on one mode and leaves the other almost empty
    peak = int(reverse.argmax())
    assert min(abs(peak - 10), abs(peak - 30)) <= 1
    near, far = (slice(7, 14), slice(27, 34)) if peak < 20 else (slice(27, 34), slice(7, 14))
    assert reverse[near].sum() > 0.9 and reverse[far].sum() < 0.01
    with pytest.raises(TinyBertLabError, match="direction"):
        lm.fit_one_peak(target, "sideways")


# ---------------------------------------------------------------- tokenizers and data
@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_tokenizer_round_trip(kind):
    tokenizer = lm.build_tokenizer(kind, CORPUS.train, vocab_size=300)
    sample = "Speak, speak.\nYou are all resolved"
    assert tokenizer.decode(lm.encode_text(tokenizer, sample)) == sample
    assert tokenizer.pad_token == lm.END_OF_TEXT
    if kind == "char":
        assert len(tokenizer) == len(set(CORPUS.train)) + 1
    with pytest.raises(TinyBertLabError, match="'char' or 'bpe'"):
        lm.build_tokenizer("words", CORPUS.train)


def test_token_blocks():
    blocks = lm.token_blocks(torch.arange(10), 4, stride=2)
    assert blocks["input_ids"] == [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7], [6, 7, 8, 9]]
    assert set(blocks["label"]) == {-1}
    with pytest.raises(TinyBertLabError, match="fewer than one block"):
        lm.token_blocks(torch.arange(3), 4)


# ---------------------------------------------------------------- the student's start
def test_every_other_layer_matches_distilgpt2():
    assert lm.every_other_layer(12, 6) == [0, 2, 4, 7, 9, 11]
    assert lm.every_other_layer(6, 3) == [0, 2, 5]
    assert lm.every_other_layer(4, 2) == [0, 3]
    with pytest.raises(TinyBertLabError):
        lm.every_other_layer(4, 5)


def _tiny_teacher(seed=1):
    return lm.build_lm(lm.gpt2_config(TINY, 20, pad_token_id=19), seed=seed)


def test_half_depth_student_copies_every_other_layer_bit_for_bit():
    teacher = _tiny_teacher()
    student = lm.half_depth_student(teacher)
    assert student.config.n_layer == 2 and student.copied_layers == [0, 3]
    t, s = teacher.state_dict(), student.state_dict()
    for i, j in enumerate([0, 3]):
        for name, tensor in s.items():
            if name.startswith(f"transformer.h.{i}."):
                assert torch.equal(tensor, t[name.replace(f"h.{i}.", f"h.{j}.", 1)])
    for name in ("transformer.wte.weight", "transformer.wpe.weight", "transformer.ln_f.weight", "lm_head.weight"):
        assert torch.equal(s[name], t[name])
    assert student.lm_head.weight.data_ptr() == student.transformer.wte.weight.data_ptr()  # still tied
    random = lm.half_depth_student(teacher, "random")
    assert not torch.equal(random.state_dict()["transformer.h.0.mlp.c_fc.weight"], t["transformer.h.0.mlp.c_fc.weight"])
    with pytest.raises(TinyBertLabError, match="student start"):
        lm.half_depth_student(teacher, "pretrained")
    with pytest.raises(TinyBertLabError, match="GPT2LMHeadModel"):
        lm.half_depth_student("gpt2")


# ---------------------------------------------------------------- objectives
def _batch(vocab=20, length=12, seed=0):
    ids = torch.randint(0, vocab - 1, (3, length), generator=torch.Generator().manual_seed(seed))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def test_objective_terms_and_errors():
    teacher = _tiny_teacher()
    student = lm.half_depth_student(teacher)
    objective = lm.LMObjective(student, teacher, weights={"next_token": 0.5, "forward_kl": 0.5, "reverse_kl": 0.1,
                                                          "hidden_cosine": 1.0})
    terms = objective.loss_terms(_batch())
    assert set(terms) == {"next_token", "forward_kl", "reverse_kl", "hidden_cosine"}
    assert all(torch.isfinite(v) and v >= 0 for v in terms.values())
    assert not any(p.requires_grad for p in teacher.parameters())
    with pytest.raises(TinyBertLabError, match="Unknown"):
        lm.LMObjective(student, teacher, weights={"forward_kll": 1.0})
    with pytest.raises(TinyBertLabError, match="teacher="):
        lm.LMObjective(student, None, weights={"forward_kl": 1.0})
    with pytest.raises(TinyBertLabError, match="on_policy"):
        lm.LMObjective(student, teacher, weights={"on_policy_jsd": 1.0})
    other = lm.build_lm(lm.gpt2_config(TINY, 30, pad_token_id=29))
    with pytest.raises(TinyBertLabError, match="one vocabulary"):
        lm.LMObjective(other, teacher, weights={"forward_kl": 1.0})


def test_padded_positions_do_not_change_the_loss():
    teacher = _tiny_teacher()
    student = lm.half_depth_student(teacher).eval()
    objective = lm.LMObjective(student, teacher, weights={"next_token": 1.0, "forward_kl": 1.0})
    batch = _batch(length=8)
    padded = {"input_ids": torch.cat([batch["input_ids"], torch.full((3, 4), 19)], 1),
              "attention_mask": torch.cat([batch["attention_mask"], torch.zeros(3, 4, dtype=torch.long)], 1)}
    a, b = objective.loss_terms(batch), objective.loss_terms(padded)
    for name in a:
        assert a[name].item() == pytest.approx(b[name].item(), abs=1e-5)


def test_on_policy_term_scores_only_the_sampled_continuation(monkeypatch):
    teacher = _tiny_teacher()
    student = lm.half_depth_student(teacher)
    objective = lm.LMObjective(student, teacher, weights={"on_policy_jsd": 1.0},
                               on_policy=lm.OnPolicy(fraction=1.0, prompt=4))
    seen = {}
    real_jsd = losses.token_jsd

    def spy(s_logits, t_logits, keep, beta):
        seen["keep"] = keep
        return real_jsd(s_logits, t_logits, keep, beta)

    monkeypatch.setattr(losses, "token_jsd", spy)
    sampled = {}
    real_generate = student.generate
    monkeypatch.setattr(student, "generate", lambda *a, **k: sampled.setdefault("ids", real_generate(*a, **k)))
    batch = _batch(length=12)
    value = objective.loss_terms(batch)["on_policy_jsd"]
    value.backward()
    assert value > 0 and student.transformer.h[0].mlp.c_fc.weight.grad is not None
    ids, keep = sampled["ids"], seen["keep"]
    assert ids.shape == (3, 12) and torch.equal(ids[:, :4], batch["input_ids"][:, :4])  # the window's prompt, kept
    assert not keep[:, :3].any() and keep[:, 3:].all()  # positions 3..10 predict the sampled tokens 4..11
    with pytest.raises(TinyBertLabError, match="fraction"):
        lm.OnPolicy(fraction=0.0)


def test_distillation_moves_the_student_towards_the_teacher():
    torch.manual_seed(0)
    tokenizer = lm.build_tokenizer("char", CORPUS.train)
    teacher = lm.build_lm(lm.gpt2_config(TINY, len(tokenizer), pad_token_id=tokenizer.pad_token_id), seed=3).eval()
    student = lm.half_depth_student(teacher, "random")
    train = lm.token_blocks(lm.encode_text(tokenizer, CORPUS.train), 32, stride=16)
    before = lm_eval.agreement(teacher, student, tokenizer, CORPUS.validation).kl
    fit(lm.LMObjective(student, teacher, weights={"forward_kl": 1.0}, temperature=1.0), train, tokenizer,
        TrainConfig(steps=30, batch_size=8, learning_rate=3e-3, log_every=10), progress=False)
    after = lm_eval.agreement(teacher, student, tokenizer, CORPUS.validation).kl
    assert after < 0.5 * before


# ---------------------------------------------------------------- the cached teacher, and GPT-2 from a folder
def test_teacher_is_trained_once_then_loaded_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYBERT_LAB_CACHE", str(tmp_path))
    with pytest.raises(TinyBertLabError, match="doctor --prepare"):
        lm.lm_teacher(TINY, corpus=CORPUS, train=False)
    trained = lm.lm_teacher(TINY, corpus=CORPUS, progress=False)
    assert not trained.from_cache and trained.validation_loss > 0
    loaded = lm.lm_teacher(TINY, corpus=CORPUS)
    assert loaded.from_cache and loaded.validation_loss == trained.validation_loss
    for name, tensor in trained.model.state_dict().items():
        assert torch.equal(tensor, loaded.model.state_dict()[name])
    assert loaded.tokenizer.decode(lm.encode_text(loaded.tokenizer, "Speak, speak.")) == "Speak, speak."
    other = lm.LMTeacherSpec.from_dict({**TINY.__dict__, "seed": 1})
    assert lm.teacher_key(other, CORPUS) != lm.teacher_key(TINY, CORPUS)
    with pytest.raises(TinyBertLabError, match="Unknown"):
        lm.LMTeacherSpec.from_dict({"layer": 4})
    with pytest.raises(TinyBertLabError, match="multiple of heads"):
        lm.LMTeacherSpec(width=30, heads=4)


def test_gpt2_loader_reads_a_local_gpt2_folder_and_fails_clearly_offline(tmp_path, monkeypatch):
    """The same function loads ``gpt2`` from the hub; here a tiny GPT-2 saved locally stands in for it."""
    tokenizer = lm.build_tokenizer("char", CORPUS.train)
    model = lm.build_lm(lm.gpt2_config(TINY, len(tokenizer), pad_token_id=tokenizer.pad_token_id))
    model.save_pretrained(tmp_path / "tiny-gpt2")
    tokenizer.save_pretrained(tmp_path / "tiny-gpt2")
    loaded = lm.lm_teacher(str(tmp_path / "tiny-gpt2"))
    assert loaded.model.config.n_layer == TINY.layers and len(loaded.tokenizer) == len(tokenizer)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TinyBertLabError, match="internet once"):
        lm.lm_teacher("no-such-user/no-such-gpt2")


def test_teacher_generations_keep_the_prompts_and_are_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYBERT_LAB_CACHE", str(tmp_path))
    teacher = lm.lm_teacher(TINY, corpus=CORPUS, progress=False)
    ids = lm.encode_text(teacher.tokenizer, CORPUS.train)
    prompts = lm.prompts_from(ids, count=5, length=6, seed=0)
    first = lm.teacher_generations(teacher, prompts, new_tokens=10, batch_size=2, progress=False)
    again = lm.teacher_generations(teacher, prompts, new_tokens=10, batch_size=2, progress=False)
    rows = torch.tensor(first["input_ids"])
    assert rows.shape == (5, 16) and torch.equal(rows[:, :6], prompts)
    assert first["input_ids"] == again["input_ids"] and len(list((tmp_path / "lm_generations").glob("*.npy"))) == 1
    monkeypatch.setattr(teacher.model, "generate", lambda *a, **k: 1 / 0)  # a cached set never generates again
    assert lm.teacher_generations(teacher, prompts, new_tokens=10, progress=False)["input_ids"] == first["input_ids"]

    with pytest.raises(TinyBertLabError, match="positions"):
        lm.teacher_generations(teacher, prompts, new_tokens=40, progress=False)


# ---------------------------------------------------------------- measures
def test_measures_on_a_model_against_itself():
    tokenizer = lm.build_tokenizer("char", CORPUS.train)
    model = lm.build_lm(lm.gpt2_config(TINY, len(tokenizer), pad_token_id=tokenizer.pad_token_id), seed=2)
    scores = lm_eval.language_scores(model, tokenizer, CORPUS.validation)
    assert scores.tokens == scores.characters  # one character per token
    assert scores.bits_per_character == pytest.approx(scores.loss / LN2, rel=1e-6)
    assert scores.perplexity == pytest.approx(math.exp(scores.loss))
    same = lm_eval.agreement(model, model, tokenizer, CORPUS.validation)
    assert same.top1 == 1.0 and same.kl == pytest.approx(0.0, abs=1e-6)
    spread = lm_eval.spread(model, tokenizer, CORPUS.validation)
    assert 1 <= spread.plausible <= len(tokenizer) and 0 < spread.top1 <= 1
    texts = lm_eval.samples({"a": model, "b": model}, tokenizer, ["First", "All:"], new_tokens=8, seed=3)
    assert texts["a"] == texts["b"] and all(len(t) == 8 for t in texts["a"])
    prompts = lm.prompts_from(lm.encode_text(tokenizer, CORPUS.train), count=8, length=4)
    rows = lm_eval.generation_speed({"teacher": model, "student": lm.half_depth_student(model)}, prompts,
                                    new_tokens=4, repeats=1)
    assert [(r["model"], r["batch"]) for r in rows] == [("teacher", 1), ("student", 1), ("teacher", 8), ("student", 8)]
    assert rows[0]["speed_up"] == 1.0 and all(r["tokens_per_second"] > 0 and r["size_mb"] > 0 for r in rows)
    top = lm_eval.top_tokens(lm_eval.next_token_distribution(model, tokenizer, "Speak"), tokenizer, k=3)
    assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]
    with pytest.raises(TinyBertLabError, match="empty"):
        lm_eval.next_token_distribution(model, tokenizer, "")


# ---------------------------------------------------------------- notebook 13's pieces
def test_check_token_kl_accepts_the_formula_and_refuses_wrong_answers(capsys):
    from tinybert_lab import checks

    def right(s, t, mask, direction):
        keep = mask.bool()
        log_q, log_p = torch.log_softmax(s[keep], -1), torch.log_softmax(t[keep], -1)
        a, b = (log_p, log_q) if direction == "forward" else (log_q, log_p)
        return (a.exp() * (a - b)).sum(-1).mean()

    def swapped(s, t, mask, direction):
        return right(s, t, mask, "reverse" if direction == "forward" else "forward")

    def unmasked(s, t, mask, direction):
        return right(s, t, torch.ones_like(mask), direction)

    def mean_over_vocabulary(s, t, mask, direction):
        return right(s, t, mask, direction) / s.shape[-1]

    assert checks.check_token_kl(right)
    for wrong in (swapped, unmasked, mean_over_vocabulary, lambda *args: torch.tensor(0.0)):
        assert not checks.check_token_kl(wrong)
    assert "✗" in capsys.readouterr().out


def test_generation_widget_continues_the_prompt_for_every_model():
    from tinybert_lab import widgets

    tokenizer = lm.build_tokenizer("char", CORPUS.train)
    model = lm.build_lm(lm.gpt2_config(TINY, len(tokenizer), pad_token_id=tokenizer.pad_token_id), seed=2)
    ui = widgets.generation_widget({"teacher": model, "student": lm.half_depth_student(model)}, tokenizer,
                                   prompt="All:\n", new_tokens=8)
    assert "temperature 0.8" in ui.result
    ui.children[0].value = ""
    assert "Type a prompt" in ui.result
    ui.children[0].value = "All:\n" * 10  # longer than the positions left for 8 new tokens: cut from the left
    assert "seed 0" in ui.result
    ui.children[0].value = "xyz"  # characters the teacher never saw
    assert "not in the tokenizer's vocabulary" in ui.result


def test_causal_head_similarity_of_a_model_with_itself_is_zero_on_the_diagonal():
    from tinybert_lab import headsim

    model = _tiny_teacher()
    model.set_attn_implementation("eager")
    similarity = headsim.causal_head_similarity(model, model, _batch(length=10)["input_ids"])
    assert similarity.matrix.shape == (16, 16)
    assert torch.allclose(similarity.matrix.diagonal(), torch.zeros(16), atol=1e-6)
    sdpa = _tiny_teacher()
    with pytest.raises(TinyBertLabError, match="eager"):
        headsim.causal_head_similarity(sdpa, sdpa, _batch()["input_ids"])


def test_study_summary_verdicts_and_findings_come_from_the_numbers():
    from tinybert_lab import lm_study

    runs = [{"regime": "full", "row": row, "seed": seed, "validation_loss": loss + 0.01 * seed, "agreement_top1": 0.5,
             "seconds": 60} for row, loss in (("text", 2.0), ("forward_kl", 1.9), ("reverse_kl", 2.0))
            for seed in range(3)]
    runs[4]["validation_loss"] += 0.001  # forward KL: not exactly the same gain on every seed
    summaries = {s.row: s for s in lm_study.summarise(runs, teacher_loss=1.6)}
    assert summaries["text"].verdict == "baseline"
    assert summaries["forward_kl"].verdict == "clear gain"
    assert summaries["forward_kl"].gap_closed == pytest.approx(0.1 / 0.41, abs=0.01)
    assert summaries["reverse_kl"].verdict == "within noise"
    text = " ".join(lm_study.findings(list(summaries.values())))
    assert "lower validation loss" in text and "over 3 seeds, within noise" in text
    two_seeds = lm_study.summarise([r for r in runs if r["seed"] < 2], teacher_loss=1.6)
    assert "too few seeds to tell" in " ".join(lm_study.findings(two_seeds))
    low = [{**r, "regime": "low", "row": {"text": "seq_kd"}.get(r["row"], r["row"])} for r in runs]
    extra = lm_study.findings(lm_study.summarise(low, teacher_loss=1.6), low)
    assert any("vs sequence-level KD" in sentence and "clear gain" in sentence for sentence in extra)
    fig = __import__("tinybert_lab").viz.plot_lm_objectives(list(summaries.values()), teacher_loss=1.6,
                                                            live={"text only": 2.0})
    assert len(fig.axes) == 1


def test_plots_return_figures():
    from tinybert_lab import viz

    fig = viz.plot_next_token_bars(["a", "b"], [0.6, 0.3], [0.5, 0.2])
    assert fig.axes[0].get_title() == "a soft target over the vocabulary"
    target = torch.tensor([0.5, 0.0, 0.5])
    assert len(viz.plot_one_peak_fits(target, {"forward KL": target}).axes) == 1
    with pytest.raises(TinyBertLabError):
        viz.plot_next_token_bars(["a"], [0.5, 0.5])


def test_the_low_regime_sees_its_share_of_the_text_plus_the_teachers(tmp_path, monkeypatch):
    from tinybert_lab import lm_study

    monkeypatch.setenv("TINYBERT_LAB_CACHE", str(tmp_path))
    teacher = lm.lm_teacher(TINY, corpus=CORPUS, progress=False)
    setup = lm_study.Setup(teacher, CORPUS, lm_study.StudyPlan(steps=2, batch_size=3), progress=False)
    real, mixed = setup.data("low", "text"), setup.data("low", "generated")
    low_tokens = int(len(lm.encode_text(teacher.tokenizer, CORPUS.train)) * lm_study.LOW_FRACTION)
    assert len(real) == (low_tokens - TINY.block) // TINY.stride + 1
    assert len(mixed) == len(real) + 2 * 3 and mixed["input_ids"][: len(real)] == real["input_ids"]
    assert sorted(mixed["idx"]) == list(range(len(mixed)))  # ids stay unique for the loader
    with pytest.raises(TinyBertLabError, match="offline teacher"):
        lm_study.Setup(teacher.model, CORPUS)


def test_the_teacher_wrapper_is_accepted_and_bad_lengths_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYBERT_LAB_CACHE", str(tmp_path))
    teacher = lm.lm_teacher(TINY, corpus=CORPUS, progress=False)
    student = lm.half_depth_student(teacher.model)
    objective = lm.LMObjective(student, teacher, weights={"forward_kl": 1.0})  # lm_teacher()'s result, not .model
    assert objective.teacher is teacher.model
    assert lm_eval.agreement(teacher, student, teacher.tokenizer, CORPUS.validation).positions > 0
    with pytest.raises(TinyBertLabError, match="fewer than that many new tokens"):
        lm_eval.samples({"teacher": teacher}, teacher.tokenizer, ["All:"], new_tokens=TINY.block)
    with pytest.raises(TinyBertLabError, match="Expected a language model"):
        lm.LMObjective("gpt2", None, weights={"next_token": 1.0})
