"""What the tutorial and the workshop need beyond the library: the headless notebook runner
(``tutorial``), widgets, exercise checks and the exercise writer, the laptop doctor, and the
offline attention page."""
