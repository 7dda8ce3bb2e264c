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
# # 06 · Task distillation in two steps, next to a label-only baseline
#
# TinyBERT's task distillation, from the **fine-tuned** teacher:
# 1. **intermediate layers**: embedding + attention + hidden losses on the task's sentences;
# 2. **prediction layer**: soft cross-entropy against the teacher's logits.
#
# The teacher's logits never change, so step 2 computes them once per sentence and looks them up
# by sentence id (`TeacherLogitCache`): a prediction-KD step then costs about a label-only step.
#
# To know what distillation buys, the **same student** (same random initialisation, same data, same
# batches, same number of steps) is also trained on the labels alone.

# %%
# %matplotlib inline
from tinybert_lab import distill, evaluation, models, training, tutorial, viz, widgets

plan = tutorial.plan()
tokenizer = models.load_tokenizer()
teacher = tutorial.fine_tuned_teacher(plan).model
train, dev = tutorial.load_data(plan)
print(f"{len(train)} training phrases, {len(dev)} dev sentences, budget {plan.budget} steps")

# %%
kd_student = models.build_student("tinybert4", tokenizer=tokenizer, seed=0)
stages = distill.two_step_stages(plan.intermediate_steps, plan.prediction_steps, batch_size=plan.batch_size,
                                 intermediate_lr=1e-3, prediction_lr=5e-4, log_every=10 if not plan.fast else 1)
histories = distill.run_stages(
    distill.Distiller(kd_student, teacher), stages, train, tokenizer, eval_data=dev,
    callbacks=[widgets.live_loss_plot("task distillation")], checkpoint_dir=plan.artifacts / "kd", resume=True)
tutorial.save_student(kd_student, "kd_student", plan)
for name, history in histories.items():
    print(f"after the {name} stage: dev accuracy {history.eval[-1][1]:.1%}")

# %% [markdown]
# After the intermediate stage the classifier head has never been trained, so its accuracy is
# near chance: the stage only shaped the layers below it. The prediction stage then teaches the
# head (and fine-tunes everything) from the teacher's soft targets.
#
# ## The baseline: labels only, same budget

# %%
baseline = models.build_student("tinybert4", tokenizer=tokenizer, seed=0)
config = training.TrainConfig(steps=plan.budget, batch_size=plan.batch_size, learning_rate=3e-4,
                              log_every=10 if not plan.fast else 1, checkpoint_every=100)
baseline_history = training.train_classifier(baseline, train, tokenizer, config, eval_data=dev,
                                             callbacks=[widgets.live_loss_plot("labels only")],
                                             checkpoint_dir=plan.artifacts / "baseline", resume=True)
tutorial.save_student(baseline, "baseline_student", plan)
print(f"labels only: dev accuracy {baseline_history.eval[-1][1]:.1%}")

# %%
fig = viz.plot_history(histories["prediction"], "prediction stage (soft cross-entropy)")
viz.save_figure(fig, "06_prediction_stage")
fig

# %% [markdown]
# ## What you saw
# - Two stages, each a few minutes on a laptop: the intermediate stage moves the student's
#   representations towards the teacher's, the prediction stage trains the classifier.
# - At this small budget, distillation and label-only training land within a few points of each
#   other (measured over seeds and budgets in `benchmarks/distill_vs_labels.py`; the dev set is
#   small, ±1.4 points is noise). KD's gains grow with a larger transfer set (data augmentation)
#   and a student that starts from the teacher's weights: see the later notebooks.
# - Both runs checkpoint: after a crash or kernel restart, rerunning the cell resumes.
#
# Next: notebook 07 puts teacher and students side by side in one results table.
