# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · Teacher vs student attention
#
# Did the student learn to attend like its teacher? For a sentence you choose, this notebook puts
# each mapped student layer next to its teacher layer, head by head, on one colour scale, with
# their difference. The functions take the same input as bertviz's `head_view`: Hugging Face
# `outputs.attentions` plus the tokens.

# %%
# %matplotlib inline
import json

import torch
from IPython.display import display

from tinybert_lab import attention, checks, mapping, models, tutorial, viz, widgets

plan = tutorial.plan()
tokenizer = models.load_tokenizer()
teacher = tutorial.fine_tuned_teacher(plan).model
student = tutorial.load_student("kd_student", plan)
layer_map = mapping.default_map(student.config, teacher.config)  # the map notebook 06 distilled along
print(layer_map.describe())

# %%
sentence = "the plot is predictable , but the performances are wonderful ."
encoded = dict(tokenizer([sentence], return_tensors="pt"))
with torch.no_grad():
    teacher_out = teacher(**encoded, output_attentions=True)  # plain HF call, as for bertviz
    student_out = student(**encoded, output_attentions=True)
tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
print(len(teacher_out.attentions), "teacher layers;", len(student_out.attentions), "student layers")

# %% [markdown]
# ## One head, side by side
# The last student layer next to the teacher layer the map pairs with it (printed in the title).
# Same colour scale left and middle; right: student minus teacher (red: the student attends
# more, blue: less). Rows are queries (the attending token), columns keys (attended to).

# %%
head, last = 0, layer_map.attention_matches[-1]
sl, tl = last.student, last.teacher[0]  # layer m is attentions[m - 1]
fig = viz.plot_attention_comparison(teacher_out.attentions[tl - 1][0, head], student_out.attentions[sl - 1][0, head],
                                    tokens, title=f"student layer {sl} ← teacher layer {tl}, head {head + 1}")
viz.save_figure(fig, "08_attention_comparison", formats=("png", "svg"))
fig

# %% [markdown]
# **Exercise.** Turn the difference map into one number: write `attention_gap(student_probs,
# teacher_probs)`, the mean absolute difference of two (L, L) attention maps. The cell after the
# check uses it to rank this layer pair's heads.

# %% nbgrader={"grade": false, "grade_id": "nb08_attention_gap", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
def attention_gap(student_probs, teacher_probs):
    ### BEGIN SOLUTION
    return (student_probs - teacher_probs).abs().mean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb08_attention_gap_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
checks.check_attention_gap(attention_gap)

# %%
gaps = [float(attention_gap(student_out.attentions[sl - 1][0, h], teacher_out.attentions[tl - 1][0, h]))
        for h in range(student_out.attentions[sl - 1].shape[1])]
print(f"student layer {sl} ← teacher layer {tl}: closest head {gaps.index(min(gaps)) + 1} (gap {min(gaps):.3f}), "
      f"farthest head {gaps.index(max(gaps)) + 1} (gap {max(gaps):.3f}), on this one sentence")

# %% [markdown]
# ## All layers and heads
# d2l-style grids: rows are layers, columns heads (the first 6 of 12, to keep the cells
# readable; each title says which layers and heads it shows). The teacher grid shows the layers
# the map pairs with the student's, in order.

# %%
paired = [m.teacher[0] for m in layer_map.attention_matches]
fig = viz.plot_attention_grid(teacher_out.attentions, tokens, layers=[t - 1 for t in paired], heads=range(6),
                              title="teacher: the layers the map pairs with the student's")
viz.save_figure(fig, "08_teacher_grid")
fig

# %%
fig = viz.plot_attention_grid(student_out.attentions, tokens, heads=range(6), title="student")
viz.save_figure(fig, "08_student_grid")
fig

# %% [markdown]
# **Exercise (read the grids).** A student head's map looks just like its teacher head's on this
# sentence. What can you conclude? (a) the student learned that head; (b) it is one example: a
# claim needs many sentences and a number for the gap; (c) nothing, the maps are unrelated.

# %% nbgrader={"grade": false, "grade_id": "nb08_one_sentence", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
answer = None  # your answer
### BEGIN SOLUTION
answer = "b"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "nb08_one_sentence_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
checks.check_choice("one_sentence", answer)

# %% [markdown]
# ## Over many sentences: which teacher head does each student head resemble?
# One number per pair of heads: the **Jensen–Shannon divergence** between their attention rows
# (0 when the two heads put the same weights on the same tokens, ln 2 ≈ 0.69 when they attend to
# disjoint tokens), averaged over every real token of many dev sentences (padding excluded).
# Rows: the student's heads, layer by layer; columns: the teacher's. Red boxes: the layer pairs
# of the map.

# %%
from tinybert_lab import teacher_init, headsim

train, dev = tutorial.load_data(plan)
n = 200 if not plan.fast else 16
similarity = headsim.head_similarity(teacher, student, dev, tokenizer, n=n)
fig = viz.plot_head_similarity(similarity, layer_map)
viz.save_figure(fig, "08_head_similarity")
closest = similarity.closest_teacher_layer()
mapped = {m.student: m.teacher[0] for m in layer_map.attention_matches}
print("teacher layer each student layer resembles most:", closest, "| the map:", mapped)
print("they agree for", sum(closest[m] == mapped[m] for m in closest), "of", len(closest), "student layers")
fig

# %% [markdown]
# ## How much of that resemblance did distillation put there?
# The distilled student started from the teacher's weights, so it resembled the teacher before
# any training. Three students with the same architecture, on the same sentences: the untrained
# teacher-projected start (rebuilt here), and notebook 06's two students, that start trained on
# labels only and that start distilled. Lower bars: closer to the teacher, head i against head i of the mapped layer.

# %%
students = {"untrained start": teacher_init.projected_student(teacher, tokenizer, train)[0],
            "labels only, same start": tutorial.load_student("labels_teacher_init_student", plan),
            "distilled (06)": student}
divergence = headsim.mapped_divergences(teacher, students, dev, tokenizer, layer_map, n=n)
for name, by_layer in divergence.items():
    print(f"{name:24s}", "  ".join(f"layer {m}: {value:.3f}" for m, value in by_layer.items()),
          f"  mean {sum(by_layer.values()) / len(by_layer):.3f}")
fig = viz.plot_mapped_divergence(divergence, title="JS divergence to the teacher's mapped layer (one seed)")
viz.save_figure(fig, "08_mapped_divergence")
fig

# %% [markdown]
# Read the three rows layer by layer: training on labels alone moves the attention *away* from
# the teacher's, or keeps it, or brings it closer? And distillation, whose attention loss pulls
# toward the teacher, compared with both? These are one seed's students; the sentences after
# the figure say which way each went here.

# %%
start, labels, kd = (sum(d.values()) / len(d) for d in divergence.values())
print(f"labels only moved the mean divergence {start:.3f} → {labels:.3f} ({'closer to' if labels < start else 'away from'} the teacher); "
      f"distillation {start:.3f} → {kd:.3f} ({'closer to' if kd < start else 'away from'} the teacher)")

# %% [markdown]
# ### Over three seeds
# `benchmarks/attention_seeds.py` trained both students of notebook 06 for seeds 0, 1 and 2
# (same start per seed, notebook 06's settings at the full-size budget of 600 steps per student;
# the workshop's live mode trains fewer) and measured the same divergences on the same 200 dev
# sentences. Error bars: ± one standard deviation over seeds; the differences are
# paired seed by seed.

# %%
seed_runs = json.loads(headsim.SEED_RECORD.read_text())["runs"] if headsim.SEED_RECORD.is_file() else []
over_seeds = headsim.divergence_over_seeds(seed_runs)
if over_seeds:
    fig = viz.plot_mapped_divergence(over_seeds, title="JS divergence to the teacher's mapped layer (mean ± std over seeds)")
    viz.save_figure(fig, "08_mapped_divergence_seeds")
    display(fig)
for a, b in (("labels-teacher", "untrained"), ("kd-teacher", "untrained"), ("kd-teacher", "labels-teacher")):
    found = headsim.compare_divergence(seed_runs, a, b)
    if found:
        print(f"{headsim.SEED_STUDENTS[a]} − {headsim.SEED_STUDENTS[b]}: {found[0]:+.3f} ± {found[1]:.3f} "
              f"over {found[2]} seeds ({found[3]})")
if not over_seeds:
    print("not measured yet: run benchmarks/attention_seeds.py")

# %% [markdown]
# ## Over training: when did the attention move?
# Notebook 06 recorded both runs from the same start every few steps on the same 32 dev
# sentences (`headsim.AttentionRecorder`): step 0 is the untrained start, the dotted line the end
# of the distillation's intermediate stage, the only stage whose loss looks at attention.

# %%
tracks = {"two-step KD (06)": headsim.AttentionTrack.load(plan.artifacts / "attention_track_kd.json"),
          "labels only, same start (06)": headsim.AttentionTrack.load(
              plan.artifacts / "attention_track_labels_teacher_init.json")}
fig = viz.plot_divergence_over_training(tracks)
viz.save_figure(fig, "08_divergence_over_training")
for name, track in tracks.items():
    means = track.mean_divergence()
    low = means.index(min(means))
    print(f"{name}: mean divergence {means[0]:.3f} at step 0, lowest {means[low]:.3f} at step {track.steps[low]}, "
          f"{means[-1]:.3f} at the last step ({track.steps[-1]})")
fig

# %% [markdown]
# Look at each panel after the dotted line: the prediction stage's loss no longer mentions
# attention. Does the distilled student's attention stay where the intermediate stage put it?
# The printed lowest and last values say how far it drifted in this run.
#
# Slide over the recorded steps to watch one head of one sentence change (the divergence in the
# title is over all 32 probe sentences).

# %%
widgets.attention_track_widget(tracks)

# %% [markdown]
# ## What each head looks at
# Clark et al. (2019) found BERT's heads specialise: some put most of their weight on `[CLS]`
# or `[SEP]`, some on punctuation, some on the previous or the next token; the *entropy* of a
# head's rows says how spread its attention is. Each dot below is one head; the lines are layer
# means, drawn at relative depth so the 6-layer teacher and the 4-layer student line up.

# %%
behaviour = {"teacher": headsim.head_behaviour(teacher, dev, tokenizer, n=n),
             "distilled student": headsim.head_behaviour(student, dev, tokenizer, n=n)}
fig = viz.plot_head_behaviour(behaviour, headsim.BEHAVIOURS)
viz.save_figure(fig, "08_head_behaviour")
for k, measure in enumerate(headsim.BEHAVIOURS[1:], start=1):
    t, s = (float(b[..., k].mean()) for b in behaviour.values())
    more = "equal to 2 decimals" if f"{s:.2f}" == f"{t:.2f}" else "student more" if s > t else "teacher more"
    print(f"mean share on {measure:15s} teacher {t:.2f}  student {s:.2f}  ({more})")
fig

# %% [markdown]
# ## Share it: one page, no kernel, no network
# `write_attention_page` writes a single HTML file (the plotting library's JavaScript inside it)
# that opens in any browser: teacher, student and their difference for up to three sentences,
# a menu for sentence and layer pair, a slider for the head.

# %%
from tinybert_lab import attention_page, settings

page = attention_page.write_attention_page(
    teacher, student, [sentence, "a dull , lifeless film .", "it 's a charming and often affecting journey ."],
    tokenizer, settings.out_dir() / "figures" / "08_attention_page.html")
print(f"{page} ({page.stat().st_size / 1e6:.1f} MB): open it in a browser")

# %% [markdown]
# ## Try it: your own sentence
# Type a sentence, pick a student layer and a head. The teacher layer shown is the one the layer
# map pairs with it.

# %%
widgets.attention_widget(teacher, student, tokenizer, layer_map, sentence=sentence)

# %% [markdown]
# ## What you saw
# - The layer map printed at the top is the one notebook 06 distilled along: each student layer
#   sits next to the teacher layer it started from and was pulled toward.
# - Compare the grids head by head: which student heads reproduce their teacher head's pattern
#   (attending to `[CLS]`, `[SEP]`, the previous or the next token), and which only roughly? The
#   difference map shows, for this sentence, which cells disagree most; one sentence is not a
#   dataset, so read it as an example, not a finding.
# - Over 200 sentences, the similarity matrix says which teacher layer each student layer
#   resembles most; the printed line says whether that is the layer the map distilled it toward.
# - The three-student comparison separates what the teacher's *weights* gave the student's
#   attention (the untrained start) from what training on labels and what distillation did to
#   it: one seed, so read the direction, not the third decimal.
# - The recordings over training show *when* it happened: the printed lines give each run's
#   divergence at the start, at its lowest and at the end.
# - Figures are saved under `figures/` in the output folder (the path printed for the HTML page),
#   the side-by-side comparison also as SVG; the HTML page travels on its own.
