"""Experiments over seeds with committed records: which teacher head each student head resembles
(``headsim``), choosing a recipe on a validation slice (``selection``), methods beyond TinyBERT
(``beyond``), and when distillation pays (``label_sources``)."""
