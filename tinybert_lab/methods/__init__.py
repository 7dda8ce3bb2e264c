"""Ways to distil, each built on the core loop: TinyBERT (``tinybert``, with the teacher-projected
start in ``teacher_init`` and the data augmentation in ``augment``), DistilBERT, a BiLSTM student,
relational / mutual / multi-teacher objectives, MiniLMv2, patient KD and teacher assistants."""
