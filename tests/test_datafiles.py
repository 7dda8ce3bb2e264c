"""Your own data files: with or without header, CSV quoting, JSON Lines, encodings, BOM, CRLF, blank lines."""

import datasets
import pytest

from tinybert_lab import data, models, training
from tinybert_lab.core.errors import DataNotFoundError, TinyBertLabError


def write(tmp_path, name, content, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(content.encode(encoding) if isinstance(content, str) else content)
    return path


def test_senteval_layout_without_header_by_position(tmp_path):
    path = write(tmp_path, "subj.tsv", "1\tthe film is a smart, funny ride .\n0\tit was shot in 1998 .\n\n1\tgreat\n")
    ds = data.load_text_classification(path, text_column=1, label_column=0)
    assert ds["text"] == ["the film is a smart, funny ride .", "it was shot in 1998 .", "great"]  # blank line skipped
    assert list(ds["label"]) == [1, 0, 1] and ds.features["label"].names == ["0", "1"]
    assert ds["idx"] == [0, 1, 2]


def test_header_false_refuses_names_and_positions_out_of_range(tmp_path):
    path = write(tmp_path, "subj.tsv", "1\tgood\n0\tbad\n")
    with pytest.raises(TinyBertLabError, match="read without a header.*text_column=1, label_column=0"):
        data.load_text_classification(path, header=False)
    with pytest.raises(TinyBertLabError, match=r"text_column=5 but rows have 2 columns"):
        data.load_text_classification(path, text_column=5, label_column=0)
    with pytest.raises(TinyBertLabError, match="line 2: 3 fields, but the first row has 2"):
        data.load_text_classification(write(tmp_path, "r.tsv", "1\tgood\n0\tbad\textra\n"), text_column=1, label_column=0)


def test_header_true_with_positions(tmp_path):
    path = write(tmp_path, "h.csv", "label,review\n0,dull\n1,bright\n")
    ds = data.load_text_classification(path, text_column=1, label_column=0, header=True)
    assert ds["text"] == ["dull", "bright"] and list(ds["label"]) == [0, 1]


def test_csv_quotes_with_commas_and_newlines_bom_and_crlf(tmp_path):
    content = '\ufefftext,label\r\n"one, two",pos\r\n"a line\r\nand the next",neg\r\n\r\nplain,pos\r\n'
    ds = data.load_text_classification(write(tmp_path, "q.csv", content))
    assert ds["text"] == ["one, two", "a line\r\nand the next", "plain"]  # the BOM is not part of the name 'text'
    assert list(ds["label"]) == [1, 0, 1]


def test_a_broken_quote_names_the_line(tmp_path):
    path = write(tmp_path, "broken.csv", 'text,label\nok,1\n"never closed,0\n')
    with pytest.raises(TinyBertLabError, match=r"broken.csv, line \d+: .*"):
        data.load_text_classification(path)


def test_latin1_file_names_the_byte_and_line_then_reads_with_encoding(tmp_path):
    path = write(tmp_path, "trec.tsv", "text\tlabel\nwhat is 2+2 ?\tNUM\nwho is Pel\xe9 ?\tHUM\n", encoding="latin-1")
    with pytest.raises(TinyBertLabError, match=r"line 3: byte b'\\xe9' is not valid utf-8.*encoding='latin-1'"):
        data.load_text_classification(path)
    ds = data.load_text_classification(path, encoding="latin-1")
    assert ds["text"][1] == "who is Pelé ?" and ds.features["label"].names == ["HUM", "NUM"]
    with pytest.raises(TinyBertLabError, match="Unknown encoding"):
        data.load_text_classification(path, encoding="klingon")


def test_json_lines_pairs_and_multiclass_names(tmp_path):
    lines = ['{"premise": "a man sleeps", "hypothesis": "a man rests", "label": "entailment"}', "",
             '{"premise": "a dog", "hypothesis": "a cat", "label": "contradiction"}',
             '{"premise": "a car", "hypothesis": "a red car", "label": "neutral"}']
    path = write(tmp_path, "nli.jsonl", "\n".join(lines) + "\n")
    ds = data.load_text_classification(path, text_column="premise", text_pair_column="hypothesis",
                                       label_names=["entailment", "neutral", "contradiction"])
    assert ds.column_names == ["text", "text_pair", "label", "idx"]
    assert list(ds["label"]) == [0, 2, 1] and ds["text_pair"][2] == "a red car"


def test_json_lines_errors_name_the_line(tmp_path):
    with pytest.raises(TinyBertLabError, match="line 2: not a JSON object"):
        data.load_text_classification(write(tmp_path, "a.jsonl", '{"text": "x", "label": 1}\n{text: y}\n'))
    with pytest.raises(TinyBertLabError, match=r"line 2: key\(s\) \['label'\] missing"):
        data.load_text_classification(write(tmp_path, "b.jsonl", '{"text": "x", "label": 1}\n{"text": "y"}\n'))
    with pytest.raises(TinyBertLabError, match="expected a JSON object, got list"):
        data.load_text_classification(write(tmp_path, "c.jsonl", '[1, 2]\n'))
    unlabeled = data.load_text_classification(write(tmp_path, "d.jsonl", '{"text": "x"}\n{"text": "y"}\n'))
    assert list(unlabeled["label"]) == [-1, -1]


def test_a_dataset_passes_through_with_the_tutorials_columns():
    raw = datasets.Dataset.from_dict({"sentence": ["a", "b"], "gold": [1, 0]})
    ds = data.load_text_classification(raw, text_column="sentence", label_column="gold")
    assert ds.column_names == ["text", "label", "idx"] and ds["idx"] == [0, 1]
    with pytest.raises(TinyBertLabError, match=r"Column\(s\) \['review'\] not in the dataset"):
        data.load_text_classification(raw, text_column="review")


def test_a_hub_name_offline_is_one_clear_error(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("no internet")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataNotFoundError, match="could not be loaded from the Hugging Face hub.*Offline, give the path"):
        data.load_text_classification("someone/no-such-dataset")


def test_length_report_and_the_max_length_it_suggests(tmp_path, tokenizer):
    short = ["a fine film ."] * 98
    path = write(tmp_path, "lengths.tsv", "text\tlabel\n" + "".join(f"{t}\t1\n" for t in short)
                 + "word " * 40 + "\t0\n" + "word " * 100 + "\t0\n")
    report = data.length_report(data.load_text_classification(path), tokenizer, sample=None)
    assert (report.p50, report.count, report.pairs) == (6, 100, False)  # [CLS] a fine film . [SEP]
    assert report.p99 == 102 and report.longest == 102 and report.p95 == 6
    assert report.covering(0.95) == data.SHORTEST_CAP == 64  # short texts: never below 64 (padding is per batch)
    assert report.covering(0.95, at_least=8) == 8 and report.covering(0.99) == 104
    assert report.covering(1.0, limit=96) == 96
    assert "100 sentences: median 6 tokens" in str(report)
    with pytest.raises(TinyBertLabError, match="coverage must be one of"):
        report.covering(0.9)
    pairs = datasets.Dataset.from_dict({"text": ["a b", "c"], "text_pair": ["d e f", "g"], "label": [0, 1]})
    both = data.length_report(pairs, tokenizer)
    assert both.pairs and both.longest == 8  # [CLS] a b [SEP] d e f [SEP]


def test_max_length_is_chosen_from_the_data_when_not_given(tmp_path, tokenizer):
    long_text = "word " * 150  # 152 tokens with [CLS] and [SEP]
    rows = ["a fine film ."] * 150 + [long_text] * 3 + ["word " * 300]
    table = datasets.Dataset.from_dict({"text": rows, "label": [1] * len(rows)})
    assert data.choose_max_length(table, tokenizer) == 152  # p99 covers the 150-word rows: 152 is a multiple of 8
    with pytest.warns(UserWarning, match=r"1 of 154 examples are longer than max_length=152 tokens \(chosen from the data"):
        encoded = data.encode(table, tokenizer)
    assert max(len(ids) for ids in encoded["input_ids"]) == 152
    short = table.select(range(150))
    assert data.choose_max_length(short, tokenizer) == data.SHORTEST_CAP
    assert data.choose_max_length(table, tokenizer, limit=128) == 128  # a model with 128 positions caps it
    student = models.build_student("bert_tiny", tokenizer=tokenizer, num_labels=2, seed=0, hidden_size=32,
                                   num_attention_heads=2, intermediate_size=64, num_hidden_layers=1,
                                   max_position_embeddings=128)
    assert models.fitting_max_length(student, table, tokenizer) == 128
    with pytest.raises(TinyBertLabError, match="exceeds the model's 128 position embeddings"):
        models.fitting_max_length(student, table, tokenizer, 256)
    config = training.TrainConfig(steps=1, batch_size=4)
    assert config.max_length is None  # every path that encodes picks it from the data
    with pytest.raises(TinyBertLabError, match="max_length must be a positive integer"):
        training.TrainConfig(max_length=0)
