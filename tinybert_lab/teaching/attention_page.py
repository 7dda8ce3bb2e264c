"""A teacher-vs-student attention page that opens in any browser, with no kernel and no network.

``write_attention_page(teacher, student, sentences, tokenizer, path)`` writes one self-contained
HTML file (plotly, its JavaScript inlined): for each chosen sentence and each mapped layer pair,
the teacher's attention, the student's, and their difference, side by side; a menu picks the
sentence and layer pair, a slider the head (or the mean over heads). Share it by e-mail, open it
from a USB stick.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..core import data as data_lib
from ..core.errors import TinyBertLabError

MAX_SENTENCES = 3
MAX_TOKENS = 32


def _attention(model, batch):
    state = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(**data_lib.model_inputs(batch), output_attentions=True).attentions
    finally:
        model.train(state)


def _segment_lines(tokens) -> list[dict]:
    """Dashed lines between a sentence pair's segments on the three panels; none for one sentence."""
    from ..core.viz import segment_boundary

    start = segment_boundary(tokens)
    if start is None:
        return []
    edge, end = start - 0.5, len(tokens) - 0.5
    line = dict(type="line", line=dict(color="royalblue", width=1.5, dash="dash"))
    return [dict(line, xref=f"x{k}", yref=f"y{k}", x0=edge, x1=edge, y0=-0.5, y1=end) for k in ("", "2", "3")] + \
        [dict(line, xref=f"x{k}", yref=f"y{k}", x0=-0.5, x1=end, y0=edge, y1=edge) for k in ("", "2", "3")]


def _is_example(example) -> bool:
    if isinstance(example, str):
        return bool(example.strip())
    return (isinstance(example, tuple) and len(example) == 2
            and all(isinstance(part, str) and part.strip() for part in example))


def write_attention_page(teacher, student, sentences, tokenizer, path, *, layer_map=None,
                         title: str = "teacher vs student attention") -> Path:
    """Write the page to ``path`` (``.html``) and return it. ``sentences``: up to 3 strings, or
    ``(sentence, second)`` pairs for sentence-pair tasks (both segments on the axes, a dashed line
    between them); each cut to 32 tokens to keep the file small. ``layer_map`` defaults to the student's default map
    (the teacher layers it was built from, else uniform). Teacher and student must have the same
    number of heads (they are compared head by head)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from ..core.mapping import default_map

    sentences = [sentences] if isinstance(sentences, (str, tuple)) else list(sentences)
    if not 1 <= len(sentences) <= MAX_SENTENCES or not all(_is_example(s) for s in sentences):
        raise TinyBertLabError(f"Give 1 to {MAX_SENTENCES} non-empty sentences (strings, or (sentence, second) pairs "
                               f"of strings), got {sentences!r}.")
    heads = teacher.config.num_attention_heads
    if student.config.num_attention_heads != heads:
        raise TinyBertLabError(
            f"The page compares heads one by one: the teacher has {heads} heads, the student "
            f"{student.config.num_attention_heads}. Use headsim.head_similarity to compare models with different head counts.")
    path = Path(path)
    if path.suffix.lower() not in {".html", ".htm"}:
        raise TinyBertLabError(f"The page is HTML: give a path ending in .html, got {path.name!r}.")
    layer_map = layer_map or default_map(student.config, teacher.config)
    pairs = [(m.student, m.teacher[0]) for m in layer_map.attention_matches]

    groups = []  # (label, tokens, [(teacher maps (h+1, L, L), student maps, difference)])
    for sentence in sentences:
        first, second = (sentence, None) if isinstance(sentence, str) else sentence
        encoded = tokenizer([first], [second] if second else None, truncation=True, max_length=MAX_TOKENS,
                            return_tensors="pt")
        sentence = first if second is None else f"{first} | {second}"
        batch = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"],
                 "token_type_ids": encoded.get("token_type_ids", torch.zeros_like(encoded["input_ids"]))}
        t_att, s_att = _attention(teacher, batch), _attention(student, batch)
        tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
        tokens = [f"{i}:{tok}" for i, tok in enumerate(tokens)]  # unique labels for repeated tokens
        for s, t in pairs:
            teacher_maps = t_att[t - 1][0].float()
            student_maps = s_att[s - 1][0].float()
            teacher_maps = torch.cat([teacher_maps, teacher_maps.mean(0, keepdim=True)])  # last = mean of heads
            student_maps = torch.cat([student_maps, student_maps.mean(0, keepdim=True)])
            label = f"“{sentence[:40]}{'…' if len(sentence) > 40 else ''}” · student layer {s} ← teacher layer {t}"
            groups.append((label, tokens, teacher_maps, student_maps))

    fig = make_subplots(rows=1, cols=3, subplot_titles=("teacher", "student", "student − teacher"),
                        horizontal_spacing=0.13)
    sides = [("teacher", "Reds", 0, 1), ("student", "Reds", 0, 1), ("difference", "RdBu_r", -1, 1)]

    def maps(group, head):
        _, _, t, s = group
        return [t[head], s[head], s[head] - t[head]]

    for g, group in enumerate(groups):
        for k, (name, scale, low, high) in enumerate(sides):
            fig.add_trace(go.Heatmap(z=maps(group, heads)[k].double().round(decimals=2).tolist(), x=group[1], y=group[1],
                                     colorscale=scale, zmin=low, zmax=high, visible=g == 0, showscale=k != 0,
                                     colorbar=dict(x=0.665 if k == 1 else 1.0, len=0.8, thickness=14,
                                                   title="weight" if k == 1 else "Δ"),
                                     hovertemplate="query %{y}<br>key %{x}<br>%{z:.3f}<extra>" + name + "</extra>"),
                          row=1, col=k + 1)
    for k in range(3):
        fig.update_xaxes(title_text="key (attended to)", tickfont=dict(size=9), row=1, col=k + 1)
        fig.update_yaxes(title_text="query (attending)" if k == 0 else None, autorange="reversed",
                         tickfont=dict(size=9), row=1, col=k + 1)
    count = len(groups) * 3
    menu = [dict(label=label, method="update", args=[{"visible": [i // 3 == g for i in range(count)]},
                                                     {"shapes": _segment_lines(tokens)}])
            for g, (label, tokens, *_rest) in enumerate(groups)]
    steps = [dict(label="mean" if h == heads else str(h + 1), method="restyle",
                  args=[{"z": [maps(group, h)[k].double().round(decimals=2).tolist() for group in groups for k in range(3)]}])
             for h in list(range(heads)) + [heads]]
    fig.update_layout(
        title=dict(text=title, font=dict(size=14), y=0.98), height=600, width=1300, margin=dict(t=130),
        shapes=_segment_lines(groups[0][1]),
        updatemenus=[dict(buttons=menu, x=0.0, y=1.2, xanchor="left", yanchor="bottom", showactive=True)],
        sliders=[dict(steps=steps, active=heads, currentvalue=dict(prefix="head: "), y=-0.2, len=0.9)])
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)
    return path
