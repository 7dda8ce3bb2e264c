"""The install story stays true: environment.yml agrees with pyproject.toml, and the README's
commands are the ones CI runs."""

import re
import tomllib

from conftest import REPO


def _pyproject():
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _environment_pip_and_no_deps():
    text = (REPO / "environment.yml").read_text()
    pip_block = text.split("  - pip:\n", 1)[1]
    pip = [line.strip()[2:] for line in pip_block.splitlines() if line.strip().startswith("- ")]
    no_deps = re.findall(r"^# install-without-deps: (.+)$", text, flags=re.M)
    return pip, no_deps


def test_environment_yml_and_pyproject_list_the_same_requirements():
    project = _pyproject()
    expected = project["project"]["dependencies"] + project["project"]["optional-dependencies"]["dev"]
    pip, no_deps = _environment_pip_and_no_deps()
    assert sorted(pip) == sorted(expected)
    assert no_deps == project["tool"]["tinybert_lab"]["install-without-deps"]


def test_requirements_are_ranges_and_torch_is_installed_pinned_first():
    project = _pyproject()
    for requirement in project["project"]["dependencies"]:
        assert "==" not in requirement and ">=" in requirement, requirement
    setup = (REPO / "scripts" / "setup.sh").read_text()
    torch_line = setup.index("pip install --quiet torch==2.13.0")
    assert torch_line < setup.index('pip install --quiet -e ".[dev]"')
    assert "--no-deps" in setup and project["tool"]["tinybert_lab"]["install-without-deps"][0] in setup


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", readme, flags=re.S)
    assert blocks, "README has no command block"
    first = [line.split("#")[0].strip() for line in blocks[0].splitlines() if line.split("#")[0].strip()]
    assert first == ["bash scripts/tutorial.sh", "bash scripts/test.sh"]
    assert readme.index(blocks[0]) < 800  # near the top
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^bash scripts/test\.sh$", ci, flags=re.M)
    for script in ("tutorial.sh", "test.sh", "setup.sh", "lab.sh"):
        assert (REPO / "scripts" / script).is_file()


def test_the_set_up_environment_shows_learners_no_grading_menus():
    """nbgrader comes with the dev extra (for its tests); scripts/setup.sh turns its JupyterLab
    extension and server extensions off. Checked in the environment setup.sh made."""
    import subprocess
    import sys
    from pathlib import Path

    import pytest

    prefix = Path(sys.prefix)
    if not (prefix / ".tinybert_lab-installed").is_file():
        pytest.skip("this environment was not made by scripts/setup.sh")
    jupyter = prefix / "bin" / "jupyter"
    listed = subprocess.run([str(jupyter), "labextension", "list"], capture_output=True, text=True, timeout=120)
    line = next((line for line in (listed.stdout + listed.stderr).splitlines() if "@jupyter/nbgrader" in line), None)
    assert line is not None, f"nbgrader's Lab extension is not installed: {listed.stdout[-500:]}"
    assert "disabled" in line, f"nbgrader's Lab menus are on: {line.strip()}; run bash scripts/setup.sh"
    servers = subprocess.run([str(jupyter), "server", "extension", "list"], capture_output=True, text=True, timeout=120)
    on = [line.strip() for line in (servers.stdout + servers.stderr).splitlines()
          if line.strip().startswith("nbgrader.server_extensions.") and "enabled" in line]
    assert not on, f"nbgrader's server extensions are on: {on}"
