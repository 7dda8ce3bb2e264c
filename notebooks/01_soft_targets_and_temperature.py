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
# # 01 · Soft targets and temperature
#
# A classifier trained on labels learns from **hard targets**: "this review is positive", full
# stop. A trained teacher knows more than the label: how sure it is. On a hedged sentence it may
# leave some weight on the other class, and even a small share tells a student something a label
# cannot. Knowledge distillation (Hinton et al., 2015) trains the student on the teacher's probabilities, its
# **soft targets**.
#
# In this notebook you will
# 1. look at a real teacher's probabilities on SST-2 movie-review sentences,
# 2. soften them with a **temperature** T and see what that reveals,
# 3. compare KL divergence with cross-entropy, and see why the KD loss is multiplied by **T²**.
#
# The teacher is all-MiniLM-L6-v2 (a 6-layer BERT) fine-tuned on SST-2. The first time you run
# this it fine-tunes it (a few minutes on a laptop; notebook 02 shows how); after that it
# loads from the cache in seconds.

# %%
# %matplotlib inline
import torch
from IPython.display import display

from tinybert_lab import checks, data, evaluation, label_sources, losses, models, tutorial, viz, widgets

plan = tutorial.plan()
teacher = tutorial.fine_tuned_teacher(plan).model
tokenizer = models.load_tokenizer()
train, dev = tutorial.load_data(plan)

# %% [markdown]
# ## The teacher's probabilities on real sentences
# `logits` are the raw scores before the softmax; `softmax(logits)` are the probabilities. The
# last line names the sentence the teacher is least sure of and what it leaves for the other class.

# %%
sentences = ["a gorgeous , witty , seductive movie .",
             "the movie is not bad .",
             "it 's a bit long , but the acting is worth it ."]
inputs = tokenizer(sentences, return_tensors="pt", padding=True)
with torch.no_grad():
    logits = teacher(**inputs).logits
for sentence, z in zip(sentences, logits):
    p = torch.softmax(z, -1)
    print(f"{sentence:50s} logits {z.numpy().round(2)}  P(negative, positive) = {p.numpy().round(3)}")
top = torch.softmax(logits, -1).max(-1).values
print(f"least sure: {sentences[int(top.argmin())]!r}, {top.min():.1%} on its top class, "
      f"{1 - top.min():.1%} left for the other")

# %% [markdown]
# ## Temperature
# Dividing the logits by T before the softmax, `softmax(z / T)`, flattens the distribution as T
# grows: the ranking stays, the differences shrink. At T = 1 a sure teacher leaves the "wrong"
# class only a sliver (the shares printed above); at higher T the student can see *how much* less
# likely it is.
# With only two classes there is little **dark knowledge** (the ranking of the wrong classes), but
# the teacher's confidence still comes through.

# %%
fig = viz.plot_temperature(logits[2], temperatures=(1, 2, 4, 8), class_names=["negative", "positive"],
                           title=sentences[2])
viz.save_figure(fig, "01_temperature")
fig

# %% [markdown]
# **Exercise (explain the figure).** As T grows without limit, what happens to the teacher's
# distribution? (a) it gets sharper, towards the argmax; (b) it gets flatter, towards uniform;
# (c) its shape stays, but the most likely class can change. Write one letter.

# %% nbgrader={"grade": false, "grade_id": "nb01_temperature", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
answer = None  # your answer
### BEGIN SOLUTION
answer = "b"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "nb01_temperature_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
checks.check_choice("temperature", answer)

# %% [markdown] tags=["instructor"]
# *Discussion.* Ask which temperature they would pick for distillation and why: too low and the
# wrong classes vanish, too high and every class looks the same. Hinton et al. used T between 2
# and 20; TinyBERT uses T = 1 for the prediction layer.

# %% [markdown]
# ## Dark knowledge: six classes
# Two classes hide most of it. TREC sorts questions into six classes: abbreviation (ABBR),
# description (DESC), entity (ENTY), human (HUM), location (LOC) and number (NUM). A teacher
# fine-tuned on TREC (the same MiniLM, the same recipe, cached after the first run) gives a
# whole ranking of the wrong answers: its **second choices**.

# %%
trec_teacher = label_sources.fine_tuned_teacher("trec", plan, progress=True).model  # trained once, then cached
trec_train, trec_test = label_sources.load_task("trec", plan)
names = trec_test.features["label"].names
trec_logits, _ = evaluation.predict(trec_teacher, data.encode(trec_test, tokenizer), tokenizer)
trec_gold = torch.tensor(trec_test["label"])
print(f"TREC teacher: {(trec_logits.argmax(-1) == trec_gold).float().mean():.1%} right on {len(trec_test)} test questions")

# %% [markdown]
# The questions the teacher gets right with the strongest second choice, softened at T = 2:

# %%
probs = torch.softmax(trec_logits / 2.0, -1)
right = probs.argmax(-1) == trec_gold
second = probs.topk(2, -1).values[:, 1] * right
for i in second.argsort(descending=True)[:4].tolist():
    top = probs[i].topk(3)
    ranked = ", ".join(f"{names[c]} {p:.0%}" for p, c in zip(top.values.tolist(), top.indices.tolist()))
    print(f"{trec_test[i]['text'][:55]:55s} gold {names[trec_gold[i]]:4s} teacher: {ranked}")

# %% [markdown]
# Averaged over all test questions of each gold class, the soft targets draw a map of which
# classes the teacher finds alike. A one-hot label says none of this. Read the runner-ups with
# care: at T = 2 every class gets some weight, so a class that comes out as the runner-up of
# most gold classes at once shows where the teacher parks its leftover weight, not a likeness to
# all of them; the pairs that stand out from the rest of their row are the informative ones.

# %%
matrix = evaluation.mean_soft_targets(trec_logits, trec_gold, len(names), temperature=2.0)
off_diagonal = matrix.nan_to_num().fill_diagonal_(0)
for c, name in enumerate(names):
    j = int(off_diagonal[c].argmax())
    print(f"gold {name:4s}: the teacher's most likely *other* class is {names[j]} ({off_diagonal[c, j]:.1%} on average)")
fig = viz.plot_class_similarity(matrix, names, temperature=2.0, title="TREC test: the teacher's mean soft targets per gold class")
viz.save_figure(fig, "01_trec_class_similarity")
fig

# %% [markdown]
# **Exercise.** Write `softmax_with_temperature(logits, temperature)`: logits (B, C) in,
# probabilities (B, C) out. The check cell below compares it with the reference.

# %% nbgrader={"grade": false, "grade_id": "nb01_softmax_with_temperature", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
def softmax_with_temperature(logits, temperature):
    ### BEGIN SOLUTION
    return torch.softmax(logits / temperature, dim=-1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb01_softmax_with_temperature_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
checks.check_softmax_with_temperature(softmax_with_temperature)

# %% [markdown]
# ## KL divergence vs cross-entropy
# For soft targets p_T and the student's p_S, cross-entropy `H(p_T, p_S) = H(p_T) + KL(p_T ‖ p_S)`.
# The teacher's entropy H(p_T) does not depend on the student, so both losses have the same
# gradient; KL is 0 when the student matches the teacher, which makes it easier to read.
# (tinybert_lab's `soft_cross_entropy` sums over classes and averages over the batch; TinyBERT's
# official code averages over classes too, a known bug that shrinks the loss by the number of classes.)

# %%
student_logits = torch.tensor([[0.5, 0.2], [0.1, 0.9], [0.0, 0.3]])
teacher_logits = logits
T = 2.0
kl = losses.soft_kl(student_logits, teacher_logits, T) / T**2
ce = losses.soft_cross_entropy(student_logits, teacher_logits, T)
p_t = torch.softmax(teacher_logits / T, -1)
entropy = -(p_t * p_t.log()).sum(-1).mean()
print(f"KL = {kl:.4f}   CE = {ce:.4f}   H(teacher) = {entropy:.4f}   CE - H = {ce - entropy:.4f}")

# %% [markdown]
# ## Why multiply by T²
# The gradient of `KL(softmax(z_T/T) ‖ softmax(z_S/T))` with respect to the student's logits is
# `(p_S − p_T) / T`, and for large T the difference itself shrinks like 1/T: the gradient falls like
# 1/T². Multiplying the loss by T² undoes that 1/T²: the gradient stays within a small factor of
# its T = 1 size (the last line below prints the factor), so you can change T without retuning
# the learning rate or the mix with the hard-label loss.

# %%
norms = {}
for T in (1.0, 2.0, 4.0, 8.0):
    z = student_logits.clone().requires_grad_(True)
    (losses.soft_kl(z, teacher_logits, T) / T**2).backward()
    plain = z.grad.norm().item()
    z.grad = None
    losses.soft_kl(z, teacher_logits, T).backward()
    norms[T] = (plain, z.grad.norm().item())
    print(f"T = {T:3.0f}: gradient norm without T² {plain:.5f}   with T² {norms[T][1]:.5f}")
(p1, w1), (p8, w8) = norms[1.0], norms[8.0]
print(f"T = 1 → 8: without T² the norm shrinks {p1 / p8:.0f}×; with T² it changes {w8 / w1:.2f}×")

# %% [markdown]
# ## Soft and hard together: Hinton's α
# Hinton et al. train on both: `α · T²·KL(p_T ‖ p_S) + (1 − α) · CE(z_S, y)`, the soft targets
# weighted by α and the gold labels by 1 − α (`losses.hinton_kd`). Learning from the teacher's
# outputs, with the teacher trained first and then frozen, is **response-based, offline**
# distillation; notebooks 04–06 add feature-based losses, notebook 09 relation-based and online ones.

# %%
alpha, labels = 0.5, torch.tensor([1, 1, 1])  # the three sentences above are positive
soft, hard = losses.soft_kl(student_logits, teacher_logits, 2.0), losses.hard_ce(student_logits, labels)
mixed = losses.hinton_kd(student_logits, teacher_logits, labels, temperature=2.0, alpha=alpha)
print(f"α = {alpha}: {alpha} · {soft:.4f} (soft, T²·KL) + {1 - alpha} · {hard:.4f} (hard) = {mixed:.4f}")

# %% [markdown]
# **Exercise.** Write Hinton's distillation loss `kd_loss(student_logits, teacher_logits, temperature)`:
# soften both with T, take `KL(p_T ‖ p_S)` summed over classes and averaged over the batch, and
# multiply by T². The check compares it with `losses.soft_kl` at several temperatures.

# %% nbgrader={"grade": false, "grade_id": "nb01_kd_loss", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
def kd_loss(student_logits, teacher_logits, temperature):
    ### BEGIN SOLUTION
    log_p_s = torch.log_softmax(student_logits / temperature, dim=-1)
    log_p_t = torch.log_softmax(teacher_logits / temperature, dim=-1)
    return temperature**2 * (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1).mean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb01_kd_loss_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
checks.check_kd_loss(kd_loss)

# %% [markdown]
# ## Try it: the temperature slider
# The figure above is the static version. Move the slider: the right panel shows the teacher's
# distribution at that temperature, the title the distillation loss `T²·KL` of a student that
# predicts logits (0.0, 0.3) for this sentence.

# %%
widgets.temperature_widget(logits[2], student_logits=[0.0, 0.3], class_names=["negative", "positive"])

# %% [markdown]
# ## What you saw
# - A teacher's probabilities carry more than its label: how sure it is, and (with more classes)
#   which wrong answers are plausible. How much this teacher left for the other class on the
#   three sentences is in their printed probabilities.
# - Temperature T > 1 softens them without changing their order.
# - KL and cross-entropy against soft targets differ by the teacher's entropy, a constant.
# - Hinton's loss mixes soft targets (weight α) and gold labels (1 − α).
# - Without T² the KD gradient shrinks like 1/T² (the last printed line says by how much);
#   with T² it stays within a small factor of its T = 1 size, so T can change without retuning.
# - With six classes (TREC) the soft targets also rank the wrong answers: the class-similarity
#   map above is dark knowledge a one-hot label cannot carry. Notebook 10 measures what it buys.
#
# Next: notebook 02 looks inside the teacher and fine-tunes it.
