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
