"""Teacher-assistant knowledge distillation (Mirzadeh et al. 2020): when the student is far
smaller than the teacher, distil in two hops, teacher → assistant → student, each with the same
recipe, instead of one big jump.

    histories = teacher_assistant_chain(teacher, assistant, student, train, tokenizer,
                                        stage=DistillConfig(steps=600, weights=PREDICTION))

The *capacity gap* is the lesson: a 2-layer, 128-wide student may learn more from a 4-layer
assistant's softer, simpler function than from the 6-layer teacher's. Compare it with the direct
teacher → student run with the same ``stage``, same start, same steps (notebook 09 does, over
seeds). The recipe here is prediction-layer KD (plus hard labels if weighted): intermediate
terms would need layer maps across three models.
"""

from __future__ import annotations

from .tinybert import PREDICTION, DistillConfig, Distiller, Stage, run_stages
from ..core.errors import TinyBertLabError


def parameter_count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def teacher_assistant_chain(teacher, assistant, student, train_data, tokenizer, *, stage: DistillConfig | None = None,
                            student_stage: DistillConfig | None = None, seed: int = 0, **run_options) -> dict:
    """Distil ``teacher`` into ``assistant`` with ``stage`` (default: prediction-layer KD with
    ``DistillConfig``'s defaults), then ``assistant`` into ``student`` with ``student_stage``
    (default: ``stage``; a small student from random weights may want a larger learning rate).
    Returns ``{"assistant": History, "student": History}``. ``run_options`` go to ``run_stages``
    (``checkpoint_dir``, ``resume``, ``eval_data``, ``progress``...): each hop checkpoints in its own
    subfolder. The assistant is left frozen (it served as a teacher)."""
    config = stage or DistillConfig(weights=PREDICTION)
    student_config = student_stage or config
    if config.weights.intermediate or student_config.weights.intermediate:
        raise TinyBertLabError(
            "The teacher-assistant chain uses prediction-layer terms only (prediction, hard_label): set the "
            "embedding, attention and hidden weights to 0.")
    sizes = [parameter_count(m) for m in (teacher, assistant, student)]
    if not sizes[0] > sizes[1] > sizes[2]:
        raise TinyBertLabError(
            f"An assistant sits between teacher and student in size; got {sizes[0]:,} (teacher), {sizes[1]:,} "
            f"(assistant) and {sizes[2]:,} (student) parameters.")
    labels = {m.config.num_labels for m in (teacher, assistant, student)}
    if len(labels) != 1:
        raise TinyBertLabError("Teacher, assistant and student must have the same number of labels.")
    first = run_stages(Distiller(assistant, teacher, seed=seed), [Stage("assistant", config)], train_data, tokenizer,
                       **run_options)
    second = run_stages(Distiller(student, assistant, seed=seed), [Stage("student", student_config)], train_data,
                        tokenizer, **run_options)
    return {**first, **second}
