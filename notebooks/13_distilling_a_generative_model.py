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
# # 13 · Distilling a generative model
#
# Every notebook so far distilled a classifier: one soft target per sentence, over 2 or 6 classes.
# A **language model** predicts the next token at *every* position, over its *whole vocabulary*.
# So a generative teacher hands its student a soft target at each position of each text: far more
# signal per example than a label. This is how DistilGPT-2 was made (Hugging Face, 2019): a
# 6-layer student started from every other layer of 12-layer GPT-2, trained to match GPT-2's
# next-token distributions (a KL at a temperature, with T²), plus next-token cross-entropy and a
# cosine between hidden states. It kept most of GPT-2's quality and runs faster; how much faster
# half the layers makes this notebook's student, you measure near the end.
#
# No GPT-2 weights exist offline, so this notebook trains its own teacher in place: a GPT-2-shaped
# model (transformers' `GPT2LMHeadModel`, so `generate`, the KV cache and `save_pretrained` work as
# usual) on the first part of **Tiny Shakespeare**; the rest, never trained on, is the validation
# text (the split is printed below: by position, as char-rnn and nanoGPT split it). Online, the
# same function loads the real one: `causal_lm.lm_teacher("gpt2")`, and `distilgpt2` is the
# published student to compare with.

# %%
# %matplotlib inline
from IPython.display import Markdown, display

from tinybert_lab import checks, data, headsim, lm_study, tutorial, viz, widgets
from tinybert_lab import causal_lm, lm_eval

reference = tutorial.reference_step_seconds()
corpus = data.load_shakespeare()
teacher = causal_lm.lm_teacher(corpus=corpus)  # cached: `python -m tinybert_lab.doctor --prepare` builds it
tokenizer, spec = teacher.tokenizer, teacher.spec
size = sum(p.numel() for p in teacher.model.parameters())
print(f"{corpus}\nteacher: {spec.layers} layers, width {spec.width}, {spec.heads} heads, {spec.tokenizer} tokens "
      f"({len(tokenizer)} in the vocabulary): {size / 1e6:.1f} M parameters, "
      f"{causal_lm.GPT2_PARAMETERS / size:.0f}x fewer than GPT-2 small's {causal_lm.GPT2_PARAMETERS / 1e6:.0f} M")
print(f"reference step on this machine: {reference:.2f} s")

# %% [markdown]
# That teacher is tiny next to GPT-2 (the ratio is printed above) and it has read one megabyte of
# one author, where GPT-2 read 40 GB of the web. Everything below still happens as it would at
# scale: the student, the losses and the measures are the ones used for GPT-2-sized models.
#
# ## Characters or sub-words?
# A tokenizer decides what "the next token" is. With **characters** the teacher predicts one letter
# at a time; with a small **byte-level BPE** trained in place it predicts pieces of words (the
# table's vocabulary column gives both sizes). `benchmarks/lm_tokenizer.py` trained the teacher's
# shape once with each, for the same steps, and measured how widely the teacher's next-token
# distribution spreads:

# %%
display(Markdown(lm_study.tokenizer_table()))
print(f"this notebook's teacher uses: {spec.tokenizer}")

# %% [markdown]
# Bits per character compare the two fairly (a BPE token covers more than one character: see the
# characters-per-token column). The distillation story needs the other columns: a soft target
# carries information beyond the one right answer only where the teacher spreads its probability
# over **many plausible tokens**.
# Read the "plausible tokens" column: the tokenizer with more of them gives the student more to
# learn from each position, which is why the package's teacher uses the one the table favours
# (`causal_lm.TEACHER`; the record's command reproduces the table).
#
# ## The next-token distribution is the soft target
# One position, one prompt: the teacher's most likely next tokens, and what a student started
# from every other teacher layer (before any training) gives the same tokens.

# %%
student0 = causal_lm.half_depth_student(teacher.model)  # layers every_other_layer(...) of the teacher
prompt = "ROMEO:\nI will not"
p_teacher = lm_eval.next_token_distribution(teacher.model, tokenizer, prompt)
p_student = lm_eval.next_token_distribution(student0, tokenizer, prompt)
top = lm_eval.top_tokens(p_teacher, tokenizer, k=12)
ids = p_teacher.topk(12).indices
fig = viz.plot_next_token_bars([t for t, _ in top], [p for _, p in top], p_student[ids].tolist(),
                               title=f"after {prompt!r}: teacher vs the copied half-depth student")
viz.save_figure(fig, "13_next_token")
display(fig)
print(f"student copied teacher layers {[i + 1 for i in student0.copied_layers]} of {spec.layers} (counted from 1); "
      f"the teacher's top token holds {top[0][1]:.0%} of its probability, the next 11 hold {sum(p for _, p in top[1:]):.0%}")

# %% [markdown]
# The bars are a whole distribution: the student is asked to match all of them, not just the
# first. Dropping half the layers has changed the distribution even though every remaining weight
# is the teacher's: the layers left out were part of the computation.
#
# **Exercise.** Write the two directions of the KL between teacher and student next-token
# distributions, per position, averaged over the positions that count: `mask` is 1 for a real
# position and 0 for padding, and padded positions may hold anything (NaN, inf). Shapes: logits
# (B, L, V), mask (B, L); `direction` is `"forward"` (Σ p log p/q, p the teacher) or `"reverse"`
# (Σ q log q/p).

# %% nbgrader={"grade": false, "grade_id": "nb13_token_kl", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
import torch


def token_kl(student_logits, teacher_logits, mask, direction):
    ### BEGIN SOLUTION
    keep = mask.bool()
    log_q = torch.log_softmax(student_logits[keep], dim=-1)  # select first: no NaN enters the sums
    log_p = torch.log_softmax(teacher_logits[keep], dim=-1)
    if direction == "forward":
        return (log_p.exp() * (log_p - log_q)).sum(-1).mean()
    return (log_q.exp() * (log_q - log_p)).sum(-1).mean()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb13_token_kl_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
checks.check_token_kl(token_kl)

# %% [markdown]
# ## Forward or reverse KL: covering or choosing
# Forward KL, `KL(p ‖ q)`, is what DistilGPT-2 and Hinton use: wherever the teacher puts mass, a
# student with none there pays a lot, so the student **covers** every plausible token. Reverse KL,
# `KL(q ‖ p)`, is what MiniLLM (Gu et al. 2024) optimises: the student pays only for mass it puts
# where the teacher has little, so it may **choose** one of the teacher's modes and ignore the
# others. A student smaller than its teacher cannot match every distribution; the two directions
# decide what it gives up. In miniature: a teacher with two peaks, a student that can only make
# one, fitted under each direction.

# %%
positions = torch.arange(41, dtype=torch.float32)
two_peaks = torch.softmax(-(positions - 10) ** 2 / 8, 0) + torch.softmax(-(positions - 30) ** 2 / 8, 0)
two_peaks = two_peaks / two_peaks.sum()
fits = {d + " KL": causal_lm.fit_one_peak(two_peaks, d) for d in ("forward", "reverse")}
fig = viz.plot_one_peak_fits(two_peaks, fits)
viz.save_figure(fig, "13_forward_reverse")
display(fig)
for name, q in fits.items():
    print(f"{name}: peak at token {int(q.argmax())}, probability on the teacher's two modes "
          f"{float(q[7:14].sum()):.0%} and {float(q[27:34].sum()):.0%}")

# %% [markdown]
# Forward KL puts its peak between the modes, where the teacher has almost nothing: for text, that
# means a student that sometimes writes what neither mode would. Reverse KL sits on one mode: its
# text stays plausible but less varied. Which one a student needs depends on what it is for.
#
# ## DistilGPT-2's recipe, live
# The student keeps half the teacher's layers and starts from every other one (first and last
# kept, `causal_lm.every_other_layer`). Three students train below from that same start, on the
# same text, for the same steps: **text only** (next-token cross-entropy: the baseline), **forward
# KL** (half cross-entropy, half `T²·KL(p ‖ q)` at T = 2) and **reverse KL** (half cross-entropy,
# half `KL(q ‖ p)`). The benchmark further down ran longer runs over several seeds (its settings
# are printed there); the live runs are shorter. Each finished run is cached, so a restarted kernel
# does not train it again.

# %% tags=["wait:13-live"]
setup = lm_study.Setup(teacher, corpus)
live_steps = 100 if setup.plan == lm_study.PLAN else setup.plan.steps
record = lm_study.load_runs(corpus=corpus)  # the benchmark's runs with the package's default teacher
tutorial.expect("13-live", f"3 runs of {live_steps} steps")
start = lm_eval.language_scores(student0, tokenizer, corpus.validation)
live = {}
for row in ("text", "forward_kl", "reverse_kl"):
    live[row] = lm_study.live_run(setup, row, steps=live_steps)
    print(f"{lm_study.ROWS[row].label}: validation loss {live[row]['validation_loss']:.3f}, "
          f"{live[row]['wall_seconds']:.0f} s", flush=True)

# %%
random_start = lm_eval.language_scores(causal_lm.half_depth_student(teacher.model, "random"), tokenizer, corpus.validation)
print(f"teacher: validation loss {teacher.validation_loss:.3f} nats per token")
print(f"student at its start: copied layers {start.loss:.3f}, random weights {random_start.loss:.3f} (no training)")
for row, run in live.items():
    print(f"{lm_study.ROWS[row].label:40s} {run['validation_loss']:.3f}  ({run['bits_per_character']:.3f} bits per "
          f"character, top-1 agreement with the teacher {run['agreement_top1']:.1%})")
gap = live["text"]["validation_loss"] - teacher.validation_loss
better = live["text"]["validation_loss"] - live["forward_kl"]["validation_loss"]
print(f"text only ends {gap:.3f} nats above the teacher; forward KL ends {abs(better):.3f} nats "
      f"{'below' if better > 0 else 'above'} text only (one seed, a short run: compare with the record below)")

# %% [markdown]
# Two parts of the result are separate: the **start** (the copied layers against random weights,
# printed above before any training) and the **objective** (the difference between rows that share
# the start). One seed of a short run says little: the record below has several seeds of longer
# runs, with their spread. Loss and top-1 agreement need not move together: the loss scores the
# true next token, the agreement only whether the student's first choice is the teacher's.
#
# ## The benchmark: over seeds, two regimes
# `benchmarks/lm_distill.py` trained every objective from the same start, for the same steps, over
# several seeds, in two regimes: all the training text, and only a small share of it, where the
# teacher may also **write text** (continuations of prompts from that share). There, sequence-level KD learns from
# the teacher's text with plain cross-entropy, and the KL rows learn from the same text plus the
# teacher's distributions, so their difference is what the distributions add. Your live runs
# are the hollow black circles in the all-text panel.

# %%
print(f"record: {len(record)} runs, {lm_study.PLAN.steps} steps of {lm_study.PLAN.batch_size} windows each, seeds "
      f"{sorted({r['seed'] for r in record})}, regimes {sorted({r['regime'] for r in record})} "
      f"(low: {lm_study.LOW_FRACTION:.0%} of the text)")
summaries = lm_study.summarise(record, record[0]["teacher_loss"]) if record else []
if summaries:
    labels = {lm_study.ROWS[row].label: run["validation_loss"] for row, run in live.items()}
    fig = viz.plot_lm_objectives(summaries, teacher_loss=record[0]["teacher_loss"], live=labels)
    viz.save_figure(fig, "13_objectives")
    display(fig)
    display(Markdown("\n".join(f"- {s}" for s in lm_study.findings(summaries, record))))
print(f"{len(record)} runs in the record; reproduce: python benchmarks/lm_distill.py (it resumes; --report prints the table)")

# %% [markdown]
# Read each sentence as it is printed: a "clear gain" is a mean difference larger than two standard
# errors of the per-seed differences, and "within noise" one smaller than that. With this few
# seeds two standard errors is a lenient bar (a t-test would ask for a wider margin), so treat a
# "clear" verdict near the bar as a hint, not a proof. The record was made with the package's
# default teacher; a teacher trained otherwise gives other numbers.
#
# ## What each objective does to the text
# Same prompts, same seed, same sampling temperature: only the weights differ.

# %%
models = {"teacher": teacher.model, **{lm_study.ROWS[row].label: run["model"] for row, run in live.items()}}
texts = lm_eval.samples(models, tokenizer, ["ROMEO:\n", "KING HENRY:\nMy lord,"], new_tokens=spec.block - 24, temperature=0.8)
for name, continuations in texts.items():
    print(f"--- {name} ---\n" + "\n...\n".join(p + c for p, c in zip(["ROMEO:\n", "KING HENRY:\nMy lord,"], continuations)))

# %% [markdown]
# ## Sequence-level KD and the exposure problem
# Trained on text only, a student always sees *real* text as its past; when it generates, its
# past is *its own* text, mistakes included, which it never saw in training (the **exposure
# problem**). Kim & Rush (2016) train the student on text the **teacher** wrote instead
# (sequence-level KD): closer to what a model's own past looks like, and simpler than matching
# distributions, since it needs only the teacher's samples, not its logits. On-policy distillation
# (GKD, Agarwal et al. 2024) goes one step further: the **student** writes, and the teacher scores
# every token the student chose. A few lines the teacher wrote for the sequence-level data:

# %%
prompts = causal_lm.prompts_from(setup.ids, count=2, length=spec.block // 4, seed=1)
written = causal_lm.teacher_generations(teacher, prompts, new_tokens=spec.block - spec.block // 4, progress=False)
for row in written["input_ids"]:
    print(tokenizer.decode(row[: spec.block // 4]) + "⟨the teacher wrote:⟩" + tokenizer.decode(row[spec.block // 4:]) + "\n")

# %% [markdown]
# **What on-policy costs.** Each on-policy step first lets the student *generate* a continuation
# token by token, then runs teacher and student over it. The cell times one step of each kind on
# this machine (one loss and its gradients, the best of two calls after a warm-up; the optimizer's
# update is the same for both).

# %%
import time

batch = {"input_ids": torch.tensor(setup.data("full", "text")[:setup.plan.batch_size]["input_ids"])}
batch["attention_mask"] = torch.ones_like(batch["input_ids"])
for name, extra in (("forward KL", {}), ("on-policy", {"on_policy": causal_lm.OnPolicy(fraction=1.0, prompt=spec.block // 4)})):
    weights = {"forward_kl": 1.0} if not extra else {"on_policy_jsd": 1.0}
    objective = causal_lm.LMObjective(causal_lm.half_depth_student(teacher.model), teacher.model, weights=weights, **extra)
    seconds = []
    for _ in range(3):  # the first call warms up
        started = time.perf_counter()
        sum(objective.loss_terms(batch).values()).backward()
        seconds.append(time.perf_counter() - started)
    print(f"one {name} loss + gradients (batch {setup.plan.batch_size}): {min(seconds[1:]):.2f} s")

# %% [markdown]
# ## Generation speed: half the layers, how much faster?
# **Exercise (predict first).** The student has half the teacher's layers, the same width and the
# same vocabulary. Generating with the KV cache at batch 1, how many times more tokens per second
# will it produce? Write your guess (e.g. `1.5`) before running the measurement.

# %% nbgrader={"grade": false, "grade_id": "nb13_prediction", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
guess = None  # your prediction
### BEGIN SOLUTION
guess = 1.6
### END SOLUTION

# %%
student = live["forward_kl"]["model"]
prompts8 = causal_lm.prompts_from(causal_lm.encode_text(tokenizer, corpus.validation), count=8, length=16, seed=0)
speed = lm_eval.generation_speed({"teacher": teacher.model, "student": student}, prompts8,
                                 new_tokens=spec.block - 16, repeats=3)
display(Markdown(lm_eval.speed_table(speed)))
speed_up = next(r["speed_up"] for r in speed if r["model"] == "student" and r["batch"] == 1)

# %% nbgrader={"grade": true, "grade_id": "nb13_prediction_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
checks.check_prediction("student's generation speed-up at batch 1", guess, speed_up, tolerance=0.6,
                        why="Each new token runs every layer once, so half the layers is at most 2x; the embedding, "
                            "the final LayerNorm, the output layer over the vocabulary and Python's per-token "
                            "overhead in generate() are not halved, so the measured ratio is lower.")

# %% [markdown]
# ## Try it: prompt, temperature, top-k
# Teacher and distilled student continue your prompt with the same seed. Low temperature: both
# pick their most likely tokens, and their text shows where their distributions' peaks differ.
# High temperature or no top-k: the tails of the distributions appear; do the two texts part
# ways sooner there than at a low temperature? (Without a kernel, the samples printed further up
# are the static version.)

# %%
ui = widgets.generation_widget({"teacher": teacher.model, "distilled student": student}, tokenizer,
                               new_tokens=spec.block - 32)
display(ui)

# %% [markdown]
# ## Causal attention: teacher vs student
# The same attention views as notebook 08, now on a language model: every token attends only to
# itself and the tokens before it, so each map is a lower triangle. First one head of the teacher's
# last layer beside the same head of the student's last layer on one prompt, then the divergence between every student head and
# every teacher head over 16 windows of training text (`headsim`, Jensen–Shannon).

# %%
for model in (teacher.model, student):
    model.set_attn_implementation("eager")  # attention maps need eager attention
ids = causal_lm.encode_text(tokenizer, "ROMEO:\nI will")[None]
tokens = [lm_eval.readable(t) for t in tokenizer.convert_ids_to_tokens(ids[0])]
with torch.no_grad():
    t_att = teacher.model(input_ids=ids, output_attentions=True).attentions
    s_att = student(input_ids=ids, output_attentions=True).attentions
fig = viz.plot_attention_comparison(t_att[-1][0, 0], s_att[-1][0, 0], tokens,
                                    title="last layer, head 1: teacher, distilled student, difference")
viz.save_figure(fig, "13_attention")
display(fig)

# %%
windows = torch.tensor(setup.data("full", "text")[:16]["input_ids"])
similarity = headsim.causal_head_similarity(teacher.model, student, windows)
fig = viz.plot_head_similarity(similarity, title="JS divergence: student heads (rows) vs teacher heads (columns)")
display(fig)
print("closest teacher layer for each student layer:", similarity.closest_teacher_layer(),
      f"(the student copied teacher layers {[i + 1 for i in student0.copied_layers]}, counted from 1)")

# %% [markdown]
# ## What you saw
# - A generative teacher gives a soft target at every position over its whole vocabulary; the
#   tokenizer decides how much each one carries (the measured table at the top).
# - DistilGPT-2's student starts from every other teacher layer and matches the teacher's
#   next-token distributions with a forward KL at a temperature; the fair comparison is the same
#   student from the same start on text alone. Read the record's sentences for whether each
#   objective beat it here, in each regime, and by how much compared with the seeds' spread:
#   all the text against a small share of it is notebook 10's question (all labels or few) again.
# - Forward KL covers all the teacher's modes, reverse KL chooses one; sequence-level KD trains on
#   the teacher's text, on-policy distillation on the student's own, at the price of generating
#   during training (timed above).
# - Half the layers is not simply twice the speed: the table above gives this machine's ratio at
#   each batch size.
# - Reproduce: `python benchmarks/lm_distill.py` (and `--speed`), `python benchmarks/lm_tokenizer.py`.
