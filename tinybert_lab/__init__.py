"""tinybert_lab: knowledge distillation of BERT models, for learning by doing.

Modules, one job each:
- ``data``: SST-2, TREC and your own TSV/CSV files, tokenised, in length-bucketed batches
- ``models``: the offline teacher, TinyBERT-style students, parameter counts and sizes
- ``attention``: pre-softmax attention scores from an unmodified Hugging Face BERT
- ``training``: the one training loop (checkpoints, resume), teacher fine-tuning with a cache
- ``losses``: distillation losses as small pure functions with explicit masks
- ``mapping``: student→teacher layer maps as validated plain data
- ``distill``: the TinyBERT Distiller, its stages and the teacher-logit cache
- ``compress``: a narrower student started from the teacher's weights (PCA projection)
- ``augment``: TinyBERT's data augmentation, batched
- ``distilbert``, ``bilstm``, ``objectives``: DistilBERT, a BiLSTM student, relational, mutual and
  multi-teacher distillation
- ``beyond``: notebook 09's runner for those methods, over seeds
- ``label_sources``: notebook 10, when distillation pays: few gold labels, a transfer set the
  teacher labels, gold vs hard pseudo-labels vs soft targets from the same start, seeded records
- ``evaluation``: accuracy, error analysis, the inference-speed results table
- ``own_task``: the recipe on your own classification file (notebook 12)
- ``parallel``, ``streaming``: data-parallel training under a launcher; corpora read as a stream
- ``cli``, ``runconfig``: the command line (``tinybert-lab``) and its validated settings

Import the module you need (``from tinybert_lab import data``); importing the package itself
loads nothing heavy.
"""

__version__ = "0.1.0"
