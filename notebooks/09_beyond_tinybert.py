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
# # 09 · Beyond TinyBERT: ten more ways to distil
#
# TinyBERT matches layers. The wider literature moves knowledge in other ways: by **copying
# weights** (DistilBERT), into a **different architecture** (a BiLSTM), through **more data**
# (augmentation), through **relations between examples** (RKD), between **peers without a
# teacher** (mutual learning), from **several teachers**, through the **relations inside
# self-attention** (MiniLMv2), through **intermediate [CLS] states** (Patient KD), through an
# **assistant** that bridges a large capacity gap, and **layer by layer** into a deep, narrow
# student (MobileBERT). Every method was run on SST-2 with the same data, batch size and number
# of steps, over 3 seeds, by `benchmarks/beyond_seeds.py`; each section prints that committed
# record's result for its rows.
#
# **What runs here.** Training every method live takes a quarter of an hour or more on a laptop,
# so by default this notebook trains three of them (the rows to beat, DistilBERT and the BiLSTM)
# and reads the others from the record. `live` below is the list: add a method's name to train it too, or run the notebook with
# `TINYBERT_LAB_FULL_SIZE=1` to train every method. A trained method is saved, so running a cell
# again (or after a kernel restart) loads it instead of training it again.

# %%
# %matplotlib inline
import json

import torch
from IPython.display import display

from tinybert_lab import augment, beyond, checks, data, losses, tutorial, viz, widgets
from tinybert_lab.settings import out_dir

setup = beyond.setup()
trained = {}
live = beyond.live_methods(setup)  # the methods trained in this notebook; add any of beyond.METHODS
print(f"{len(setup.train)} training sentences, {len(setup.dev)} dev sentences, {setup.steps} steps per model; "
      f"trained live: {', '.join(live)}")

# %% [markdown]
# ## 0 · The rows to beat
# A TinyBERT-4 started from the teacher (as in notebook 06) and trained for the same number of
# steps on the labels alone, and with prediction-layer distillation (cached teacher logits).

# %% tags=["wait:09-reference"]
beyond.show("reference", setup, trained, live)

# %% [markdown]
# ## 1 · DistilBERT: start from the teacher's own layers
# Sanh et al. build the student from **every other layer** of the teacher (same width), then
# train it with `α_ce·T²·KL(p_T ‖ p_S) + α_mlm·MLM + α_cos·(1 − cos(h_S, h_T))`. On a task
# (labels, fine-tuned teacher) the MLM term is off; here `ce = 5`, `cos = 1`, `T = 2`.
# The *labels only* row uses the same copied start without a teacher: what the initialisation
# alone buys.

# %% tags=["wait:09-distilbert"]
beyond.show("distilbert", setup, trained, live)

# %% [markdown]
# ## 2 · A BiLSTM student (Tang et al. 2019)
# No attention, no layers to match: only the teacher's **logits** can be distilled, with a
# plain MSE between the student's and the teacher's logits. A BiLSTM has no attention maps, so
# asking a `Distiller` for TinyBERT's layer losses on it is an error that says so.

# %% tags=["wait:09-bilstm"]
beyond.show("bilstm", setup, trained, live)

# %% [markdown]
# ## 3 · Data augmentation: a larger transfer set
# TinyBERT swaps words for similar ones to make new sentences; the teacher labels them (its
# soft labels, not the original's). Offline there is no GloVe and the teacher has no masked-LM
# head, so the candidates are the nearest neighbours in the teacher's word-embedding table.
# Three copies of one sentence:

# %%
example = data.subsample(setup.train, 1, seed=3)
copies = augment.augment(example, setup.tokenizer, teacher_embeddings=setup.teacher,
                         config={"n_per_sentence": 3, "deduplicate": False})
for sentence in copies["sentence"]:
    print(sentence)

# %% tags=["wait:09-augmentation"]
beyond.show("augmentation", setup, trained, live)

# %% [markdown]
# ## 4 · Relational KD: copy the geometry, not the vectors
# RKD is **relation-based** distillation: it asks the student to place the sentences of a batch
# like the teacher does, with the same (normalised) **distances** between pairs and the same
# **angles** in triplets. Student and
# teacher widths may differ; no projection is needed. Rotating or scaling the student's space
# changes nothing:

# %%
torch.manual_seed(0)
teacher_points = torch.randn(6, 384)  # 6 sentences, teacher width
rotation = torch.linalg.qr(torch.randn(384, 384))[0]
print(f"distance + angle loss, rotated and scaled copy: "
      f"{losses.rkd_distance(3.0 * teacher_points @ rotation, teacher_points):.1e}, "
      f"{losses.rkd_angle(3.0 * teacher_points @ rotation, teacher_points):.1e}")
print(f"distance + angle loss, random 312-wide points: {losses.rkd_distance(torch.randn(6, 312), teacher_points):.3f}, "
      f"{losses.rkd_angle(torch.randn(6, 312), teacher_points):.3f}")

# %% tags=["wait:09-rkd"]
beyond.show("rkd", setup, trained, live)

# %% [markdown]
# ## 5 · Deep mutual learning: no teacher at all
# Two randomly initialised students train together; each minimises `CE(y) + KL(p_other ‖ p_self)`.
# This is **online** distillation: no teacher is trained first (every other row here is offline:
# a frozen teacher).
# The comparison is the same student trained alone, from the same random start.

# %% tags=["wait:09-mutual"]
beyond.show("mutual", setup, trained, live)

# %% [markdown]
# ## 6 · Several teachers
# A second MiniLM, fine-tuned like the first but from another seed (trained once, then cached),
# and a student that matches the **average** of their softened distributions.

# %% [markdown]
# **Exercise.** Write `ensemble_soft_targets(teacher_logits, temperature)`: given a list of K
# teachers' logits (B, C), return the students' target (B, C), the mean of the teachers' softened
# distributions. The check compares it with `losses.ensemble_soft_targets`.

# %% nbgrader={"grade": false, "grade_id": "nb09_ensemble_soft_targets", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
def ensemble_soft_targets(teacher_logits, temperature):
    ### BEGIN SOLUTION
    return torch.stack([torch.softmax(z / temperature, dim=-1) for z in teacher_logits]).mean(0)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "nb09_ensemble_soft_targets_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
checks.check_ensemble_soft_targets(ensemble_soft_targets)

# %% tags=["wait:09-multi_teacher"]
beyond.show("multi_teacher", setup, trained, live)

# %% [markdown]
# ## 7 · MiniLMv2: relations inside self-attention
# Wang et al. distil one layer's **self-attention relations**: the teacher's queries, keys and
# values (before the split into heads) are cut into *relation heads* of their own, and the student
# matches `softmax(Q·Qᵀ/√d_r)`, `softmax(K·Kᵀ/√d_r)` and `softmax(V·Vᵀ/√d_r)` of the teacher's last
# layer (KL, padding excluded). The relation heads divide both widths, whatever the models' own
# head counts, so no projection is learned. A 312-wide student with 6 heads against the 384-wide,
# 12-head teacher:

# %%
from tinybert_lab import minilm, models

narrow = models.build_student("tinybert4", tokenizer=setup.tokenizer, num_attention_heads=6)
objective = minilm.MiniLMObjective(narrow, setup.teacher)
print(f"student {narrow.config.hidden_size} wide, {narrow.config.num_attention_heads} heads; teacher "
      f"{setup.teacher.config.hidden_size} wide, {setup.teacher.config.num_attention_heads} heads; "
      f"{objective.relation_heads} relation heads of {narrow.config.hidden_size // objective.relation_heads} "
      f"(student) and {setup.teacher.config.hidden_size // objective.relation_heads} (teacher) dimensions")

# %% [markdown]
# Two comparisons, each with its own baseline: the teacher-initialised TinyBERT-4 (the reference
# rows' start) with relations + labels, and the 6-head student from random weights, trained on
# labels alone and with relations + labels.

# %% tags=["wait:09-minilm"]
beyond.show("minilm", setup, trained, live)

# %% [markdown]
# ## 8 · Patient KD: learn from the middle, one [CLS] at a time
# Sun et al. let a shallower BERT of the teacher's width learn from the teacher's *intermediate*
# layers, not only its output: the squared distance between the **normalised** [CLS] states of
# mapped layers (`losses.pkd_loss`, blind to the states' scale), weighted 100, plus soft and hard
# labels at 0.5 each (T = 5). **PKD-skip** pairs the student with every second teacher layer,
# **PKD-last** with the teacher's last layers. The student is DistilBERT-3's copied start, so the
# baseline is section 1's *labels only* row. Feature-based, like TinyBERT's layer losses.

# %% tags=["wait:09-patient"]
from tinybert_lab import patient

print("PKD-skip pairs (student, teacher):", patient.pkd_pairs(3, 6, "skip"),
      "| PKD-last:", patient.pkd_pairs(3, 6, "last"))
beyond.show("patient", setup, trained, live)

# %% [markdown]
# ## 9 · A teacher assistant for a large capacity gap
# Mirzadeh et al. found that a much smaller student can learn *less* from a strong teacher than
# from a middle-sized **assistant** distilled from it first. Here the student is BERT-Tiny
# (2 layers, 128 wide; the table below gives its size), the assistant a
# teacher-initialised TinyBERT-4; every hop is prediction-layer KD for the same number of steps.
# The three BERT-Tiny rows start from the same random weights, with one learning rate
# (`beyond.TINY_LEARNING_RATE`; a small student from random weights needs a larger one than the
# teacher-initialised rows).

# %% tags=["wait:09-assistant"]
beyond.show("assistant", setup, trained, live)

# %% [markdown]
# ## 10 · MobileBERT's way: deep and narrow, layer by layer
# MobileBERT (Sun et al. 2020) keeps the teacher's **depth** and makes each layer **narrow
# inside**: here 6 layers like the teacher, each computing at width 96, with linear bottlenecks
# back to the teacher's 384 at the layer's input and output. The layer outputs then live at the
# teacher's width, so they compare with the teacher's without a learned projection:
# - **feature-map transfer**: per layer, the MSE between the student's and the teacher's
#   layer-normalised outputs, plus **attention transfer**, the KL between their attention
#   distributions, head by head;
# - trained **progressively**: layer 1 first, then layer 2 with layer 1 frozen, and so on (a test
#   checks that frozen layers stay bit-identical during their stage), then prediction-layer KD;
# - beside the same student trained on **all layers at once** (same losses, same steps) and on the
#   **labels alone**.
#
# Deep-and-narrow is a latency choice: six sequential layers cost time even when each is thin.
# The second cell times the two shapes beside the teacher, as built (speed and size do not depend
# on the weights, so it needs no training).

# %% tags=["wait:09-mobilebert"]
beyond.show("mobilebert", setup, trained, live)

# %%
shapes = beyond.shape_speeds(setup)
rows = {row["model"]: row for row in shapes.rows}
tiny, mobile = rows["TinyBERT-4 (4 layers, 312 wide)"], rows["MobileBERT-6 narrow (6 layers, 96 wide inside)"]
print(f"MobileBERT-6 narrow: {mobile['params_m'] / tiny['params_m']:.2f}× TinyBERT-4's parameters, "
      f"{mobile['sentences_per_s'] / tiny['sentences_per_s']:.2f}× its sentences per second")
shapes

# %% [markdown]
# ## One table
# Accuracy, size and speed of every model trained in this notebook (the methods in `live`),
# measured side by side on the same sentences, batch size and threads; the teacher is the first
# row. The figure compares DistilBERT's rows, so keep `distilbert` in `live`.

# %% tags=["wait:09-table"]
tutorial.expect("09-table", "timing every model")
table = beyond.results_table(trained, setup)
(out_dir() / "results_beyond.md").write_text(table.to_markdown() + "\n")
table

# %%
fig = viz.plot_method_rows(table, "distilbert")
viz.save_figure(fig, "09_methods")
fig

# %% [markdown]
# Pick a method to highlight its rows:

# %%
widgets.method_widget(table, beyond.METHODS)

# %% [markdown]
# ## Over seeds: which method did anything?
# The table above is one seed; on 872 dev sentences one run's difference of 1–2 points is noise.
# `benchmarks/beyond_seeds.py` trained every row with seeds 0, 1 and 2 (seed 0 is the run above)
# and committed the accuracies. Each method's row is compared with its
# own labels-only baseline (same student, same start, same data and steps) seed by seed.

# %%
record = json.loads(beyond.SEED_RECORD.read_text()) if beyond.SEED_RECORD.is_file() else {"runs": []}
seeded = beyond.seeded_rows(record["runs"])  # full-mode runs, also shown in fast mode
print(f"{len(record['runs'])} runs in the record; reproduce or extend it: python {beyond.SEED_BENCHMARK} (it resumes)")
if seeded:
    fig = viz.plot_seeded_rows(seeded, teacher_accuracy=record["teacher_accuracy"], eval_size=record["eval_size"])
    viz.save_figure(fig, "09_methods_over_seeds")
    display(fig)
for r in seeded:
    if r.difference is not None:
        print(f"{r.row}: {100 * r.difference:+.1f} ± {100 * r.difference_std:.1f} points vs {r.baseline} "
              f"over {len(r.seeds)} seeds: {r.verdict}")

# %% [markdown]
# **Exercise (read the verdicts).** A method's row is +0.8 points above its baseline, with a
# standard deviation of 1.1 points over 3 seeds. What can you say? (a) the method helps;
# (b) the difference may be noise: it is within two standard errors of 0; (c) the method hurts.

# %% nbgrader={"grade": false, "grade_id": "nb09_seed_noise", "locked": false, "schema_version": 3, "solution": true, "task": false} tags=["solution"]
answer = None  # your answer
### BEGIN SOLUTION
answer = "b"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "nb09_seed_noise_check", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false} tags=["check"]
checks.check_choice("seed_noise", answer)

# %% [markdown]
# ## What you saw
# - Eleven ways to move knowledge, all a few lines with the library: weights (DistilBERT's copied
#   layers, notebook 06's projection), logits into another architecture (the BiLSTM), more data
#   (augmentation), relations between examples (RKD), peers (mutual learning), several teachers,
#   relations inside self-attention (MiniLMv2), intermediate [CLS] states (Patient KD), an
#   assistant between a strong teacher and a tiny student, and layer-by-layer feature maps into a
#   deep, narrow student (MobileBERT), whose speed the shapes table measured beside TinyBERT-4's.
# - In the taxonomy of surveys: prediction-layer KD, logit matching, the ensemble and the
#   assistant chain are **response-based**, RKD and MiniLMv2 are **relation-based** (between
#   examples; between the tokens of one layer), TinyBERT's layer losses (notebooks 04–06) and
#   Patient KD and MobileBERT's feature maps are **feature-based** (as in FitNets); mutual learning is **online** (no pre-trained
#   teacher), the rest **offline** (the teacher is trained first, then frozen).
# - Over seeds, each method's gain over its own baseline is printed with its spread and a plain
#   verdict: "within noise" means the seeds disagree. A ranking from one seed is not a ranking.
