"""Data augmentation for task distillation: TinyBERT's Algorithm 1 (Jiao et al. 2020), batched.

A small task has few sentences, and a student copies its teacher better when it sees the
teacher's answers on many more inputs. TinyBERT multiplies the task data by swapping words for
similar words; the teacher then labels every copy (soft labels), so a copy whose meaning has
drifted does no harm: the teacher's logits say what it now means.

    config = AugmentConfig(n_per_sentence=4)               # p = 0.4, K = 15, as in the paper
    aug = augment(train, tokenizer, teacher_embeddings=teacher, config=config)
    encoded = data.encode(aug, tokenizer)
    logits = logit_cache.TeacherLogitCache.build(teacher, encoded, tokenizer, persist=False)
    # or, in one call: aug, encoded, logits = transfer_set(train, tokenizer, teacher)

Algorithm 1, for each sentence:
  1. Split it into words with the tokenizer's own pre-tokenizer (BERT basic tokenisation:
     lowercase, split on whitespace and punctuation).
  2. For each *replaceable* word ``w`` find ``K`` candidates ``C(w)``:
     - ``"embedding"`` (default): the K tokens nearest to ``w`` by cosine similarity in the
       teacher's input word-embedding table (the paper uses GloVe neighbours this way);
     - ``"mlm"``: the K tokens a masked-LM model finds most likely when ``w`` is replaced by
       ``[MASK]`` (the paper's choice for single-piece words, with BERT-base).
  3. ``N`` times: copy the words and replace each replaceable word, with probability ``p``, by a
     candidate drawn uniformly from ``C(w)``.

What differs from the paper and its script, and why:
  - A word is replaceable only when it is **one WordPiece token** of the vocabulary made of
    ASCII letters. TinyBERT sends multi-piece words to GloVe; we have no GloVe offline, so
    multi-piece words are kept, as are numbers, punctuation and special tokens.
  - The default source is ``"embedding"`` because the offline teacher (all-MiniLM-L6-v2) has no
    masked-LM head. ``"mlm"`` takes any ``*ForMaskedLM`` model with the same vocabulary.
  - Candidates are vocabulary tokens only, never the word itself, a special token
    (``[PAD]``, ``[CLS]``, ``[SEP]``, ``[MASK]``, ``[UNK]``, ``[unusedN]``), a ``##`` piece or a
    token with anything but ASCII letters: a candidate must read as a word, and pasting it in
    place of a word must leave the other words as they were.
  - No stop-word list: TinyBERT's script never replaces words on its stop-word list; here every
    replaceable word is fair game (pass a larger ``p`` or ``K`` to taste).

Copies identical to the original sentence or to an earlier copy are dropped by default, as
TinyBERT's script does (``deduplicate=False`` keeps all ``N``). The originals stay in the output,
flagged ``original=True`` (``keep_originals=False`` leaves them out).

Speed: ``augment`` works on batches of sentences. The embedding source computes the neighbours
of all distinct new words of a batch with one matrix product (and remembers them for later
batches); the mlm source puts every masked copy of a batch through the model in a few padded
forward passes. ``augment_word_by_word`` does the same thing one word at a time (one
neighbour query, one forward pass per word), draws the same random numbers in the same order,
and returns the same dataset: it is the reference that the tests and
``benchmarks/augment_throughput.py`` compare with.

Similarities and logits are computed in float64 by default: float32 matrix products of
different shapes round differently (a batch of queries and a single query differ by ~2e-7),
which is enough to swap two near-tied candidates and make the batched and word-by-word results
differ. ``dtype="float32"`` is about twice as fast and equal up to such ties.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass
from typing import NamedTuple

import torch

from ..core.config import Settings
from ..core.errors import TinyBertLabError

SOURCES = ("embedding", "mlm")
DTYPES = {"float64": torch.float64, "float32": torch.float32}


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AugmentConfig(Settings):
    """Settings of one augmentation run; validated when built.

    ``n_per_sentence`` (TinyBERT's N_a; the paper uses 20): augmented copies made per sentence,
    before duplicates are dropped. ``probability`` (p_t, 0.4 in the paper): chance that each
    replaceable word of a copy is replaced. ``top_k`` (K, 15 in the paper): candidates per word.
    ``source``: ``"embedding"`` or ``"mlm"`` (see the module docstring). ``batch_size``:
    sentences per batch (one neighbour matrix product per batch; memory about
    ``distinct words x vocabulary x 8`` bytes). ``mlm_batch_size``: masked copies per forward pass.
    ``seed``: the same seed gives the same output. ``keep_originals``: put each source sentence
    in the output too. ``deduplicate``: drop copies equal to the original or to an earlier copy.
    ``dtype``: ``"float64"`` (batched and word-by-word agree exactly) or ``"float32"`` (faster).
    """

    n_per_sentence: int = 4
    probability: float = 0.4
    top_k: int = 15
    source: str = "embedding"
    batch_size: int = 64
    mlm_batch_size: int = 64
    seed: int = 0
    keep_originals: bool = True
    deduplicate: bool = True
    dtype: str = "float64"

    def check(self):
        self.require_int("n_per_sentence", "top_k", "batch_size", "mlm_batch_size")
        self.require_int("seed", minimum=0)
        self.require_number("probability", 0, 1, low_open=True, high_open=False,
                            fix="It is the chance that each replaceable word is replaced (TinyBERT uses 0.4).")
        self.require_choice("source", SOURCES,
                            fix="'embedding' needs the teacher's word embeddings, 'mlm' a masked-LM model.")
        self.require_choice("dtype", tuple(DTYPES))


# --------------------------------------------------------------------------------------------
# Words and candidate tokens
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Word:
    """One word of a sentence, as the tokenizer's pre-tokenizer splits it.

    ``text``: its vocabulary token when the word is replaceable (normalised: lowercase, no
    accents), else the characters of the sentence; ``start``/``end``: its character span in the
    original sentence; ``token_id``: its WordPiece id when the word is replaceable (one token,
    ASCII letters, not special), else None; ``position``: index of its first token in the
    sentence's ``input_ids`` (which start with ``[CLS]``).
    """

    text: str
    start: int
    end: int
    token_id: int | None
    position: int

    @property
    def replaceable(self) -> bool:
        return self.token_id is not None


class _Sentence(NamedTuple):
    text: str
    input_ids: list[int]  # with [CLS] ... [SEP]
    words: list[Word]


def candidate_mask(tokenizer) -> torch.Tensor:
    """(V,) bool: which vocabulary tokens may stand in for a word.

    True for tokens made only of ASCII letters that are not special tokens; so False for
    ``[PAD]``/``[CLS]``/``[SEP]``/``[MASK]``/``[UNK]``/``[unusedN]``, ``##`` pieces,
    punctuation, numbers and other scripts (bert-base-uncased: 21,745 of 30,522 are True).
    """
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    special = set(tokenizer.all_special_ids)
    return torch.tensor([
        i not in special and token is not None and token.isascii() and token.isalpha()
        for i, token in enumerate(tokens)
    ])


def _check_tokenizer(tokenizer) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise TinyBertLabError(
            "Augmentation needs a fast (Rust) tokenizer, for word boundaries and character offsets. "
            "Load it with AutoTokenizer.from_pretrained(...) (the default) or models.load_tokenizer().")


def _split(texts: list[str], tokenizer, allowed: torch.Tensor) -> list[_Sentence]:
    """Tokenise sentences in one call and group their tokens into words (``Word``)."""
    encoded = tokenizer(texts, return_offsets_mapping=True, return_attention_mask=False,
                        return_token_type_ids=False)
    sentences = []
    for row, text in enumerate(texts):
        ids, offsets = encoded["input_ids"][row], encoded["offset_mapping"][row]
        positions: dict[int, list[int]] = {}
        for position, word_id in enumerate(encoded.word_ids(row)):
            if word_id is not None:
                positions.setdefault(word_id, []).append(position)
        words = []
        for word_id in sorted(positions):
            first, last = positions[word_id][0], positions[word_id][-1]
            start, end = offsets[first][0], offsets[last][1]
            single = len(positions[word_id]) == 1 and bool(allowed[ids[first]])
            word_text = tokenizer.convert_ids_to_tokens(ids[first]) if single else text[start:end]
            words.append(Word(word_text, start, end, ids[first] if single else None, first))
        sentences.append(_Sentence(text, ids, words))
    return sentences


def split_words(text: str, tokenizer) -> list[Word]:
    """The words of ``text`` and which of them augmentation may replace.

    >>> [(w.text, w.replaceable) for w in split_words("A gripping, un-missable film", tokenizer)]
    [('a', True), ('gripping', True), (',', False), ('un', True), ('-', False), ('missable', False), ('film', True)]
    """
    _check_tokenizer(tokenizer)
    return _split([text], tokenizer, candidate_mask(tokenizer))[0].words


# --------------------------------------------------------------------------------------------
# Candidates: nearest neighbours in an embedding table
# --------------------------------------------------------------------------------------------
def normalize_rows(table: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(V, d) embedding table → the same rows scaled to unit length (cosine = dot product)."""
    table = table.detach().to(dtype)
    return table / table.norm(dim=1, keepdim=True).clamp_min(1e-12)


def embedding_neighbours(token_ids: torch.Tensor, unit_table: torch.Tensor, allowed: torch.Tensor,
                         k: int) -> torch.Tensor:
    """The ``k`` nearest candidate tokens of each query token, by cosine similarity.

    ``token_ids``: (U,) long; ``unit_table``: (V, d), rows of unit length (``normalize_rows``);
    ``allowed``: (V,) bool, the tokens that may be returned (``candidate_mask``). Returns (U, k)
    long, most similar first. A token is never its own neighbour. One (U, d) x (d, V) product
    for all queries: call it with every distinct word of a batch at once.
    """
    token_ids = token_ids.to(unit_table.device)
    similarity = unit_table[token_ids] @ unit_table.T  # (U, V)
    similarity[:, ~allowed.to(unit_table.device)] = -math.inf
    similarity[torch.arange(len(token_ids), device=unit_table.device), token_ids] = -math.inf
    return similarity.topk(k, dim=1).indices.cpu()


# --------------------------------------------------------------------------------------------
# Candidates: a masked-LM model's predictions
# --------------------------------------------------------------------------------------------
def _mlm_logits_at(model, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   positions: torch.Tensor) -> torch.Tensor:
    """Vocabulary logits (B, V) at one position per row of ``input_ids`` (B, L).

    Where the MLM head is one module (BERT's ``cls``, RoBERTa's ``lm_head``) it runs on those
    positions only, so a batch never materialises (B, L, V) logits; other models run whole and
    are sliced.
    """
    rows = torch.arange(len(positions), device=input_ids.device)
    head = getattr(model, "cls", None)
    head = getattr(model, "lm_head", None) if head is None else head
    if head is not None:
        hidden = model.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return head(hidden[rows, positions])
    return model(input_ids=input_ids, attention_mask=attention_mask).logits[rows, positions]


def mlm_candidates(model, sequences: list[list[int]], positions: list[int], allowed: torch.Tensor,
                   k: int, *, pad_token_id: int, mask_token_id: int, batch_size: int = 64) -> list[list[int]]:
    """Top-``k`` masked-LM predictions for a list of queries, in a few padded forward passes.

    Query q is ``sequences[q]`` (token ids with ``[CLS]``/``[SEP]``) with the token at
    ``positions[q]`` replaced by ``[MASK]``. Returns, per query, k token ids (most likely
    first), among ``allowed`` tokens and never the original token. Queries are sorted by length
    and cut into batches of ``batch_size``, so little is padded. ``model`` must be in eval mode.
    """
    device = next(model.parameters()).device
    allowed = allowed.to(device)
    order = sorted(range(len(sequences)), key=lambda q: len(sequences[q]))
    result: list[list[int]] = [[] for _ in sequences]
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        longest = max(len(sequences[q]) for q in chunk)
        input_ids = torch.full((len(chunk), longest), pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(chunk), longest), dtype=torch.long)
        for row, q in enumerate(chunk):
            input_ids[row, : len(sequences[q])] = torch.tensor(sequences[q])
            attention_mask[row, : len(sequences[q])] = 1
        where = torch.tensor([positions[q] for q in chunk])
        rows = torch.arange(len(chunk))
        originals = input_ids[rows, where].clone()
        input_ids[rows, where] = mask_token_id
        with torch.no_grad():
            logits = _mlm_logits_at(model, input_ids.to(device), attention_mask.to(device), where.to(device))
        logits[:, ~allowed] = -math.inf
        logits[rows.to(device), originals.to(device)] = -math.inf
        for q, top in zip(chunk, logits.topk(k, dim=1).indices.cpu().tolist()):
            result[q] = top
    return result


def _mlm_context(ids: list[int], limit: int) -> list[int]:
    """A sentence's ids cut to the model's ``limit`` positions, keeping the final ``[SEP]``."""
    return ids if len(ids) <= limit else ids[: limit - 1] + ids[-1:]


# --------------------------------------------------------------------------------------------
# The random part of Algorithm 1 (shared by both implementations)
# --------------------------------------------------------------------------------------------
def _rng(seed: int, sentence: int) -> random.Random:
    """One generator per sentence: its copies depend on the seed and its position only."""
    return random.Random(f"tinybert_lab.methods.augment/{seed}/{sentence}")


def _make_copies(sentence: _Sentence, candidates: dict[int, list[int]], tokenizer,
                 config: AugmentConfig, rng: random.Random) -> list[str]:
    """Algorithm 1's inner loop: ``n_per_sentence`` copies of one sentence.

    ``candidates``: word index → candidate token ids (only words that have some). For every
    copy and every such word, in word order, draw the candidate (uniform over its list) and
    then the coin (uniform in [0, 1)), as TinyBERT's script does; replace when coin < p.
    Drawing both every time keeps the stream of random numbers independent of p.
    """
    copies, seen = [], {sentence.text}
    for _ in range(config.n_per_sentence):
        pieces, cursor = [], 0
        for word_index in sorted(candidates):
            options = candidates[word_index]
            choice, coin = rng.randrange(len(options)), rng.random()
            if coin < config.probability:
                word = sentence.words[word_index]
                pieces += [sentence.text[cursor:word.start], tokenizer.convert_ids_to_tokens(options[choice])]
                cursor = word.end
        text = "".join(pieces) + sentence.text[cursor:]
        if config.deduplicate and text in seen:
            continue
        seen.add(text)
        copies.append(text)
    return copies


# --------------------------------------------------------------------------------------------
# Input checks shared by both implementations
# --------------------------------------------------------------------------------------------
class _Job(NamedTuple):
    texts: list[str]
    columns: dict  # the other columns to carry over: label, source_idx, text_pair
    features: dict
    text_column: str
    config: AugmentConfig
    allowed: torch.Tensor
    unit_table: torch.Tensor | None
    mlm: object | None


def _prepare(dataset, tokenizer, teacher_embeddings, mlm_model, config, text_column) -> _Job:
    from ..core import data

    if config is None:
        config = AugmentConfig()
    elif isinstance(config, dict):
        config = AugmentConfig.from_dict(config)
    elif not isinstance(config, AugmentConfig):
        raise TinyBertLabError(f"config must be an AugmentConfig or a dict, got {type(config).__name__}.")
    if len(dataset) == 0:
        raise TinyBertLabError("The dataset is empty: there is nothing to augment. Check the file or the subset size.")
    _check_tokenizer(tokenizer)
    text_column, pair_column = data.text_columns(dataset, text_column)
    vocab = len(tokenizer)
    allowed = candidate_mask(tokenizer)
    if config.top_k > int(allowed.sum()):
        raise TinyBertLabError(
            f"top_k={config.top_k} is more than the {int(allowed.sum())} candidate tokens of this vocabulary. "
            "Use a smaller top_k (TinyBERT uses 15).")
    dtype = DTYPES[config.dtype]

    unit_table, mlm = None, None
    if config.source == "embedding":
        if mlm_model is not None:
            raise TinyBertLabError(
                "mlm_model was given but config.source is 'embedding'. Pass "
                "AugmentConfig(source='mlm') to use the masked-LM model, or drop mlm_model.")
        if teacher_embeddings is None:
            raise TinyBertLabError(
                "The 'embedding' source needs the teacher's word embeddings: pass "
                "teacher_embeddings=teacher (a BERT model) or its (vocab, hidden) table, e.g. "
                "teacher_embeddings=models.load_teacher().")
        table = teacher_embeddings
        if hasattr(table, "get_input_embeddings"):
            table = table.get_input_embeddings().weight
        if not isinstance(table, torch.Tensor) or table.dim() != 2:
            raise TinyBertLabError(
                f"teacher_embeddings must be a model or a 2-D (vocab, hidden) tensor, got "
                f"{getattr(table, 'shape', type(table).__name__)}.")
        if table.shape[0] != vocab:
            raise TinyBertLabError(
                f"The embedding table has {table.shape[0]} rows but the tokenizer has {vocab} tokens: "
                "token ids would pick the wrong rows. Use the teacher that goes with this tokenizer.")
        unit_table = normalize_rows(table, dtype)
    else:
        if teacher_embeddings is not None:
            raise TinyBertLabError(
                "teacher_embeddings was given but config.source is 'mlm'. Drop teacher_embeddings, "
                "or use AugmentConfig(source='embedding').")
        if mlm_model is None:
            raise TinyBertLabError(
                "The 'mlm' source needs a masked-LM model: pass mlm_model=... (any Hugging Face "
                "*ForMaskedLM with the tokenizer's vocabulary, e.g. BertForMaskedLM).")
        if not type(mlm_model).__name__.endswith("ForMaskedLM"):
            raise TinyBertLabError(
                f"mlm_model is a {type(mlm_model).__name__}, which has no masked-LM head (no "
                "vocabulary logits). Pass a *ForMaskedLM model, e.g. BertForMaskedLM; the offline "
                "MiniLM teacher has none, so use source='embedding' with it.")
        if mlm_model.config.vocab_size != vocab:
            raise TinyBertLabError(
                f"mlm_model predicts {mlm_model.config.vocab_size} tokens but the tokenizer has {vocab}: "
                "its predictions would be the wrong words. Use a masked-LM model built with this "
                "tokenizer's vocabulary.")
        # A float64 (or float32) copy in eval mode: no dropout, and the caller's model untouched.
        mlm = copy.deepcopy(mlm_model).to(dtype).eval()

    texts = list(dataset[text_column])
    names = dataset.column_names
    columns = {pair_column: list(dataset[pair_column])} if pair_column is not None else {}
    columns["label"] = list(dataset["label"]) if "label" in names else [-1] * len(texts)
    columns["source_idx"] = list(dataset["idx"]) if "idx" in names else list(range(len(texts)))
    features = {name: dataset.features[name] for name in (text_column, pair_column, "label")
                if name is not None and name in dataset.features}
    return _Job(texts, columns, features, text_column, config, allowed, unit_table, mlm)


def _rows_for(job: _Job, position: int, sentence: _Sentence, copies: list[str], out: dict) -> None:
    """Append the output rows of one source sentence (original first, then its copies)."""
    texts = ([sentence.text] if job.config.keep_originals else []) + copies
    for i, text in enumerate(texts):
        out[job.text_column].append(text)
        out["original"].append(job.config.keep_originals and i == 0)
        for name, values in job.columns.items():
            out[name].append(values[position])


def _finish(job: _Job, out: dict):
    """The output ``datasets.Dataset``, with fresh unique ``idx`` (for the teacher-logit cache)."""
    import datasets

    out["idx"] = list(range(len(out[job.text_column])))
    features = dict(job.features)
    features.setdefault(job.text_column, datasets.Value("string"))
    features["label"] = features.get("label", datasets.Value("int64"))
    features |= {"source_idx": datasets.Value("int64"), "original": datasets.Value("bool"),
                 "idx": datasets.Value("int64")}
    for name in out:
        features.setdefault(name, datasets.Value("string"))
    return datasets.Dataset.from_dict(out, features=datasets.Features({k: features[k] for k in out}))


def _empty_output(job: _Job) -> dict:
    return {name: [] for name in [job.text_column, *job.columns, "original"]}


def _mlm_words(sentence: _Sentence, limit: int) -> list[int]:
    """Indices of the replaceable words the masked-LM model can see (within ``limit`` positions)."""
    return [i for i, w in enumerate(sentence.words) if w.replaceable and w.position < limit - 1]


# --------------------------------------------------------------------------------------------
# The two implementations
# --------------------------------------------------------------------------------------------
def augment(dataset, tokenizer, *, teacher_embeddings=None, mlm_model=None, config: AugmentConfig | dict | None = None,
            text_column: str | None = None):
    """TinyBERT data augmentation of a text-classification dataset, batched.

    ``dataset``: a ``datasets.Dataset`` with a ``sentence`` or ``text`` column (or
    ``text_column``), usually ``label`` and ``idx``; a ``text_pair`` column is copied
    unchanged (only the first text is augmented). ``teacher_embeddings``: for
    ``source="embedding"``, a BERT model or its (V, d) word-embedding table. ``mlm_model``: for
    ``source="mlm"``, a ``*ForMaskedLM`` model with the tokenizer's vocabulary (the caller's
    model is not modified; a copy runs in eval mode). ``config``: ``AugmentConfig`` or a dict.

    Returns a ``datasets.Dataset``: for each source sentence, in order, the original (unless
    ``keep_originals=False``) and then its copies, with columns ``<text column>``,
    [``text_pair``], ``label`` (copied from the source: relabel with the teacher),
    ``source_idx`` (the source row's ``idx``, or its position when there is no ``idx``),
    ``original`` (True for the source sentence itself) and ``idx`` (0..n-1, unique, so
    ``TeacherLogitCache`` can key by it). Augmented copies keep the original's spacing and case;
    replaced words appear as vocabulary tokens (lowercase for an uncased vocabulary).
    """
    job = _prepare(dataset, tokenizer, teacher_embeddings, mlm_model, config, text_column)
    config, out = job.config, _empty_output(job)
    neighbours: dict[int, list[int]] = {}  # token id → its K nearest, remembered across batches
    for start in range(0, len(job.texts), config.batch_size):
        batch = _split(job.texts[start:start + config.batch_size], tokenizer, job.allowed)
        if config.source == "embedding":
            new = sorted({w.token_id for s in batch for w in s.words if w.replaceable} - neighbours.keys())
            if new:  # one matrix product for every new word of the batch
                found = embedding_neighbours(torch.tensor(new), job.unit_table, job.allowed, config.top_k)
                neighbours.update(zip(new, found.tolist()))
            per_sentence = [{i: neighbours[w.token_id] for i, w in enumerate(s.words) if w.replaceable}
                            for s in batch]
        else:  # one masked copy per replaceable word, all through the model in padded batches
            limit = job.mlm.config.max_position_embeddings
            queries = [(row, i) for row, s in enumerate(batch) for i in _mlm_words(s, limit)]
            found = mlm_candidates(
                job.mlm, [_mlm_context(batch[row].input_ids, limit) for row, _ in queries],
                [batch[row].words[i].position for row, i in queries], job.allowed, config.top_k,
                pad_token_id=tokenizer.pad_token_id, mask_token_id=tokenizer.mask_token_id,
                batch_size=config.mlm_batch_size)
            per_sentence = [{} for _ in batch]
            for (row, i), top in zip(queries, found):
                per_sentence[row][i] = top
        for offset, (sentence, candidates) in enumerate(zip(batch, per_sentence)):
            position = start + offset
            copies = _make_copies(sentence, candidates, tokenizer, config, _rng(config.seed, position))
            _rows_for(job, position, sentence, copies, out)
    return _finish(job, out)


def augment_word_by_word(dataset, tokenizer, *, teacher_embeddings=None, mlm_model=None,
                         config: AugmentConfig | dict | None = None, text_column: str | None = None):
    """The reference implementation of ``augment``: same arguments, same output, slowly.

    One sentence at a time, one neighbour query (a (1, d) x (d, V) product) or one masked-LM
    forward pass per replaceable word, no memory of earlier words: what a first, loop-based
    version looks like. It draws the same random numbers in the same order as ``augment``, so
    for the same seed the two return identical datasets (``config.batch_size`` and
    ``mlm_batch_size`` are ignored here).
    """
    job = _prepare(dataset, tokenizer, teacher_embeddings, mlm_model, config, text_column)
    config, out = job.config, _empty_output(job)
    for position, text in enumerate(job.texts):
        sentence = _split([text], tokenizer, job.allowed)[0]
        candidates = {}
        if config.source == "embedding":
            for i, word in enumerate(sentence.words):
                if word.replaceable:
                    found = embedding_neighbours(torch.tensor([word.token_id]), job.unit_table, job.allowed,
                                                 config.top_k)
                    candidates[i] = found[0].tolist()
        else:
            limit = job.mlm.config.max_position_embeddings
            for i in _mlm_words(sentence, limit):
                candidates[i] = mlm_candidates(
                    job.mlm, [_mlm_context(sentence.input_ids, limit)], [sentence.words[i].position],
                    job.allowed, config.top_k, pad_token_id=tokenizer.pad_token_id,
                    mask_token_id=tokenizer.mask_token_id, batch_size=1)[0]
        copies = _make_copies(sentence, candidates, tokenizer, config, _rng(config.seed, position))
        _rows_for(job, position, sentence, copies, out)
    return _finish(job, out)


# --------------------------------------------------------------------------------------------
# Augment, tokenise, and let the teacher label it
# --------------------------------------------------------------------------------------------
class TransferSet(NamedTuple):
    """``augmented``: the text dataset (``augment``'s output); ``encoded``: it tokenised
    (``data.encode``); ``logits``: the teacher's logits for every row (``TeacherLogitCache``)."""

    augmented: object
    encoded: object
    logits: object


def transfer_set(dataset, tokenizer, teacher, *, config: AugmentConfig | dict | None = None, mlm_model=None,
                 max_length: int | None = None, batch_size: int = 64, persist: bool = False) -> TransferSet:
    """Augment ``dataset`` and label every row with ``teacher``: the input of prediction-layer
    distillation on augmented data.

    The embedding source uses ``teacher``'s own word embeddings; ``source="mlm"`` needs
    ``mlm_model``. The copies' ``label`` is the source's, which replacing words may have made
    wrong: train the copies on the teacher's soft labels (``TeacherLogitCache.lookup``), as
    TinyBERT does. ``persist=True`` saves the logits in the cache folder.
    """
    from ..core import data
    from ..core import logit_cache

    config = AugmentConfig.from_dict(config) if isinstance(config, dict) else (config or AugmentConfig())
    embeddings = teacher if config.source == "embedding" else None
    augmented = augment(dataset, tokenizer, teacher_embeddings=embeddings, mlm_model=mlm_model, config=config)
    encoded = data.encode(augmented, tokenizer, max_length=max_length)
    logits = logit_cache.TeacherLogitCache.build(teacher, encoded, tokenizer, batch_size=batch_size, persist=persist)
    return TransferSet(augmented, encoded, logits)
