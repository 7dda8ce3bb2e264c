"""The package's layout: every module sits in the layer the package's map names, short names
reach it, and imports point only to earlier layers (core → methods → deploy → teaching →
studies → the top level), with no exception: ``core.viz`` takes values, never a study module."""

import ast
import importlib
from pathlib import Path

import pytest

import tinybert_lab

PACKAGE = Path(tinybert_lab.__file__).parent
ORDER = ["core", "methods", "deploy", "teaching", "studies", ""]  # "" = the top level


def layer_of(path: Path) -> str:
    return "" if path.parent == PACKAGE else path.parent.name


def test_every_module_is_on_the_map_and_reachable_by_its_short_name():
    on_disk = {p.stem: layer_of(p) for p in PACKAGE.rglob("*.py") if p.stem != "__init__"}
    in_layers = {name: layer for name, layer in on_disk.items() if layer}
    assert in_layers == tinybert_lab.HOME
    assert set(ORDER) >= set(on_disk.values())
    for name, layer in tinybert_lab.HOME.items():
        module = getattr(tinybert_lab, name)
        assert module is importlib.import_module(f"tinybert_lab.{layer}.{name}")
    from tinybert_lab import data, tinybert, widgets  # the notebooks' spelling

    assert (data.__name__, tinybert.__name__, widgets.__name__) == (
        "tinybert_lab.core.data", "tinybert_lab.methods.tinybert", "tinybert_lab.teaching.widgets")
    with pytest.raises(AttributeError, match="no attribute 'dataa'"):
        tinybert_lab.dataa


def test_short_names_are_real_modules_for_import_statements_and_type_checkers():
    import subprocess
    import sys

    code = ("import importlib, tinybert_lab\n"
            "for short, layer in tinybert_lab.HOME.items():\n"
            "    module = importlib.import_module(f'tinybert_lab.{short}')\n"  # `import tinybert_lab.data` works
            "    assert module is importlib.import_module(f'tinybert_lab.{layer}.{short}'), short\n"
            "    assert module.__spec__.name == f'tinybert_lab.{layer}.{short}', short\n"
            "from tinybert_lab.settings import FULL_PLAN\n"
            "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    checked = next(node for node in tree.body if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING")
    seen = {alias.name: node.module for node in checked.body for alias in node.names}
    assert seen == tinybert_lab.HOME  # the IDE's view names every short name, in its layer


def test_notebooks_use_the_short_names_only():
    long_spelling = [f"{path.name}: {line.strip()}" for path in (PACKAGE.parent / "notebooks").glob("*.py")
                     for line in path.read_text().splitlines()
                     if "import" in line and any(f"tinybert_lab.{layer}" in line for layer in ORDER if layer)]
    assert long_spelling == []


def imported_modules(path: Path):
    """(line, module name) for each package-relative import in ``path``."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            last = (node.module or "").split(".")[-1]
            names = [last] if last in tinybert_lab.HOME else [a.name for a in node.names]
            for name in names:
                if name in tinybert_lab.HOME:
                    yield node.lineno, name


def test_imports_point_to_earlier_layers():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        mine = layer_of(path)
        for line, name in imported_modules(path):
            theirs = tinybert_lab.HOME[name]
            if ORDER.index(theirs) > ORDER.index(mine):
                upward.append(f"{path.relative_to(PACKAGE)}:{line} imports {theirs}/{name}")
    assert upward == []


def test_the_layer_check_sees_an_upward_import(tmp_path):
    fake = tmp_path / "training.py"
    fake.write_text("def f():\n    from ..methods import tinybert\n")
    assert list(imported_modules(fake)) == [(2, "tinybert")]
