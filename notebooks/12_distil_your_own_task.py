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
# # 12 · Distil your own task
#
# Everything so far used SST-2. This notebook runs the tutorial's recipe on **your** file: a
# teacher fine-tuned on it, a TinyBERT-4 started from that teacher and distilled in two steps
# (notebook 06's recipe), next to the same start trained on your labels alone, then the results
# table, the confusion matrix and one example's attention. Every step is one call to
# `tinybert_lab.own_task`.
#
# Point the cell below at your data: a `.tsv`, `.csv` or `.jsonl` file with a text column (and
# optionally a second text for sentence pairs) and a label column, with or without a header,
# columns by name or by position. Left as it is, the notebook writes an example in the common
# SentEval layout (`label<TAB>sentence`, no header): TREC questions in 6 classes.

# %%
FILE = None  # e.g. "my_reviews.csv"; None: the example file this notebook writes
COLUMNS = dict(text_column=1, label_column=0, header=False)  # the example: label, then the question; no header row
STEPS = 80  # teacher fine-tuning, and each student's training (fast mode uses a few)

# %%
# %matplotlib inline
from tinybert_lab import checks, models, own_task, settings, tutorial, viz, widgets

plan = tutorial.plan()
steps = STEPS if not plan.fast else 6
path = FILE or own_task.write_example(settings.out_dir() / "own_task" / "example.tsv", size=1_000 if not plan.fast else 150)
task = own_task.load_task(path, **COLUMNS)
print(task)

# %% [markdown]
# `max_length` was chosen from your data: the length that keeps 99 % of the training examples
# whole, rounded up to a multiple of 8, and never below 64 (batches are padded to their own
# longest example, so a lower cap would save nothing). Every library call that is not given a
# `max_length` chooses it the same way. Longer examples are cut, and the summary says so.
#
# **Exercise.** What happens to an example longer than `max_length`? (a) it keeps its first
# `max_length` tokens; (b) the loader refuses the file; (c) it is left out of training.

# %% nbgrader={"grade": false, "grade_id": "nb12_truncation", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
answer = None  # your answer
### BEGIN SOLUTION
answer = "a"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "nb12_truncation_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
checks.check_choice("truncation", answer)

# %% [markdown]
# ## The teacher
# The offline MiniLM fine-tuned on your training part (cached: a rerun loads it).

# %% tags=["wait:12-teacher"]
tutorial.expect("12-teacher", "the teacher's fine-tuning (seconds when cached)")
teacher = own_task.fine_tune_teacher(task, steps=steps).model

# %% [markdown]
# ## The student, distilled, and its fair baseline
# Both start from the same teacher-projected TinyBERT-4 and train for the same steps on the same
# examples; one learns from the teacher (intermediate layers, then soft targets), the other from
# your labels alone. Both checkpoint: after a crash, rerunning the cell resumes.

# %% tags=["wait:12-distil"]
tutorial.expect("12-distil", "the student and its baseline")
runs = own_task.distil(task, teacher, steps=steps, checkpoint_dir=plan.artifacts / "own_task")
table = own_task.results_table(task, teacher, runs)
(settings.out_dir() / "results_own_task.md").write_text(table.to_markdown() + "\n")
table

# %%
rows = {r["model"]: r for r in table.rows}
gap = rows["TinyBERT-4, distilled"]["accuracy"] - rows["TinyBERT-4, labels only (same start)"]["accuracy"]
print(f"distilled − labels only: {100 * gap:+.1f} points on {len(task.dev)} dev examples (one seed)")

# %% [markdown]
# **Exercise.** Suppose the two students differed by one point on a few hundred dev examples.
# What could you say? (a) distillation helped; (b) one run's gap that small may be noise: more seeds or
# more dev data would tell; (c) distillation hurt.

# %% nbgrader={"grade": false, "grade_id": "nb12_small_dev", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
answer = None  # your answer
### BEGIN SOLUTION
answer = "b"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "nb12_small_dev_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
checks.check_choice("small_dev", answer)

# %% [markdown]
# ## Which classes does the student confuse?
# Rows are the true classes, columns the predictions; the colour is each true class's share.
# Macro-F1 averages the classes' F1 scores, so a rare class counts as much as a common one: if it
# is well below the accuracy, look for a row that is mostly off the diagonal, and for that class's
# count in the training labels printed at the top.

# %%
result = own_task.evaluate(task, runs["distilled"])
fig = viz.plot_confusion_matrix(result.confusion, task.label_names, title="distilled student on your dev part")
viz.save_figure(fig, "12_confusion")
print(f"accuracy {result.accuracy:.1%}, macro-F1 {result.macro_f1:.3f} (every class counts the same)")
fig

# %% [markdown]
# ## One example's attention, teacher vs student
# The last student layer next to the teacher layer the map pairs with it, head 1. For sentence
# pairs both segments are on the axes: a dashed line separates them and the second one's tokens
# are blue.

# %%
fig = own_task.attention_figure(task, teacher, runs["distilled"], example=0)
fig

# %% [markdown]
# To look at other examples, layers and heads, the widget of notebook 08 takes your sentences
# too (for pairs, the second box holds the second sentence):

# %%
example = task.dev[0]
widgets.attention_widget(teacher, runs["distilled"], models.load_tokenizer(), sentence=example["text"],
                         pair=example.get("text_pair") if task.pairs else None)

# %% [markdown]
# ## What you saw
# - Your file's labels and lengths, printed first, decided the classes and `max_length`.
# - The table puts the teacher, the distilled student and the labels-only student from the same
#   start side by side: the gap between the last two is what distillation did on your data, for
#   one seed. The teacher's row is one short run too (`STEPS` steps), so a student may match it.
# - Every training example in your file is labelled: the right end of notebook 10's curves.
#   Compare your gap with what notebook 10 printed there and at its left end (few labels, many
#   unlabelled examples).
# - To use your own file, change `FILE` and `COLUMNS` at the top and run all cells.
