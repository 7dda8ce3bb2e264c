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
# W_e and W_h are learnable projections from the student's width (312) to the teacher's (384),
# one per mapped layer. Padded positions must not count: every loss takes the attention mask.

# %%
# %matplotlib inline
import torch

from tinybert_lab import attention, checks, data, distill, losses, mapping, models, tutorial, viz, widgets

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
print("with garbage in padded slots:", losses.attention_loss(corrupted, t.attention_scores[tl - 1], mask).item())

# %% [markdown]
# **Exercise.** Write TinyBERT's attention loss by hand: the mean squared difference of the
# scores over the (query, key) pairs where *both* are real tokens. Shapes: scores (B, h, L, L),
# mask (B, L).

# %% tags=["solution"]
def attention_mse(student_scores, teacher_scores, attention_mask):
    pairs = (attention_mask[:, None, :, None] * attention_mask[:, None, None, :]).bool()  # (B, 1, L, L)
    pairs = pairs.expand_as(student_scores)
    return (student_scores[pairs] - teacher_scores[pairs]).pow(2).mean()


# %% tags=["check"]
checks.check_attention_mse(attention_mse)

# %% [markdown]
# ## Hidden states need a projection
# The student is 312 wide, the teacher 384: without a projection the MSE is undefined.

# %%
try:
    losses.hidden_mse(s.hidden_states[sl], t.hidden_states[tl], mask)
except ValueError as error:
    print(error)
projection = torch.nn.Linear(312, 384)
print("with a projection:", losses.hidden_mse(s.hidden_states[sl], t.hidden_states[tl], mask, projection).item())

# %% [markdown]
# ## All terms at once: the Distiller
# `Distiller` holds teacher, student and one projection per mapped layer (so the optimizer sees
# them all), and computes every term along its layer map, printed below (this random student
# gets the uniform map; a student started from teacher layers gets those layers, see notebook 06).

# %%
distiller = distill.Distiller(student, teacher)
print(distiller.layer_map)
distiller.configure(distill.DistillConfig(weights=distill.LossWeights(embedding=1, attention=1, hidden=1, prediction=1)))
with torch.no_grad():
    terms = {name: value.item() for name, value in distiller.eval().loss_terms(batch).items()}
print({name: round(value, 4) for name, value in terms.items()})
fig = viz.plot_loss_terms(terms, {name: 1.0 for name in terms})
viz.save_figure(fig, "04_loss_terms")
fig

# %% [markdown]
# ## Try it: loss weights
# The raw attention-score loss is much larger than the others, so with equal weights it dominates
# the gradient. Move the sliders to see each term's contribution to the total (the terms are
# computed once; sliders only re-weight).

# %%
widgets.loss_weights_widget(terms)

# %% [markdown]
# ## What you saw
# - `forward_features` gives hidden states (index 0 = embeddings), pre-softmax scores and
#   probabilities of any HF BERT, without modifying it.
# - The attention loss ignores padding by selecting real positions, so garbage there changes nothing.
# - Hidden and embedding losses need a learnable projection when widths differ.
# - The terms live on very different scales: the weights matter.
#
# Next: notebook 05 trains a student on these losses alone, on unlabeled text.
