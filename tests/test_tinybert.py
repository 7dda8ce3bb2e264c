import pytest
import torch

from tinybert_lab import data, tinybert, losses, models, training
from tinybert_lab.core.logit_cache import TeacherLogitCache
from tinybert_lab.methods.tinybert import DistillConfig, Distiller, LossWeights, Stage
from tinybert_lab.core.errors import TinyBertLabError
from tinybert_lab.core.mapping import LayerMap


@pytest.fixture(scope="module")
def kd_teacher():
    return models.load_teacher(seed=0)


@pytest.fixture(scope="module")
def tiny_train(sst2):
    return data.subsample(sst2["train"], 48, seed=1)


@pytest.fixture(scope="module")
def batch(tiny_train, tokenizer):
    enc = data.encode(tiny_train, tokenizer)
    return next(iter(data.make_loader(enc, tokenizer, batch_size=8, shuffle=True, seed=0)))


def mini(tokenizer, **kw):
    return models.build_student("mini2", tokenizer=tokenizer, seed=0, **kw)


# ---------------------------------------------------------------- configs
def test_loss_weights_validate():
    assert LossWeights(attention=1, hidden=2).active() == {"attention": 1.0, "hidden": 2.0}
    with pytest.raises(TinyBertLabError, match="All loss weights are 0"):
        LossWeights()
    with pytest.raises(TinyBertLabError, match="'hidden' must be a finite number >= 0, got -1"):
        LossWeights(hidden=-1)
    with pytest.raises(TinyBertLabError, match="must be a finite number"):
        LossWeights(prediction=float("nan"))
    with pytest.raises(TinyBertLabError, match=r"'atention' \(did you mean 'attention'\?\)"):
        LossWeights.from_dict({"atention": 1})


def test_distill_config_validates_and_reads_plain_data():
    config = DistillConfig.from_dict({"steps": 5, "weights": {"prediction": 1, "hard_label": 0.5}, "temperature": 2})
    assert config.weights == LossWeights(prediction=1, hard_label=0.5) and config.to_dict()["weights"]["hard_label"] == 0.5
    for bad, message in [({"temperature": 0}, "temperature must be positive"),
                         ({"temperature": -2.0}, "temperature must be positive"),
                         ({"attention_kind": "cosine"}, "DistillConfig.attention_kind must be one of .*got 'cosine'"),
                         ({"match_weghts": 1}, "Unknown DistillConfig key"),
                         ({"weights": {}}, "All loss weights are 0")]:
        with pytest.raises(TinyBertLabError, match=message):
            DistillConfig.from_dict(bad)


# ---------------------------------------------------------------- the Distiller
def test_projections_per_mapped_layer_are_seen_by_the_optimizer(tokenizer, kd_teacher):
    student = mini(tokenizer)
    distiller = Distiller(student, kd_teacher)
    assert sorted(distiller.projections) == ["0", "1", "2"]
    assert distiller.projections["1"].weight.shape == (384, 192)
    optimizer = training.make_optimizer(distiller, 1e-4, 0.01)
    trained = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert all(id(p) in trained for p in distiller.projections.parameters())
    assert all(id(p) in trained for p in student.parameters())
    assert not any(id(p) in trained for p in kd_teacher.parameters())


def test_vocab_and_label_and_head_mismatches_are_refused(tokenizer, kd_teacher):
    from transformers import BertConfig, BertForSequenceClassification

    alien = BertForSequenceClassification(BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2,
                                                     num_attention_heads=2, intermediate_size=64))
    with pytest.raises(TinyBertLabError, match=r"vocabulary \(1000 tokens\) differs from the teacher's \(30522\)"):
        Distiller(alien, kd_teacher)
    three = Distiller(mini(tokenizer, ), kd_teacher)
    three.student.config.num_labels = 3
    with pytest.raises(TinyBertLabError, match="student has 3 labels and the teacher 2"):
        three.configure(DistillConfig(weights=tinybert.PREDICTION))
    tiny = Distiller(models.build_student("bert_tiny", tokenizer=tokenizer), kd_teacher)
    with pytest.raises(TinyBertLabError, match="student has 2 heads and the teacher 12"):
        tiny.configure(DistillConfig(weights=tinybert.INTERMEDIATE))
    tiny.configure(DistillConfig(weights=tinybert.INTERMEDIATE, head_average=True))
    with pytest.raises(TinyBertLabError, match="need a teacher"):
        Distiller(mini(tokenizer)).configure(DistillConfig(weights=tinybert.PREDICTION))
    from tinybert_lab.methods.bilstm import BiLSTMConfig, BiLSTMStudent

    with pytest.raises(TinyBertLabError, match=r"vocabulary \(1000 tokens\) differs"):  # not only for BERTs
        Distiller(BiLSTMStudent(BiLSTMConfig(vocab_size=1000)), kd_teacher)


def test_student_identical_to_teacher_has_zero_intermediate_loss(kd_teacher, batch):
    import copy

    twin = copy.deepcopy(kd_teacher)
    twin.requires_grad_(True)
    distiller = Distiller(twin, kd_teacher)
    assert len(distiller.projections) == 0  # same width: nothing to project
    distiller.configure(DistillConfig(weights=LossWeights(embedding=1, attention=1, hidden=1, prediction=1),
                                      temperature=2.0))
    terms = distiller.eval().loss_terms(batch)
    assert terms["embedding"].item() == terms["hidden"].item() == terms["attention"].item() == 0.0
    # soft CE against itself is the teacher's entropy at T=2
    with torch.no_grad():
        p = torch.softmax(kd_teacher(**data.model_inputs(batch)).logits / 2.0, -1)
    entropy = -(p * p.log()).sum(-1).mean()
    assert terms["prediction"].item() == pytest.approx(entropy.item(), rel=1e-5)


def test_many_to_one_and_layer_weights_by_hand(tokenizer, kd_teacher, batch):
    from tinybert_lab.core.attention import forward_features

    layer_map = LayerMap.from_dicts([{"student": 1, "teacher": [1, 2, 3], "weight": 0.5},
                                     {"student": 2, "teacher": [6], "weight": 2.0}], 2, 6)
    distiller = Distiller(mini(tokenizer), kd_teacher, layer_map=layer_map).eval()
    distiller.configure(DistillConfig(weights=LossWeights(hidden=1, attention=1)))
    terms = distiller.loss_terms(batch)
    with torch.no_grad():
        s, t = forward_features(distiller.student, batch), forward_features(kd_teacher, batch)
        mask = batch["attention_mask"]
        avg_hidden = (t.hidden_states[1] + t.hidden_states[2] + t.hidden_states[3]) / 3
        expected_hidden = (0.5 * losses.hidden_mse(s.hidden_states[1], avg_hidden, mask, distiller.projections["1"])
                           + 2.0 * losses.hidden_mse(s.hidden_states[2], t.hidden_states[6], mask, distiller.projections["2"]))
        avg_scores = (t.attention_scores[0] + t.attention_scores[1] + t.attention_scores[2]) / 3
        expected_attention = (0.5 * losses.attention_loss(s.attention_scores[0], avg_scores, mask)
                              + 2.0 * losses.attention_loss(s.attention_scores[1], t.attention_scores[5], mask))
    torch.testing.assert_close(terms["hidden"], expected_hidden)
    torch.testing.assert_close(terms["attention"], expected_attention)
    assert set(terms) == {"hidden", "attention"}  # switched-off terms are not computed


def test_weight_without_a_mapped_layer_is_an_error(tokenizer, kd_teacher, batch):
    layer_map = LayerMap.from_dicts([{"student": 1, "teacher": [3]}], 2, 6)  # no embedding entry
    distiller = Distiller(mini(tokenizer), kd_teacher, layer_map=layer_map)
    distiller.configure(DistillConfig(weights=LossWeights(embedding=1)))
    with pytest.raises(TinyBertLabError, match="'embedding' loss has a weight but the layer map has no entry"):
        distiller.loss_terms(batch)


# ---------------------------------------------------------------- teacher-logit cache
def test_logit_cache_looks_up_by_id_and_persists(tmp_cache, tokenizer, kd_teacher, tiny_train):
    enc = data.encode(tiny_train, tokenizer)
    cache = TeacherLogitCache.build(kd_teacher, enc, tokenizer)
    assert len(list((tmp_cache / "teacher_logits").glob("*/logits.npy"))) == 1
    shuffled = next(iter(data.make_loader(enc, tokenizer, batch_size=8, shuffle=True, seed=7)))
    with torch.no_grad():
        direct = kd_teacher(**data.model_inputs(shuffled)).logits
    torch.testing.assert_close(cache.lookup(shuffled["idx"]), direct, rtol=1e-4, atol=1e-5)
    again = TeacherLogitCache.build(kd_teacher, enc, tokenizer)
    assert again.key == cache.key and torch.equal(again.logits, cache.logits)
    import numpy as np
    assert isinstance(np.load(tmp_cache / "teacher_logits" / cache.key / "logits.npy", mmap_mode="r"), np.memmap)
    with pytest.warns(UserWarning, match="truncated"):
        short_enc = data.encode(tiny_train, tokenizer, max_length=8)
    shorter = TeacherLogitCache.build(kd_teacher, short_enc, tokenizer)
    assert shorter.key != cache.key  # max length changed -> new cache
    with pytest.raises(TinyBertLabError, match="not in the teacher-logit cache"):
        cache.lookup(torch.tensor([10**7]))


def test_logit_cache_built_in_shares_equals_one_process(tmp_path, tokenizer, kd_teacher, tiny_train):
    """Under several processes each scores a contiguous share and the main one joins them; played
    here in one process, rank 1 first (it writes its share and waits), then the main rank 0."""
    from tinybert_lab import parallel

    class Played(parallel.World):
        def barrier(self):  # the other rank is played before or after this one
            pass

    enc = data.encode(tiny_train, tokenizer)
    folder = tmp_path / "joined"
    for world in (Played(rank=1, size=2), Played(rank=0, size=2)):
        TeacherLogitCache._build_in_shares(kd_teacher, enc, tokenizer, folder, 64, world)
    joined = TeacherLogitCache.open(folder)
    whole = TeacherLogitCache.build(kd_teacher, enc, tokenizer, persist=False)
    assert joined.ids.tolist() == whole.ids.tolist() == list(enc["idx"])  # dataset order, every example once
    torch.testing.assert_close(joined.logits, whole.logits, rtol=1e-4, atol=1e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["joined"]  # the shares are gone
    three = tmp_path / "three"  # more processes than examples: the empty shares are fine
    few = enc.select(range(2))
    for rank in (2, 1, 0):
        TeacherLogitCache._build_in_shares(kd_teacher, few, tokenizer, three, 64, Played(rank=rank, size=3))
    assert TeacherLogitCache.open(three).ids.tolist() == list(few["idx"])


# ---------------------------------------------------------------- stages, resume, determinism
def _stages(**kw):
    return tinybert.two_step_stages(4, 4, batch_size=8, learning_rate=1e-3, log_every=1, **kw)


def test_two_step_task_distillation_runs_both_stages(tmp_cache, tokenizer, kd_teacher, tiny_train):
    distiller = Distiller(mini(tokenizer), kd_teacher)
    histories = tinybert.run_stages(distiller, _stages(), tiny_train, tokenizer, progress=False)
    assert list(histories) == ["intermediate", "prediction"]
    first, second = histories["intermediate"], histories["prediction"]
    assert set(first.terms) == {"embedding", "attention", "hidden"} and set(second.terms) == {"prediction"}
    assert first.terms["hidden"][-1] < first.terms["hidden"][0]
    assert first.weighted("attention") == first.terms["attention"]  # weight 1
    assert distiller.logit_cache is not None  # the prediction stage used cached logits
    total = [sum(first.terms[n][i] for n in first.terms) for i in range(4)]
    assert first.loss == pytest.approx(total)


def test_history_keeps_unweighted_terms_and_the_weighted_total(tmp_cache, tokenizer, kd_teacher, tiny_train):
    weights = LossWeights(attention=0.5, hidden=3.0, embedding=0.25)
    config = DistillConfig(steps=3, batch_size=8, weights=weights, log_every=1)
    history = tinybert.run_stages(Distiller(mini(tokenizer), kd_teacher), [Stage("w", config)], tiny_train,
                                 tokenizer, progress=False)["w"]
    assert history.weights == {"attention": 0.5, "hidden": 3.0, "embedding": 0.25}
    assert history.weighted("hidden") == pytest.approx([3.0 * v for v in history.terms["hidden"]])
    total = [sum(w * history.terms[n][i] for n, w in history.weights.items()) for i in range(3)]
    assert history.loss == pytest.approx(total)
    assert history.loss != pytest.approx([sum(history.terms[n][i] for n in history.terms) for i in range(3)])


def test_cached_logits_are_not_used_for_masked_inputs_or_when_caching_is_off(tmp_cache, tokenizer, kd_teacher,
                                                                              tiny_train, batch):
    enc = data.encode(tiny_train, tokenizer)
    wrong = TeacherLogitCache(torch.tensor(enc["idx"]), torch.zeros(len(enc), 2), key="wrong")
    distiller = Distiller(mini(tokenizer), kd_teacher, logit_cache=wrong)
    with torch.no_grad():
        direct = kd_teacher(**data.model_inputs(batch)).logits
    distiller.configure(DistillConfig(weights=tinybert.PREDICTION))
    assert torch.equal(distiller._teacher_logits(batch), torch.zeros(len(direct), 2))  # the cache, by id
    distiller.configure(DistillConfig(weights=tinybert.PREDICTION, mask_probability=0.15))
    torch.testing.assert_close(distiller._teacher_logits(batch), direct)  # masked inputs: the teacher runs
    tinybert.run_stages(distiller, [Stage("p", DistillConfig(steps=1, batch_size=8, weights=tinybert.PREDICTION))],
                       tiny_train, tokenizer, progress=False, cache_teacher_logits=False)
    assert distiller.logit_cache is None  # the stale cache was dropped, not used


def test_logit_cache_is_rebuilt_when_the_teacher_or_the_data_change(tmp_cache, tokenizer, kd_teacher, tiny_train):
    import copy

    stage = [Stage("p", DistillConfig(steps=1, batch_size=8, weights=tinybert.PREDICTION))]
    distiller = Distiller(mini(tokenizer), kd_teacher)
    tinybert.run_stages(distiller, stage, tiny_train, tokenizer, progress=False)
    first = distiller.logit_cache
    tinybert.run_stages(distiller, stage, tiny_train, tokenizer, progress=False)
    assert distiller.logit_cache is first  # same teacher, same data: reused
    tinybert.run_stages(distiller, stage, tiny_train.select(range(24)), tokenizer, progress=False)
    assert distiller.logit_cache.key != first.key and len(distiller.logit_cache.ids) == 24
    retrained = copy.deepcopy(kd_teacher)
    with torch.no_grad():
        retrained.classifier.bias += 1.0
    other = Distiller(mini(tokenizer), retrained)
    tinybert.run_stages(other, stage, tiny_train, tokenizer, progress=False)
    assert other.logit_cache.key != first.key
    torch.testing.assert_close(other.logit_cache.logits, first.logits + 1.0, rtol=1e-4, atol=1e-4)


def test_same_seed_same_numbers(tmp_cache, tokenizer, kd_teacher, tiny_train):
    runs = []
    for _ in range(2):
        torch.rand(3)  # whatever ran before must not matter
        distiller = Distiller(mini(tokenizer), kd_teacher)
        histories = tinybert.run_stages(distiller, _stages(), tiny_train, tokenizer, progress=False)
        runs.append((histories["prediction"].loss, distiller.student.classifier.weight.detach().clone()))
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])


def test_resume_across_stages_matches_an_uninterrupted_run(tmp_cache, tmp_path, tokenizer, kd_teacher, tiny_train):
    stages = tinybert.two_step_stages(4, 4, batch_size=8, learning_rate=1e-3, log_every=1, checkpoint_every=2)
    straight = Distiller(mini(tokenizer), kd_teacher)
    tinybert.run_stages(straight, stages, tiny_train, tokenizer, progress=False, checkpoint_dir=tmp_path / "a")

    class Stop(Exception):
        pass

    def crash(step, history):
        if "prediction" in history.weights and step == 3:
            raise Stop

    with pytest.raises(Stop):
        tinybert.run_stages(Distiller(mini(tokenizer), kd_teacher), stages, tiny_train, tokenizer, progress=False,
                           checkpoint_dir=tmp_path / "b", callbacks=[crash])
    resumed = Distiller(mini(tokenizer), kd_teacher)
    histories = tinybert.run_stages(resumed, stages, tiny_train, tokenizer, progress=False,
                                   checkpoint_dir=tmp_path / "b", resume=True)
    assert histories["intermediate"].step == [1, 2, 3, 4]  # finished stage: restored, not rerun
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_general_distillation_on_a_text_file(tmp_path, tokenizer, sst2):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(sst2["test"]["sentence"][:40]))
    config = DistillConfig(steps=3, batch_size=8, weights=tinybert.INTERMEDIATE, mask_probability=0.15, log_every=1)
    distiller, history = tinybert.general_distillation(mini(tokenizer), data.load_text_file(corpus), tokenizer,
                                                      config=config, progress=False)
    assert history.step == [1, 2, 3] and set(history.terms) == {"embedding", "attention", "hidden"}
    with pytest.raises(TinyBertLabError, match="intermediate layers only"):
        tinybert.general_distillation(mini(tokenizer), data.load_text_file(corpus), tokenizer,
                                     config=DistillConfig(steps=1, weights=tinybert.PREDICTION), progress=False)


def test_stage_names_must_be_unique(tokenizer, kd_teacher, tiny_train):
    stage = Stage("x", DistillConfig(steps=1))
    with pytest.raises(TinyBertLabError, match="Stage names must be unique"):
        tinybert.run_stages(Distiller(mini(tokenizer), kd_teacher), [stage, stage], tiny_train, tokenizer)


def test_gradient_checkpointing_gives_the_same_updates(tmp_cache, tokenizer, kd_teacher, tiny_train):
    def run(checkpointing):
        student = mini(tokenizer, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        distiller = Distiller(student, kd_teacher)
        config = DistillConfig(steps=2, batch_size=8, weights=tinybert.INTERMEDIATE, log_every=1,
                               gradient_checkpointing=checkpointing)
        calls = []
        student.bert.encoder.layer[0].intermediate.register_forward_hook(lambda *args: calls.append(1))
        history = tinybert.run_stages(distiller, [Stage("s", config)], tiny_train, tokenizer, progress=False)["s"]
        return history.loss, student.bert.encoder.layer[0].attention.self.query.weight.detach().clone(), len(calls)

    (loss_a, w_a, calls_a), (loss_b, w_b, calls_b) = run(False), run(True)
    assert loss_a == pytest.approx(loss_b, rel=1e-5)
    torch.testing.assert_close(w_a, w_b, rtol=1e-4, atol=1e-6)
    # with checkpointing the layer's forward runs again during backward: it really recomputes
    assert calls_a == 2 and calls_b == 4


def test_projections_can_start_at_the_projected_students_basis(tokenizer, kd_teacher, batch):
    from tinybert_lab import teacher_init

    student, basis = teacher_init.projected_student(kd_teacher, tokenizer, data.subsample(
        data.load_sst2()["train"], 64, seed=0), "mini2", basis_size=64)
    config = DistillConfig(weights=LossWeights(embedding=1.0, hidden=1.0))
    random_start = Distiller(student, kd_teacher)
    random_start.configure(config)
    from_basis = Distiller(student, kd_teacher)
    from_basis.init_projections(basis)
    from_basis.configure(config)
    with torch.no_grad():
        before, after = random_start.loss_terms(batch), from_basis.loss_terms(batch)
    # the student's states are the teacher's written in P's coordinates: Pᵀ maps them back
    assert after["embedding"] < 0.5 * before["embedding"]
    assert after["hidden"] < 0.75 * before["hidden"]  # LayerNorm and the rank cuts are approximate
    with pytest.raises(TinyBertLabError, match="pass the basis that project_teacher returned"):
        from_basis.init_projections(basis[:, :10])


def test_a_bilstm_student_gets_prediction_kd_but_not_layer_losses(tokenizer, kd_teacher, batch):
    from tinybert_lab import bilstm

    student = bilstm.build_bilstm(tokenizer, embedding_dim=16, hidden_size=8, mlp_size=8)
    distiller = Distiller(student, kd_teacher)
    with pytest.raises(TinyBertLabError, match=r"no Transformer layers.*\['attention', 'hidden'\]"):
        distiller.configure(DistillConfig(weights=LossWeights(attention=1.0, hidden=1.0)))
    distiller.configure(DistillConfig(weights=tinybert.PREDICTION))
    terms = distiller.loss_terms(batch)
    assert set(terms) == {"prediction"} and terms["prediction"] > 0
