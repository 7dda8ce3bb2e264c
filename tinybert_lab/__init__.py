"""tinybert_lab: knowledge distillation of BERT models, for learning by doing.

The package in layers; each imports only from the layers before it in this list:

``core/``: the engine
  ``settings``, ``errors``: environment variables and folders; the one exception type
  ``comparison``: the noise band, paired differences over seeds, verdicts, the Pareto front
  ``data``, ``datafiles``: SST-2, TREC and your own TSV/CSV/JSONL files, length-bucketed batches
  ``models``, ``attention``: the offline teacher, TinyBERT-style students; pre-softmax attention scores
  ``losses``, ``mapping``: distillation losses as small pure functions; student→teacher layer maps
  ``training``, ``parallel``, ``streaming``: the one training loop (checkpoints, resume, teacher
  fine-tuning with a cache), data-parallel under a launcher, corpora read as a stream
  ``evaluation``, ``records``, ``viz``: accuracy and the results table; benchmark records; the plots
``methods/``: ways to distil
  ``recipe`` (TinyBERT's task recipe in one place: the start, the two steps, the labels-only
  baseline from the same start, and the settings chosen for it), ``distill`` (TinyBERT:
  Distiller, stages, teacher-logit cache), ``compress`` (the
  teacher-projected start), ``augment``, ``distilbert``, ``bilstm``, ``objectives``, ``minilm``,
  ``patient``, ``assistant``, ``mobilebert`` (deep and narrow inside, layer by layer); ``causal_lm`` and ``lm_eval`` (a GPT-2-shaped teacher and its
  half-depth student: DistilGPT-2's recipe, reverse KL, sequence-level and on-policy KD; perplexity,
  agreement, generation speed)
``deploy/``: after distillation: ``compression`` (quantise, prune, export)
``teaching/``: ``tutorial`` (the notebooks' shared plan, data and cached teacher; the headless
  runner), ``widgets``, ``checks``, ``exercises``, ``attention_page``
``studies/``: experiments over seeds on the tutorial's setup, with committed records:
  ``headsim``, ``selection``, ``beyond``, ``label_sources``, ``lm_study`` (objectives for a
  language-model student)
top level, what people run: ``own_task`` (the recipe on your own file), ``cli`` and ``runconfig``
  (``tinybert-lab``), ``doctor`` (``python -m tinybert_lab.doctor``)

Every module is also reachable by its short name, so a notebook writes
``from tinybert_lab import data, distill, widgets``. Importing the package loads nothing heavy:
a module is imported when first named.
"""

import importlib

__version__ = "0.1.0"

_LAYERS = {
    "core": "settings errors records comparison data datafiles models attention losses mapping parallel streaming "
            "training evaluation logit_cache viz",
    "methods": "recipe distill compress augment distilbert bilstm objectives minilm patient assistant mobilebert causal_lm lm_eval",
    "deploy": "compression",
    "teaching": "tutorial widgets checks exercises attention_page",
    "studies": "headsim selection beyond label_sources strong_teacher ablation lm_study",
}
HOME = {module: layer for layer, modules in _LAYERS.items() for module in modules.split()}


def __getattr__(name: str):
    """``tinybert_lab.data`` (and ``from tinybert_lab import data``) is ``tinybert_lab.core.data``."""
    if name in HOME:
        module = importlib.import_module(f"{__name__}.{HOME[name]}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *HOME})
