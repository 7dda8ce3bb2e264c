"""methods.recipe: the one home of TinyBERT's task recipe, its shipped settings and its fair baseline."""

import pytest
import torch

from tinybert_lab import teacher_init, data, models, recipe, selection
from tinybert_lab.core.errors import TinyBertLabError
from tinybert_lab.methods.recipe import CHOSEN, Setting


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_setting_validates_and_splits_the_budget():
    assert Setting("kd-teacher", 1e-4, 1 / 6).stage_steps(600) == (100, 500)
    assert Setting("kd-teacher", 1e-4, 1 / 6).stage_steps(12) == (2, 10)
    assert Setting("labels", 3e-4).stage_steps(600) == (0, 600)
    assert "1/6" in Setting("kd-teacher", 1e-4, 1 / 6).describe()
    with pytest.raises(TinyBertLabError, match="Setting.recipe must be one of .*got 'kd-random'"):
        Setting("kd-random", 1e-4, 0.5)
    with pytest.raises(TinyBertLabError, match="intermediate_share"):
        Setting("labels", 1e-4, 0.5)
    with pytest.raises(TinyBertLabError, match="intermediate_share"):
        Setting("kd-teacher", 1e-4)
    with pytest.raises(TinyBertLabError, match="positive"):
        Setting("labels", 0.0)


def test_shipped_settings_are_what_the_committed_record_chose():
    choices = selection.chosen(selection.load_record()["runs"])
    assert all(choice.swept for choice in choices.values()), "choose_recipe.json is incomplete"
    assert {name: choice.setting for name, choice in choices.items()} == CHOSEN


@pytest.fixture(scope="module")
def small(sst2):
    return data.subsample(sst2["train"], 64, seed=0), data.subsample(sst2["validation"], 32, seed=0)


def test_same_start_is_an_exact_independent_copy_equal_to_rebuilding_it(teacher, tokenizer, small):
    train, _ = small
    begin = recipe.start("teacher", teacher, tokenizer, train, seed=3)
    twin = recipe.same_start(begin)
    rebuilt = models.build_student("tinybert4", tokenizer=tokenizer, num_labels=2, seed=3)
    teacher_init.project_teacher(rebuilt, teacher, begin.basis)  # how the callers built the baseline before
    assert same_weights(twin, begin.student) and same_weights(twin, rebuilt)
    with torch.no_grad():
        next(begin.student.parameters()).add_(1.0)
    assert not same_weights(twin, begin.student)  # a copy, not the same tensors
    random_start = recipe.start("random", teacher, tokenizer, seed=3)
    assert random_start.basis is None and same_weights(random_start.student, models.build_student(
        "tinybert4", tokenizer=tokenizer, seed=3))
    with pytest.raises(TinyBertLabError, match="sample="):
        recipe.start("teacher", teacher, tokenizer)


@pytest.fixture
def fits(monkeypatch):
    """Every ``fit`` call's (stage, steps, learning rate), the training still done by the real loop."""
    from tinybert_lab.core import training
    from tinybert_lab.methods import tinybert

    calls, real = [], training.fit

    def spy(objective, encoded, tokenizer, config, **options):
        calls.append((options.get("description", "training"), config.steps, config.learning_rate))
        return real(objective, encoded, tokenizer, config, **options)

    monkeypatch.setattr(training, "fit", spy)
    monkeypatch.setattr(tinybert, "fit", spy)
    return calls


def test_distil_splits_the_budget_by_the_setting_or_by_intermediate_steps(teacher, tokenizer, small, fits):
    train, _ = small
    begin = recipe.start("teacher", teacher, tokenizer, train)
    distiller = recipe.distiller(begin, teacher)
    assert torch.equal(distiller.projections["1"].weight, begin.basis)  # projections start at the basis
    histories = recipe.distil(distiller, train, tokenizer, steps=6, batch_size=16, progress=False)
    rate = CHOSEN["kd-teacher"].learning_rate
    assert list(histories) == ["intermediate", "prediction"]
    assert fits == [("intermediate", 1, rate), ("prediction", 5, rate)]  # a sixth of 6 steps, rounded
    only_prediction = recipe.distil(distiller, train, tokenizer, steps=3, intermediate_steps=0, batch_size=16,
                                    learning_rate=1e-5, progress=False)
    assert list(only_prediction) == ["prediction"] and fits[-1] == ("prediction", 3, 1e-5)
    with pytest.raises(TinyBertLabError, match="intermediate_steps must be between 0 and steps=3"):
        recipe.distil(distiller, train, tokenizer, steps=3, intermediate_steps=4, progress=False)


def test_compare_with_labels_trains_both_from_one_start_on_the_same_budget(teacher, tokenizer, small, fits):
    train, dev = small
    runs = recipe.compare_with_labels(teacher, train, tokenizer, steps=6, batch_size=16, eval_data=dev,
                                      progress=False)
    assert set(runs) == {"distilled", "labels only", "histories"}
    kd, labels = CHOSEN["kd-teacher"].learning_rate, CHOSEN["labels-teacher"].learning_rate
    assert fits == [("intermediate", 1, kd), ("prediction", 5, kd), ("training", 6, labels)]
    assert not same_weights(runs["distilled"], runs["labels only"])
    alone = recipe.compare_with_labels(teacher, train, tokenizer, steps=2, batch_size=16, baseline=False,
                                       start_kind="random", progress=False)
    assert set(alone) == {"distilled", "histories"}
