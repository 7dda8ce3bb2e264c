"""label_sources: the losses of a transfer set with a few gold labels, the runs, their record, the
seed summaries. Values are computed by hand on tiny tensors."""

import json
import math

import pytest
import torch

from tinybert_lab import comparison, data, label_sources as ls, logit_cache, losses
from tinybert_lab.core.errors import TinyBertLabError


# ---------------------------------------------------------------- losses
def test_known_label_ce_by_hand():
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0], [1.0, 3.0]])
    labels = torch.tensor([0, -1, 1])
    expected = (math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-2))) / 3  # divided by B = 3, not by 2
    assert losses.known_label_ce(logits, labels).item() == pytest.approx(expected, rel=1e-6)


def test_known_label_ce_without_labels_is_zero_with_zero_gradient():
    logits = torch.randn(4, 3, requires_grad=True)
    loss = losses.known_label_ce(logits, torch.full((4,), -1))
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(logits.grad, torch.zeros(4, 3))


def test_known_label_ce_refuses_bad_shapes_and_labels():
    with pytest.raises(TinyBertLabError, match="logits \\(B, C\\) and labels \\(B,\\)"):
        losses.known_label_ce(torch.zeros(3, 2), torch.zeros(2, dtype=torch.long))
    with pytest.raises(TinyBertLabError, match="number of classes"):
        losses.known_label_ce(torch.zeros(2, 2), torch.tensor([0, 2]))


def test_pseudo_label_ce_keeps_only_the_teachers_argmax():
    student = torch.tensor([[0.5, -0.5, 0.0], [1.0, 1.0, 2.0]])
    confident = torch.tensor([[9.0, 0.0, 0.0], [0.0, 0.0, 9.0]])
    unsure = torch.tensor([[1.0, 0.9, 0.8], [0.0, 0.5, 0.6]])  # same argmax, other second choices
    by_hand = torch.nn.functional.cross_entropy(student, torch.tensor([0, 2]))
    assert losses.pseudo_label_ce(student, confident).item() == pytest.approx(by_hand.item())
    assert losses.pseudo_label_ce(student, unsure).item() == pytest.approx(by_hand.item())
    assert losses.soft_kl(student, confident, 1.0).item() != pytest.approx(losses.soft_kl(student, unsure, 1.0).item())


# ---------------------------------------------------------------- the objective
class _Logits(torch.nn.Module):
    """A 'student' that returns fixed logits per example id, so the loss can be checked by hand."""

    def __init__(self, table):
        super().__init__()
        self.table = torch.nn.Parameter(table.clone())
        self.current = None

    def forward(self, **inputs):
        return type("Out", (), {"logits": self.table[inputs["input_ids"][:, 0]]})()


def _batch(ids, labels):
    ids = torch.tensor(ids)
    return {"input_ids": ids[:, None], "attention_mask": torch.ones(len(ids), 1, dtype=torch.long),
            "labels": torch.tensor(labels), "idx": ids}


@pytest.mark.parametrize("source", ["soft", "hard"])
def test_transfer_objective_terms_add_up_to_one_mean_per_example(source):
    torch.manual_seed(0)
    student_table, teacher_table = torch.randn(5, 3), torch.randn(5, 3)
    cache = logit_cache.TeacherLogitCache(torch.arange(5), teacher_table)
    objective = ls.TransferObjective(_Logits(student_table), cache, source=source, temperature=2.0)
    batch = _batch([4, 1, 3, 0], [-1, 2, -1, 0])
    terms = objective.loss_terms(batch)
    per_example = []
    for i, y in zip([4, 1, 3, 0], [-1, 2, -1, 0]):
        s, t = student_table[i:i + 1], teacher_table[i:i + 1]
        teacher = losses.soft_kl(s, t, 2.0) if source == "soft" else losses.pseudo_label_ce(s, t)
        gold = torch.nn.functional.cross_entropy(s, torch.tensor([y])) if y >= 0 else 0.0
        per_example.append(teacher + gold)
    assert (terms["teacher"] + terms["gold"]).item() == pytest.approx(torch.stack(per_example).mean().item(), rel=1e-5)
    assert terms["gold"].item() > 0


def test_transfer_objective_refuses_gold_source_and_bad_temperature():
    cache = logit_cache.TeacherLogitCache(torch.arange(2), torch.zeros(2, 2))
    with pytest.raises(TinyBertLabError, match="'gold' needs no teacher"):
        ls.TransferObjective(_Logits(torch.zeros(2, 2)), cache, source="gold")
    with pytest.raises(TinyBertLabError, match="temperature must be positive"):
        ls.TransferObjective(_Logits(torch.zeros(2, 2)), cache, temperature=0)


# ---------------------------------------------------------------- gold examples
class _Encoded:
    def __init__(self, ids):
        self.ids = ids

    def __getitem__(self, column):
        return self.ids


def test_gold_ids_are_seeded_sized_and_all_when_asked_for_more():
    encoded = _Encoded(list(range(100, 300)))
    a, b = ls.gold_ids(encoded, 20, seed=0), ls.gold_ids(encoded, 20, seed=0)
    assert a == b and len(a) == 20 and len(set(a)) == 20 and set(a) <= set(range(100, 300))
    assert ls.gold_ids(encoded, 20, seed=1) != a
    assert ls.gold_ids(encoded, 500, seed=3) == list(range(100, 300))
    for bad in (0, -5, 2.5, True):
        with pytest.raises(TinyBertLabError, match="n_gold must be a positive"):
            ls.gold_ids(encoded, bad, seed=0)


def test_hide_labels_keeps_only_the_gold_ones():
    import datasets

    encoded = datasets.Dataset.from_dict({"input_ids": [[1], [2], [3]], "label": [1, 0, 1], "idx": [7, 8, 9]})
    hidden = ls.hide_labels(encoded, [9, 7])
    assert list(hidden["label"]) == [1, -1, 1] and list(hidden["idx"]) == [7, 8, 9]
    assert list(ls.hide_labels(encoded, [])["label"]) == [-1, -1, -1]


# ---------------------------------------------------------------- run specs and the record
def test_runspec_defaults_key_and_validation():
    spec = ls.RunSpec("sst2", "teacher", "soft", n_gold=500, seed=2)
    assert spec.learning_rate == ls.LEARNING_RATES["teacher"]
    assert spec.key == "sst2/teacher/soft/n500/seed2/steps600/T1/lr0.0001"
    assert ls.RunSpec("sst2", "random", "gold", 500, 0).learning_rate == ls.LEARNING_RATES["random"]
    with pytest.raises(TinyBertLabError, match="start must be one of"):
        ls.RunSpec("sst2", "pretrained", "soft", 500, 0)
    with pytest.raises(TinyBertLabError, match="source must be one of"):
        ls.RunSpec("sst2", "random", "silver", 500, 0)
    with pytest.raises(TinyBertLabError, match="n_gold must be a positive integer"):
        ls.RunSpec("sst2", "random", "gold", 0, 0)
    with pytest.raises(TinyBertLabError, match="temperature must be positive"):
        ls.RunSpec("sst2", "random", "soft", 10, 0, temperature=-1.0)
    with pytest.raises(TinyBertLabError, match="Unknown RunSpec key.*'n_glod'"):
        ls.RunSpec.from_dict({"task": "sst2", "start": "random", "source": "gold", "n_glod": 5, "seed": 0})


def test_record_appends_survives_reload_and_a_rerun_skips_finished_runs(tmp_path, monkeypatch):
    path = tmp_path / "record.json"
    specs = [ls.RunSpec("sst2", "random", source, n_gold=10, seed=0, steps=3) for source in ls.SOURCES]
    trained = []

    def fake_train(setup, spec, progress=False):
        trained.append(spec.key)
        return {"accuracy": 0.5 + 0.1 * len(trained), "seconds": 1.0, "model": None}

    monkeypatch.setattr(ls, "train_run", fake_train)
    setup = ls.Setup("sst2", None, None, None, [0] * 7, None, [0] * 4, 0.9)
    record = ls.RunRecord(path, command="python bench.py")
    ls.run_grid(setup, specs[:2], record, log=lambda line: None)
    stored = json.loads(path.read_text())
    assert stored["command"] == "python bench.py" and "torch" in stored["machine"]
    assert [r["source"] for r in stored["runs"]] == ["gold", "hard"]
    assert stored["runs"][0]["teacher_accuracy"] == 0.9 and stored["runs"][0]["transfer_size"] == 7
    assert {"date", "commit", "accuracy", "seconds"} <= set(stored["runs"][0])
    again = ls.RunRecord(path)  # a new session: the two finished runs are skipped
    results = ls.run_grid(setup, specs, again, log=lambda line: None)
    assert trained == [specs[0].key, specs[1].key, specs[2].key]
    assert [r["accuracy"] for r in results] == pytest.approx([0.6, 0.7, 0.8])
    assert len(json.loads(path.read_text())["runs"]) == 3


def test_broken_record_is_a_clear_error(tmp_path):
    path = tmp_path / "record.json"
    path.write_text("{not json")
    with pytest.raises(TinyBertLabError, match="not valid JSON"):
        ls.RunRecord(path)
    with pytest.raises(TinyBertLabError, match="when_kd_pays.py"):
        ls.load_record(tmp_path / "missing.json")


# ---------------------------------------------------------------- summaries and noise
def _run(start, source, seed, accuracy, n_gold=500):
    return {"task": "sst2", "start": start, "source": source, "n_gold": n_gold, "seed": seed, "steps": 600,
            "temperature": 1.0, "learning_rate": 1e-4, "accuracy": accuracy}


def test_summarise_mean_std_and_paired_difference_by_hand():
    runs = [_run("teacher", "gold", s, a) for s, a in [(0, 0.80), (1, 0.82), (2, 0.78)]]
    runs += [_run("teacher", "soft", s, a) for s, a in [(2, 0.85), (0, 0.86), (1, 0.87)]]
    runs.append({**_run("teacher", "soft", 0, 0.10), "steps": 100})  # another budget: filtered out
    cells = {c.source: c for c in ls.summarise(runs, steps=600)}
    assert cells["gold"].mean == pytest.approx(0.80) and cells["gold"].std == pytest.approx(0.02)
    assert cells["soft"].seeds == (0, 1, 2) and cells["soft"].accuracies == (0.86, 0.87, 0.85)
    mean, std, count = comparison.paired_difference(cells["soft"], cells["gold"])  # diffs 0.06, 0.05, 0.07
    assert (mean, count) == (pytest.approx(0.06), 3) and std == pytest.approx(0.01)
    assert comparison.verdict(mean, std, count) == "clear gain"
    assert comparison.verdict(-mean, std, count) == "clear loss"
    assert comparison.verdict(0.005, 0.01, 3) == "within noise"
    assert comparison.verdict(0.06, 0.0, 2) == "too few seeds to tell"


def test_paired_difference_needs_common_seeds():
    a = ls.summarise([_run("teacher", "gold", 0, 0.8)])[0]
    b = ls.summarise([_run("teacher", "soft", 1, 0.9)])[0]
    with pytest.raises(TinyBertLabError, match="share no seed"):
        comparison.paired_difference(a, b)


def test_binomial_halfwidth_on_sst2_dev():
    assert comparison.binomial_halfwidth(0.85, 872) == pytest.approx(1.96 * math.sqrt(0.85 * 0.15 / 872))
    assert 0.0235 < comparison.binomial_halfwidth(0.85, 872) < 0.0240  # "about ±2.4 points at 85 %"
    with pytest.raises(TinyBertLabError):
        comparison.binomial_halfwidth(1.2, 872)


# ---------------------------------------------------------------- real runs: same seed, same number
@pytest.fixture(scope="module")
def small_setup(teacher, tokenizer, sst2):
    transfer = data.subsample(sst2["train"], 96, seed=0)
    encoded = data.encode(transfer, tokenizer)
    cache = logit_cache.TeacherLogitCache.build(teacher, encoded, tokenizer, persist=False)
    return ls.Setup("sst2", tokenizer, teacher, transfer, encoded, cache, data.subsample(sst2["validation"], 40), 0.5,
                    batch_size=16)


@pytest.mark.parametrize("start,source", [("random", "gold"), ("random", "soft"), ("teacher", "hard")])
def test_a_run_is_reproducible_from_its_seed(small_setup, start, source):
    spec = ls.RunSpec("sst2", start, source, n_gold=20, seed=1, steps=3)
    first, second = ls.train_run(small_setup, spec), ls.train_run(small_setup, spec)
    assert first["accuracy"] == second["accuracy"]
    for a, b in zip(first["model"].parameters(), second["model"].parameters()):
        assert torch.equal(a, b)  # bit for bit, from either start
    other = ls.train_run(small_setup, ls.RunSpec("sst2", start, source, n_gold=20, seed=2, steps=3))
    assert not torch.allclose(first["model"].classifier.weight, other["model"].classifier.weight, atol=1e-5)


def test_setup_and_run_tasks_must_match(small_setup):
    with pytest.raises(TinyBertLabError, match="setup is for 'sst2'"):
        ls.train_run(small_setup, ls.RunSpec("trec", "random", "gold", 5, 0, steps=1))


def test_smaller_setup_keeps_ids_and_shares_the_teacher_logits(small_setup):
    part = ls.smaller(small_setup, 30)
    assert len(part.encoded) == len(part.transfer) == 30
    assert set(part.encoded["idx"]) <= set(small_setup.encoded["idx"]) and part.logits is small_setup.logits
    assert list(part.encoded["idx"]) == list(ls.smaller(small_setup, 30).encoded["idx"])  # seeded
    assert ls.smaller(small_setup, 10_000) is small_setup
    run = ls.train_run(part, ls.RunSpec("sst2", "random", "soft", n_gold=5, seed=0, steps=2))
    assert 0 <= run["accuracy"] <= 1
