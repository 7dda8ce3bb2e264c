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
# # 11 · After distillation: quantise, export, prune
#
# Distillation gave a smaller architecture. Three more tools stack on it, each changing something
# else: **int8 quantisation** stores the weights of every linear layer in 8 bits and multiplies in
# integers; **ONNX Runtime** runs the same computation in another engine; **head pruning** removes
# the attention heads that matter least. This notebook applies each to notebook 06's distilled
# student (and quantisation to the teacher), and measures every variant the same way: dev
# accuracy, size on disk, and sentences per second of the model alone (tokenisation excluded, the
# same batches, 2 threads, a warm-up batch, the median of repeated passes).

# %%
# %matplotlib inline
import copy

import torch

from tinybert_lab import checks, comparison, compression, data, models, settings, tutorial, viz

plan = tutorial.plan()
tokenizer = models.load_tokenizer()
teacher = tutorial.fine_tuned_teacher(plan).model
student = tutorial.load_student("kd_student", plan)
train, dev = tutorial.load_data(plan)
timing = data.subsample(dev, min(256 if not plan.fast else 32, len(dev)), seed=0)  # every variant is timed on these
folder = settings.out_dir() / "compression"
print(f"dev: {len(dev)} sentences; timing: {len(timing)} sentences, batch 32, 2 threads")

# %% [markdown]
# ## 1 · int8 weights
# `compression.quantize` swaps every `nn.Linear` for an int8 version (dynamic quantisation: the
# activations are quantised on the fly, batch by batch). The word-embedding table is not a linear
# layer and stays in fp32.
#
# **Exercise (predict first).** int8 takes a quarter of fp32's bytes. By what factor will the
# student's size on disk shrink? Write your number, then run the cells after it.

# %% nbgrader={"grade": false, "grade_id": "nb11_prediction", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
guess = None  # your prediction
### BEGIN SOLUTION
guess = 1.3
### END SOLUTION

# %%
student_int8 = compression.quantize(student)
fp32_mb, int8_mb = models.size_on_disk(student) / 1e6, models.size_on_disk(student_int8) / 1e6
embedding = models.parameter_counts(student)["embedding"] / models.parameter_counts(student)["total"]
print(f"student: {fp32_mb:.1f} MB in fp32, {int8_mb:.1f} MB with int8 linear layers ({fp32_mb / int8_mb:.2f}× smaller); "
      f"{embedding:.0%} of its parameters are embeddings")

# %% nbgrader={"grade": true, "grade_id": "nb11_prediction_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
checks.check_prediction("size ratio", guess, fp32_mb / int8_mb, tolerance=0.3,
                        why="only the linear layers shrink 4×: the embedding table, most of a small BERT, stays fp32.")

# %% [markdown]
# ## 2 · The same model in ONNX Runtime
# `export_onnx` traces the student on a few real sentences into one `.onnx` file whose batch size
# and length stay free; `onnx_session` runs it with ONNX Runtime behind the same call as a PyTorch
# model. Before trusting it, compare the logits on a padded batch. ONNX Runtime's own dynamic int8
# quantisation (`quantize_onnx`) makes a fourth variant.

# %%
sample = list(dev.select(range(min(8, len(dev))))["sentence"])
onnx_path = compression.export_onnx(student, tokenizer, folder / "student.onnx", sample[:4])
student_onnx = compression.onnx_session(onnx_path, student.config)
student_onnx_int8 = compression.onnx_session(compression.quantize_onnx(onnx_path, folder / "student_int8.onnx"),
                                             student.config)
inputs = dict(tokenizer(sample, padding=True, return_tensors="pt"))
with torch.no_grad():
    gap = (student_onnx(**inputs).logits - student(**inputs).logits).abs().max()
print(f"largest logit difference, ONNX Runtime vs PyTorch, on {len(sample)} padded sentences: {gap:.1e}")

# %% [markdown]
# ## 3 · Which heads matter? Prune the rest
# Michel et al. (2019) put a gate on every head's output and score the head by how much the loss
# changes when the gate moves: `|∂ loss / ∂ gate|`, summed over examples and normalised per layer.
# Removing the lowest-scoring heads first, how much accuracy is left? (Importance is measured on
# the first 256 dev sentences, which are also scored: a learner's shortcut, not a clean protocol.)

# %%
importance = {name: compression.head_importance(model, dev, tokenizer, n=256)
              for name, model in (("teacher", teacher), ("distilled student", student))}
curves = {}
for name, model in (("teacher", teacher), ("distilled student", student)):
    heads = importance[name].numel()
    curves[f"{name} ({heads} heads)"] = compression.pruning_curve(model, importance[name], dev, tokenizer,
                                                                  [0, heads // 4, heads // 2])
fig = viz.plot_pruning_curve(curves)
viz.save_figure(fig, "11_pruning_curve")
for name, curve in curves.items():
    print(name + ": " + ", ".join(f"{removed} removed → {accuracy:.1%}" for removed, accuracy in curve))
fig

# %% [markdown]
# Read where each curve starts to fall: removing a head can also move accuracy up by a few
# sentences, and on 872 dev sentences a move that small is noise, not a gain.
#
# A pruned model is a smaller model, not a masked one: its query, key, value and output matrices
# lose the removed heads' rows and columns, and it saves and loads like any other.

# %%
quarter = compression.least_important(importance["distilled student"], importance["distilled student"].numel() // 4)
pruned = compression.prune_heads(copy.deepcopy(student), quarter)  # {layer: [heads]} of the lowest importance
with models.quiet_transformers():
    pruned.save_pretrained(folder / "student_pruned")
reloaded = compression.load_pruned(folder / "student_pruned")
with torch.no_grad():
    same = torch.allclose(reloaded(**inputs).logits, pruned(**inputs).logits, atol=1e-6)
print(f"pruned student: heads per layer {[layer.attention.self.num_attention_heads for layer in pruned.bert.encoder.layer]}, "
      f"reloaded with the same logits: {same}")

# %% [markdown]
# ## 4 · Everything side by side
# Every variant on the same sentences, batches and threads. *Speed-up* is over the fp32 teacher;
# the *FLOP-ratio bound* is the teacher's floating-point operations per sentence over the
# variant's architecture's: what a smaller architecture can buy at most. Quantisation and ONNX
# Runtime keep the FLOPs and make each one cheaper, so they can beat that bound. Compare the two
# int8 students' sizes too: ONNX Runtime's quantiser also stores the embedding table in int8,
# which PyTorch's dynamic quantisation leaves in fp32.

# %% tags=["wait:11-variants"]
tutorial.expect("11-variants", "scoring and timing every variant")
variants = {"teacher fp32": (teacher, teacher), "teacher int8": (compression.quantize(teacher), teacher),
            "student fp32": (student, student), "student int8": (student_int8, student),
            "student ONNX Runtime fp32": (student_onnx, student), "student ONNX Runtime int8": (student_onnx_int8, student),
            "student, ¼ heads pruned": (pruned, pruned),
            "student, ¼ heads pruned, int8": (compression.quantize(pruned), pruned)}
table = compression.compare_variants(variants, dev, tokenizer, timing_data=timing, threads=2,
                                     repeats=3 if not plan.fast else 1)
(settings.out_dir() / "results_compression.md").write_text(table.to_markdown() + "\n")
table

# %%
fig = viz.plot_compression(table.rows)
viz.save_figure(fig, "11_compression")
rows = {r["model"]: r for r in table.rows}
for name in ("student int8", "student ONNX Runtime fp32"):
    print(f"{name}: {rows[name]['speedup'] / rows['student fp32']['speedup']:.2f}× the fp32 student's speed, "
          f"{100 * (rows[name]['accuracy'] - rows['student fp32']['accuracy']):+.1f} points of accuracy")
print("on the Pareto front:", ", ".join(r["model"] for r in comparison.pareto_front(table.rows)))
fig

# %% [markdown]
# **Exercise (read the figure).** A variant sits below and to the left of another: slower and less
# accurate. Should you ship it? (a) yes, every point on the plot is a fair choice; (b) only if it
# wins on something the plot does not show (size on disk, memory, an engine you must use);
# (c) never.

# %% nbgrader={"grade": false, "grade_id": "nb11_pareto", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
answer = None  # your answer
### BEGIN SOLUTION
answer = "b"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "nb11_pareto_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
checks.check_choice("pareto", answer)

# %% [markdown]
# ## What you saw
# - int8 linear layers shrink a small BERT far less than 4×: the printed share of embedding
#   parameters is why. Their speed-up and their accuracy cost are in the table, measured, not
#   assumed (one student, one seed, scored on 872 sentences: a difference of a handful of
#   sentences either way says little).
# - ONNX Runtime computes the same logits (the printed gap) in another engine; whether it is
#   faster than PyTorch on this machine is the table's ratio, not a rule.
# - Heads are not equally important: where removing the lowest-scoring quarter barely moves
#   accuracy, those heads were doing little. Compare the curves: does losing a quarter, then half,
#   of its heads cost the student, which starts with fewer, more or less than the teacher?
# - These tools stack: distillation changes the architecture, pruning shrinks it further, int8 and
#   the runtime make each operation cheaper. `benchmarks/compression.py` prints the same table
#   with more repeats.
