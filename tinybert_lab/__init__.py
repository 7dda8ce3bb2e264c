"""tinybert_lab: knowledge distillation of BERT models, for learning by doing.

Modules, one job each:
- ``data``: SST-2 and your own TSV/CSV files, tokenised, in length-bucketed batches
- ``models``: the offline teacher, TinyBERT-style students, parameter counts and sizes
- ``attention``: pre-softmax attention scores from an unmodified Hugging Face BERT
- ``training``: supervised fine-tuning (the teacher) with a cache
- ``evaluation``: accuracy, error analysis, the inference-speed results table

Import the module you need (``from tinybert_lab import data``); importing the package itself
loads nothing heavy.
"""

__version__ = "0.1.0"
