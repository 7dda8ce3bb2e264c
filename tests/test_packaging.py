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
