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
# # 07 · Evaluation: the results table
#
# Accuracy is half the story: a student is worth it when it is much smaller and faster for a
# small loss. All models are timed on the same sentences, batch size and number of threads.

# %%
# %matplotlib inline
from tinybert_lab import evaluation, label_sources, models, tutorial, viz
from tinybert_lab.settings import out_dir

plan = tutorial.plan()
tokenizer = models.load_tokenizer()
train, dev = tutorial.load_data(plan)
contenders = {"teacher (MiniLM-L6)": tutorial.fine_tuned_teacher(plan).model,
              "TinyBERT-4, distilled": tutorial.load_student("kd_student", plan),
              "TinyBERT-4, labels only (teacher init)": tutorial.load_student("labels_teacher_init_student", plan),
              "TinyBERT-4, labels only (random init)": tutorial.load_student("baseline_student", plan)}
results = {name: evaluation.evaluate(model, dev, tokenizer) for name, model in contenders.items()}
for name, result in results.items():
    print(f"{name:26s} {result}")

# %%
table = evaluation.benchmark_inference(contenders, dev, tokenizer, threads=2,
                                       accuracy={name: r.accuracy for name, r in results.items()})
(out_dir() / "results.md").write_text(
    f"# Results ({'FAST MODE, not real numbers' if plan.fast else 'SST-2 dev'})\n\n{table.to_markdown()}\n")
table

# %% [markdown]
# The distilled student and the first label-only row start from the same teacher-projected
# weights, so their gap is what distillation adds; the gap between the two label-only rows is
# what the initialisation adds. One seed each: see notebook 10 for spreads over seeds.

# %%
acc = {name: r.accuracy for name, r in results.items()}
init_gain = acc["TinyBERT-4, labels only (teacher init)"] - acc["TinyBERT-4, labels only (random init)"]
kd_gain = acc["TinyBERT-4, distilled"] - acc["TinyBERT-4, labels only (teacher init)"]
print(f"initialisation from the teacher: {100 * init_gain:+.1f} points; distillation on top: {100 * kd_gain:+.1f} points "
      f"(dev noise ±{100 * label_sources.binomial_halfwidth(acc['TinyBERT-4, distilled'], len(dev)):.1f})")

# %%
fig = viz.plot_results(table, "SST-2 dev: accuracy vs inference speed (2 threads, batch 32)", eval_size=len(dev))
viz.save_figure(fig, "07_results")
fig

# %% [markdown]
# ## Error analysis
# Where does the distilled student go wrong that the teacher gets right?

# %%
teacher_errors = {e["idx"] for e in results["teacher (MiniLM-L6)"].misclassified}
student_errors = results["TinyBERT-4, distilled"].misclassified
only_student = [e for e in student_errors if e["idx"] not in teacher_errors]
print(f"student errors: {len(student_errors)}, of which the teacher got right: {len(only_student)}")
for error in only_student[:6]:
    label = ["negative", "positive"][error["label"]]
    print(f"  [{label}, student {max(error['probabilities']):.0%} sure of the other] {error['text']}")

# %% [markdown]
# ## What you saw
# - The results table: accuracy, parameters, size on disk, sentences per second and speed-up,
#   measured side by side (also written to `outputs/results.md`).
# - TinyBERT-4 is about 1.6× smaller and about 2× faster than this (already small) teacher; against
#   BERT-base (110 M parameters) the same student would be 7.5× smaller.
# - The table splits the distilled student's lead over the random-init baseline into what the
#   teacher's weights gave (initialisation) and what its soft targets gave (distillation).
# - The student's extra errors are listed above: read them and judge for yourself what they share.
