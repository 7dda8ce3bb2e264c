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
# # 03 · The student and the layer mapping
#
# TinyBERT-4 has 4 layers of width 312 (the teacher: 6 of width 384). It is an ordinary BERT built
# from a config, with the teacher's vocabulary so both read the same token ids. Distillation then
# needs a **layer mapping** g: which teacher layer does student layer m learn from?
#
# Index 0 is the embedding layer on both sides, and the prediction layer (the logits) is matched
# separately. TinyBERT's **uniform** strategy takes every (N/M)-th teacher layer: g(m) = m·N/M,
# rounded down when N/M is not whole (M = 4, N = 6: 1.5, 3, 4.5, 6 → 1, 3, 4, 6).
#
# **Counting layers in code.** Layer m is `hidden_states[m]` (entry 0 is the embeddings) but
# `attentions[m - 1]`: the embeddings have no attention, so that list starts at layer 1.
#
# **Which map is used.** A student started from teacher layers (notebook 06's projection,
# DistilBERT's copy) remembers them, and `Distiller` then maps each student layer to the teacher
# layer it came from; a random student gets the uniform map. Every notebook prints the map object
# it uses, never typed layer numbers.

# %% [markdown]
# **Exercise (predict, then run).** TinyBERT-4's embedding table has one vector of width 312 for
# each of the 30,522 WordPiece tokens (plus 512 positions and 2 segment types). Estimate its
# embedding parameters, in millions, in the cell below, before running the one that builds the models.

# %% nbgrader={"grade": false, "grade_id": "nb03_prediction", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
guess = None  # your prediction
### BEGIN SOLUTION
guess = 30_522 * 312 / 1e6
### END SOLUTION

# %%
# %matplotlib inline
from tinybert_lab import checks, evaluation, models, tutorial, widgets
from tinybert_lab.mapping import LayerMap

tokenizer = models.load_tokenizer()
teacher = tutorial.fine_tuned_teacher().model
students = {name: models.build_student(name, tokenizer=tokenizer) for name in ("tinybert4", "mini2", "bert_tiny")}
for name, model in {"teacher": teacher, **students}.items():
    print(f"{name:10s} {models.describe(model)}; {models.size_on_disk(model) / 1e6:.0f} MB")

# %% nbgrader={"grade": true, "grade_id": "nb03_prediction_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
counts = models.parameter_counts(students["tinybert4"])
checks.check_prediction("TinyBERT-4 embedding parameters (millions)", guess, counts["embedding"] / 1e6, tolerance=1.0,
                        why="tokens × width dominates; positions, segment types and the LayerNorm add little.")
print(f"TinyBERT-4: {counts['embedding'] / 1e6:.1f} M embedding parameters, {counts['non_embedding'] / 1e6:.1f} M "
      f"in everything else: the embedding table is {counts['embedding'] / counts['total']:.0%} of the model")

# %% [markdown]
# The embedding table (30,522 tokens × width) dominates small models, as the line above shows.
#
# ## Mappings as data
# A map is a validated object that turns into plain data (a list of dicts) and back, so a widget
# or a config file can edit it.

# %%
uniform = LayerMap.uniform(4, 6)
print(uniform.describe())
print(uniform.to_dicts()[:2])
print(LayerMap.last(4, 6).describe())

# %% [markdown]
# **Exercise.** Write `uniform_layers(student_layers, teacher_layers)`: the list of teacher layers
# g(1), ..., g(M) that TinyBERT's uniform strategy gives student layers 1 to M (rounded down).
# The check compares it with `LayerMap.uniform` for several sizes, BERT-base's 12 layers included.

# %% nbgrader={"grade": false, "grade_id": "nb03_uniform_layers", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
def uniform_layers(student_layers, teacher_layers):
    ### BEGIN SOLUTION
    return [m * teacher_layers // student_layers for m in range(1, student_layers + 1)]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb03_uniform_layers_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
checks.check_uniform_layers(uniform_layers)

# %% [markdown]
# Many-to-one: a student layer can learn from the *mean* of several teacher layers.
# Per-layer weights live on the map too, e.g. decaying with depth.

# %%
custom = LayerMap.from_list([0, [1, 2], 3, [4, 5], 6], teacher_layers=6).with_depth_decay(0.8)
fig = custom.draw()
fig

# %% [markdown]
# An invalid map is refused with a message that names the entry and the valid range:

# %%
try:
    LayerMap.from_dicts([{"student": 1, "teacher": [7]}], student_layers=4, teacher_layers=6)
except ValueError as error:
    print(error)

# %% [markdown]
# ## Try it: the mapping widget
# Choose a strategy, or type a custom list (one item per student layer, 0 first for the
# embeddings, `[a, b]` to average). The drawing follows; an invalid list shows why.

# %%
widgets.layer_map_widget(student_layers=4, teacher_layers=6)

# %% [markdown]
# ## What you saw
# - A student is a smaller BERT config with the teacher's vocabulary; most of its parameters sit
#   in the embedding table.
# - The layer map says which teacher layer each student layer imitates: uniform, last-k, custom or
#   many-to-one, with 0 = embeddings on both sides.
#
# Next: notebook 04 computes TinyBERT's losses along this map on a real batch.
