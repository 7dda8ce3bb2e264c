"""Layer mappings: which teacher layer(s) each student layer learns from.

TinyBERT's notation: the student has M Transformer layers, the teacher N. Index 0 is the
embedding layer on *both* sides (in ``hidden_states`` and here), index m the output of layer m,
and the prediction layer (the logits) is matched separately. A map holds one entry per student
layer 0..M (or a subset of them):

    LayerMap.uniform(4, 12)            # g(m) = m·N/M: 0←0, 1←3, 2←6, 3←9, 4←12
    LayerMap.last(4, 12)               # 0←0, 1←9, 2←10, 3←11, 4←12
    LayerMap.from_list([0, 2, 4, [5, 6]], teacher_layers=6)   # custom, many-to-one averaged

Maps are plain data too (TextBrewer's idea), so a widget or a YAML file can edit them:
``to_dicts()`` gives ``[{"student": 1, "teacher": [3], "weight": 1.0}, ...]`` and
``LayerMap.from_dicts(...)`` reads that back, refusing anything invalid with a message that
names the entry and says what would be valid.

Attention exists only for layers 1..M (the embeddings have none), so entry 0 feeds the
embedding loss only. (The official TinyBERT code indexes attentions and hidden states with
different offsets; here one index means one layer everywhere.)

**Indexing, once.** Layer m (1-based) is ``hidden_states[m]`` (``hidden_states[0]`` is the
embeddings) and ``attentions[m - 1]`` / ``attention_scores[m - 1]`` (Python lists of attention
count from 0, because the embeddings have none). **Rounding.** ``uniform`` rounds g(m) = m·N/M
down: for M = 4, N = 6, g = 1.5, 3, 4.5, 6 → 1, 3, 4, 6.

**Which map by default.** A student started from teacher layers (``teacher_init.project_teacher``,
``distilbert.student_from_teacher``) records them in its config (``teacher_layers_at_init``);
``default_map`` then maps each student layer to the teacher layer it was copied from, so
distillation pulls it toward where it started. Other students get ``uniform``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import Settings
from .errors import TinyBertLabError, check_weight, reject_unknown_keys

INIT_LAYERS_KEY = "teacher_layers_at_init"  # config attribute: 1-based teacher layer per student layer


@dataclass(frozen=True)
class LayerMatch:
    """Student layer ``student`` learns from the mean of teacher layers ``teacher``, with ``weight``."""

    student: int
    teacher: tuple[int, ...]
    weight: float = 1.0

    def to_dict(self) -> dict:
        return {"student": self.student, "teacher": list(self.teacher), "weight": self.weight}


@dataclass(frozen=True)
class LayerMap(Settings):
    """A validated student→teacher layer mapping (see the module docstring).

    ``student_layers`` (M) and ``teacher_layers`` (N) count Transformer layers, embeddings not
    included; ``matches`` is sorted by student index, one entry per mapped student layer.
    """

    student_layers: int
    teacher_layers: int
    matches: tuple[LayerMatch, ...]

    def check(self):
        M, N = self.student_layers, self.teacher_layers
        self.require_int("student_layers", "teacher_layers", fix="They count Transformer layers, embeddings not included.")
        if not self.matches:
            raise TinyBertLabError("The layer map is empty: map at least one student layer.")
        seen = set()
        for position, match in enumerate(self.matches):
            where = f"Layer map entry {position} ({match.to_dict()})"
            if not isinstance(match.student, int) or not 0 <= match.student <= M:
                raise TinyBertLabError(f"{where}: student layer must be in 0..{M} (0 = embeddings), got {match.student!r}.")
            if match.student in seen:
                raise TinyBertLabError(f"{where}: student layer {match.student} is mapped twice; give each student layer one entry.")
            seen.add(match.student)
            if not match.teacher:
                raise TinyBertLabError(f"{where}: no teacher layer; give at least one, e.g. [{min(N, match.student)}].")
            if match.student == 0 and match.teacher != (0,):
                raise TinyBertLabError(
                    f"{where}: student embeddings (0) can only learn from teacher embeddings: use teacher [0].")
            if match.student > 0 and not all(isinstance(t, int) and 1 <= t <= N for t in match.teacher):
                raise TinyBertLabError(
                    f"{where}: teacher layers for a student Transformer layer must be in 1..{N}, got {list(match.teacher)}.")
            if len(set(match.teacher)) != len(match.teacher):
                raise TinyBertLabError(f"{where}: a teacher layer is listed twice.")
            check_weight(match.weight, f"{where}: weight")
        if all(match.weight == 0 for match in self.matches):
            raise TinyBertLabError("Every layer weight is 0: nothing would be distilled. Give some layer a positive weight.")
        object.__setattr__(self, "matches", tuple(sorted(self.matches, key=lambda m: m.student)))

    # ---------------------------------------------------------------------------- builders
    @classmethod
    def uniform(cls, student_layers: int, teacher_layers: int) -> "LayerMap":
        """TinyBERT's uniform strategy g(m) = m·N/M (rounded down when N is not a multiple of M)."""
        cls._check_sizes(student_layers, teacher_layers)
        return cls.from_list([m * teacher_layers // student_layers for m in range(student_layers + 1)], teacher_layers)

    @classmethod
    def last(cls, student_layers: int, teacher_layers: int) -> "LayerMap":
        """The top strategy: student layer m ← teacher layer N − M + m (embeddings still 0 ← 0)."""
        cls._check_sizes(student_layers, teacher_layers)
        offset = teacher_layers - student_layers
        return cls.from_list([0] + [offset + m for m in range(1, student_layers + 1)], teacher_layers)

    @classmethod
    def from_list(cls, teacher_for_each_student: list, teacher_layers: int) -> "LayerMap":
        """Custom map: item m is the teacher layer (int) or layers (list, averaged) for student layer m.

        The list covers student layers 0..M, so its length is M + 1 and item 0 must be 0.
        """
        items = list(teacher_for_each_student)
        if len(items) < 2:
            raise TinyBertLabError(
                f"A custom map lists the teacher layer for student layers 0..M, so it needs at least 2 items "
                f"(e.g. [0, {teacher_layers}]); got {items}.")
        matches = [LayerMatch(m, tuple(t) if isinstance(t, (list, tuple)) else (t,)) for m, t in enumerate(items)]
        return cls(len(items) - 1, teacher_layers, tuple(matches))

    @classmethod
    def from_dicts(cls, entries: list[dict], student_layers: int, teacher_layers: int) -> "LayerMap":
        """Read ``[{"student": 1, "teacher": [3, 4, 5], "weight": 1.0}, ...]`` (weight optional)."""
        matches = []
        for position, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise TinyBertLabError(f"Layer map entry {position} must be a dict, got {entry!r}.")
            reject_unknown_keys(entry, {"student", "teacher", "weight"}, f"layer map entry {position}")
            if "student" not in entry or "teacher" not in entry:
                raise TinyBertLabError(f"Layer map entry {position} ({entry}) needs 'student' and 'teacher'.")
            teacher = entry["teacher"]
            teacher = tuple(teacher) if isinstance(teacher, (list, tuple)) else (teacher,)
            matches.append(LayerMatch(entry["student"], teacher, entry.get("weight", 1.0)))
        return cls(student_layers, teacher_layers, tuple(matches))

    def to_dicts(self) -> list[dict]:
        return [match.to_dict() for match in self.matches]

    @classmethod
    def from_dict(cls, values: dict) -> "LayerMap":
        """Read ``to_dict``'s form: ``student_layers``, ``teacher_layers`` and ``matches`` as ``from_dicts`` reads them."""
        if not isinstance(values, dict):
            raise TinyBertLabError(f"A layer map must be a dict of student_layers, teacher_layers, matches; got {values!r}.")
        reject_unknown_keys(values, cls.keys(), "layer map")
        return cls.from_dicts(values.get("matches", []), values.get("student_layers"), values.get("teacher_layers"))

    def to_dict(self) -> dict:
        return {"student_layers": self.student_layers, "teacher_layers": self.teacher_layers, "matches": self.to_dicts()}

    def with_weights(self, weights) -> "LayerMap":
        """The same map with new per-layer weights: a list (one per entry) or a callable ``f(student_layer)``."""
        values = [weights(m.student) for m in self.matches] if callable(weights) else list(weights)
        if len(values) != len(self.matches):
            raise TinyBertLabError(f"Got {len(values)} weights for {len(self.matches)} layer map entries.")
        matches = tuple(LayerMatch(m.student, m.teacher, float(w)) for m, w in zip(self.matches, values))
        return LayerMap(self.student_layers, self.teacher_layers, matches)

    def with_depth_decay(self, rate: float) -> "LayerMap":
        """Weight ``rate ** m`` for student layer m: embeddings 1, each deeper layer ``rate`` times less."""
        if not 0 < rate <= 1:
            raise TinyBertLabError(f"Depth decay rate must be in (0, 1], got {rate}.")
        return self.with_weights(lambda m: rate ** m)

    @staticmethod
    def _check_sizes(student_layers, teacher_layers):
        if not (isinstance(student_layers, int) and isinstance(teacher_layers, int)) or student_layers < 1:
            raise TinyBertLabError(f"Layer counts must be positive integers, got M={student_layers!r}, N={teacher_layers!r}.")
        if student_layers > teacher_layers:
            raise TinyBertLabError(
                f"The student has more layers ({student_layers}) than the teacher ({teacher_layers}); the "
                "uniform and last strategies need M <= N. Use a custom list (from_list) instead.")

    # ---------------------------------------------------------------------------- checks
    def check_models(self, student_config, teacher_config, *, attention: bool = True, head_average: bool = False) -> None:
        """Refuse a map that does not fit these two models.

        Layer counts must agree with the configs; for attention matching the head counts must be
        equal unless ``head_average=True`` (then heads are averaged on both sides).
        """
        if student_config.num_hidden_layers != self.student_layers:
            raise TinyBertLabError(
                f"The map is for a {self.student_layers}-layer student but the student has "
                f"{student_config.num_hidden_layers} layers. Build it with LayerMap.uniform("
                f"{student_config.num_hidden_layers}, {teacher_config.num_hidden_layers}).")
        if teacher_config.num_hidden_layers != self.teacher_layers:
            raise TinyBertLabError(
                f"The map is for a {self.teacher_layers}-layer teacher but the teacher has "
                f"{teacher_config.num_hidden_layers} layers.")
        hs, ht = student_config.num_attention_heads, teacher_config.num_attention_heads
        if attention and hs != ht and not head_average:
            raise TinyBertLabError(
                f"Attention matching compares heads one to one, but the student has {hs} heads and the teacher "
                f"{ht}. Use a student with {ht} heads, pass head_average=True, or set the attention weight to 0.")

    @property
    def attention_matches(self) -> tuple[LayerMatch, ...]:
        """Entries that take part in attention matching (student layers 1..M)."""
        return tuple(m for m in self.matches if m.student > 0)

    # ---------------------------------------------------------------------------- display
    def describe(self) -> str:
        """The map as text, one line per student layer, plus the prediction layer."""
        lines = [f"{self.student_layers}-layer student ← {self.teacher_layers}-layer teacher"]
        for m in self.matches:
            name = "embeddings" if m.student == 0 else f"layer {m.student}"
            source = "embeddings" if m.teacher == (0,) else (
                f"layer {m.teacher[0]}" if len(m.teacher) == 1 else "mean of layers " + ", ".join(map(str, m.teacher)))
            lines.append(f"  student {name:<10} ← teacher {source}   (weight {m.weight:g})")
        lines.append("  student logits     ← teacher logits (prediction layer)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.describe()

    def draw(self, title: str | None = None):
        """Teacher column, student column and arrows, as a matplotlib Figure."""
        from .viz import plot_layer_map

        return plot_layer_map(self, title=title)


def record_init_layers(student_config, layers) -> None:
    """Write the teacher layers (1-based, one per student layer) a student was initialised from
    into its config, where ``default_map`` finds them (and ``save_pretrained`` keeps them)."""
    setattr(student_config, INIT_LAYERS_KEY, [int(layer) for layer in layers])


def init_layers(student_config) -> list[int] | None:
    """The teacher layers a student was initialised from, or None (random initialisation)."""
    layers = getattr(student_config, INIT_LAYERS_KEY, None)
    return list(layers) if layers else None


def default_map(student_config, teacher_config) -> LayerMap:
    """The map ``Distiller`` uses unless given one: student layer m ← the teacher layer it was
    initialised from (``record_init_layers``) when the student records one for every layer and
    the teacher is as deep as recorded; otherwise ``LayerMap.uniform(M, N)``."""
    M, N = student_config.num_hidden_layers, teacher_config.num_hidden_layers
    layers = init_layers(student_config)
    if layers is not None and len(layers) == M and max(layers) <= N:
        return LayerMap.from_list([0, *layers], teacher_layers=N)
    return LayerMap.uniform(M, N)
