"""Your own classification data: TSV, CSV and JSON Lines files as people have them.

``load_text_classification`` turns a file (or a ``datasets.Dataset``, or a hub dataset name for
users who are online) into the tutorial's columns: ``text``, ``text_pair`` (pairs only),
``label`` (ClassLabel) and ``idx``. What it reads:

- ``.tsv`` (GLUE style: tabs, no quote handling), ``.csv`` (quoted fields may hold commas and
  newlines), ``.jsonl`` / ``.json`` (one JSON object per line);
- with a header row (columns by name) or without one (``header=False``, columns by position,
  e.g. SentEval's ``label<TAB>sentence``: ``text_column=1, label_column=0``);
- UTF-8 with or without a byte-order mark, any other encoding by ``encoding=`` (a wrong guess
  names the offending byte and its line); Windows line endings; blank lines are skipped;
- labels as ids (``0``, ``1``) or names (``entailment``), binary or multi-class, optionally
  checked against ``label_names``.

Every refusal names the file, the line and the fix.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Sequence

from .errors import DataNotFoundError, TinyBertLabError

Column = str | int
JSON_SUFFIXES = {".jsonl", ".json", ".ndjson"}


def _decode(path: Path, encoding: str) -> str:
    raw = path.read_bytes()
    if encoding.lower().replace("-", "").replace("_", "") in {"utf8", "utf8sig"}:
        encoding = "utf-8-sig"  # a byte-order mark, when there is one, is not part of the first column's name
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as error:
        line = raw[:error.start].count(b"\n") + 1
        byte = raw[error.start:error.start + 1]
        raise TinyBertLabError(
            f"{path}, line {line}: byte {byte!r} is not valid {encoding}. The file uses another encoding; "
            "pass encoding='latin-1' (Western European files, e.g. TREC's) or the one it was saved in."
        ) from None
    except LookupError:
        raise TinyBertLabError(f"Unknown encoding {encoding!r}; use a Python codec name such as 'utf-8' or 'latin-1'.") from None


def _numbered_rows(text: str, delimiter: str, path: Path) -> list[tuple[int, list[str]]]:
    """``(line number, fields)`` of every non-blank record; quoted CSV fields may span lines."""
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
    rows, line = [], 1
    try:
        for fields in reader:
            if any(field.strip() for field in fields):
                rows.append((line, fields))
            line = reader.line_num + 1
    except csv.Error as error:
        raise TinyBertLabError(f"{path}, line {reader.line_num}: {error}. Check the quotes on that line.") from None
    return rows


def _json_rows(text: str, path: Path) -> list[tuple[int, dict]]:
    rows = []
    for line, content in enumerate(text.splitlines(), start=1):
        if not content.strip():
            continue
        try:
            value = json.loads(content)
        except json.JSONDecodeError as error:
            raise TinyBertLabError(
                f"{path}, line {line}: not a JSON object ({error.msg}). JSON Lines files hold one object per line, "
                'e.g. {"text": "a fine film", "label": 1}.') from None
        if not isinstance(value, dict):
            raise TinyBertLabError(f"{path}, line {line}: expected a JSON object, got {type(value).__name__}.")
        rows.append((line, value))
    return rows


def _position(name: Column, header: list[str] | None, width: int, path: Path, role: str) -> int:
    if isinstance(name, bool) or not isinstance(name, (int, str)):
        raise TinyBertLabError(f"{role} must be a column name or a 0-based position, got {name!r}.")
    if isinstance(name, int):
        if not 0 <= name < width:
            raise TinyBertLabError(f"{path}: {role}={name} but rows have {width} columns (positions 0..{width - 1}).")
        return name
    if header is None:
        raise TinyBertLabError(
            f"{path}: {role}={name!r} names a column, but the file is read without a header (header=False). "
            "Give positions instead, e.g. text_column=1, label_column=0.")
    return header.index(name)


def _table(path: Path, encoding: str, header: bool | None, wanted: list[Column]):
    """``(header or None, [(line, fields)])`` of a TSV/CSV file; ``header=None`` means "the first
    row is a header when it holds every wanted column name"."""
    rows = _numbered_rows(_decode(path, encoding), "\t" if path.suffix.lower() == ".tsv" else ",", path)
    if not rows:
        raise TinyBertLabError(f"{path} is empty: expected rows of text and labels.")
    names = [c for c in wanted if isinstance(c, str)]  # the text columns' names (a label column may be absent)
    first = [field.strip() for field in rows[0][1]]
    if header is None:
        header = bool(names) and all(name in first for name in names)
        if names and not header:
            raise TinyBertLabError(
                f"{path}: column(s) {[n for n in names if n not in first]} not found; the first row is {first}. "
                "Pass text_column= / text_pair_column= / label_column= with the names your file uses, or, if the "
                "file has no header row, header=False and positions (e.g. text_column=1, label_column=0).")
    head, body = (first, rows[1:]) if header else (None, rows)
    width = len(head) if head else len(body[0][1]) if body else 0
    for line, fields in body:
        if len(fields) != width:
            what = f"the header has {width} ({head})" if head else f"the first row has {width}"
            raise TinyBertLabError(
                f"{path}, line {line}: {len(fields)} fields, but {what}. Check the delimiter "
                "(TSV needs tabs) and stray separators in the text; CSV fields with commas need quotes.")
    if head is not None:
        missing = [n for n in names if n not in head]
        if missing:
            raise TinyBertLabError(
                f"{path}: column(s) {missing} not found; the header has {head}. "
                "Pass text_column= / text_pair_column= / label_column= with the names your file uses.")
    return head, body, width


def _labels_to_ids(raw: list[tuple[int, str]], label_names, path) -> tuple[list[str], list[int]]:
    """Map ``(line, label cell)`` pairs (ids or names) to ids; anything outside the label set is an error."""
    values = [value for _, value in raw]
    if label_names is not None:
        names = list(label_names)
        lookup = {name: i for i, name in enumerate(names)} | {str(i): i for i in range(len(names))}
    elif all(value.lstrip("-").isdigit() for value in values):
        if min(int(value) for value in values) < 0:
            raise TinyBertLabError(f"{path}: negative label ids; ids must be 0..num_labels-1.")
        names = [str(i) for i in range(max(int(value) for value in values) + 1)]
        lookup = {name: i for i, name in enumerate(names)}
    else:
        names = sorted(set(values))
        lookup = {name: i for i, name in enumerate(names)}
    ids = []
    for line, value in raw:
        if value not in lookup:
            raise TinyBertLabError(
                f"{path}, line {line}: label {value!r} is not in the label set {names}. "
                "Fix the file or pass label_names=[...] listing every label.")
        ids.append(lookup[value])
    return names, ids


def _from_dataset(dataset, text_column, text_pair_column, label_column):
    """A ``datasets.Dataset`` renamed to the tutorial's columns (``text``, ``text_pair``, ``label``, ``idx``)."""
    renames = {text_column: "text", text_pair_column: "text_pair", label_column: "label"}
    renames = {old: new for old, new in renames.items() if old is not None and old != new}
    missing = [old for old in renames if old not in dataset.column_names]
    if missing:
        raise TinyBertLabError(f"Column(s) {missing} not in the dataset; it has {dataset.column_names}.")
    dataset = dataset.rename_columns(renames) if renames else dataset
    if "idx" not in dataset.column_names:
        dataset = dataset.add_column("idx", list(range(len(dataset))))
    return dataset


def load_text_classification(
    source,
    *,
    text_column: Column = "text",
    text_pair_column: Column | None = None,
    label_column: Column | None = "label",
    label_names: Sequence[str] | None = None,
    header: bool | None = None,
    encoding: str = "utf-8",
    split: str = "train",
):
    """Any single-sentence or sentence-pair classification data as a ``datasets.Dataset`` with
    columns ``text``, ``text_pair`` (pairs only), ``label`` (ClassLabel) and ``idx``.

    ``source``: a ``.tsv`` / ``.csv`` / ``.jsonl`` path, a ``datasets.Dataset`` (renamed), or a hub
    dataset name (``split`` of it; needs the internet). Columns are names, or 0-based positions
    when the file has no header (``header=False``); ``header=None`` reads the first row as a header
    when it holds the column names asked for. Labels may be ids or names; names map to ids in
    ``label_names`` order, or sorted order when it is None. Without a label column
    (``label_column=None``) every label is -1 (unlabeled text).
    """
    import datasets

    if isinstance(source, datasets.Dataset):
        return _from_dataset(source, text_column, text_pair_column, label_column)
    path = Path(source).expanduser()
    if not path.is_file():
        if isinstance(source, str) and "/" in source and not path.suffix and not path.exists():
            return _from_hub(source, split, text_column, text_pair_column, label_column)
        raise DataNotFoundError(f"No such file: {path}. Give the path of a .tsv, .csv or .jsonl file.")
    texts = [c for c in (text_column, text_pair_column) if c is not None]
    if path.suffix.lower() in JSON_SUFFIXES:
        records = _json_rows(_decode(path, encoding), path)
        if not records:
            raise TinyBertLabError(f"{path} has no examples.")
        labelled = [label_column in record for _, record in records] if label_column is not None else [False]
        for line, record in records:
            absent = [c for c in texts if c not in record] + ([label_column] if any(labelled) and label_column not in record else [])
            if absent:
                raise TinyBertLabError(f"{path}, line {line}: key(s) {absent} missing; this object has {sorted(record)}.")
        has_label = any(labelled)
        cell = {c: [(line, str(record[c])) for line, record in records] for c in texts + ([label_column] if has_label else [])}
    else:
        head, body, width = _table(path, encoding, header, texts)
        if not body:
            raise TinyBertLabError(f"{path} has a header but no examples.")
        has_label = label_column is not None and (head is None or not isinstance(label_column, str) or label_column in head)
        roles = [(text_column, "text_column"), (text_pair_column, "text_pair_column")]
        roles += [(label_column, "label_column")] if has_label else []
        where = {c: _position(c, head, width, path, role) for c, role in roles if c is not None}
        cell = {c: [(line, fields[i]) for line, fields in body] for c, i in where.items()}
    columns = {"text": [value for _, value in cell[text_column]]}
    if text_pair_column is not None:
        columns["text_pair"] = [value for _, value in cell[text_pair_column]]
    count = len(columns["text"])
    if has_label:
        names, ids = _labels_to_ids([(line, value.strip()) for line, value in cell[label_column]], label_names, path)
    else:
        names, ids = list(label_names or ["unlabeled"]), [-1] * count
    columns["label"] = ids
    columns["idx"] = list(range(count))
    features = {"text": datasets.Value("string")}
    if text_pair_column is not None:
        features["text_pair"] = datasets.Value("string")
    features |= {"label": datasets.ClassLabel(names=names), "idx": datasets.Value("int32")}
    return datasets.Dataset.from_dict(columns, features=datasets.Features(features))


def _from_hub(name, split, text_column, text_pair_column, label_column):
    import datasets

    try:
        dataset = datasets.load_dataset(name, split=split)
    except Exception as error:  # offline, unknown name, gated dataset: one plain sentence
        raise DataNotFoundError(
            f"{name!r} is not a file here and could not be loaded from the Hugging Face hub "
            f"({type(error).__name__}). Offline, give the path of a .tsv, .csv or .jsonl file.") from None
    return _from_dataset(dataset, text_column, text_pair_column, label_column)
