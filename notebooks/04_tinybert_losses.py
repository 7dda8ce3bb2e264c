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
# # 04 · TinyBERT's losses on a real batch
#
# TinyBERT compares teacher and student at every mapped layer:
#
# | term | formula | where |
# |---|---|---|
# | embedding | MSE(E_S W_e, E_T) | layer 0 |
# | attention | (1/h) Σ_heads MSE(A_S, A_T), on **pre-softmax scores** | layers 1..M |
# | hidden | MSE(H_S W_h, H_T) | layers 1..M |
# | prediction | −Σ_c softmax(z_T/t)_c log softmax(z_S/t)_c | logits |
#
# W_e and W_h are learnable projections from the student's width to the teacher's, one per
# mapped layer. Padded positions must not count: every loss takes the attention mask.
#
# Matching intermediate layers (the first three rows) is **feature-based** distillation,
# introduced for hidden states by FitNets (Romero et al., 2015); the prediction row is
# response-based, like notebook 01's loss.

# %%
# %matplotlib inline
import torch

from tinybert_lab import attention, checks, data, tinybert, losses, mapping, models, tutorial, viz, widgets

tokenizer = models.load_tokenizer()
teacher = tutorial.fine_tuned_teacher().model
student = models.build_student("tinybert4", tokenizer=tokenizer, seed=0)
train, dev = tutorial.load_data()
encoded = data.encode(dev.select(range(8)), tokenizer)
batch = next(iter(data.make_loader(encoded, tokenizer, batch_size=8, shuffle=False, bucket=False)))
print("batch:", tuple(batch["input_ids"].shape), "real tokens per sentence:", batch["attention_mask"].sum(1).tolist())

# %%
with torch.no_grad():
    t = attention.forward_features(teacher, batch)
    s = attention.forward_features(student, batch)
print("teacher hidden states:", len(t.hidden_states), "x", tuple(t.hidden_states[0].shape))
print("student attention scores:", len(s.attention_scores), "x", tuple(s.attention_scores[0].shape))

# %% [markdown]
# ## Attention: raw scores vs probabilities, and what the mask does
# Scores are `Q Kᵀ / √d` before the softmax. They carry more than the probabilities (the softmax
# forgets a shift), which is why TinyBERT matches them. Padded keys would hold garbage; the loss
# *selects* the real (query, key) pairs before any arithmetic, so the garbage cannot leak in.

# %%
mask = batch["attention_mask"]
first = mapping.default_map(student.config, teacher.config).attention_matches[0]  # the map's first layer pair
sl, tl = first.student, first.teacher[0]  # layer m is attention_scores[m - 1] and hidden_states[m]
for kind in ("scores", "probs", "kl"):
    value = losses.attention_loss(s.attention_scores[sl - 1], t.attention_scores[tl - 1], mask, kind=kind)
    print(f"student layer {sl} ← teacher layer {tl}, {kind:6s}: {value:.4f}")
corrupted = s.attention_scores[sl - 1].clone()
corrupted[mask[:, None, None, :].expand_as(corrupted) == 0] = -3.4e38  # garbage in padded keys
clean = losses.attention_loss(s.attention_scores[sl - 1], t.attention_scores[tl - 1], mask)  # kind="scores"
dirty = losses.attention_loss(corrupted, t.attention_scores[tl - 1], mask)
print(f"scores loss with garbage in padded slots: {dirty:.4f} ({'unchanged' if dirty == clean else 'changed'})")

# %% [markdown]
# **Exercise.** Write TinyBERT's attention loss by hand: the mean squared difference of the
# scores over the (query, key) pairs where *both* are real tokens. Shapes: scores (B, h, L, L),
# mask (B, L).

# %% nbgrader={"grade": false, "grade_id": "nb04_attention_mse", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
def attention_mse(student_scores, teacher_scores, attention_mask):
    ### BEGIN SOLUTION
    pairs = (attention_mask[:, None, :, None] * attention_mask[:, None, None, :]).bool()  # (B, 1, L, L)
    pairs = pairs.expand_as(student_scores)
    return (student_scores[pairs] - teacher_scores[pairs]).pow(2).mean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb04_attention_mse_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
checks.check_attention_mse(attention_mse)

# %% [markdown]
# **Exercise (before you read on).** TinyBERT's hidden-state loss is `MSE(H_S W_h, H_T)`. Why the
# learned matrix W_h? (a) the student's and the teacher's hidden vectors have different widths;
# (b) it makes training faster; (c) MSE needs normalised vectors.

# %% nbgrader={"grade": false, "grade_id": "nb04_projection", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
answer = None  # your answer
### BEGIN SOLUTION
answer = "a"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "nb04_projection_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
checks.check_choice("projection", answer)

# %% [markdown]
# ## Hidden states need a projection
# The widths printed below differ: without a projection the MSE is undefined.

# %%
try:
    losses.hidden_mse(s.hidden_states[sl], t.hidden_states[tl], mask)
except ValueError as error:
    print(error)
print(f"student width {student.config.hidden_size}, teacher width {teacher.config.hidden_size}")
projection = torch.nn.Linear(student.config.hidden_size, teacher.config.hidden_size)
print(f"with a projection: {losses.hidden_mse(s.hidden_states[sl], t.hidden_states[tl], mask, projection):.4f}")

# %% [markdown]
# **Exercise.** Write the hidden-state loss `hidden_mse(student_hidden, teacher_hidden,
# attention_mask, projection)`: project the student's vectors (B, L, d_S) to the teacher's width,
# keep the real tokens, and average the squared differences over those tokens and d_T.

# %% nbgrader={"grade": false, "grade_id": "nb04_hidden_mse", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
def hidden_mse(student_hidden, teacher_hidden, attention_mask, projection):
    ### BEGIN SOLUTION
    real = attention_mask.bool()
    return (projection(student_hidden[real]) - teacher_hidden[real]).pow(2).mean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb04_hidden_mse_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
checks.check_hidden_mse(hidden_mse)

# %% [markdown]
# ## All terms at once: the Distiller
# `Distiller` holds teacher, student and one projection per mapped layer (so the optimizer sees
# them all), and computes every term along its layer map, printed below (this random student
# gets the uniform map; a student started from teacher layers gets those layers, see notebook 06).
# The bars show each term unweighted, on a log axis so that terms of very different sizes fit on one plot.

# %%
distiller = tinybert.Distiller(student, teacher)
print(distiller.layer_map)
distiller.configure(tinybert.DistillConfig(weights=tinybert.LossWeights(embedding=1, attention=1, hidden=1, prediction=1)))
with torch.no_grad():
    terms = {name: value.item() for name, value in distiller.eval().loss_terms(batch).items()}
print({name: round(value, 4) for name, value in terms.items()})
print(f"attention / largest other term: {terms['attention'] / max(v for k, v in terms.items() if k != 'attention'):.0f}×")
fig = viz.plot_loss_terms(terms, title="the loss terms on this batch, unweighted", log=True)
viz.save_figure(fig, "04_loss_terms")
fig

# %% [markdown]
# ## Try it: loss weights
# The ratio printed above compares the raw attention-score loss with the largest other term: at
# equal weights, the further it is above 1, the more of the total that one term makes up. Move the
# sliders to see each term's contribution to the total (the terms are computed once; sliders only
# re-weight): once a weight is not 1, blue weighted bars appear beside the grey unweighted ones.

# %%
widgets.loss_weights_widget(terms)

# %% [markdown]
# ## What you saw
# - `forward_features` gives hidden states (index 0 = embeddings), pre-softmax scores and
#   probabilities of any HF BERT, without modifying it.
# - The attention loss ignores padding by selecting real positions, so garbage there changes nothing.
# - Hidden and embedding losses need a learnable projection when widths differ.
# - The terms can live on very different scales (the printed values and ratio show how different on
#   this batch): the weights matter.
#
# Next: notebook 05 trains a student on these losses alone, on unlabeled text.
