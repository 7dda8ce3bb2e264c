"""tinybert_lab: knowledge distillation of BERT models, for learning by doing.

The package in layers; each imports only from the layers before it in this list:

``core/``: the engine
  ``settings``, ``errors``, ``config``: environment variables and folders; the one exception
  type; the one way to declare settings and loss weights (validated dataclasses)
  ``comparison``: the noise band, paired differences over seeds, verdicts, the Pareto front
  ``data``, ``datafiles``: SST-2, TREC and your own TSV/CSV/JSONL files, length-bucketed batches
  ``models``, ``attention``: the offline teacher, TinyBERT-style students; pre-softmax attention scores
  ``losses``, ``mapping``: distillation losses as small pure functions; student→teacher layer maps
  ``training``, ``parallel``, ``streaming``: the one training loop (checkpoints, resume, teacher
  fine-tuning with a cache), data-parallel under a launcher, corpora read as a stream
  ``evaluation``, ``logit_cache``, ``records``, ``viz``: accuracy, the one timer and the results
  table; the teacher's logits computed once; benchmark records; the plots
``methods/``: ways to distil
  ``recipe`` (TinyBERT's task recipe in one place: the start, the two steps, the labels-only
  baseline from the same start, and the settings chosen for it), ``tinybert`` (TinyBERT's
  losses in one module: Distiller, stages, general distillation), ``teacher_init`` (the
  teacher-projected start: a narrower student built from the teacher's weights), ``augment``, ``distilbert``, ``bilstm``, ``objectives``, ``minilm``,
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

Every module is also reachable by its short name, as a real module: ``import tinybert_lab.data``,
``from tinybert_lab import data, tinybert, widgets`` and ``from tinybert_lab.data import load_sst2``
all give ``tinybert_lab.core.data`` (one module object, whichever spelling), and type checkers and
IDEs follow the ``TYPE_CHECKING`` imports below. Notebooks use the short names. Importing the
package loads nothing heavy: a module is imported when first named.
"""

import importlib
import importlib.abc
import importlib.util
import sys
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_LAYERS = {
    "core": "settings errors config records comparison data datafiles models attention losses mapping parallel streaming "
            "training evaluation logit_cache viz",
    "methods": "recipe tinybert teacher_init augment distilbert bilstm objectives minilm patient assistant mobilebert "
               "causal_lm lm_eval",
    "deploy": "compression",
    "teaching": "tutorial widgets checks exercises attention_page",
    "studies": "headsim selection beyond label_sources strong_teacher ablation lm_study",
}
HOME = {module: layer for layer, modules in _LAYERS.items() for module in modules.split()}

if TYPE_CHECKING:  # what the short names are, for type checkers and IDEs (never run)
    from .core import (settings, errors, config, records, comparison, data, datafiles, models, attention, losses,
        mapping, parallel, streaming, training, evaluation, logit_cache, viz)
    from .methods import (recipe, tinybert, teacher_init, augment, distilbert, bilstm, objectives, minilm,
        patient, assistant, mobilebert, causal_lm, lm_eval)
    from .deploy import (compression)
    from .teaching import (tutorial, widgets, checks, exercises, attention_page)
    from .studies import (headsim, selection, beyond, label_sources, strong_teacher, ablation, lm_study)


def _long_name(short: str) -> str:
    return f"{__name__}.{HOME[short]}.{short}"


def __getattr__(name: str):
    """``tinybert_lab.data`` (and ``from tinybert_lab import data``) is ``tinybert_lab.core.data``."""
    if name in HOME:
        module = importlib.import_module(_long_name(name))
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _ShortNames(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes ``import tinybert_lab.data`` (and ``from tinybert_lab.data import ...``) load
    ``tinybert_lab.core.data`` itself: the short name is registered as the same module object."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, short = fullname.rpartition(".")
        if package == __name__ and short in HOME:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        module = importlib.import_module(_long_name(spec.name.rpartition(".")[2]))
        self.own_spec = module.__spec__  # the import system stamps the short name's spec on it next
        return module

    def exec_module(self, module):
        module.__spec__ = self.own_spec  # already executed under its long name: keep its own spec


if not any(isinstance(finder, _ShortNames) for finder in sys.meta_path):
    sys.meta_path.append(_ShortNames())


def __dir__():
    return sorted({*globals(), *HOME})
