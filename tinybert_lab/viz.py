"""Plots. Every function takes data and returns a ``matplotlib.figure.Figure`` (nothing is shown
or saved here: the notebook displays it, ``fig.savefig`` exports it)."""

from __future__ import annotations

from matplotlib.figure import Figure

from .errors import TinyBertLabError


def plot_history(history, title: str = "training loss") -> Figure:
    """Loss per logged step (left axis) and dev accuracy when recorded (right axis).

    ``history``: a ``training.History`` (``step``, ``loss``, optional ``eval`` pairs).
    """
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(history.step, history.loss, color="tab:blue", label="total")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss", color="tab:blue")
    ax.set_title(title)
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
        ax.set_ylim(0, 1)
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


def plot_attention_grid(attention, tokens, *, layers=None, heads=None, title=None, cmap="Reds") -> Figure:
    """d2l's ``show_heatmaps``: a layers × heads grid of attention maps, tokens on the axes.

    ``attention``: HF ``outputs.attentions`` (tuple over layers of (B, h, L, L); the first
    example is drawn) or a (layers, h, L, L) tensor. ``tokens``: the L token strings (bertviz's
    input contract: a length mismatch is an error). ``layers``/``heads``: indices to show
    (default all). One colour scale for the whole grid.
    """
    maps = _as_square_maps(attention, "attention")
    if len(tokens) != maps.shape[-1]:
        raise TinyBertLabError(f"{len(tokens)} tokens for attention maps of length {maps.shape[-1]}: pass the tokens of "
                         "the same (unpadded) sentence, e.g. tokenizer.convert_ids_to_tokens(input_ids[0]).")
    layers = list(range(maps.shape[0])) if layers is None else list(layers)
    heads = list(range(maps.shape[1])) if heads is None else list(heads)
    grid = maps[layers][:, heads]
    fig = Figure(figsize=(1.3 * len(heads) + 1.2, 1.3 * len(layers) + 0.8), layout="constrained")
    axes = fig.subplots(len(layers), len(heads), squeeze=False)
    vmax = float(grid.max())
    label_tokens = len(tokens) <= 16  # longer sentences: too many labels to read
    image = None
    for r, layer in enumerate(layers):
        for c, head in enumerate(heads):
            ax = axes[r][c]
            image = ax.imshow(grid[r, c], cmap=cmap, vmin=0, vmax=vmax)
            bottom, left = r == len(layers) - 1, c == 0
            ax.set_xticks(range(len(tokens)) if bottom and label_tokens else [],
                          tokens if bottom and label_tokens else [], rotation=90, fontsize=6)
            ax.set_yticks(range(len(tokens)) if left and label_tokens else [],
                          tokens if left and label_tokens else [], fontsize=6)
            if r == 0:
                ax.set_title(f"head {head + 1}", fontsize=7)
            if left:
                ax.set_ylabel(f"layer {layer + 1}", fontsize=7)
    fig.colorbar(image, ax=axes, shrink=0.6)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_attention_comparison(teacher_map, student_map, tokens, *, title=None) -> Figure:
    """Teacher, student and their difference for one head, on one colour scale, tokens on the axes.

    ``teacher_map``, ``student_map``: (L, L) attention maps (probabilities or scores) of the same
    sentence; ``tokens``: its L tokens.
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
    fig = Figure(figsize=(11, 3.9), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, data, name, cmap, vmin, vmax in (
            (axes[0], t, "teacher", "viridis", low, high), (axes[1], s, "student", "viridis", low, high),
            (axes[2], diff, "student − teacher", "RdBu_r", -bound, bound)):
        image = ax.imshow(data, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title(name, fontsize=10)
        ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=7)
        ax.set_yticks(range(len(tokens)), tokens, fontsize=7)
        ax.set_xlabel("key")
        fig.colorbar(image, ax=ax, shrink=0.75)
    axes[0].set_ylabel("query")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def plot_loss_terms(terms: dict, weights: dict | None = None, title: str = "loss terms on this batch") -> Figure:
    """Bar chart of each loss term's weighted contribution (and, hatched, its unweighted value)."""
    names = list(terms)
    raw = [float(terms[n]) for n in names]
    weighted = [float(terms[n]) * (weights or {}).get(n, 1.0) for n in names]
    fig = Figure(figsize=(5.5, 3), layout="constrained")
    ax = fig.add_subplot()
    positions = range(len(names))
    ax.bar([p - 0.2 for p in positions], raw, width=0.4, color="0.8", hatch="//", label="unweighted")
    ax.bar([p + 0.2 for p in positions], weighted, width=0.4, color="tab:blue", label="weighted")
    ax.set_xticks(list(positions), names)
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
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
    from .label_sources import binomial_halfwidth

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
                    (row["sentences_per_s"], 100 * row["accuracy"]), fontsize=7, xytext=(6, -4),
                    textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("sentences / second (log scale)")
    ax.set_ylabel("accuracy (%)" + (", ± binomial 95 % interval" if eval_size else ""))
    ax.set_title(title, fontsize=10)
    ax.margins(x=0.4, y=0.25)
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

    from .label_sources import SOURCE_NAMES, START_NAMES, STARTS, binomial_halfwidth

    cells = list(cells)
    if not cells:
        raise TinyBertLabError("No runs to plot: pass label_sources.summarise(record['runs']) with at least one run.")
    starts = [s for s in STARTS if any(c.start == s for c in cells)] or sorted({s for s, _, _ in (live or {})})
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
                            label=f"{SOURCE_NAMES[source]} ({seeds} seeds)")
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
        ax.set_title(f"from {START_NAMES[start]}", fontsize=10)
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
    from .label_sources import binomial_halfwidth

    rows = list(rows)
    if not rows:
        raise TinyBertLabError("No rows to plot: pass beyond.seeded_rows(record['runs']).")
    fig = Figure(figsize=(8.5, 0.42 * len(rows) + 1.4), layout="constrained")
    ax = fig.add_subplot()
    bottom_up = rows[::-1]
    y = range(len(rows))
    colors = ["tab:orange" if r.baseline else "lightgray" for r in bottom_up]
    ax.barh(y, [100 * r.mean for r in bottom_up], xerr=[100 * r.std for r in bottom_up], color=colors,
            error_kw={"capsize": 3, "elinewidth": 1})
    for i, r in enumerate(bottom_up):
        note = f"{100 * r.mean:.1f} ± {100 * r.std:.1f} ({len(r.seeds)} seeds)"
        if r.difference is not None:
            note += f";  {100 * r.difference:+.1f} ± {100 * r.difference_std:.1f} vs labels only: {r.verdict}"
        ax.text(2, i, note, va="center", fontsize=8)
    teacher, noise = 100 * teacher_accuracy, 100 * binomial_halfwidth(teacher_accuracy, eval_size)
    ax.axvspan(teacher - noise, teacher + noise, color="0.85", zorder=0, label=f"dev noise (95 %): ±{noise:.1f}")
    ax.axvline(teacher, color="black", linestyle="--", linewidth=1, label=f"teacher {teacher:.1f} %")
    ax.set_yticks(list(y), [r.row for r in bottom_up], fontsize=8)
    ax.set_xlim(0, 100)
    ax.set_xlabel("dev accuracy (%), mean ± std over seeds; the axis starts at 0", fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title or "every method next to its own labels-only baseline (orange: a method's row)", fontsize=10)
    return fig
