"""Plots. Every function takes data and returns a ``matplotlib.figure.Figure`` (nothing is shown
or saved here: the notebook displays it, ``fig.savefig`` exports it)."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from .comparison import MAX_JS, binomial_halfwidth, pareto_front, seeds_phrase
from .errors import TinyBertLabError


def plot_history(history, title: str = "training loss", *, terms: bool = False, log: bool = False) -> Figure:
    """Loss per logged step (left axis) and dev accuracy when recorded (right axis).

    ``history``: a ``training.History`` (``step``, ``loss``, optional ``eval`` pairs).
    ``terms``: also draw each loss term's weighted contribution (dashed), when there are several.
    ``log``: a log loss axis, for terms that differ by orders of magnitude (the label says so).
    """
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(history.step, history.loss, color="tab:blue", label="weighted total")
    if terms and len(history.terms) > 1:
        for name in history.terms:
            ax.plot(history.step, history.weighted(name), linestyle="--", linewidth=1, label=name)
        ax.legend(fontsize=8)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (log scale)" if log else "loss", color="tab:blue")
    ax.set_title(title, fontsize=10)
    if history.eval:
        acc_ax = ax.twinx()
        steps, accuracy = zip(*history.eval)
        acc_ax.plot(steps, [100 * a for a in accuracy], "o-", color="tab:orange", label="dev accuracy")
        acc_ax.set_ylabel("dev accuracy (%)", color="tab:orange")
    return fig


def plot_layer_map(layer_map, title: str | None = None) -> Figure:
    """A layer map as two columns of boxes (teacher left, student right) joined by arrows.

    Boxes from the bottom: embeddings (0), layers 1..N / 1..M, then the prediction layer. An
    arrow's width grows with its entry's weight; a many-to-one entry draws one arrow per teacher
    layer. ``layer_map``: a ``mapping.LayerMap``.
    """
    N, M = layer_map.teacher_layers, layer_map.student_layers
    rows = max(N, M) + 2
    fig = Figure(figsize=(4.8, 0.42 * rows + 1.2), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xlim(-0.2, 3.2)
    ax.set_ylim(-0.7, rows - 0.3)
    ax.axis("off")

    def y(index: int, count: int) -> float:  # spread each column over the same height
        return index * (rows - 1) / (count + 1)

    def box(x: float, yy: float, text: str, color: str) -> None:
        ax.text(x, yy, text, ha="center", va="center", fontsize=8,
                bbox=dict(boxstyle="round,pad=0.3", facecolor=color, edgecolor="0.4"))

    for column, count, x, color in (("teacher", N, 0.5, "#cfe2f3"), ("student", M, 2.5, "#fce5cd")):
        box(x, y(0, count), "embeddings", color)
        for layer in range(1, count + 1):
            box(x, y(layer, count), f"layer {layer}", color)
        box(x, y(count + 1, count), "prediction", color)
        ax.text(x, rows - 0.45, f"{column} ({count} layers)", ha="center", fontsize=9, weight="bold")
    top = max((m.weight for m in layer_map.matches), default=1.0) or 1.0
    for match in layer_map.matches:
        for teacher_layer in match.teacher:
            ax.annotate("", xy=(2.05, y(match.student, M)), xytext=(0.95, y(teacher_layer, N)),
                        arrowprops=dict(arrowstyle="->", color="tab:green" if len(match.teacher) > 1 else "0.25",
                                        lw=0.5 + 2.0 * match.weight / top, alpha=0.9 if match.weight else 0.25))
    ax.annotate("", xy=(2.05, y(M + 1, M)), xytext=(0.95, y(N + 1, N)),
                arrowprops=dict(arrowstyle="->", color="tab:red", lw=1.5, linestyle="--"))
    ax.set_title(title or "layer mapping (green: averaged teacher layers; red: logits)", fontsize=9)
    return fig


def plot_temperature(logits, temperatures=(1.0, 2.0, 4.0, 8.0), class_names=None, title=None) -> Figure:
    """Softmax of one example's logits at several temperatures, side by side.

    ``logits``: (C,) tensor or list. Higher T flattens the distribution and shows the teacher's
    "dark knowledge": how it ranks the wrong classes.
    """
    import torch

    z = torch.as_tensor(logits, dtype=torch.float32).flatten()
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(z))]
    if len(names) != len(z):
        raise TinyBertLabError(f"{len(names)} class names for {len(z)} logits.")
    fig = Figure(figsize=(1.6 + 1.9 * len(temperatures), 2.8), layout="constrained")
    axes = fig.subplots(1, len(temperatures), sharey=True, squeeze=False)[0]
    for ax, temperature in zip(axes, temperatures):
        probs = torch.softmax(z / temperature, -1)
        ax.bar(names, probs.tolist(), color="tab:blue")
        ax.set_title(f"T = {temperature:g}", fontsize=9)
        ax.set_ylim(0, 1)  # bars from 0
        ax.set_xlabel("class", fontsize=9)
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    axes[0].set_ylabel("probability")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _as_square_maps(attention, name: str):
    """bertviz's contract: a tuple/list over layers of (B, h, L, L) tensors (HF
    ``outputs.attentions``) or one (layers, h, L, L) / (h, L, L) tensor; returns (layers, h, L, L)
    for the first example."""
    import torch

    if isinstance(attention, (tuple, list)):
        if not attention:
            raise TinyBertLabError(f"{name} is empty: pass outputs.attentions from a model run with output_attentions=True.")
        attention = torch.stack([a[0] if a.dim() == 4 else a for a in attention])
    attention = torch.as_tensor(attention).detach().float().cpu()
    if attention.dim() == 3:
        attention = attention[None]
    if attention.dim() != 4 or attention.shape[-1] != attention.shape[-2]:
        raise TinyBertLabError(
            f"{name} has shape {tuple(attention.shape)}; expected HF outputs.attentions (a tuple over layers of "
            "(batch, heads, length, length)) or a (layers, heads, length, length) tensor.")
    return attention


def _describe_subset(kind: str, chosen: list, total: int) -> str:
    """``heads 1–6 of 12``, ``layers 1, 3, 6 of 6`` or ``all 12 heads`` (1-based, for a title)."""
    numbers = [i + 1 for i in chosen]
    if numbers == list(range(1, total + 1)):
        return f"all {total} {kind}" if total > 1 else f"{kind[:-1]} 1 of 1"
    if len(numbers) > 2 and numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"{kind} {numbers[0]}–{numbers[-1]} of {total}"
    return f"{kind} {', '.join(map(str, numbers))} of {total}"


def segment_boundary(tokens) -> int | None:
    """Where a sentence pair's second segment starts: the position after the first ``[SEP]``
    when more tokens follow it; None for a single sentence."""
    tokens = list(tokens)
    for i, token in enumerate(tokens[:-1]):
        if token.split(":", 1)[-1] == "[SEP]":  # plain tokens, or the page's "3:[SEP]" labels
            return i + 1
    return None


def _mark_segments(ax, tokens, labelled: bool = True) -> None:
    """For a sentence pair: a line between the segments on both axes and, where tokens are
    labelled, the second segment's labels in blue."""
    start = segment_boundary(tokens)
    if start is None:
        return
    for line in (ax.axvline, ax.axhline):
        line(start - 0.5, color="tab:blue", linewidth=1.2, linestyle="--")
    if labelled:
        for label in list(ax.get_xticklabels())[start:] + list(ax.get_yticklabels())[start:]:
            label.set_color("tab:blue")


def plot_attention_grid(attention, tokens, *, layers=None, heads=None, title=None, cmap="Reds",
                        value_name: str = "attention probability") -> Figure:
    """d2l's ``show_heatmaps``: a layers × heads grid of attention maps, tokens on the axes.

    ``attention``: HF ``outputs.attentions`` (tuple over layers of (B, h, L, L); the first
    example is drawn) or a (layers, h, L, L) tensor. ``tokens``: the L token strings (bertviz's
    input contract: a length mismatch is an error). ``layers``/``heads``: indices to show
    (default all); the title then says which, e.g. "heads 1–6 of 12". One colour scale for the
    whole grid, its bar labelled ``value_name``. Rows of a map are queries, columns keys. For a
    sentence pair a dashed line separates the two segments and the second one's labels are blue.
    """
    maps = _as_square_maps(attention, "attention")
    if len(tokens) != maps.shape[-1]:
        raise TinyBertLabError(f"{len(tokens)} tokens for attention maps of length {maps.shape[-1]}: pass the tokens of "
                         "the same (unpadded) sentence, e.g. tokenizer.convert_ids_to_tokens(input_ids[0]).")
    layers = list(range(maps.shape[0])) if layers is None else list(layers)
    heads = list(range(maps.shape[1])) if heads is None else list(heads)
    grid = maps[layers][:, heads]
    label_tokens = len(tokens) <= 16  # longer sentences: too many labels to read
    cell = max(1.4, 0.14 * len(tokens)) if label_tokens else 1.4  # inches per map: room for 8 pt labels
    fig = Figure(figsize=(cell * len(heads) + 2.2, cell * len(layers) + 1.8), layout="constrained")
    axes = fig.subplots(len(layers), len(heads), squeeze=False)
    vmax = float(grid.max())
    image = None
    for r, layer in enumerate(layers):
        for c, head in enumerate(heads):
            ax = axes[r][c]
            image = ax.imshow(grid[r, c], cmap=cmap, vmin=0, vmax=vmax)
            bottom, left = r == len(layers) - 1, c == 0
            ax.set_xticks(range(len(tokens)) if bottom and label_tokens else [],
                          tokens if bottom and label_tokens else [], rotation=90, fontsize=8)
            ax.set_yticks(range(len(tokens)) if left and label_tokens else [],
                          tokens if left and label_tokens else [], fontsize=8)
            _mark_segments(ax, tokens, label_tokens)
            if r == 0:
                ax.set_title(f"head {head + 1}", fontsize=9)
            if left:
                ax.set_ylabel(f"layer {layer + 1}", fontsize=9, weight="bold")
    fig.supxlabel("key token (attended to)", fontsize=9)
    fig.supylabel("query token (attending)", fontsize=9)
    bar = fig.colorbar(image, ax=axes, shrink=0.6)
    bar.set_label(value_name, fontsize=9)
    bar.ax.tick_params(labelsize=8)
    shown = f"{_describe_subset('layers', layers, maps.shape[0])} · {_describe_subset('heads', heads, maps.shape[1])}"
    fig.suptitle(f"{title}\n{shown}" if title else shown, fontsize=10)
    return fig


def plot_attention_comparison(teacher_map, student_map, tokens, *, title=None,
                              value_name: str = "attention probability") -> Figure:
    """Teacher, student and their difference for one head, on one colour scale, tokens on the axes.

    ``teacher_map``, ``student_map``: (L, L) attention maps (probabilities or scores: say which
    with ``value_name``, the colour bars' label) of the same sentence; ``tokens``: its L tokens.
    Rows are queries, columns keys. For a sentence pair a dashed line separates the two segments
    and the second one's labels are blue.
    """
    import torch

    t = torch.as_tensor(teacher_map).detach().float().cpu()
    s = torch.as_tensor(student_map).detach().float().cpu()
    if t.shape != s.shape or t.dim() != 2 or t.shape[0] != t.shape[1]:
        raise TinyBertLabError(f"Teacher map {tuple(t.shape)} and student map {tuple(s.shape)} must be the same (L, L) shape.")
    if len(tokens) != t.shape[0]:
        raise TinyBertLabError(f"{len(tokens)} tokens for {t.shape[0]}×{t.shape[0]} maps.")
    low, high = float(torch.minimum(t.min(), s.min())), float(torch.maximum(t.max(), s.max()))
    diff = s - t
    bound = float(diff.abs().max()) or 1.0
    side = max(3.0, 0.15 * len(tokens) + 1.2)  # inches per panel: room for 8 pt token labels
    fig = Figure(figsize=(3 * side + 2.5, side + 1.0), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, data, name, cmap, vmin, vmax, bar_label in (
            (axes[0], t, "teacher", "viridis", low, high, value_name),
            (axes[1], s, "student", "viridis", low, high, value_name),
            (axes[2], diff, "student − teacher", "RdBu_r", -bound, bound, f"difference in {value_name}")):
        image = ax.imshow(data, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title(name, fontsize=10)
        ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=8)
        ax.set_yticks(range(len(tokens)), tokens, fontsize=8)
        ax.set_xlabel("key token (attended to)", fontsize=9)
        ax.set_ylabel("query token (attending)", fontsize=9)
        _mark_segments(ax, tokens)
        bar = fig.colorbar(image, ax=ax, shrink=0.75)
        bar.set_label(bar_label, fontsize=9)
        bar.ax.tick_params(labelsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def plot_loss_terms(terms: dict, weights: dict | None = None, title: str = "loss terms on this batch", *,
                    log: bool | None = None) -> Figure:
    """Bar chart of each loss term on one batch: its unweighted value (hatched) and, with
    ``weights``, its weighted contribution ``weight · term`` beside it. When every weight is 1
    the two are the same and only one bar per term is drawn (the legend says so).

    ``log``: a log y axis; default: when the unweighted terms differ by a factor of 100 or more
    (fixed by the terms, so moving a weight slider never flips the scale). Each bar carries its
    value; on a linear axis the bars start at 0.
    """
    names = list(terms)
    if not names:
        raise TinyBertLabError("No loss terms to plot: pass {name: value}, e.g. from distiller.loss_terms(batch).")
    raw = [float(terms[n]) for n in names]
    unknown = set(weights or {}) - set(names)
    if unknown:
        raise TinyBertLabError(f"Weights for unknown terms {sorted(unknown)}; the terms are {names}.")
    factors = [float((weights or {}).get(n, 1.0)) for n in names]
    positive = [v for v in raw if v > 0]
    if log is None:
        log = bool(positive) and max(positive) >= 100 * min(positive)
    fig = Figure(figsize=(6, 3.4), layout="constrained")
    ax = fig.add_subplot()
    positions = list(range(len(names)))
    series = [(raw, "unweighted", dict(color="0.8", hatch="//", edgecolor="0.4"))]
    if weights is not None and any(f != 1.0 for f in factors):
        series.append(([v * f for v, f in zip(raw, factors)], "weighted (weight × term)", dict(color="tab:blue")))
        names = [f"{n}\n× {f:g}" for n, f in zip(names, factors)]
    elif weights is not None:
        series[0] = (raw, "unweighted = weighted (every weight is 1)", series[0][2])
    width = 0.8 / len(series)
    for i, (values, label, style) in enumerate(series):
        shift = (i - (len(series) - 1) / 2) * width
        bars = ax.bar([p + shift for p in positions], values, width=width, label=label, **style)
        ax.bar_label(bars, [f"{v:.3g}" for v in values], fontsize=8, padding=2)
    ax.set_xticks(positions, names, fontsize=9)
    drawn = [v for values, _, _ in series for v in values if v > 0] or [1.0]
    if log:
        ax.set_yscale("log")
        ax.set_ylim(min(drawn) / 3, max(drawn) * 4)  # a zero bar is not drawn; its label says 0
        ax.set_ylabel("loss (log scale)")
    else:
        ax.set_ylim(0, max(drawn) * 1.15)  # bars from 0, room for their values
        ax.set_ylabel("loss")
    ax.set_xlabel("loss term")
    ax.tick_params(axis="y", which="both", labelsize=8)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return fig


def plot_accuracy_vs_step(curves: dict, *, boundaries: dict | None = None, dashed=(), title: str | None = None) -> Figure:
    """Dev accuracy against optimizer step, one line per run or stage, all on one step axis.

    ``curves``: ``{label: [(step, accuracy), ...]}``, accuracy in [0, 1] (a ``History.eval``);
    a later stage's steps must already be shifted by the earlier stages' so that they follow
    on. ``boundaries``: ``{label: step}``, drawn as dotted vertical lines (where a stage ends).
    ``dashed``: labels of curves drawn dashed (baselines, say).
    """
    curves = {name: sorted(points) for name, points in curves.items() if points}
    if not curves:
        raise TinyBertLabError("No accuracies to plot: pass {label: history.eval} of runs trained with eval_data=...; "
                               "set TrainConfig.eval_every for more than the final point.")
    if any(not 0 <= accuracy <= 1 for points in curves.values() for _, accuracy in points):
        raise TinyBertLabError("Accuracies must be fractions in [0, 1] (History.eval), not percentages.")
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    for name, points in curves.items():
        steps, accuracy = zip(*points)
        ax.plot(steps, [100 * a for a in accuracy], marker="o", markersize=4, label=name,
                linestyle="--" if name in dashed else "-")
    for name, step in (boundaries or {}).items():
        ax.axvline(step, color="0.3", linestyle=":", linewidth=1.2)
        ax.annotate(name, (step, 1), xycoords=("data", "axes fraction"), xytext=(4, -4), textcoords="offset points",
                    va="top", fontsize=8, color="0.3")
    ax.set_xlabel("optimizer step (every stage on one axis)")
    ax.set_ylabel("dev accuracy (%)")
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "dev accuracy during training", fontsize=10)
    return fig


def save_figure(fig: Figure, name: str, formats=("png",)) -> list:
    """Export ``fig`` to ``$TINYBERT_LAB_OUT/figures/<name>.<format>`` (PNG, SVG, PDF...) and
    return the paths; the notebook still shows the figure itself."""
    from .settings import out_dir

    folder = out_dir() / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = folder / f"{name}.{fmt}"
        fig.savefig(path, dpi=120, bbox_inches="tight")
        paths.append(path)
    return paths


def plot_results(table, title: str = "accuracy vs speed", eval_size: int | None = None) -> Figure:
    """The results table as a picture: sentences/s (x, log scale) against accuracy (y), marker area
    proportional to parameters. ``table``: ``evaluation.ResultsTable`` (rows need ``accuracy``).
    ``eval_size``: the number of evaluation examples; each point then gets an error bar of the
    binomial 95 % interval, the noise of measuring one model on that many examples."""

    rows = [r for r in table.rows if r.get("accuracy") is not None]
    if not rows:
        raise TinyBertLabError("No accuracies in the table: pass accuracy={...} to benchmark_inference.")
    fig = Figure(figsize=(5.5, 3.6), layout="constrained")
    ax = fig.add_subplot()
    for row in rows:
        ax.scatter(row["sentences_per_s"], 100 * row["accuracy"], s=12 * row["params_m"], alpha=0.6)
        if eval_size:
            ax.errorbar(row["sentences_per_s"], 100 * row["accuracy"], color="0.4", capsize=3, linewidth=1,
                        yerr=100 * binomial_halfwidth(row["accuracy"], eval_size))
        ax.annotate(f"{row['model']}\n{row['params_m']:.1f} M, {row['speedup']:.1f}×",
                    (row["sentences_per_s"], 100 * row["accuracy"]), fontsize=8, xytext=(6, -4),
                    textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("sentences / second (log scale)")
    ax.set_ylabel("accuracy (%)" + (", ± binomial 95 % interval" if eval_size else ""))
    ax.set_title(title, fontsize=10)
    ax.margins(x=0.4, y=0.25)
    return fig


def plot_compression(rows: list[dict], title: str | None = None) -> Figure:
    """Accuracy (y) against sentences/s (x, log scale), one point per variant, marker area
    proportional to the size on disk, the Pareto front (``comparison.pareto_front``) drawn.
    ``rows``: dicts with ``model``, ``accuracy`` (in [0, 1]), ``sentences_per_s``, ``size_mb``."""

    if not rows:
        raise TinyBertLabError("No variants to plot: give rows with model, accuracy, sentences_per_s, size_mb.")
    missing = [k for k in ("model", "accuracy", "sentences_per_s", "size_mb") if any(k not in r for r in rows)]
    if missing:
        raise TinyBertLabError(f"Every row needs {', '.join(missing)}.")
    fig = Figure(figsize=(9, 4.2), layout="constrained")
    ax = fig.add_subplot()
    largest = max(r["size_mb"] for r in rows)
    markers = "osD^vP*Xhp<>"
    for k, row in enumerate(rows):  # a legend names the points: labels on the plot would overlap
        ax.scatter(row["sentences_per_s"], 100 * row["accuracy"], s=30 + 400 * row["size_mb"] / largest, alpha=0.6,
                   marker=markers[k % len(markers)], label=f"{row['model']} ({row['size_mb']:.0f} MB)")
    front = pareto_front(rows)
    ax.plot([r["sentences_per_s"] for r in front], [100 * r["accuracy"] for r in front], color="0.3",
            linestyle="--", linewidth=1, label="Pareto front (nothing is both faster and more accurate)")
    ax.set_xscale("log")
    ax.set_xlabel("sentences / second, model only (log scale)")
    ax.set_ylabel("dev accuracy (%)")
    ax.tick_params(which="both", labelsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), markerscale=0.5)
    ax.margins(x=0.15, y=0.2)
    ax.set_title(title or "compression: accuracy vs speed (marker area: size on disk)", fontsize=10)
    return fig


def plot_pruning_curve(curves: dict, title: str | None = None) -> Figure:
    """Dev accuracy against the number of attention heads removed (least important first), one
    line per model. ``curves``: ``{model name: [(heads removed, accuracy in [0, 1]), ...]}``."""
    curves = {name: sorted(points) for name, points in curves.items() if points}
    if not curves:
        raise TinyBertLabError("No pruning results: give {model: [(heads removed, accuracy), ...]}.")
    fig = Figure(figsize=(6, 3.6), layout="constrained")
    ax = fig.add_subplot()
    for name, points in curves.items():
        removed, accuracy = zip(*points)
        ax.plot(removed, [100 * a for a in accuracy], marker="o", markersize=4, label=name)
    ax.set_xlabel("attention heads removed (least important first)")
    ax.set_ylabel("dev accuracy (%)")
    ax.set_ylim(0, 100)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "head pruning: how many heads can go?", fontsize=10)
    return fig


def plot_confusion_matrix(confusion, class_names=None, title: str | None = None) -> Figure:
    """A confusion matrix (``EvalResult.confusion`` or ``evaluation.confusion_matrix``: row = gold
    class, column = predicted) as a heatmap of each gold class's shares, counts written in the cells."""
    import torch

    counts = torch.as_tensor(confusion, dtype=torch.float64)
    if counts.dim() != 2 or counts.shape[0] != counts.shape[1] or counts.shape[0] < 2:
        raise TinyBertLabError(f"A confusion matrix is (C, C) with C >= 2 classes; got {tuple(counts.shape)}.")
    classes = counts.shape[0]
    names = list(class_names) if class_names is not None else [str(c) for c in range(classes)]
    if len(names) != classes:
        raise TinyBertLabError(f"{len(names)} class names for {classes} classes.")
    shares = counts / counts.sum(1, keepdim=True).clamp_min(1)
    side = 1.6 + 0.55 * classes
    fig = Figure(figsize=(side + 1.2, side), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(shares.numpy(), cmap="Blues", vmin=0, vmax=1)
    for i in range(classes):
        for j in range(classes):
            ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=8,
                    color="white" if shares[i, j] > 0.6 else "black")
    ax.set_xticks(range(classes), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(classes), names, fontsize=8)
    ax.set_xlabel("predicted class", fontsize=9)
    ax.set_ylabel("gold class", fontsize=9)
    bar = fig.colorbar(image, ax=ax, shrink=0.8)
    bar.set_label("share of the gold class", fontsize=9)
    bar.ax.tick_params(labelsize=8)
    ax.set_title(title or "confusion matrix (counts in the cells)", fontsize=10)
    return fig


def plot_method_rows(table, method: str | None = None, title: str | None = None) -> Figure:
    """Every row of a results table as a horizontal accuracy bar, ``method``'s rows highlighted.

    ``table``: ``evaluation.ResultsTable`` whose rows carry ``accuracy``, ``sentences_per_s`` and
    a ``method`` key (``beyond.results_table`` adds it). Each bar is labelled with the speed-up
    over the first row; a dashed line marks the first row's (the teacher's) accuracy.
    """
    rows = [r for r in table.rows if r.get("accuracy") is not None]
    if not rows:
        raise TinyBertLabError("No accuracies in the table: build it with beyond.results_table(...).")
    known = {r.get("method") for r in rows}
    if method is not None and method not in known:
        raise TinyBertLabError(f"No rows for method {method!r}; the table has: {', '.join(sorted(map(str, known)))}.")
    fig = Figure(figsize=(7.5, 0.38 * len(rows) + 1.2), layout="constrained")
    ax = fig.add_subplot()
    bottom_up = rows[::-1]  # barh draws the first bar at the bottom: the table's first row goes on top
    names = [r["model"] for r in bottom_up]
    values = [100 * r["accuracy"] for r in bottom_up]
    colors = ["tab:orange" if r.get("method") == method else ("tab:blue" if r.get("method") == "teacher" else "lightgray")
              for r in bottom_up]
    bars = ax.barh(range(len(rows)), values, color=colors)
    for bar, row in zip(bars, bottom_up):
        ax.text(bar.get_width() + 0.3, bar.get_y() + bar.get_height() / 2,
                f"{100 * row['accuracy']:.1f}%  ({row.get('speedup', 1.0):.1f}× faster)", va="center", fontsize=8)
    ax.axvline(100 * rows[0]["accuracy"], color="tab:blue", linestyle="--", linewidth=1)
    ax.set_yticks(range(len(rows)), names, fontsize=8)
    ax.set_ylabel("model", fontsize=9)
    ax.set_xlim(0, 100)  # from 0: a bar axis that starts higher exaggerates differences
    ax.set_xlabel("dev accuracy (%)")
    ax.set_title(title or (f"highlighted: {method}" if method else "all methods"), fontsize=10)
    return fig


SOURCE_STYLE = {"gold": ("tab:gray", "o"), "hard": ("tab:blue", "s"), "soft": ("tab:orange", "^")}


def plot_label_sources(cells, *, teacher_accuracy: float, eval_size: int, live=None, title: str | None = None) -> Figure:
    """Accuracy vs number of gold labels (log x), one panel per start, one line per label source.

    ``cells``: ``label_sources.summarise(...)`` of one task: each line is the mean over seeds with
    a ±1 std band (and error bars), the number of seeds in the legend. The teacher is a dashed
    horizontal line; a grey bracket at the right shows the evaluation set's own noise (binomial
    95 % interval at the teacher's accuracy on ``eval_size`` examples). ``live``: optional
    ``{(start, source, n_gold): accuracy}`` of single runs made in the notebook, drawn as hollow
    markers beside the record.
    """
    from matplotlib.ticker import NullFormatter

    cells = list(cells)
    if not cells:
        raise TinyBertLabError("No runs to plot: pass label_sources.summarise(record['runs']) with at least one run.")
    starts = sorted({c.start for c in cells}) or sorted({s for s, _, _ in (live or {})})
    start_labels = {c.start: c.start_label for c in cells}
    fig = Figure(figsize=(4.4 * len(starts) + 0.6, 4.5), layout="constrained")
    axes = fig.subplots(1, len(starts), sharey=True, squeeze=False)[0]
    noise = 100 * binomial_halfwidth(teacher_accuracy, eval_size)
    for ax, start in zip(axes, starts):
        for source, (color, marker) in SOURCE_STYLE.items():
            line = sorted((c for c in cells if c.start == start and c.source == source), key=lambda c: c.n_gold)
            if line:
                x = [c.n_gold for c in line]
                mean = [100 * c.mean for c in line]
                std = [100 * c.std for c in line]
                seeds = min(len(c.seeds) for c in line)
                ax.errorbar(x, mean, yerr=std, color=color, marker=marker, capsize=3, markersize=5,
                            label=f"{line[0].source_label} ({seeds} seeds)")
                ax.fill_between(x, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                                color=color, alpha=0.15, linewidth=0)
            for (s, src, n), accuracy in (live or {}).items():
                if s == start and src == source:
                    ax.plot([n], [100 * accuracy], marker=marker, markerfacecolor="none", color=color, markersize=9,
                            linestyle="none")
        ax.axhline(100 * teacher_accuracy, color="black", linestyle="--", linewidth=1,
                   label=f"teacher ({100 * teacher_accuracy:.1f} %)")
        right = max([c.n_gold for c in cells] + [n for _, _, n in (live or {})]) * 1.8
        ax.errorbar([right], [100 * teacher_accuracy], yerr=[noise], color="0.5", capsize=4, linewidth=2)
        ax.annotate(f"dev noise\n±{noise:.1f}", (right, 100 * teacher_accuracy - noise), xytext=(0, -4),
                    textcoords="offset points", ha="center", va="top", fontsize=8, color="0.4")
        ax.set_xscale("log")
        sizes = sorted({c.n_gold for c in cells} | {n for _, _, n in (live or {})})
        ax.set_xticks(sizes, [f"{n:,}" for n in sizes])  # the measured sizes, as plain numbers
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlim(min(sizes) / 2, max(sizes) * 2.6)
        ax.set_xlabel("gold labels (log scale)", fontsize=9)
        ax.set_title(f"from {start_labels.get(start, start)}", fontsize=10)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy (%)", fontsize=9)
    if live:
        axes[-1].plot([], [], marker="o", markerfacecolor="none", color="0.3", linestyle="none",
                      label="your live run (1 seed)")
    handles, labels = axes[-1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def plot_class_similarity(matrix, class_names, *, temperature: float = 1.0, title: str | None = None) -> Figure:
    """Heatmap of ``evaluation.mean_soft_targets``: gold class (rows) × the teacher's mean
    probability for each class (columns), values printed in the cells, a labelled colour bar.
    The colour scale is logarithmic, because the off-diagonal "second choices" are orders of
    magnitude smaller than the diagonal."""
    import numpy as np
    from matplotlib.colors import LogNorm

    values = np.asarray(matrix, dtype=float)
    names = list(class_names)
    if values.ndim != 2 or values.shape != (len(names), len(names)):
        raise TinyBertLabError(f"matrix must be ({len(names)}, {len(names)}) for {len(names)} class names, "
                               f"got {values.shape}.")
    fig = Figure(figsize=(1.0 * len(names) + 2.2, 0.8 * len(names) + 1.4), layout="constrained")
    ax = fig.add_subplot()
    floor = max(float(np.nanmin(values)), 1e-4)
    image = ax.imshow(np.clip(values, floor, 1.0), cmap="viridis", norm=LogNorm(vmin=floor, vmax=1.0))
    for i in range(len(names)):
        for j in range(len(names)):
            if np.isfinite(values[i, j]):
                ax.text(j, i, f"{values[i, j]:.2f}" if values[i, j] >= 0.01 else f"{values[i, j]:.0e}",
                        ha="center", va="center", fontsize=8,
                        color="white" if image.norm(max(values[i, j], floor)) < 0.6 else "black")
    ax.set_xticks(range(len(names)), names, fontsize=9, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names, fontsize=9)
    ax.set_xlabel("teacher's probability for class", fontsize=9)
    ax.set_ylabel("gold class", fontsize=9)
    bar = fig.colorbar(image, ax=ax)
    bar.set_label(f"mean softmax(z / T), T = {temperature:g} (log scale)", fontsize=8)
    bar.ax.tick_params(labelsize=8, which="both")
    ax.set_title(title or "what the teacher's soft targets say about the classes", fontsize=10)
    return fig


def plot_seeded_rows(rows, *, teacher_accuracy: float, eval_size: int, title: str | None = None) -> Figure:
    """Every row's mean accuracy over seeds as a horizontal bar from 0, with ±1 std error bars;
    each method's row says its difference from its own labels-only baseline and the verdict.
    The teacher is a dashed line inside a grey band: the dev set's binomial 95 % noise.

    ``rows``: ``beyond.seeded_rows(...)``.
    """
    rows = list(rows)
    if not rows:
        raise TinyBertLabError("No rows to plot: pass beyond.seeded_rows(record['runs']).")
    fig = Figure(figsize=(11, 0.42 * len(rows) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    bottom_up = rows[::-1]
    y = range(len(rows))
    colors = ["tab:orange" if r.baseline else "lightgray" for r in bottom_up]
    ax.barh(y, [100 * r.mean for r in bottom_up], xerr=[100 * r.std for r in bottom_up], color=colors,
            error_kw={"capsize": 3, "elinewidth": 1})
    # each bar's own number inside it; a method's difference from its baseline in a column right of
    # the axes, where no bar, error bar or teacher line runs under it
    beside = blended_transform_factory(ax.transAxes, ax.transData)
    for i, r in enumerate(bottom_up):
        ax.text(2, i, f"{100 * r.mean:.1f} ± {100 * r.std:.1f} ({len(r.seeds)} seeds)", va="center", fontsize=8)
        if r.difference is not None:
            ax.text(1.02, i, f"{100 * r.difference:+.1f} ± {100 * r.difference_std:.1f}: {r.verdict}", va="center",
                    fontsize=8, transform=beside, clip_on=False)
    ax.text(1.02, len(rows) - 0.4, "vs its labels-only baseline", fontsize=8, style="italic", transform=beside, clip_on=False)
    teacher, noise = 100 * teacher_accuracy, 100 * binomial_halfwidth(teacher_accuracy, eval_size)
    ax.axvspan(teacher - noise, teacher + noise, color="0.85", zorder=0, label=f"dev noise (95 %): ±{noise:.1f}")
    ax.axvline(teacher, color="black", linestyle="--", linewidth=1, label=f"teacher {teacher:.1f} %")
    ax.set_yticks(list(y), [r.row for r in bottom_up], fontsize=8)
    ax.set_ylabel("model and method", fontsize=9)
    ax.set_xlim(0, 100)
    ax.set_xlabel("dev accuracy (%), mean ± std over seeds; the axis starts at 0", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)  # above: never over a bar
    ax.set_title(title or "every method next to its own labels-only baseline (orange: a method's row)", fontsize=10, pad=20)
    return fig


def plot_scaled_differences(differences, title: str | None = None) -> Figure:
    """Paired differences (dev accuracy points, mean ± 1 std over seeds) for each question, one
    marker per scale, against a line at 0 (no difference); each marker says its verdict.

    ``differences``: ``ablation.at_two_scales(...)`` (anything with ``question``, ``scale``,
    ``mean``, ``std``, ``count`` and ``verdict``).
    """
    differences = list(differences)
    if not differences:
        raise TinyBertLabError("No differences to plot: pass ablation.at_two_scales(ablation_runs, tutorial_runs) "
                               "once the records have runs on both sides of a question.")
    questions = list(dict.fromkeys(d.question for d in differences))
    scales = list(dict.fromkeys(d.scale for d in differences))
    fig = Figure(figsize=(8.5, 0.9 * len(questions) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    spread = 0.3 if len(scales) > 1 else 0.0  # the scales' markers side by side around each question's line
    offsets = {scale: spread / 2 - spread * i / max(len(scales) - 1, 1) for i, scale in enumerate(scales)}
    markers = ["o", "s", "D", "^"]
    for i, scale in enumerate(scales):
        mine = [d for d in differences if d.scale == scale]
        y = [len(questions) - 1 - questions.index(d.question) + offsets[scale] for d in mine]
        ax.errorbar([100 * d.mean for d in mine], y, xerr=[100 * d.std for d in mine], fmt=markers[i % len(markers)],
                    capsize=3, label=scale)
        for d, height in zip(mine, y):
            ax.annotate(f"{100 * d.mean:+.1f} ± {100 * d.std:.1f} ({seeds_phrase(d.count)}): {d.verdict}", (100 * d.mean, height),
                        xytext=(0, 7), textcoords="offset points", ha="center", fontsize=7)
    ax.axvline(0, color="black", linewidth=1)
    ax.set_yticks(range(len(questions)), questions[::-1], fontsize=8)
    ax.set_ylabel("question (first − second)", fontsize=9)
    ax.set_ylim(-0.6, len(questions) - 0.4)
    ax.margins(x=0.3)  # room for the verdicts written above the markers
    ax.set_xlabel("dev accuracy difference (points), paired seed by seed; > 0: the first wins", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    plural = "s" if len(scales) != 1 else ""
    ax.set_title(title or f"the same questions at {len(scales)} scale{plural} (mean ± std over seeds)", fontsize=10)
    return fig


def plot_head_similarity(similarity, layer_map=None, title: str | None = None) -> Figure:
    """Heatmap of ``headsim.HeadSimilarity``: student heads (rows) × teacher heads (columns), the
    mean Jensen–Shannon divergence of their attention rows (dark = alike), layers separated by
    lines, and the layer map's (student, teacher) layer pairs outlined."""
    from matplotlib.patches import Rectangle

    values = similarity.matrix.detach().cpu().numpy()
    hs, ht = similarity.student_heads, similarity.teacher_heads
    M, N = similarity.student_layers, similarity.teacher_layers
    fig = Figure(figsize=(min(2.2 + 0.14 * N * ht, 13), min(1.6 + 0.14 * M * hs, 9)), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(values, cmap="viridis_r", vmin=0, vmax=MAX_JS, aspect="auto")
    for n in range(1, N):
        ax.axvline(n * ht - 0.5, color="white", linewidth=0.8)
    for m in range(1, M):
        ax.axhline(m * hs - 0.5, color="white", linewidth=0.8)
    if layer_map is not None:
        for match in layer_map.attention_matches:
            for t in match.teacher:
                ax.add_patch(Rectangle(((t - 1) * ht - 0.5, (match.student - 1) * hs - 0.5), ht, hs, fill=False,
                                       edgecolor="red", linewidth=1.8))
    ax.set_xticks([(n + 0.5) * ht - 0.5 for n in range(N)], [f"T{n + 1}" for n in range(N)], fontsize=8)
    ax.set_yticks([(m + 0.5) * hs - 0.5 for m in range(M)], [f"S{m + 1}" for m in range(M)], fontsize=8)
    ax.set_xlabel(f"teacher layer (its {ht} heads, left to right)", fontsize=9)
    ax.set_ylabel(f"student layer ({hs} heads, top to bottom)", fontsize=9)
    bar = fig.colorbar(image, ax=ax)
    bar.set_label("Jensen–Shannon divergence (0 = same attention, ln 2 = disjoint)", fontsize=8)
    bar.ax.tick_params(labelsize=8)
    outlined = "; mapped layer pairs outlined in red" if layer_map is not None else ""
    ax.set_title(title or f"which teacher head each student head resembles ({similarity.sentences} sentences{outlined})",
                 fontsize=10)
    return fig


def plot_mapped_divergence(divergences: dict, title: str | None = None) -> Figure:
    """Grouped bars: per mapped student layer, the mean JS divergence to its teacher layer for each
    student in ``divergences`` (``{student name: {layer: value}}``, or ``{name: {layer: (mean, std)}}``
    for error bars over seeds). Lower = attends more like the teacher. The axis starts at 0."""
    names = list(divergences)
    if not names:
        raise TinyBertLabError("Give at least one student: {'distilled': {1: 0.2, ...}, ...}.")
    layers = sorted({layer for values in divergences.values() for layer in values})
    fig = Figure(figsize=(1.6 + 1.1 * len(layers) * max(1, len(names) / 2), 3.6), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        cells = [divergences[name].get(layer) for layer in layers]
        means = [c[0] if isinstance(c, tuple) else (c if c is not None else 0.0) for c in cells]
        errors = [c[1] if isinstance(c, tuple) else 0.0 for c in cells]
        ax.bar([k + (i - (len(names) - 1) / 2) * width for k in range(len(layers))], means, width, yerr=errors,
               capsize=3, label=name)
    ax.set_xticks(range(len(layers)), [f"student layer {m}" for m in layers], fontsize=8)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("mean JS divergence to its teacher layer", fontsize=9)
    ax.set_xlabel("mapped layer pair (student layer ← the teacher layer of the layer map)", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8)
    ax.set_title(title or "how far each student's attention is from its teacher's (lower = closer)", fontsize=10)
    return fig


def plot_divergence_over_training(tracks: dict, *, boundaries: dict | None = None, title: str | None = None) -> Figure:
    """One panel per mapped layer pair: the student's mean JS divergence to its teacher layer
    (probe batch, head i with head i) against the optimizer step, one line per run.

    ``tracks``: ``{run name: headsim.AttentionTrack}`` recorded with the same layer pairs;
    ``boundaries``: ``{label: step}`` drawn as dotted lines (default: where the tracks' stages
    change). The y axis starts at 0.
    """
    tracks = {name: track for name, track in tracks.items() if track.steps}
    if not tracks:
        raise TinyBertLabError("No recorded steps: train with callbacks=[headsim.AttentionRecorder(...)] "
                               "and pass {name: recorder.track(histories)}.")
    if boundaries is None:
        boundaries = {label: step for track in tracks.values() for label, step in track.boundaries.items()}
    pairs = [tuple(p) for p in next(iter(tracks.values())).pairs]
    if any([tuple(p) for p in track.pairs] != pairs for track in tracks.values()):
        raise TinyBertLabError("The runs were recorded along different layer maps; compare runs with the same pairs.")
    fig = Figure(figsize=(2.6 * len(pairs) + 1.0, 3.4), layout="constrained")
    axes = fig.subplots(1, len(pairs), sharey=True, squeeze=False)[0]
    top = max(value for track in tracks.values() for values in track.divergence for value in values)
    for j, (ax, (student_layer, teacher_layer)) in enumerate(zip(axes, pairs)):
        for name, track in tracks.items():
            ax.plot(track.steps, [values[j] for values in track.divergence], marker="o", markersize=2.5, label=name)
        for label, step in (boundaries or {}).items():
            ax.axvline(step, color="0.3", linestyle=":", linewidth=1.2)
        ax.set_title(f"student layer {student_layer} ← teacher layer {teacher_layer}", fontsize=9)
        ax.set_xlabel("optimizer step", fontsize=9)
        ax.set_ylim(0, 1.1 * top)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean JS divergence to the teacher", fontsize=9)
    axes[-1].legend(fontsize=8)
    if boundaries:
        axes[0].annotate(", ".join(boundaries) + " (dotted)", (0, 0), xycoords="axes fraction", xytext=(4, 4),
                         textcoords="offset points", fontsize=8, color="0.3")
    fig.suptitle(title or "the student's attention moving toward (or away from) its teacher's during training", fontsize=10)
    return fig


def plot_head_behaviour(behaviours: dict, measures, title: str | None = None) -> Figure:
    """One panel per measure (``headsim.BEHAVIOURS``: row entropy, shares on [CLS], [SEP],
    punctuation, previous and next token): per layer, each model's heads as dots and their mean
    as a line. ``behaviours``: ``{model name: (layers, heads, len(measures)) tensor}`` from
    ``head_behaviour``; models may differ in depth (layers are drawn at their relative depth, 0 to 1)."""
    BEHAVIOURS = tuple(measures)

    if not behaviours:
        raise TinyBertLabError("Give at least one model: {'teacher': head_behaviour(teacher, ...), ...}.")
    fig = Figure(figsize=(11, 5.2), layout="constrained")
    axes = fig.subplots(2, 3)
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    for k, (ax, measure) in enumerate(zip(axes.flat, BEHAVIOURS)):
        for i, (name, stats) in enumerate(behaviours.items()):
            values = stats[..., k].detach().cpu().numpy()
            layers = values.shape[0]
            depth = [(m + 1) / layers for m in range(layers)]
            for m in range(layers):
                ax.scatter([depth[m]] * values.shape[1], values[m], s=9, alpha=0.5, color=colors[i % len(colors)])
            ax.plot(depth, values.mean(axis=1), marker="o", color=colors[i % len(colors)], label=name)
        ax.set_title("row entropy (nats)" if measure == "entropy" else f"share of attention on {measure}", fontsize=9)
        ax.set_xlabel("relative depth (layer / number of layers)", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.set_xlim(0, 1.05)
        ax.set_ylabel("nats" if measure == "entropy" else "share (0 to 1)", fontsize=8)
        if measure != "entropy":
            ax.set_ylim(0, 1)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(title or "what each head looks at (dots: heads, line: layer mean)", fontsize=10)
    return fig


# --------------------------------------------------------------------------------------------
# Language models (notebook 13)
# --------------------------------------------------------------------------------------------
def plot_next_token_bars(tokens, teacher_probs, student_probs=None, *, title: str | None = None,
                         names=("teacher", "student")) -> Figure:
    """One position's next-token distribution as bars: the teacher's most likely ``tokens`` and
    its probabilities, with the student's probability of the same tokens beside them."""
    tokens = list(tokens)
    if not tokens or len(tokens) != len(teacher_probs) or (student_probs is not None and len(student_probs) != len(tokens)):
        raise TinyBertLabError("Give one teacher (and student) probability per token, and at least one token.")
    fig = Figure(figsize=(max(5.0, 0.55 * len(tokens) + 1.5), 3.2), layout="constrained")
    ax = fig.add_subplot()
    x = range(len(tokens))
    width = 0.4 if student_probs is not None else 0.7
    ax.bar([i - (width / 2 if student_probs is not None else 0) for i in x], teacher_probs, width, label=names[0],
           color="tab:blue")
    if student_probs is not None:
        ax.bar([i + width / 2 for i in x], student_probs, width, label=names[1], color="tab:orange")
    ax.set_xticks(list(x), tokens, fontsize=9)
    ax.set_ylabel("probability of the next token", fontsize=9)
    ax.set_xlabel("the teacher's most likely next tokens (␣ a space, ⏎ a new line)", fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    ax.legend(fontsize=8)
    ax.set_title(title or "a soft target over the vocabulary", fontsize=10)
    return fig


def plot_one_peak_fits(target, fits: dict, *, title: str | None = None) -> Figure:
    """A two-peaked ``target`` distribution over a vocabulary and the one-peaked distributions
    ``fits`` (``{"forward KL": q, "reverse KL": q}``) that minimise each divergence."""
    fig = Figure(figsize=(7.5, 3.0), layout="constrained")
    ax = fig.add_subplot()
    positions = range(len(target))
    ax.bar(positions, [float(v) for v in target], color="0.8", label="teacher p (two peaks)")
    for (name, q), style in zip(fits.items(), ("-", "--", ":")):
        ax.plot(positions, [float(v) for v in q], style, linewidth=2, label=f"best one-peaked q under {name}")
    ax.set_xlabel("token id (a made-up vocabulary)", fontsize=9)
    ax.set_ylabel("probability", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8)
    ax.set_title(title or "forward KL covers both modes; reverse KL picks one", fontsize=10)
    return fig


def plot_lm_objectives(summaries, *, teacher_loss: float, live: dict | None = None, title: str | None = None) -> Figure:
    """Validation loss of every objective (mean ± std over seeds, from a study's summaries) as
    points with error bars, one panel per regime, the teacher as a dashed line; ``live``:
    ``{row label: loss}`` of this notebook's own runs, drawn as hollow black circles on the
    full-text panel's rows of the same label."""
    summaries = list(summaries)
    if not summaries:
        raise TinyBertLabError("No rows to plot: the record has no runs yet (run benchmarks/lm_distill.py).")
    regimes = list(dict.fromkeys(s.regime for s in summaries))
    most = max(sum(s.regime == r for s in summaries) for r in regimes)
    fig = Figure(figsize=(8.5, (0.42 * most + 1.0) * len(regimes) + 0.6), layout="constrained")
    axes = fig.subplots(len(regimes), 1, squeeze=False)[:, 0]
    for ax, regime in zip(axes, regimes):
        rows = [s for s in summaries if s.regime == regime][::-1]
        y = list(range(len(rows)))
        for i, s in enumerate(rows):
            color = "tab:orange" if s.difference is None else "tab:blue"
            ax.errorbar([s.loss], [i], xerr=[s.loss_std], color=color, marker="o", capsize=3, linestyle="none")
            note = f"{s.loss:.3f} ± {s.loss_std:.3f}" + ("" if s.difference is None else
                                                          f"  ({s.difference:+.3f} vs text only: {s.verdict})")
            ax.annotate(note, (s.loss + s.loss_std, i), xytext=(6, 0), textcoords="offset points", va="center",
                        fontsize=8)
            if live and regime == "full" and s.label in live:
                ax.plot([live[s.label]], [i], "o", markerfacecolor="none", markeredgecolor="black", markersize=10,
                        label="your live run (1 seed, fewer steps)")
        ax.axvline(teacher_loss, color="black", linestyle="--", linewidth=1, label=f"teacher {teacher_loss:.3f}")
        ax.set_yticks(y, [s.label for s in rows], fontsize=8)
        high = max([s.loss + s.loss_std for s in rows] + list((live or {}).values()) if regime == "full"
                   else [s.loss + s.loss_std for s in rows])
        low = min([teacher_loss] + [s.loss - s.loss_std for s in rows])
        ax.set_xlim(low - 0.05 * (high - low), high + 0.6 * (high - low))  # room for the notes on the right
        ax.set_ylim(-0.7, len(rows) - 0.3)
        ax.set_title("all the training text" if regime == "full" else "5 % of the text (+ text the teacher writes)",
                     fontsize=9)
        ax.set_xlabel("validation loss (nats per token; lower is better), mean ± std over seeds", fontsize=9)
        ax.set_ylabel("objective", fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        ax.legend(unique.values(), unique.keys(), fontsize=8, loc="lower right")
    fig.suptitle(title or "every objective beside text only from the same start (orange: the baselines)", fontsize=10)
    return fig
