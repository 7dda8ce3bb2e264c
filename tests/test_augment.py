"""TinyBERT data augmentation: the batched version against the word-by-word reference, the
properties of Algorithm 1, golden neighbours on a hand-made table, and the input checks."""

import math

import datasets
import pytest
import torch

from tinybert_lab import augment as aug
from tinybert_lab.methods.augment import AugmentConfig
from tinybert_lab.core.errors import TinyBertLabError

SENTENCES = [
    "a gripping , un-missable film .",
    "The acting is superb, but the plot drags.",
    "it 's 2002 and tinybert is fun !",
    "!!! ...",  # no replaceable word: only the original comes out
    "a quiet , lovely little movie about grief",
]


@pytest.fixture(scope="module")
def small():
    features = datasets.Features({
        "sentence": datasets.Value("string"),
        "label": datasets.ClassLabel(names=["negative", "positive"]),
        "idx": datasets.Value("int32"),
    })
    return datasets.Dataset.from_dict(
        {"sentence": SENTENCES, "label": [1, 0, 1, 0, 1], "idx": [10, 11, 12, 13, 14]}, features=features)


@pytest.fixture(scope="module")
def table(teacher):
    """The teacher's (30522, 384) input word-embedding table."""
    return teacher.get_input_embeddings().weight.detach()


@pytest.fixture(scope="module")
def random_table(tokenizer):
    """A cheap (30522, 16) random table, for tests of the algorithm rather than of the neighbours."""
    return torch.randn(len(tokenizer), 16, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def mlm_model(tokenizer):
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64)
    return BertForMaskedLM(config)


def words_of(text, tokenizer):
    return aug.split_words(text, tokenizer)


# ---------------------------------------------------------------- config
def test_config_validates():
    assert AugmentConfig().to_dict()["probability"] == 0.4
    assert AugmentConfig.from_dict({"top_k": 3, "source": "mlm"}).top_k == 3
    for bad in ({"probability": 0}, {"probability": 1.5}, {"probability": math.nan}):
        with pytest.raises(TinyBertLabError, match=r"AugmentConfig.probability must be in \(0, 1\], got .*TinyBERT uses 0.4"):
            AugmentConfig(**bad)
    with pytest.raises(TinyBertLabError, match="AugmentConfig.probability must be a number, got True"):
        AugmentConfig(probability=True)
    with pytest.raises(TinyBertLabError, match="top_k must be a positive integer, got 0"):
        AugmentConfig(top_k=0)
    with pytest.raises(TinyBertLabError, match="n_per_sentence must be an integer, got 2.5"):
        AugmentConfig(n_per_sentence=2.5)
    with pytest.raises(TinyBertLabError, match="source must be one of 'embedding', 'mlm', got 'glove'"):
        AugmentConfig(source="glove")
    with pytest.raises(TinyBertLabError, match="seed must be an integer >= 0"):
        AugmentConfig(seed=-1)
    with pytest.raises(TinyBertLabError, match="dtype must be one of .*got 'float16'"):
        AugmentConfig(dtype="float16")
    with pytest.raises(TinyBertLabError, match=r"'probabilty' \(did you mean 'probability'\?\)"):
        AugmentConfig.from_dict({"probabilty": 0.5})


# ---------------------------------------------------------------- words and candidates
def test_candidate_mask_excludes_specials_pieces_and_non_letters(tokenizer):
    allowed = aug.candidate_mask(tokenizer)
    vocab = tokenizer.get_vocab()
    for token in ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]", "[unused0]", "##ing", ",", "2002", "中"]:
        assert not allowed[vocab[token]], token
    for token in ["good", "film", "a"]:
        assert allowed[vocab[token]], token
    assert int(allowed.sum()) == 21745  # of bert-base-uncased's 30,522 tokens


def test_split_words_marks_single_piece_words(tokenizer):
    words = words_of("The Film's un-missable, café 2002 [MASK] tinybert", tokenizer)
    got = [(w.text, w.replaceable) for w in words]
    assert got == [("the", True), ("film", True), ("'", False), ("s", True), ("un", True), ("-", False),
                   ("missable", False), (",", False), ("cafe", True), ("2002", False), ("[MASK]", False),
                   ("tinybert", False)]
    text = "The Film's un-missable, café 2002 [MASK] tinybert"
    assert [text[w.start:w.end] for w in words][:2] == ["The", "Film"]  # spans in the original text
    assert text[words[8].start:words[8].end] == "café"


def test_embedding_neighbours_golden_on_hand_made_table():
    table = torch.tensor([[1.0, 0.0],   # 0: not allowed (a special), identical to token 1
                          [1.0, 0.0],   # 1
                          [0.0, 1.0],   # 2
                          [3.0, 1.0],   # 3: cos with 1 = 3/sqrt(10) = 0.949
                          [1.0, 1.0],   # 4: cos with 1 = 0.707, with 2 = 0.707, with 3 = 4/sqrt(20) = 0.894
                          [2.0, 0.1]])  # 5: not allowed, nearly token 1
    allowed = torch.tensor([False, True, True, True, True, False])
    unit = aug.normalize_rows(table)
    assert torch.allclose(unit[3], torch.tensor([3.0, 1.0], dtype=torch.float64) / math.sqrt(10))
    top = aug.embedding_neighbours(torch.tensor([1, 2, 4, 0]), unit, allowed, k=3)
    assert top[0].tolist() == [3, 4, 2]   # never itself, never the disallowed twins 0 and 5
    assert top[1].tolist() == [4, 3, 1]   # cos 0.707, 0.316, 0
    assert top[2, 0].item() == 3          # 0.894 beats the 0.707 tie
    assert top[3].tolist() == [1, 3, 4]   # a disallowed query still gets allowed neighbours


def test_embedding_neighbours_of_real_words_are_words(tokenizer, table):
    allowed = aug.candidate_mask(tokenizer)
    ids = tokenizer.convert_tokens_to_ids(["good", "film"])
    top = aug.embedding_neighbours(torch.tensor(ids), aug.normalize_rows(table), allowed, k=15)
    for query, row in zip(ids, top.tolist()):
        assert query not in row and all(allowed[row]) and len(set(row)) == 15
        assert not any(t.startswith("##") for t in tokenizer.convert_ids_to_tokens(row))
    assert "great" in tokenizer.convert_ids_to_tokens(top[0].tolist())


def test_mlm_candidates_skip_specials_pieces_and_the_word_itself(tokenizer, mlm_model):
    """Push the decoder bias so specials, a '##' piece and the original word would win: the
    candidates must be the best *allowed* tokens instead, in order."""
    import copy

    model = copy.deepcopy(mlm_model).eval()
    vocab = tokenizer.get_vocab()
    with torch.no_grad():
        bias = model.get_output_embeddings().bias
        bias.zero_()
        for token in ["[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]", "[unused5]", "##ing", ",", "film"]:
            bias[vocab[token]] = 100.0
        bias[vocab["movie"]], bias[vocab["picture"]] = 60.0, 50.0
    ids = tokenizer("a fine film")["input_ids"]  # [CLS] a fine film [SEP]
    top = aug.mlm_candidates(model, [ids], [3], aug.candidate_mask(tokenizer), 2,
                             pad_token_id=tokenizer.pad_token_id, mask_token_id=tokenizer.mask_token_id)
    assert tokenizer.convert_ids_to_tokens(top[0]) == ["movie", "picture"]


# ---------------------------------------------------------------- batched == word by word
def test_embedding_batched_equals_word_by_word(small, tokenizer, teacher):
    config = AugmentConfig(n_per_sentence=3, batch_size=2, seed=7)
    fast = aug.augment(small, tokenizer, teacher_embeddings=teacher, config=config)
    slow = aug.augment_word_by_word(small, tokenizer, teacher_embeddings=teacher, config=config)
    assert fast.to_dict() == slow.to_dict()
    assert len(fast) > len(small)


def test_mlm_batched_equals_word_by_word(small, tokenizer, mlm_model):
    mlm_model.train()  # dropout on: augment must use an eval-mode copy and leave this one alone
    config = AugmentConfig(n_per_sentence=3, batch_size=2, mlm_batch_size=3, source="mlm", seed=1)
    three = small.select([0, 1, 3])
    fast = aug.augment(three, tokenizer, mlm_model=mlm_model, config=config)
    slow = aug.augment_word_by_word(three, tokenizer, mlm_model=mlm_model, config=config)
    assert fast.to_dict() == slow.to_dict()
    assert len(fast) > len(three)
    assert mlm_model.training and next(mlm_model.parameters()).dtype == torch.float32


# ---------------------------------------------------------------- Algorithm 1's properties
def test_same_seed_same_output(small, tokenizer, random_table):
    run = lambda seed: aug.augment(small, tokenizer, teacher_embeddings=random_table,  # noqa: E731
                                   config=AugmentConfig(n_per_sentence=2, seed=seed)).to_dict()
    assert run(3) == run(3)
    assert run(3) != run(4)


def test_p_one_replaces_every_replaceable_word_and_nothing_else(small, tokenizer, random_table):
    config = AugmentConfig(n_per_sentence=2, probability=1.0, top_k=5, deduplicate=False)
    out = aug.augment(small, tokenizer, teacher_embeddings=random_table, config=config)
    allowed, unit = aug.candidate_mask(tokenizer), aug.normalize_rows(random_table)
    tokens = sorted({w.token_id for text in SENTENCES for w in words_of(text, tokenizer) if w.replaceable})
    top5 = dict(zip(tokens, aug.embedding_neighbours(torch.tensor(tokens), unit, allowed, 5).tolist()))
    for row in out:
        if row["original"]:
            continue
        source = SENTENCES[row["source_idx"] - 10]
        before, after = words_of(source, tokenizer), words_of(row["sentence"], tokenizer)
        assert len(before) == len(after)
        for old, new in zip(before, after):
            if old.replaceable:
                assert new.token_id in top5[old.token_id]  # a top-5 candidate, so never the word itself
            else:
                assert new.text == old.text  # punctuation, numbers, multi-piece words kept
    # the text between words (spaces, punctuation) survives
    first_copy = out.filter(lambda r: r["source_idx"] == 11 and not r["original"])[0]["sentence"]
    assert first_copy.endswith(".") and ", " in first_copy


def test_tiny_p_changes_nothing_and_duplicates_are_dropped(small, tokenizer, random_table):
    keep = aug.augment(small, tokenizer, teacher_embeddings=random_table,
                       config=AugmentConfig(n_per_sentence=3, probability=1e-9, deduplicate=False))
    assert len(keep) == 4 * len(small)
    assert all(row["sentence"] == SENTENCES[row["source_idx"] - 10] for row in keep)
    dropped = aug.augment(small, tokenizer, teacher_embeddings=random_table,
                          config=AugmentConfig(n_per_sentence=3, probability=1e-9))
    assert dropped["sentence"] == SENTENCES and all(dropped["original"])


def test_rows_carry_label_source_idx_and_fresh_idx(small, tokenizer, random_table):
    out = aug.augment(small, tokenizer, teacher_embeddings=random_table, config=AugmentConfig(n_per_sentence=4))
    assert out.column_names == ["sentence", "label", "source_idx", "original", "idx"]
    assert out.features["label"] == small.features["label"]
    assert out["idx"] == list(range(len(out)))
    label_of = dict(zip(small["idx"], small["label"]))
    assert all(row["label"] == label_of[row["source_idx"]] for row in out)
    for source in small:  # original first, then distinct copies
        rows = out.filter(lambda r: r["source_idx"] == source["idx"])
        assert rows[0]["original"] and rows[0]["sentence"] == source["sentence"]
        assert not any(rows["original"][1:]) and len(set(rows["sentence"])) == len(rows)
    assert out.filter(lambda r: r["source_idx"] == 13)["sentence"] == ["!!! ..."]  # nothing replaceable

    without = aug.augment(small, tokenizer, teacher_embeddings=random_table,
                          config=AugmentConfig(n_per_sentence=4, keep_originals=False))
    assert not any(without["original"]) and len(without) == len(out) - len(small)


def test_pair_column_is_copied_and_text_column_found(tokenizer, random_table):
    pairs = datasets.Dataset.from_dict({"text": ["a good film", "a bad plot"], "text_pair": ["yes", "no"],
                                        "label": [1, 0]})
    out = aug.augment(pairs, tokenizer, teacher_embeddings=random_table, config=AugmentConfig(probability=1.0))
    assert out.column_names == ["text", "text_pair", "label", "source_idx", "original", "idx"]
    assert all(row["text_pair"] == ["yes", "no"][row["source_idx"]] for row in out)  # no idx: positions


def test_transfer_set_is_labelled_by_the_teacher(small, tokenizer, teacher):
    result = aug.transfer_set(small.select([0, 1]), tokenizer, teacher, config={"n_per_sentence": 2})
    assert len(result.encoded) == len(result.augmented)
    logits = result.logits.lookup(torch.tensor(result.encoded["idx"]))
    assert logits.shape == (len(result.augmented), 2) and torch.isfinite(logits).all()


# ---------------------------------------------------------------- bad input
def test_bad_input_is_refused_with_a_fix(small, tokenizer, table, mlm_model):
    from transformers import BertConfig, BertForMaskedLM

    from tinybert_lab import models

    with pytest.raises(TinyBertLabError, match="dataset is empty"):
        aug.augment(small.select([]), tokenizer, teacher_embeddings=table)
    with pytest.raises(TinyBertLabError, match="pass teacher_embeddings=teacher"):
        aug.augment(small, tokenizer)
    with pytest.raises(TinyBertLabError, match="mlm_model was given but config.source is 'embedding'"):
        aug.augment(small, tokenizer, teacher_embeddings=table, mlm_model=mlm_model)
    with pytest.raises(TinyBertLabError, match="embedding table has 100 rows but the tokenizer has 30522"):
        aug.augment(small, tokenizer, teacher_embeddings=torch.zeros(100, 4))
    mlm = AugmentConfig(source="mlm")
    with pytest.raises(TinyBertLabError, match="needs a masked-LM model"):
        aug.augment(small, tokenizer, config=mlm)
    with pytest.raises(TinyBertLabError, match="teacher_embeddings was given but config.source is 'mlm'"):
        aug.augment(small, tokenizer, teacher_embeddings=table, mlm_model=mlm_model, config=mlm)
    small_vocab = BertForMaskedLM(BertConfig(vocab_size=100, hidden_size=8, num_hidden_layers=1,
                                             num_attention_heads=2, intermediate_size=16))
    with pytest.raises(TinyBertLabError, match="predicts 100 tokens but the tokenizer has 30522"):
        aug.augment(small, tokenizer, mlm_model=small_vocab, config=mlm)
    classifier = models.build_student("bert_tiny", tokenizer=tokenizer)
    with pytest.raises(TinyBertLabError, match="has no masked-LM head"):
        aug.augment(small, tokenizer, mlm_model=classifier, config=mlm)
    with pytest.raises(TinyBertLabError, match="top_k=30000 is more than the 21745 candidate tokens"):
        aug.augment(small, tokenizer, teacher_embeddings=table, config=AugmentConfig(top_k=30000))
    with pytest.raises(TinyBertLabError, match="Column 'review' not in the dataset"):
        aug.augment(small, tokenizer, teacher_embeddings=table, text_column="review")
