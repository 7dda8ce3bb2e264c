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
import torch

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

# %% tags=["solution"]
def attention_gap(student_probs, teacher_probs):
    return (student_probs - teacher_probs).abs().mean()


# %% tags=["check"]
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

# %% tags=["solution"]
answer = "b"

# %% tags=["check"]
checks.check_choice("one_sentence", answer)

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
# - Figures export to PNG and SVG under `outputs/figures/`.
