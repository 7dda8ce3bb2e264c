"""After distillation: what else makes a model smaller and faster, one function each.

- ``quantize(model)``: int8 dynamic quantisation of every ``nn.Linear`` (PyTorch, CPU): weights
  stored in int8, activations quantised on the fly. Returns a copy.
- ``export_onnx(model, tokenizer, path, sample)``: the model as one ONNX file (dynamic batch and
  length), traced on real sentences; ``onnx_session(path)`` runs it with ONNX Runtime behind the
  same call as a PyTorch model (``model(**inputs).logits``); ``quantize_onnx`` is ONNX Runtime's
  dynamic int8 quantisation of that file.
- ``head_importance(model, dataset, tokenizer)``: Michel et al. (2019)'s importance of every
  attention head, the gradient of the loss with respect to a gate on the head's output;
  ``prune_heads(model, heads)`` removes heads for good (narrower query/key/value and output
  projections), and the pruned model round-trips through ``save_pretrained`` / ``load_pruned``.

transformers 5 no longer has ``head_mask`` or ``prune_heads``: the gate is a forward hook on each
layer's self-attention, and pruning rewrites the projections with ``prune_linear_layer``.
"""

from __future__ import annotations

import copy
import warnings
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from ..core import data as data_lib
from ..core import evaluation, models
from ..core.errors import TinyBertLabError
from ..core.evaluation import ResultsTable
from ..core.models import encoder_layers

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


# --------------------------------------------------------------------------------------------
# int8 dynamic quantisation (PyTorch)
# --------------------------------------------------------------------------------------------
@contextmanager
def _quiet_quantization():
    """torch.ao.quantization still works in torch 2.13 but warns that it moves to torchao."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.ao.quantization is deprecated.*")
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*")
        warnings.filterwarnings("ignore", message=".*quantized tensor.*")
        yield


def quantize(model, *, engine: str | None = None):
    """A copy of ``model`` with every ``nn.Linear`` in int8 (dynamic quantisation), for CPU.

    ``engine``: the int8 kernel library (default: torch's current one, e.g. ``x86``); one this
    build of torch lacks is refused with the ones it has."""
    engines = [e for e in torch.backends.quantized.supported_engines if e != "none"]
    chosen = engine or torch.backends.quantized.engine
    if chosen not in engines or chosen == "none":
        raise TinyBertLabError(
            f"This build of torch has no int8 kernels for engine {chosen!r} (it has: {', '.join(engines) or 'none'}). "
            "Pass engine= one of those, or skip int8 quantisation on this machine.")
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise TinyBertLabError("int8 dynamic quantisation runs on the CPU: pass model.cpu() (a copy is quantised).")
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = chosen
    try:
        with _quiet_quantization():
            return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model).eval(), {nn.Linear}, dtype=torch.qint8)
    finally:
        torch.backends.quantized.engine = previous


# --------------------------------------------------------------------------------------------
# ONNX export and ONNX Runtime
# --------------------------------------------------------------------------------------------
class _LogitsOnly(nn.Module):
    """The classifier as a function of (input_ids, attention_mask, token_type_ids) → logits."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits


def _sample_inputs(tokenizer, sample, max_length: int) -> dict[str, torch.Tensor]:
    sentences = [sample] if isinstance(sample, str) else list(sample or [])
    if len(sentences) < 2 or not all(isinstance(s, str) and s.strip() for s in sentences):
        raise TinyBertLabError(
            "export_onnx traces the model on real input: pass sample= at least 2 non-empty sentences of different "
            "lengths (e.g. list(dev['sentence'][:4])), so batch size and length stay dynamic.")
    encoded = tokenizer(sentences, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    if encoded["input_ids"].shape[1] < 3:
        raise TinyBertLabError("The sample sentences are too short to trace a dynamic length: use real sentences.")
    if "token_type_ids" not in encoded:
        encoded["token_type_ids"] = torch.zeros_like(encoded["input_ids"])
    return {name: encoded[name] for name in INPUT_NAMES}


def export_onnx(model, tokenizer, path, sample, *, max_length: int = 64) -> Path:
    """Write ``model`` (a BERT sequence classifier, fp32) to the ONNX file ``path``, traced on the
    ``sample`` sentences with batch size and length left dynamic. Returns the path."""
    if tokenizer is None:
        raise TinyBertLabError("export_onnx needs the model's tokenizer to turn the sample sentences into input ids.")
    inputs = _sample_inputs(tokenizer, sample, max_length)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    batch, length = torch.export.Dim("batch", min=1), torch.export.Dim("length", min=1, max=512)
    wrapped = _LogitsOnly(copy.deepcopy(model).float().cpu().eval())
    with warnings.catch_warnings(), torch.no_grad(), _quiet_logger("torch.onnx"):
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapped, (), str(path), kwargs=inputs, input_names=list(INPUT_NAMES), output_names=["logits"],
                          dynamic_shapes={name: {0: batch, 1: length} for name in INPUT_NAMES},
                          external_data=False, verbose=False)
    return path


@contextmanager
def _quiet_logger(name: str):
    """Only errors from logger ``name`` within the block (the exporter's skipped torchvision operators,
    ORT's quantiser hints): not for a learner's notebook."""
    import logging

    logger = logging.getLogger(name)
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


class OnnxModel:
    """An ONNX Runtime session behind a PyTorch classifier's call: ``model(**inputs).logits``
    (a tensor), so evaluation and timing code takes either. ``config`` is the source model's."""

    def __init__(self, path, config, *, threads: int = 2):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: no load report in a learner's notebook
        self.path, self.config, self.threads = Path(path), config, threads
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __call__(self, input_ids, attention_mask=None, token_type_ids=None, **_):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        logits = self.session.run(["logits"], {k: v.cpu().numpy().astype("int64") for k, v in feeds.items()})[0]
        return SimpleNamespace(logits=torch.from_numpy(logits))

    def eval(self):
        return self

    def size_on_disk(self) -> int:
        return self.path.stat().st_size


def onnx_session(path, config, *, threads: int = 2) -> OnnxModel:
    """Open an exported file with ONNX Runtime on the CPU (``threads`` intra-op threads)."""
    path = Path(path)
    if not path.is_file():
        raise TinyBertLabError(f"No ONNX file at {path}: write one with export_onnx(model, tokenizer, path, sample).")
    return OnnxModel(path, config, threads=threads)


def quantize_onnx(path, out) -> Path:
    """ONNX Runtime's dynamic int8 quantisation of an exported file (weights int8, activations
    quantised at run time), written to ``out``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path, out = Path(path), Path(out)
    if not path.is_file():
        raise TinyBertLabError(f"No ONNX file at {path}: export the model first (export_onnx).")
    with _quiet_logger(""):  # the root logger: ORT's "consider pre-processing" hint, for this call only
        quantize_dynamic(str(path), str(out), weight_type=QuantType.QInt8)
    return out


# --------------------------------------------------------------------------------------------
# Measuring: speed, size, work
# --------------------------------------------------------------------------------------------
def encoder_flops(model, length: int = 32) -> int:
    """Floating-point operations (2 per multiply-add) of the Transformer layers for one sentence
    of ``length`` tokens: Q/K/V/output projections, attention scores and mixing, feed-forward.
    Read from the modules, so pruned heads count as gone. Ratios of this are the speed-up bound
    of a smaller architecture (quantisation and runtimes change the cost per operation instead)."""
    total = 0
    for layer in _layers(model):
        attention = layer.attention.self
        hidden, inner = attention.query.in_features, attention.all_head_size
        ffn = layer.intermediate.dense.out_features
        total += 2 * length * (3 * hidden * inner + inner * hidden)  # query, key, value; output
        total += 2 * 2 * length * length * inner  # Q·Kᵀ and probabilities · V
        total += 2 * length * 2 * hidden * ffn  # feed-forward in and out
    return total


# --------------------------------------------------------------------------------------------
# Attention heads: importance and pruning
# --------------------------------------------------------------------------------------------
def _layers(model):
    return encoder_layers(model, "head importance and pruning need one")


@contextmanager
def gated_heads(model, gates: torch.Tensor):
    """Within the block, the output of head h of layer l is multiplied by ``gates[l, h]``
    (``gates``: (layers, heads); 0 silences a head, as the old ``head_mask`` did)."""
    layers = _layers(model)

    def hook_for(index):
        def hook(module, _inputs, output):
            context, *rest = output if isinstance(output, tuple) else (output,)
            batch, length, _ = context.shape
            heads = module.num_attention_heads
            gate = gates[index, :heads].to(context.dtype).view(1, 1, heads, 1)
            context = (context.view(batch, length, heads, -1) * gate).view(batch, length, -1)
            return (context, *rest) if isinstance(output, tuple) else context
        return hook

    handles = [layer.attention.self.register_forward_hook(hook_for(i)) for i, layer in enumerate(layers)]
    try:
        yield gates
    finally:
        for handle in handles:
            handle.remove()


def head_importance(model, dataset, tokenizer, *, n: int = 256, batch_size: int = 32, normalize: bool = True) -> torch.Tensor:
    """Michel et al. (2019): for every head, ``Σ_batches |∂ loss / ∂ gate|`` with the gates at 1,
    on the first ``n`` labelled examples of ``dataset``: (layers, heads). ``normalize``: each
    layer's scores divided by their L2 norm (the paper's choice, so layers compare). The
    model's weights are not changed."""
    if n < 1:
        raise TinyBertLabError(f"n must be at least 1 example, got {n}.")
    layers = _layers(model)
    heads = model.config.num_attention_heads
    gates = torch.ones(len(layers), heads, requires_grad=True)
    encoded = data_lib.encode(dataset.select(range(min(n, len(dataset)))), tokenizer)
    loader = data_lib.make_loader(encoded, tokenizer, batch_size=batch_size, shuffle=False)
    state = model.training
    model.eval()
    importance = torch.zeros(len(layers), heads)
    try:
        with gated_heads(model, gates):
            for batch in loader:
                logits = model(**data_lib.model_inputs(batch)).logits
                loss = nn.functional.cross_entropy(logits.float(), batch["labels"])
                (grad,) = torch.autograd.grad(loss, gates)
                importance += grad.abs()
    finally:
        model.train(state)
        model.zero_grad(set_to_none=True)
    if normalize:
        importance = importance / importance.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return importance


def least_important(importance: torch.Tensor, count: int) -> dict[int, list[int]]:
    """The ``count`` heads of lowest importance, as ``{layer (0-based): [heads]}`` for ``prune_heads``;
    at least one head is kept in every layer."""
    layers, heads = importance.shape
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= layers * (heads - 1):
        raise TinyBertLabError(
            f"Can prune 0..{layers * (heads - 1)} heads of this {layers}×{heads} model (one head stays in every layer); "
            f"got {count!r}.")
    chosen: dict[int, list[int]] = {}
    for flat in importance.flatten().argsort().tolist():
        if sum(len(v) for v in chosen.values()) == count:
            break
        layer, head = divmod(flat, heads)
        if len(chosen.get(layer, [])) < heads - 1:
            chosen.setdefault(layer, []).append(head)
    return {layer: sorted(v) for layer, v in sorted(chosen.items())}


def _prune_layer(attention, heads: list[int]) -> None:
    from transformers.pytorch_utils import prune_linear_layer

    self_attention = attention.self
    size = self_attention.attention_head_size
    kept = [h for h in range(self_attention.num_attention_heads) if h not in heads]
    index = torch.tensor([h * size + i for h in kept for i in range(size)], dtype=torch.long)
    self_attention.query = prune_linear_layer(self_attention.query, index)
    self_attention.key = prune_linear_layer(self_attention.key, index)
    self_attention.value = prune_linear_layer(self_attention.value, index)
    attention.output.dense = prune_linear_layer(attention.output.dense, index, dim=1)
    self_attention.num_attention_heads = len(kept)
    self_attention.all_head_size = len(kept) * size


def prune_heads(model, heads: dict[int, list[int]]):
    """Remove attention heads for good: ``heads`` is ``{layer (0-based): [head indices]}`` of the
    model *as it is now*. The model shrinks in place (and is returned); ``config.pruned_heads``
    records what was removed, so ``save_pretrained`` + ``load_pruned`` round-trip."""
    layers = _layers(model)
    count = model.config.num_attention_heads
    already = {int(k): list(v) for k, v in (getattr(model.config, "pruned_heads", None) or {}).items()}
    for layer, chosen in heads.items():
        if not isinstance(layer, int) or not 0 <= layer < len(layers):
            raise TinyBertLabError(f"Layer {layer!r} is out of range: this model has layers 0..{len(layers) - 1} (0-based).")
        present = layers[layer].attention.self.num_attention_heads
        chosen = sorted(set(chosen))
        if any(not isinstance(h, int) or not 0 <= h < present for h in chosen):
            raise TinyBertLabError(f"Layer {layer} has heads 0..{present - 1} now; got {chosen}.")
        if len(chosen) >= present:
            raise TinyBertLabError(
                f"Pruning {len(chosen)} of layer {layer}'s {present} heads would leave none: keep at least one per layer.")
    for layer, chosen in heads.items():
        chosen = sorted(set(chosen))
        if not chosen:
            continue
        original = [h for h in range(count) if h not in already.get(layer, [])]  # current index → original head
        already[layer] = sorted(already.get(layer, []) + [original[h] for h in chosen])
        _prune_layer(layers[layer].attention, chosen)
    model.config.pruned_heads = {str(k): v for k, v in sorted(already.items()) if v}
    return model


def load_pruned(folder, *, num_labels: int | None = None):
    """A model saved with ``save_pretrained`` after ``prune_heads``: built at full size from its
    config, pruned as ``config.pruned_heads`` records, then its weights loaded."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForSequenceClassification

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise TinyBertLabError(f"No saved model in {folder} (config.json missing).")
    config = AutoConfig.from_pretrained(folder)
    pruned = {int(k): v for k, v in (getattr(config, "pruned_heads", None) or {}).items()}
    if num_labels is not None:
        config.num_labels = num_labels
    model = AutoModelForSequenceClassification.from_config(config)
    for layer, chosen in pruned.items():
        _prune_layer(_layers(model)[layer].attention, chosen)
    model.config.pruned_heads = {str(k): v for k, v in pruned.items()}
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise TinyBertLabError(f"No safetensors weights in {folder}.")
    state = {}
    for file in files:
        state.update(load_file(str(file)))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise TinyBertLabError(f"{folder} does not match its pruned config: missing {missing[:3]}, unexpected {unexpected[:3]}.")
    return model.eval()


def pruning_curve(model, importance: torch.Tensor, dataset, tokenizer, counts) -> list[tuple[int, float]]:
    """Dev accuracy of copies of ``model`` with the ``count`` least important heads removed, for
    each of ``counts``: ``[(count, accuracy)]`` (the model itself is not changed)."""
    from ..core.evaluation import evaluate

    curve = []
    for count in counts:
        pruned = prune_heads(copy.deepcopy(model), least_important(importance, count)) if count else model
        curve.append((count, evaluate(pruned, dataset, tokenizer).accuracy))
    return curve


# --------------------------------------------------------------------------------------------
# One table for every variant
# --------------------------------------------------------------------------------------------
class CompressionTable(ResultsTable):
    """One row per variant: accuracy, parameters, size on disk, model-only sentences/s, the
    speed-up over the first row and the FLOP-ratio bound of its architecture."""

    COLUMNS = (
        ("model", "variant", "{}"),
        ("accuracy", "dev accuracy", "{:.1%}"),
        ("params_m", "params (M)", "{:.1f}"),
        ("size_mb", "size on disk (MB)", "{:.1f}"),
        ("sentences_per_s", "sentences/s", "{:.0f}"),
        ("speedup", "speed-up", "{:.2f}×"),
        ("flop_bound", "FLOP-ratio bound", "{:.2f}×"),
    )

    def __repr__(self) -> str:
        return self.to_markdown()


def compare_variants(variants: dict, dataset, tokenizer, *, timing_data=None, threads: int = 2, repeats: int = 3,
                     length: int = 32):
    """Measure every variant side by side: ``variants`` is ``{name: (model, architecture)}``, the
    model to run (PyTorch, int8, or an ``OnnxModel``) and the fp32 PyTorch model whose layers it
    computes (for parameters and FLOPs). Accuracy on ``dataset``; sentences/s on ``timing_data``
    (default: ``dataset``) through ``evaluation.time_models``; speed-up and FLOP-ratio bound (FLOPs of the
    first variant's architecture over this one's, ``length`` tokens) relative to the first row."""
    from ..core.evaluation import evaluate

    if not variants:
        raise TinyBertLabError("compare_variants needs at least one variant: {'name': (model, fp32 model)}.")
    speeds = evaluation.time_models({name: model for name, (model, _) in variants.items()}, timing_data or dataset, tokenizer,
                         threads=threads, repeats=repeats)
    first_flops = encoder_flops(next(iter(variants.values()))[1], length)
    rows = []
    for name, (model, architecture) in variants.items():
        rows.append({"model": name, "accuracy": evaluate(model, dataset, tokenizer).accuracy,
                     "params_m": sum(p.numel() for p in architecture.parameters()) / 1e6,
                     "size_mb": models.size_on_disk(model) / 1e6, "sentences_per_s": speeds[name],
                     "speedup": speeds[name] / speeds[next(iter(variants))],
                     "flop_bound": first_flops / encoder_flops(architecture, length), "threads": threads})
    return CompressionTable(rows)
