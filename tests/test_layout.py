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
    from tinybert_lab import data, distill, widgets  # the notebooks' spelling

    assert (data.__name__, distill.__name__, widgets.__name__) == (
        "tinybert_lab.core.data", "tinybert_lab.methods.distill", "tinybert_lab.teaching.widgets")
    with pytest.raises(AttributeError, match="no attribute 'dataa'"):
        tinybert_lab.dataa


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
    fake.write_text("def f():\n    from ..methods import distill\n")
    assert list(imported_modules(fake)) == [(2, "distill")]
