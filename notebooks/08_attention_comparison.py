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

from tinybert_lab import attention, models, tutorial, viz, widgets
from tinybert_lab.mapping import LayerMap

plan = tutorial.plan()
tokenizer = models.load_tokenizer()
teacher = tutorial.fine_tuned_teacher(plan).model
student = tutorial.load_student("kd_student", plan)
layer_map = LayerMap.uniform(student.config.num_hidden_layers, teacher.config.num_hidden_layers)
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
# Student layer 4 is mapped to teacher layer 6. Same colour scale left and middle; right: student
# minus teacher (red: the student attends more, blue: less).

# %%
head = 0
fig = viz.plot_attention_comparison(teacher_out.attentions[5][0, head], student_out.attentions[3][0, head], tokens,
                                    title=f"student layer 4 ← teacher layer 6, head {head + 1}")
viz.save_figure(fig, "08_attention_comparison", formats=("png", "svg"))
fig

# %% [markdown]
# ## All layers and heads
# d2l-style grids: rows are layers, columns heads. Compare the teacher's layers 2, 3, 4, 6 (the
# ones the student imitates) with the student's 1–4.

# %%
fig = viz.plot_attention_grid(teacher_out.attentions, tokens, layers=[1, 2, 3, 5], heads=range(6),
                              title="teacher: layers 2, 3, 4, 6")
viz.save_figure(fig, "08_teacher_grid")
fig

# %%
fig = viz.plot_attention_grid(student_out.attentions, tokens, heads=range(6), title="student: layers 1–4")
viz.save_figure(fig, "08_student_grid")
fig

# %% [markdown]
# ## Try it: your own sentence
# Type a sentence, pick a student layer and a head. The teacher layer shown is the one the layer
# map pairs with it.

# %%
widgets.attention_widget(teacher, student, tokenizer, layer_map, sentence=sentence)

# %% [markdown]
# ## What you saw
# - After attention distillation many student heads reproduce their teacher head's pattern
#   (attend to `[CLS]`/`[SEP]`, to the previous or next token), others only roughly.
# - The difference map shows where the student still disagrees: usually on content words late in
#   the sentence.
# - Figures export to PNG and SVG under `outputs/figures/`.
