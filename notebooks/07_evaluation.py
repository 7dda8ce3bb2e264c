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
from tinybert_lab import checks, comparison, evaluation, models, tutorial, viz
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
    print(f"{name:38s} {result}")

# %% tags=["wait:07-timing"]
tutorial.expect("07-timing", "timing every model")
table = evaluation.benchmark_inference(contenders, dev, tokenizer, threads=2, repeats=3 if not plan.fast else 1,
                                       accuracy={name: r.accuracy for name, r in results.items()})
(out_dir() / "results.md").write_text(
    f"# Results ({'FAST MODE, not real numbers' if plan.fast else 'SST-2 dev'})\n\n{table.to_markdown()}\n")
teacher_row, student_row = table.rows[0], table.rows[1]
print(f"TinyBERT-4: {teacher_row['params_m'] / student_row['params_m']:.1f}× fewer parameters than this teacher, "
      f"{student_row['speedup']:.1f}× its speed; against BERT-base (110 M) it would be "
      f"{110 / student_row['params_m']:.1f}× smaller")
table

# %% [markdown]
# **Exercise (read the table).** The distilled student and the "labels only (teacher init)" row
# start from the same teacher-projected weights; the "random init" row starts from random weights.
# Which gap is what distillation adds? (a) distilled − labels only (random init);
# (b) distilled − labels only (teacher init); (c) teacher − distilled.

# %% nbgrader={"grade": false, "grade_id": "nb07_distillation_gap", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
answer = None  # your answer
### BEGIN SOLUTION
answer = "b"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "nb07_distillation_gap_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
checks.check_choice("distillation_gap", answer)

# %% [markdown]
# So the gap between the two label-only rows is what the initialisation adds. One seed each: see
# notebook 10 for spreads over seeds, and the exercise below for the noise of one dev set.

# %%
acc = {name: r.accuracy for name, r in results.items()}
init_gain = acc["TinyBERT-4, labels only (teacher init)"] - acc["TinyBERT-4, labels only (random init)"]
kd_gain = acc["TinyBERT-4, distilled"] - acc["TinyBERT-4, labels only (teacher init)"]
noise = comparison.binomial_halfwidth(acc["TinyBERT-4, distilled"], len(dev))
print(f"initialisation from the teacher: {100 * init_gain:+.1f} points; distillation on top: {100 * kd_gain:+.1f} points "
      f"(dev noise ±{100 * noise:.1f})")
for what, gain in (("initialisation", init_gain), ("distillation", kd_gain)):
    side = "within the dev noise: this run cannot tell it from 0" if abs(gain) <= noise else \
        f"a {'gain' if gain > 0 else 'loss'} larger than the dev noise"
    print(f"  {what}: {side}")

# %% [markdown]
# **Exercise.** A dev set of n sentences measures accuracy p with a binomial error. Write
# `binomial_halfwidth(accuracy, n)`: the half-width of its 95 % interval, 1.96 standard errors
# (the "dev noise" printed above and drawn as error bars below).

# %% nbgrader={"grade": false, "grade_id": "nb07_binomial_halfwidth", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
def binomial_halfwidth(accuracy, n):
    ### BEGIN SOLUTION
    return 1.96 * (accuracy * (1 - accuracy) / n) ** 0.5
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb07_binomial_halfwidth_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
checks.check_binomial_halfwidth(binomial_halfwidth)

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
# - TinyBERT-4 against this (already small) teacher and against BERT-base: the ratios printed
#   under the table, measured in this run.
# - The printed gains split the distilled student's difference from the random-init baseline into
#   what the teacher's weights gave (initialisation) and what its soft targets added on top
#   (distillation, which can come out negative), each set against the dev noise; one seed each.
# - The student's extra errors are listed above: read them and judge for yourself what they share.
