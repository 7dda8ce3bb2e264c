"""The strong teacher: chosen on the validation slice only, shipped as the record chose, loaded by name."""

import pytest

from tinybert_lab import strong_teacher
from tinybert_lab.core.errors import TinyBertLabError
from tinybert_lab.studies.strong_teacher import CHOSEN, GRID, Candidate


def run(option, validation, dev, train_size=66_349):
    return {"name": option.name, "learning_rate": option.learning_rate, "epochs": option.epochs,
            "steps": option.steps(train_size), "batch_size": strong_teacher.BATCH_SIZE, "seed": strong_teacher.SEED,
            "train_size": train_size, "split": strong_teacher.SPLIT, "validation_accuracy": validation,
            "dev_accuracy": dev}


def test_choice_follows_validation_and_never_dev():
    # GRID[2] validates best while dev ranks it last and GRID[0] first: a choice made on dev would differ
    runs = [run(option, 0.85 + 0.03 * (i == 2), 0.92 - 0.01 * i) for i, option in enumerate(GRID)]
    assert strong_teacher.choose(runs) == GRID[2]
    tied = [dict(r, validation_accuracy=0.9) for r in runs]
    assert strong_teacher.choose(tied) == GRID[0]  # a tie goes to the earlier, cheaper candidate
    earlier_split = [{k: v for k, v in r.items() if k != "split"} for r in runs]
    with pytest.raises(TinyBertLabError, match="No run of"):  # the first grid's runs no longer count
        strong_teacher.choose(earlier_split)


def test_choice_needs_the_whole_grid():
    runs = [run(option, 0.9, 0.9) for option in GRID[:-1]]
    with pytest.raises(TinyBertLabError, match=f"No run of {GRID[-1].name}.*benchmarks/strong_teacher.py"):
        strong_teacher.choose(runs)


def test_shipped_choice_is_the_committed_records_choice():
    record = strong_teacher.load_record()
    assert record["runs"], "benchmarks/results/strong_teacher.json holds no runs: run benchmarks/strong_teacher.py"
    assert strong_teacher.choose(record["runs"]) == CHOSEN
    for stored in record["runs"]:
        assert {"command", "machine", "commit", "date", "steps", "seconds", "reference_step_seconds",
                "validation_accuracy", "dev_accuracy"} <= set(stored)
        assert stored["epochs"] * stored["train_size"] <= stored["steps"] * stored["batch_size"]  # whole epochs


def test_candidates_have_names_steps_and_unknown_names_are_refused():
    assert Candidate(1e-4, 2).name == "lr0.0001-ep2"
    assert Candidate(1e-4, 2).steps(66_349) == 4_147
    assert strong_teacher.candidate(CHOSEN.name) == CHOSEN
    with pytest.raises(TinyBertLabError, match="Unknown strong teacher 'lr1-ep9'.*lr0.0002-ep2"):
        strong_teacher.strong_teacher("lr1-ep9")


def test_training_phrases_leave_out_the_validation_slice(sst2):
    train, validation, dev = strong_teacher.splits(sst2)
    assert 59_000 < len(train) < len(sst2["train"]) - len(validation)  # overlapping phrases removed too
    assert not set(train["idx"]) & set(validation["idx"])
    held = [" " + " ".join(t.lower().split()) + " " for t in validation["sentence"]]
    for text in train["sentence"][:3000]:  # no training phrase holds a held-out phrase
        assert not any(piece in " " + " ".join(text.lower().split()) + " " for piece in held)
    assert len(validation) == 1_000 and len(dev) == 872


def test_missing_teacher_says_how_to_build_it(tmp_cache):
    with pytest.raises(TinyBertLabError, match="not in the cache.*benchmarks/strong_teacher.py"):
        strong_teacher.strong_teacher(train_if_missing=False)


def test_the_final_teacher_refits_the_chosen_settings_on_every_phrase(sst2, tokenizer):
    everything = strong_teacher.all_phrases(sst2)
    assert len(everything) == len(sst2["train"]) == 67_349
    held_out_split = strong_teacher.splits(sst2)[0]
    assert strong_teacher.cached_path(CHOSEN, everything, tokenizer) != strong_teacher.cached_path(
        CHOSEN, held_out_split, tokenizer)  # a different teacher, its own cache folder
    final_run = {**run(CHOSEN, None, 0.9, train_size=len(everything)), "split": "all"}
    assert not CHOSEN.matches(final_run)  # the refit never takes part in the choice
