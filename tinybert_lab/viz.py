"""Plots. Every function takes data and returns a ``matplotlib.figure.Figure`` (nothing is shown
or saved here: the notebook displays it, ``fig.savefig`` exports it)."""

from __future__ import annotations

from matplotlib.figure import Figure


def plot_history(history, title: str = "training loss") -> Figure:
    """Loss per logged step (left axis) and dev accuracy when recorded (right axis).

    ``history``: a ``training.History`` (``step``, ``loss``, optional ``eval`` pairs).
    """
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(history.step, history.loss, color="tab:blue", label="loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy loss", color="tab:blue")
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
