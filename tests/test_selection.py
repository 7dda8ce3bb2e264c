"""Recipe selection: choices read validation accuracy only, dev is reported for the chosen settings."""

import pytest

from tinybert_lab import selection
from tinybert_lab.core.errors import TinyBertLabError
from tinybert_lab.studies.selection import GRID, Setting


def run(setting, seed, validation, dev, steps=600):
    return {"recipe": setting.recipe, "learning_rate": setting.learning_rate,
            "intermediate_share": setting.intermediate_share, "seed": seed, "steps": steps,
            "validation_accuracy": validation, "dev_accuracy": dev}


def full_grid(recipe, best_index, seeds=selection.SELECTION_SEEDS):
    """Every setting of ``recipe``'s grid for ``seeds``; the one at ``best_index`` validates best,
    while dev says the opposite (a choice made on dev would differ)."""
    runs = []
    for i, setting in enumerate(GRID[recipe]):
        good = i == best_index
        runs += [run(setting, seed, 0.80 + 0.05 * good, 0.85 - 0.05 * good) for seed in seeds]
    return runs


def test_choice_waits_for_the_whole_grid_then_takes_the_best_validation():
    runs = full_grid("kd-teacher", best_index=4)
    assert selection.choose(runs[:-1], "kd-teacher") == selection.Choice(selection.DEFAULTS["kd-teacher"], None)
    choice = selection.choose(runs, "kd-teacher")
    assert choice.swept and choice.setting == GRID["kd-teacher"][4]
    assert choice.validation == pytest.approx(0.85)
    assert not selection.chosen(runs)["labels"].swept  # other recipes keep their defaults


def test_choice_never_reads_dev_and_ties_keep_grid_order():
    runs = full_grid("labels", best_index=2)
    for r in runs:
        r["dev_accuracy"] = 1.0 if r["learning_rate"] == GRID["labels"][0].learning_rate else 0.0
    assert selection.choose(runs, "labels").setting == GRID["labels"][2]
    tied = [dict(r, validation_accuracy=0.8) for r in runs]
    assert selection.choose(tied, "labels").setting == GRID["labels"][0]
    with pytest.raises(TinyBertLabError, match="Unknown recipe"):
        selection.choose(runs, "nope")


def test_report_gives_the_chosen_settings_dev_over_seeds_and_paired_differences():
    runs = full_grid("labels-teacher", 1) + full_grid("kd-teacher", 0)
    teacher_start, kd = GRID["labels-teacher"][1], GRID["kd-teacher"][0]
    runs += [run(teacher_start, 2, 0.85, 0.80), run(kd, 2, 0.85, 0.82)]
    rows = {row.recipe: row for row in selection.report(runs)}
    assert set(rows) == {"labels-teacher", "kd-teacher"}
    assert rows["kd-teacher"].seeds == (0, 1, 2)
    assert rows["kd-teacher"].accuracies == pytest.approx((0.80, 0.80, 0.82))
    mean, std, count, verdict = selection.compare(list(rows.values()), "kd-teacher", "labels-teacher")
    assert (count, verdict) == (3, "within noise")
    assert mean == pytest.approx((0.0 + 0.0 + 0.02) / 3)
    assert selection.compare(list(rows.values()), "kd-general", "kd-teacher") is None


def test_committed_record_is_well_formed():
    runs = selection.load_record()["runs"]
    for r in runs:
        setting = Setting(r["recipe"], r["learning_rate"], r.get("intermediate_share", 0.0))
        assert setting in GRID[r["recipe"]]
        assert 0 <= r["validation_accuracy"] <= 1 and 0 <= r["dev_accuracy"] <= 1
    assert len({selection.run_key(r) for r in runs}) == len(runs)


def test_tables_mark_the_choice_and_print_dev_only_for_chosen_settings():
    runs = full_grid("labels", best_index=1)
    table = selection.selection_table(runs, order=["labels", "kd-teacher"])
    chosen_line = next(line for line in table.splitlines() if "✓" in line)
    assert f"lr {GRID['labels'][1].learning_rate:g}" in chosen_line and "85.00 %" in chosen_line
    assert table.count("✓") == 1 and "not run yet" in table  # kd-teacher not swept: no mark
    dev = selection.dev_table(runs)
    assert "80.00 ± 0.00 % (2)" in dev and "85.00 ±" not in dev  # the other settings' dev never shown
    assert selection.dev_table([]) == ""


def test_dev_table_leaves_out_the_differences_until_two_recipes_share_seeds():
    alone = selection.dev_table(full_grid("kd-teacher", 0))
    assert "two-step KD, teacher start" in alone and "difference" not in alone
    both = selection.dev_table(full_grid("kd-teacher", 0) + full_grid("labels-teacher", 0))
    assert "distillation: two-step KD vs labels only" in both and "too few seeds to tell" in both
