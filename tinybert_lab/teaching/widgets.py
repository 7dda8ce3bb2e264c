"""Widgets for the notebooks, built here so a notebook cell stays one line.

Each function returns an ``ipywidgets.interactive``: display it in a notebook, or drive it
without a kernel (tests do): ``ui.children[0].value = 4.0`` re-runs the callback and
``ui.result`` holds what it returned (a Figure, or a message for invalid input). Controls that
trigger a forward pass use ``continuous_update=False``; every label gets
``description_width: initial`` so it is not cut.
"""

from __future__ import annotations

import ast
import textwrap

import torch

from ..core import losses, viz
from ..core.errors import TinyBertLabError
from ..core.mapping import LayerMap, default_map

STYLE = {"description_width": "initial"}
SHOW = {"auto_display": True}  # interactive() displays what the callback returns (a Figure)


class Message(str):
    """A callback's text result (e.g. why a map is invalid), displayed as text, not as a repr."""

    def _repr_markdown_(self) -> str:
        return f"**{self}**"


def temperature_widget(teacher_logits, student_logits=None, class_names=None):
    """Slide the temperature: the softened teacher distribution and, with ``student_logits``,
    the distillation loss ``T²·KL`` at that temperature.

    ``teacher_logits`` / ``student_logits``: (C,) logits of one example.
    ``ui.result``: the Figure.
    """
    from ipywidgets import FloatSlider, interactive

    teacher = torch.as_tensor(teacher_logits, dtype=torch.float32).flatten()
    student = None if student_logits is None else torch.as_tensor(student_logits, dtype=torch.float32).flatten()

    def show(temperature: float):
        title = None
        if student is not None:
            kd = losses.soft_kl(student[None], teacher[None], temperature).item()
            title = f"T = {temperature:g}: T²·KL(teacher ‖ student) = {kd:.4f}"
        return viz.plot_temperature(teacher, temperatures=(1.0, temperature), class_names=class_names, title=title)

    slider = FloatSlider(value=2.0, min=0.5, max=10.0, step=0.5, description="temperature T", style=STYLE)
    return interactive(show, SHOW, temperature=slider)


def parse_teacher_list(text: str) -> list:
    """``"0, 3, [4, 5], 6"`` → ``[0, 3, [4, 5], 6]``: the text a learner types for a custom map."""
    try:
        value = ast.literal_eval(f"[{text}]")
    except (SyntaxError, ValueError):
        raise TinyBertLabError(
            f"Could not read {text!r}: write one teacher layer per student layer, separated by commas, "
            "with [a, b] for several teacher layers averaged, e.g. 0, 2, [3, 4], 6.") from None
    return value


def layer_map_widget(student_layers: int, teacher_layers: int):
    """Pick a mapping strategy (uniform / last / custom) and see it drawn.

    ``ui.result``: the Figure of the map, or, for an invalid custom map, the error message
    (also shown in place of the figure).
    """
    from ipywidgets import Dropdown, Text, interactive

    def show(strategy: str, custom: str):
        try:
            if strategy == "uniform":
                layer_map = LayerMap.uniform(student_layers, teacher_layers)
            elif strategy == "last":
                layer_map = LayerMap.last(student_layers, teacher_layers)
            else:
                layer_map = LayerMap.from_list(parse_teacher_list(custom), teacher_layers)
                if layer_map.student_layers != student_layers:
                    raise TinyBertLabError(
                        f"The list maps {layer_map.student_layers} student layers but the student has "
                        f"{student_layers}: give {student_layers + 1} items (0 for the embeddings first).")
        except TinyBertLabError as error:
            return Message(f"Invalid map: {error}")
        print(layer_map.describe())
        return layer_map.draw()

    default = ", ".join(str(m * teacher_layers // student_layers) for m in range(student_layers + 1))
    return interactive(
        show, SHOW,
        strategy=Dropdown(options=["uniform", "last", "custom"], value="uniform", description="strategy", style=STYLE),
        custom=Text(value=default, description="custom (teacher layer per student layer)", style=STYLE,
                    continuous_update=False),
    )


def loss_weights_widget(terms: dict):
    """Sliders for the loss weights → bar chart of each term's weighted contribution.

    ``terms``: unweighted loss values on one batch, e.g. ``{k: v.item() for k, v in
    distiller.loss_terms(batch).items()}`` computed once: moving a slider re-weights, it does
    not re-run the models. ``ui.result``: the Figure.
    """
    from ipywidgets import FloatSlider, interactive

    values = {name: float(value) for name, value in terms.items()}

    def show(**weights):
        total = sum(weights[n] * v for n, v in values.items())
        return viz.plot_loss_terms(values, weights, title=f"weighted total = {total:.3f}")

    sliders = {name: FloatSlider(value=1.0, min=0.0, max=5.0, step=0.1, description=name, style=STYLE,
                                 continuous_update=False) for name in values}
    return interactive(show, SHOW, **sliders)


def attention_widget(teacher, student, tokenizer, layer_map: LayerMap | None = None, sentence: str = "",
                     pair: str | None = None):
    """Type a sentence, pick a student layer and a head: teacher vs student attention side by
    side (probabilities, one colour scale) with their difference. The teacher layer shown is the
    one the layer map pairs with the student layer (the mean for a many-to-one entry).
    ``pair`` (a string, "" allowed) adds a second box for sentence-pair tasks: both segments go
    in, with their segment ids, and the figure separates them. ``ui.result``: the Figure.
    """
    from ipywidgets import IntSlider, Text, interactive

    from ..core.attention import forward_features

    s_cfg, t_cfg = student.config, teacher.config
    layer_map = layer_map or default_map(s_cfg, t_cfg)
    teacher_of = {m.student: m.teacher for m in layer_map.attention_matches}
    heads = min(s_cfg.num_attention_heads, t_cfg.num_attention_heads)

    def show(text: str, student_layer: int, head: int, second: str = ""):
        if not text.strip():
            return Message("Type a sentence.")
        if student_layer not in teacher_of:
            return Message(f"Student layer {student_layer} is not in the layer map.")
        encoded = dict(tokenizer([text], [second] if second.strip() else None, return_tensors="pt", truncation=True,
                                 max_length=128))
        with torch.no_grad():
            t_feats, s_feats = forward_features(teacher.eval(), encoded), forward_features(student.eval(), encoded)
        sources = teacher_of[student_layer]
        t_map = torch.stack([t_feats.attention_probs[i - 1][0, head - 1] for i in sources]).mean(0)
        s_map = s_feats.attention_probs[student_layer - 1][0, head - 1]
        tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
        source = ", ".join(map(str, sources))
        return viz.plot_attention_comparison(
            t_map, s_map, tokens, title=f"student layer {student_layer} ← teacher layer {source}, head {head}")

    return interactive(
        show, SHOW,
        text=Text(value=sentence or "a gorgeous , witty , seductive movie .", description="sentence",
                  style=STYLE, continuous_update=False),
        student_layer=IntSlider(value=1, min=1, max=s_cfg.num_hidden_layers, description="student layer",
                                style=STYLE, continuous_update=False),
        head=IntSlider(value=1, min=1, max=heads, description="head", style=STYLE, continuous_update=False),
        **({} if pair is None else {"second": Text(value=pair, description="second sentence", style=STYLE,
                                                   continuous_update=False)}),
    )


def attention_track_widget(tracks: dict):
    """Slide over the recorded steps of one or more runs (``{name: headsim.AttentionTrack}``,
    recorded on the same probe sentence): the student's attention on that sentence at the chosen
    step next to its teacher layer's, for a chosen run, layer pair and head. ``ui.result``: the Figure.
    """
    from ipywidgets import Dropdown, IntSlider, interactive

    if not tracks or not any(track.steps for track in tracks.values()):
        raise TinyBertLabError("No recorded steps: pass {name: recorder.track(histories)} of runs trained with "
                               "callbacks=[headsim.AttentionRecorder(...)].")
    first = next(iter(tracks.values()))
    heads = min(len(first.maps[0][0]), len(first.teacher_map[0]))

    def show(run: str, pair: int, head: int, position: int):
        track = tracks[run]
        if not track.steps:
            return Message(f"{run}: nothing recorded.")
        k = min(position, len(track.steps) - 1)
        student_layer, teacher_layer = track.pairs[pair]
        return viz.plot_attention_comparison(
            track.teacher_map[teacher_layer - 1][head - 1], track.maps[k][student_layer - 1][head - 1], track.tokens,
            title=f"{run}, step {track.steps[k]}: student layer {student_layer} ← teacher layer {teacher_layer}, "
                  f"head {head} (divergence over the probe batch {track.divergence[k][pair]:.3f})")

    longest = max(len(track.steps) for track in tracks.values())
    return interactive(
        show, SHOW,
        run=Dropdown(options=list(tracks), description="run", style=STYLE),
        pair=Dropdown(options=[(f"student {s} ← teacher {t}", j) for j, (s, t) in enumerate(first.pairs)],
                      value=len(first.pairs) - 1, description="layer pair", style=STYLE),
        head=IntSlider(value=1, min=1, max=heads, description="head", style=STYLE),
        position=IntSlider(value=0, min=0, max=longest - 1, description="recorded step (0 = before training)",
                           style=STYLE),
    )


def live_loss_plot(title: str = "training loss", every: int = 1, *, log: bool = False):
    """A ``callback(step, history)`` for ``training.fit`` that redraws the loss curves in place
    (d2l's ProgressBoard idea, through a display handle rather than ``clear_output``, so the
    progress bar and each loop's final line stay in the cell); one line per loss term plus the
    weighted total, on a log axis with ``log=True``. Outside a notebook it draws nothing."""
    from IPython.display import display

    state = {"calls": 0, "shown": None}

    def callback(step, history):
        state["calls"] += 1
        if state["calls"] % every:
            return
        fig = viz.plot_history(history, title=f"{title} (step {step})", terms=True, log=log)
        if state["shown"] is None:
            state["shown"] = display(fig, display_id=True)
        else:
            state["shown"].update(fig)

    return callback


def method_widget(table, descriptions: dict[str, str]):
    """Pick a distillation method: its description and every row of ``table`` as accuracy bars,
    the chosen method's rows highlighted.

    ``table``: ``beyond.results_table(...)`` (rows carry a ``method`` key); ``descriptions``:
    ``{method: text}`` (``beyond.METHODS``). ``ui.result``: the Figure (its title holds the
    description).
    """
    from ipywidgets import Dropdown, interactive

    present = [m for m in descriptions if any(row.get("method") == m for row in table.rows)]
    if not present:
        raise TinyBertLabError("The table has no rows of these methods: build it with beyond.results_table(...).")

    def show(method: str):
        return viz.plot_method_rows(table, method, title="\n".join(textwrap.wrap(f"{method}: {descriptions[method]}", 110)))

    return interactive(show, SHOW, method=Dropdown(options=present, value=present[0], description="method", style=STYLE))


def generation_widget(models: dict, tokenizer, prompt: str = "ROMEO:\n", *, new_tokens: int = 48):
    """Type a prompt, pick the temperature and top-k: every model in ``models`` (``{"teacher":
    ..., "student": ...}``) continues it with the same seed, side by side.

    ``ui.result``: a ``Message`` holding the continuations (or why the input is refused).
    """
    from ipywidgets import FloatSlider, IntSlider, Text, interactive

    from ..methods import lm_eval

    def show(prompt: str, temperature: float, top_k: int, seed: int):
        if not prompt:
            return Message("Type a prompt first (a name and a colon, e.g. 'ROMEO:', is how the plays start a line).")
        try:
            texts = lm_eval.samples(models, tokenizer, [prompt], new_tokens=new_tokens, temperature=temperature,
                                    top_k=top_k or None, seed=seed)
        except TinyBertLabError as error:
            return Message(str(error))
        blocks = [f"--- {name} ---\n{prompt}{continuation[0]}" for name, continuation in texts.items()]
        print("\n\n".join(blocks))
        return Message(f"temperature {temperature:g}, top-k {top_k or 'off (whole vocabulary)'}, seed {seed}")

    controls = {
        "prompt": Text(value=prompt, description="prompt", continuous_update=False, style=STYLE),
        "temperature": FloatSlider(value=0.8, min=0.1, max=2.0, step=0.1, description="temperature",
                                   continuous_update=False, style=STYLE),
        "top_k": IntSlider(value=0, min=0, max=50, description="top-k (0 = off)", continuous_update=False, style=STYLE),
        "seed": IntSlider(value=0, min=0, max=20, description="seed", continuous_update=False, style=STYLE),
    }
    return interactive(show, SHOW, **controls)
