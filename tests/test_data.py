import warnings

import pytest
import torch

from tinybert_lab import data
from tinybert_lab.core.errors import DataNotFoundError, TinyBertLabError


# ---------------------------------------------------------------- SST-2 loading and lookup order
def test_sst2_has_glue_sizes_and_hub_schema(sst2):
    assert {k: len(v) for k, v in sst2.items()} == {"train": 67349, "validation": 872, "test": 1821}
    assert sst2["train"].column_names == ["sentence", "label", "idx"]
    assert sst2["train"].features["label"].names == ["negative", "positive"]
    first = sst2["train"][0]
    assert first == {"sentence": "hide new secretions from the parental units", "label": 0, "idx": 0}
    assert sst2["validation"][0]["sentence"] == "it 's a charming and often affecting journey ."
    assert sst2["validation"][0]["label"] == 1
    assert set(sst2["test"]["label"]) == {-1}
    assert sum(sst2["validation"]["label"]) == 444  # positives in dev


def test_explicit_path_wins_over_environment(monkeypatch, tmp_path):
    real = data._sst2_folder(data.data_dir_from_env())
    monkeypatch.setenv("TINYBERT_LAB_DATA", str(tmp_path / "nowhere"))
    splits = data.load_sst2(real)  # explicit path: the bad env var is not consulted
    assert len(splits["validation"]) == 872


def test_env_var_pointing_nowhere_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("TINYBERT_LAB_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError, match="TINYBERT_LAB_DATA points at .* does not contain sst2/train.tsv"):
        data.load_sst2()


def test_missing_data_everywhere_explains_the_lookup_order(monkeypatch):
    import datasets

    monkeypatch.delenv("TINYBERT_LAB_DATA", raising=False)

    def offline(*args, **kwargs):
        raise ConnectionError("no internet")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataNotFoundError) as info:
        data.load_sst2()
    message = str(info.value)
    for expected in ("data_dir argument", "TINYBERT_LAB_DATA", "nyu-mll/glue", "ConnectionError", "export"):
        assert expected in message


# ---------------------------------------------------------------- your own TSV/CSV files
def test_pair_tsv_with_label_names(tmp_path):
    path = tmp_path / "qnli.tsv"
    path.write_text(
        "question\tsentence\tlabel\n"
        "who wrote it ?\tshe wrote it in 1850 .\tentailment\n"
        "when ?\tthe sky is \"blue\" .\tnot_entailment\n"
    )
    ds = data.load_text_classification(path, text_column="question", text_pair_column="sentence",
                                       label_names=["entailment", "not_entailment"])
    assert ds.column_names == ["text", "text_pair", "label", "idx"]
    assert list(ds["label"]) == [0, 1]
    assert ds[1]["text_pair"] == 'the sky is "blue" .'  # TSV: quotes kept verbatim


def test_csv_with_string_labels_maps_names_in_sorted_order(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text('text,label\n"good, really good",pos\nbad,neg\nfine,pos\n')
    ds = data.load_text_classification(path)
    assert ds.features["label"].names == ["neg", "pos"]
    assert list(ds["label"]) == [1, 0, 1]
    assert ds[0]["text"] == "good, really good"


def test_label_outside_label_set_names_the_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("text\tlabel\na\tpositive\nb\tmaybe\n")
    with pytest.raises(TinyBertLabError, match=r"line 3: label 'maybe' is not in the label set"):
        data.load_text_classification(path, label_names=["negative", "positive"])


def test_missing_column_and_missing_file_and_ragged_rows(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_text("sentence\tlabel\nok\t1\n")
    with pytest.raises(TinyBertLabError, match=r"column\(s\) \['text'\] not found; the first row is \['sentence', 'label'\].*header=False"):
        data.load_text_classification(path)
    with pytest.raises(DataNotFoundError, match="No such file"):
        data.load_text_classification(tmp_path / "absent.tsv")
    ragged = tmp_path / "ragged.tsv"
    ragged.write_text("text\tlabel\na\tb\t1\n")
    with pytest.raises(TinyBertLabError, match="line 2: 3 fields, but the header has 2"):
        data.load_text_classification(ragged)


def test_empty_files_and_datasets_are_refused(tmp_path, tokenizer, sst2):
    empty = tmp_path / "empty.tsv"
    empty.write_text("text\tlabel\n")
    with pytest.raises(TinyBertLabError, match="no examples"):
        data.load_text_classification(empty)
    with pytest.raises(TinyBertLabError, match="empty"):
        data.encode(sst2["validation"].select([]), tokenizer)


def test_unlabeled_text_file_gets_minus_one(tmp_path):
    path = tmp_path / "text.tsv"
    path.write_text("text\nfirst line\nsecond line\n")
    ds = data.load_text_classification(path)
    assert list(ds["label"]) == [-1, -1]


def test_held_out_is_disjoint_from_the_subsample_and_respects_min_words(sst2):
    train = data.subsample(sst2["train"], 500, seed=3)
    held = data.held_out(sst2["train"], 200, after=500, seed=3, min_words=5)
    assert len(held) == 200
    assert not set(held["idx"]) & set(train["idx"])
    assert min(len(s.split()) for s in held["sentence"]) >= 5
    assert held["idx"] == data.held_out(sst2["train"], 200, after=500, seed=3, min_words=5)["idx"]  # seeded
    with pytest.raises(TinyBertLabError, match="lower min_words"):
        data.held_out(sst2["validation"], 900, after=0, seed=0)
    with pytest.raises(TinyBertLabError, match="n > 0"):
        data.held_out(sst2["validation"], 0, after=0)


def test_without_overlap_drops_parents_and_pieces_of_held_out_texts():
    from datasets import Dataset

    held = Dataset.from_dict({"sentence": ["a gorgeous , witty film", "dull"], "label": [1, 0]})
    train = Dataset.from_dict({"sentence": [
        "it is A gorgeous ,  witty film , really",  # holds a held-out text (case, spacing ignored): dropped
        "gorgeous , witty film",  # a piece of 4 words: dropped
        "witty film",  # a piece, but under 3 words: kept
        "a gorgeous , witty filmmaker",  # shares words, not whole words: kept
        "dullness itself",  # "dull" is not a whole word of it: kept
        "so dull",  # holds the held-out "dull": dropped
        "a fine film"], "label": [1, 1, 1, 1, 0, 0, 1]})
    kept = data.without_overlap(train, held)["sentence"]
    assert kept == ["witty film", "a gorgeous , witty filmmaker", "dullness itself", "a fine film"]
    assert data.without_overlap(train, held, min_words=1)["sentence"] == ["a gorgeous , witty filmmaker",
                                                                         "dullness itself", "a fine film"]
    with pytest.raises(TinyBertLabError, match="min_words >= 1"):
        data.without_overlap(train, held, min_words=0)


def test_subsample_is_seeded_and_keeps_ids(sst2):
    a = data.subsample(sst2["train"], 100, seed=1)
    b = data.subsample(sst2["train"], 100, seed=1)
    c = data.subsample(sst2["train"], 100, seed=2)
    assert list(a["idx"]) == list(b["idx"]) != list(c["idx"])
    assert len(set(a["idx"])) == 100
    assert a[0]["sentence"] == sst2["train"][a[0]["idx"]]["sentence"]


# ---------------------------------------------------------------- tokenisation
def test_encode_golden_ids(tokenizer, sst2):
    enc = data.encode(sst2["validation"].select([0]), tokenizer)
    # [CLS] it ' s a charming and often affecting journey . [SEP]
    assert enc[0]["input_ids"] == [101, 2009, 1005, 1055, 1037, 11951, 1998, 2411, 12473, 4990, 1012, 102]
    assert enc[0]["token_type_ids"] == [0] * 12
    assert enc[0]["label"] == 1 and enc[0]["idx"] == 0


def test_encode_pairs_sets_segment_ids(tokenizer, tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("text\ttext_pair\tlabel\nhello\tworld\t0\n")
    enc = data.encode(data.load_text_classification(path, text_pair_column="text_pair"), tokenizer)
    assert enc[0]["input_ids"] == [101, 7592, 102, 2088, 102]
    assert enc[0]["token_type_ids"] == [0, 0, 0, 1, 1]


def test_long_sentences_truncate_with_one_warning(tokenizer, sst2):
    with pytest.warns(UserWarning, match=r"\d+ of 872 examples are longer than max_length=16"):
        enc = data.encode(sst2["validation"], tokenizer, max_length=16)
    assert max(len(x) for x in enc["input_ids"]) == 16
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data.encode(sst2["validation"], tokenizer, max_length=64)  # dev max is 57 tokens: no warning


def test_max_length_beyond_position_embeddings_is_refused(tokenizer, sst2):
    with pytest.raises(TinyBertLabError, match="longer than the model's 512 position embeddings"):
        data.encode(sst2["validation"], tokenizer, max_length=1024)


# ---------------------------------------------------------------- batching
@pytest.fixture(scope="module")
def train_small(sst2, tokenizer):
    return data.encode(data.subsample(sst2["train"], 3000, seed=0), tokenizer)


def _batches(loader):
    return [b["idx"].tolist() for b in loader]


def test_bucketed_loader_is_deterministic_and_covers_every_example(train_small, tokenizer):
    a = _batches(data.make_loader(train_small, tokenizer, batch_size=32, seed=3))
    b = _batches(data.make_loader(train_small, tokenizer, batch_size=32, seed=3))
    c = _batches(data.make_loader(train_small, tokenizer, batch_size=32, seed=4))
    assert a == b and a != c
    flat = [i for batch in a for i in batch]
    assert sorted(flat) == sorted(train_small["idx"])


def test_new_epoch_reshuffles_reproducibly(train_small, tokenizer):
    loader = data.make_loader(train_small, tokenizer, batch_size=32, seed=3)
    first = _batches(loader)
    loader.batch_sampler.set_epoch(1)
    second = _batches(loader)
    loader.batch_sampler.set_epoch(0)
    assert first != second and _batches(loader) == first


def test_bucketing_cuts_padding_by_at_least_half(train_small, tokenizer):
    def padded_tokens(loader):
        return sum(b["input_ids"].numel() for b in loader)

    real = sum(len(x) for x in train_small["input_ids"])
    bucketed = padded_tokens(data.make_loader(train_small, tokenizer, batch_size=32, seed=0))
    plain = padded_tokens(data.make_loader(train_small, tokenizer, batch_size=32, seed=0, bucket=False))
    assert real <= bucketed < plain
    assert (bucketed - real) < 0.5 * (plain - real)


def test_collate_pads_and_masks(train_small, tokenizer):
    loader = data.make_loader(train_small, tokenizer, batch_size=8, shuffle=False, bucket=False)
    batch = next(iter(loader))
    assert set(batch) == {"input_ids", "attention_mask", "token_type_ids", "labels", "idx"}
    lengths = [len(train_small[i]["input_ids"]) for i in range(8)]
    assert batch["input_ids"].shape == (8, max(lengths))
    assert batch["attention_mask"].sum(1).tolist() == lengths
    assert (batch["input_ids"][batch["attention_mask"] == 0] == tokenizer.pad_token_id).all()
    assert batch["labels"].tolist() == list(train_small["label"][:8])
    assert set(data.model_inputs(batch)) == {"input_ids", "attention_mask", "token_type_ids"}


def test_dynamic_masking_rates_and_special_tokens(train_small, tokenizer):
    batch = next(iter(data.make_loader(train_small, tokenizer, batch_size=512, seed=0)))
    masked = data.mask_tokens(batch, tokenizer, 0.15, torch.Generator().manual_seed(0))
    again = data.mask_tokens(batch, tokenizer, 0.15, torch.Generator().manual_seed(0))
    assert torch.equal(masked["input_ids"], again["input_ids"])  # seeded
    picked, ids = masked["masked"], masked["input_ids"]
    real = (batch["attention_mask"] == 1).sum() - 2 * batch["input_ids"].shape[0]  # minus [CLS], [SEP]
    assert 0.12 < picked.sum() / real < 0.18
    assert not picked[:, 0].any() and not picked[batch["attention_mask"] == 0].any()
    assert (ids[~picked] == batch["input_ids"][~picked]).all()  # only picked positions change
    targets = masked["mlm_labels"]  # what a masked-LM head must predict: the original ids, -100 elsewhere
    assert torch.equal(targets[picked], batch["input_ids"][picked]) and (targets[~picked] == -100).all()
    share_mask = (ids[picked] == tokenizer.mask_token_id).float().mean()
    assert 0.74 < share_mask < 0.86
    assert torch.equal(batch["input_ids"], next(iter(data.make_loader(train_small, tokenizer, batch_size=512, seed=0)))["input_ids"])


def test_plain_text_file_for_general_distillation(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("first sentence .\n\n second one .\n")
    ds = data.load_text_file(path)
    assert list(ds["text"]) == ["first sentence .", "second one ."] and list(ds["label"]) == [-1, -1]


def test_loader_refuses_raw_or_empty_data(sst2, tokenizer):
    with pytest.raises(TinyBertLabError, match="encode"):
        data.make_loader(sst2["validation"], tokenizer)
    with pytest.raises(TinyBertLabError, match="batch_size must be positive"):
        data.LengthBucketSampler([3, 4], 0, shuffle=True)


def test_a_truncation_notice_reads_as_one_plain_sentence_in_a_log():
    import subprocess
    import sys

    code = ("import datasets\nfrom tinybert_lab import data, models\n"
            "ds = datasets.Dataset.from_dict({'sentence': ['word ' * 100, 'short'], 'label': [0, 1], 'idx': [0, 1]})\n"
            "data.encode(ds, models.load_tokenizer(), max_length=16)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stderr.strip() == ("Note: 1 of 2 examples are longer than max_length=16 tokens and were truncated. "
                                   "Pass a larger max_length (up to the model's limit) to keep them whole.")
    import warnings

    assert "Warning" in warnings.formatwarning("other", UserWarning, "f.py", 1)  # other warnings unchanged
