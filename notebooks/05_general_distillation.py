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
# # 05 · General distillation on unlabeled text
#
# TinyBERT first distils a student from the **pre-trained** teacher (not the fine-tuned one) on
# plain text, matching only the intermediate layers: embeddings, attention, hidden states. No
# labels are needed, so any text will do. As in BERT pre-training, 15 % of the tokens are picked
# for masking at random each time a batch is drawn (**dynamic masking**).
#
# Here the text is SST-2's test split (1,821 sentences without labels); `data.load_text_file`
# reads any text file with one sentence per line.

# %%
# %matplotlib inline
import torch

from tinybert_lab import checks, data, tinybert, models, tutorial, viz, widgets

plan = tutorial.plan()
tokenizer = models.load_tokenizer()
text = data.load_sst2()["test"]
print(len(text), "unlabeled sentences, e.g.:", text[0]["sentence"])

# %% [markdown]
# ## Dynamic masking
# Of the tokens picked, 80 % become `[MASK]`, 10 % a random token, 10 % stay as they are.
# `[CLS]`, `[SEP]` and padding are never picked.

# %%
encoded = data.encode(text.select(range(4)), tokenizer)
batch = next(iter(data.make_loader(encoded, tokenizer, batch_size=4, shuffle=False, bucket=False)))
masked = data.mask_tokens(batch, tokenizer, 0.15, torch.Generator().manual_seed(0))
for row in range(2):
    print(" ".join(tokenizer.convert_ids_to_tokens(masked["input_ids"][row][batch["attention_mask"][row] == 1])))
lengths = [len(ids) for ids in data.encode(text.select(range(min(64, len(text)))), tokenizer)["input_ids"]]
print(f"the first {len(lengths)} sentences: {sum(lengths) / len(lengths):.1f} tokens each on average, [CLS] and [SEP] included")

# %% [markdown]
# **Exercise (predict, then run).** 15 % of the ordinary tokens are picked, and 80 % of those
# become `[MASK]`; `[CLS]` and `[SEP]` (two tokens of every sentence; the average length is
# printed above) are never picked. What fraction of *all* real tokens in a batch of those first
# sentences shows `[MASK]`? Write a fraction.

# %% nbgrader={"grade": false, "grade_id": "nb05_prediction", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
guess = None  # your prediction
### BEGIN SOLUTION
guess = 0.15 * 0.8 * (1 - 2 / 25)  # about 25 tokens per sentence, 2 of them [CLS] and [SEP]
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "nb05_prediction_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
sample = data.encode(text.select(range(min(64, len(text)))), tokenizer)
big = next(iter(data.make_loader(sample, tokenizer, batch_size=64, shuffle=False, bucket=False)))
shown = data.mask_tokens(big, tokenizer, 0.15, torch.Generator().manual_seed(1))["input_ids"] == tokenizer.mask_token_id
real = big["attention_mask"] == 1
checks.check_prediction("share of real tokens shown as [MASK]", guess, (shown & real).sum().item() / real.sum().item(),
                        tolerance=0.03, why="15 % picked × 80 % of those masked, of the ordinary tokens only.")

# %% [markdown]
# **Exercise.** Where do the targets of general distillation come from? (a) the teacher's own
# attention and hidden states on unlabeled text; (b) SST-2's labels; (c) the teacher's
# predictions on the dev set.

# %% nbgrader={"grade": false, "grade_id": "nb05_general_data", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
answer = None  # your answer
### BEGIN SOLUTION
answer = "a"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "nb05_general_data_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
checks.check_choice("general_data", answer)

# %% [markdown]
# ## Distilling the pre-trained teacher
# `general_distillation` loads the pre-trained MiniLM, maps the student's 4 layers uniformly onto
# the teacher's 6, and trains embedding + attention + hidden losses with masking on. The plot
# updates as it trains; its loss axis is logarithmic, so terms of very different sizes all show.

# %% tags=["wait:05-general"]
tutorial.expect("05-general", "general distillation")
student = models.build_student("tinybert4", tokenizer=tokenizer, seed=0)
config = tinybert.DistillConfig(steps=plan.general_steps, batch_size=plan.batch_size, learning_rate=1e-3,
                               weights=tinybert.INTERMEDIATE, mask_probability=0.15, log_every=5 if not plan.fast else 1)
distiller, history = tinybert.general_distillation(
    student, text, tokenizer, config=config, callbacks=[widgets.live_loss_plot("general distillation", log=True)],
    checkpoint_dir=plan.artifacts / "general", resume=True)

# %%
fig = viz.plot_history(history, "general distillation: weighted total and each term", terms=True, log=True)
viz.save_figure(fig, "05_general_distillation")
print({name: f"{values[0]:.3f} → {values[-1]:.3f}" for name, values in history.terms.items()})
drops = {name: values[0] - values[-1] for name, values in history.terms.items()}
print("fell:", [n for n, d in drops.items() if d > 0], "| started largest:",
      max(history.terms, key=lambda n: history.terms[n][0]), "| fell most:", max(drops, key=drops.get))
print(distiller.layer_map)
fig

# %% [markdown]
# ## What you saw
# - General distillation needs no labels: the teacher's own layers are the targets.
# - The printed line says which terms fell, which started largest and which fell most.
# - Training checkpoints into the tutorial's folder: rerun the cell after a kernel restart and it
#   continues where it stopped instead of starting over.
#
# The real TinyBERT runs this stage for days on Wikipedia. At laptop budgets it is a
# demonstration; notebook 06 distils the task directly from the fine-tuned teacher.
