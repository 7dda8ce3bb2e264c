"""load_trec: TREC's original Latin-1 files, coarse and fine labels, the lookup order, clear errors."""

import pytest

from tinybert_lab import data
from tinybert_lab.core.errors import DataNotFoundError, TinyBertLabError


@pytest.fixture(scope="module")
def trec():
    return data.load_trec()


def test_sizes_columns_and_coarse_counts(trec):
    assert {k: len(v) for k, v in trec.items()} == {"train": 5452, "test": 500}
    assert trec["train"].column_names == ["text", "label", "idx"]
    names = trec["train"].features["label"].names
    assert names == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    counts = {name: 0 for name in names}
    for label in trec["train"]["label"]:
        counts[names[label]] += 1
    assert counts == {"ABBR": 86, "DESC": 1162, "ENTY": 1250, "HUM": 1223, "LOC": 835, "NUM": 896}  # data README
    first = trec["train"][0]
    assert first == {"text": "How did serfdom develop in and then leave Russia ?", "label": names.index("DESC"), "idx": 0}


def test_latin1_byte_is_decoded_not_refused(trec):
    sister = [t for t in trec["train"]["text"] if "sister" in t and "Los Angeles" in t]
    assert sister == ["Which city has the oldest relationship as a sister\u00f0city with Los Angeles ?"]


def test_fine_labels_are_prefixed_and_sorted():
    fine = data.load_trec(fine=True)
    names = fine["train"].features["label"].names
    assert len(names) == 50 and names == sorted(names)
    assert names[fine["train"][0]["label"]] == "DESC:manner"
    assert all(":" in n and n.split(":")[0] in data.TREC_COARSE for n in names)


def test_utf8_is_refused_with_the_byte_and_the_fix():
    with pytest.raises(TinyBertLabError, match=r"not utf-8: byte b'\\xf0'.*encoding='latin-1'"):
        data.load_trec(encoding="utf-8")


def _write(folder, train_lines, test_lines=("NUM:date When ?",)):
    trec = folder / "trec"
    trec.mkdir(parents=True)
    (trec / "train_5500.label").write_bytes("\n".join(train_lines).encode("latin-1"))
    (trec / "TREC_10.label").write_bytes("\n".join(test_lines).encode("latin-1"))
    return folder


def test_explicit_folder_and_malformed_lines_name_the_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYBERT_LAB_DATA", str(tmp_path / "nowhere"))  # the explicit folder wins
    folder = _write(tmp_path / "ok", ["LOC:city Where is Paris ?", "", "HUM:ind Who wrote Hamlet ?"])
    splits = data.load_trec(folder)
    assert splits["train"]["text"] == ["Where is Paris ?", "Who wrote Hamlet ?"]
    assert splits["train"]["label"] == [data.TREC_COARSE.index("LOC"), data.TREC_COARSE.index("HUM")]
    bad = _write(tmp_path / "bad", ["LOC:city Where is Paris ?", "WHAT:x Who ?"])
    with pytest.raises(TinyBertLabError, match=r"train_5500.label, line 2: expected 'COARSE:fine"):
        data.load_trec(bad)
    nocolon = _write(tmp_path / "nocolon", ["LOC Where is Paris ?"])
    with pytest.raises(TinyBertLabError, match="line 1"):
        data.load_trec(nocolon)


def test_missing_files_and_env_var_pointing_nowhere(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYBERT_LAB_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError, match="TINYBERT_LAB_DATA points at .* does not contain trec/train_5500.label"):
        data.load_trec()
    folder = tmp_path / "half" / "trec"
    folder.mkdir(parents=True)
    (folder / "train_5500.label").write_text("LOC:city Where ?\n")
    with pytest.raises(DataNotFoundError, match="test file is missing"):
        data.load_trec(tmp_path / "half")


def test_no_data_anywhere_explains_the_lookup_order(monkeypatch):
    import datasets

    monkeypatch.delenv("TINYBERT_LAB_DATA", raising=False)

    def offline(*args, **kwargs):
        raise ConnectionError("no internet")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataNotFoundError, match=r"(?s)data_dir argument.*TINYBERT_LAB_DATA.*CogComp/trec.*no internet"):
        data.load_trec()


def test_hub_path_maps_names_into_our_order(monkeypatch):
    import datasets

    monkeypatch.delenv("TINYBERT_LAB_DATA", raising=False)
    hub_order = ["DESC", "ENTY", "ABBR", "HUM", "NUM", "LOC"]  # an older hub order, not ours
    features = datasets.Features({"text": datasets.Value("string"), "coarse_label": datasets.ClassLabel(names=hub_order),
                                  "fine_label": datasets.ClassLabel(names=["LOC:city", "HUM:ind"])})
    part = datasets.Dataset.from_dict({"text": ["Where ?", "Who ?"], "coarse_label": [5, 3], "fine_label": [0, 1]},
                                      features=features)
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: datasets.DatasetDict({"train": part, "test": part}))
    splits = data.load_trec()
    assert [data.TREC_COARSE[i] for i in splits["train"]["label"]] == ["LOC", "HUM"]
    fine = data.load_trec(fine=True)
    assert [fine["train"].features["label"].names[i] for i in fine["train"]["label"]] == ["LOC:city", "HUM:ind"]
