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
# labels are needed, so any text will do. As in BERT pre-training, 15 % of the tokens are masked
# at random each time a batch is drawn (**dynamic masking**).
#
# Here the text is SST-2's test split (1,821 sentences without labels); `data.load_text_file`
# reads any text file with one sentence per line.

# %%
# %matplotlib inline
import torch

from tinybert_lab import data, distill, models, tutorial, viz, widgets

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

# %% [markdown]
# ## Distilling the pre-trained teacher
# `general_distillation` loads the pre-trained MiniLM, maps the student's 4 layers uniformly onto
# the teacher's 6, and trains embedding + attention + hidden losses with masking on. The plot
# updates as it trains.

# %%
student = models.build_student("tinybert4", tokenizer=tokenizer, seed=0)
config = distill.DistillConfig(steps=plan.general_steps, batch_size=plan.batch_size, learning_rate=1e-3,
                               weights=distill.INTERMEDIATE, mask_probability=0.15, log_every=5 if not plan.fast else 1)
distiller, history = distill.general_distillation(
    student, text, tokenizer, config=config, callbacks=[widgets.live_loss_plot("general distillation")],
    checkpoint_dir=plan.artifacts / "general", resume=True)

# %%
fig = viz.plot_history(history, "general distillation: weighted total")
for name in history.terms:
    fig.axes[0].plot(history.step, history.weighted(name), "--", label=name)
fig.axes[0].legend()
viz.save_figure(fig, "05_general_distillation")
print({name: f"{values[0]:.3f} → {values[-1]:.3f}" for name, values in history.terms.items()})
fig

# %% [markdown]
# ## What you saw
# - General distillation needs no labels: the teacher's own layers are the targets.
# - All three terms fall; the attention-score term starts largest and falls most.
# - Training checkpoints into the tutorial's folder: rerun the cell after a kernel restart and it
#   continues where it stopped instead of starting over.
#
# The real TinyBERT runs this stage for days on Wikipedia. At laptop budgets it is a
# demonstration; notebook 06 distils the task directly from the fine-tuned teacher.
