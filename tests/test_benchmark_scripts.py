"""Every benchmark script answers ``--help`` with its docstring and does no work: a reader who asks
a script what it does must not start hours of training (``compression.py`` once did)."""

import ast
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("*.py"))

# one interpreter for all scripts (torch is imported once): each script runs as ``__main__`` with
# ``--help``; argparse prints the usage and exits 0 before any work starts
ASK_EACH_FOR_HELP = """
import contextlib, io, runpy, sys
for path in sys.argv[1:]:
    sys.argv = [path, "--help"]
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            runpy.run_path(path, run_name="__main__")
        code = "ran"
    except SystemExit as stop:
        code = stop.code
    print(repr((path, code, printed.getvalue())))
"""


def test_there_are_benchmark_scripts():
    assert len(SCRIPTS) >= 10


def test_every_benchmark_script_answers_help_with_its_docstring_and_does_nothing(tmp_path):
    done = subprocess.run([sys.executable, "-c", ASK_EACH_FOR_HELP, *map(str, SCRIPTS)], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    answers = {Path(path).name: (code, printed) for path, code, printed in map(ast.literal_eval, done.stdout.splitlines())}
    assert set(answers) == {path.name for path in SCRIPTS}
    for path in SCRIPTS:
        code, printed = answers[path.name]
        first_line = ast.get_docstring(ast.parse(path.read_text())).splitlines()[0]
        assert code == 0 and printed.startswith("usage:"), f"{path.name}: exit {code!r}, printed {printed[:200]!r}"
        assert first_line in printed, f"{path.name}: --help does not show its docstring"
    assert not list(tmp_path.iterdir()), "a script wrote files while answering --help"
