"""Structure the style guide promises: one complete public API, and dependencies that point inward."""

from __future__ import annotations

import ast
import inspect
import tomllib
from pathlib import Path

import lienthong

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_public_api_is_sorted_and_complete() -> None:
    assert lienthong.__all__ == sorted(lienthong.__all__)
    exported = {
        name
        for name, value in vars(lienthong).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert exported == set(lienthong.__all__)


def test_every_folder_of_the_package_is_installed() -> None:
    """.ci installs from a fresh clone: a sub-package missing from pyproject.toml would not be there."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(pyproject["tool"]["setuptools"]["packages"])
    folders = {
        ".".join(["lienthong", *init.parent.relative_to(ROOT / "hub").parts])
        for init in (ROOT / "hub").rglob("__init__.py")
    }
    assert listed == folders


def test_hub_never_imports_an_adapter() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "hub").rglob("*.py")
        if any(m == "lienthong_adapters" or m.startswith("lienthong_adapters.") for m in _imports(p))
    ]
    assert offenders == []


def test_adapters_import_only_the_public_api() -> None:
    for path in (ROOT / "adapters").rglob("*.py"):
        for module in _imports(path):
            if module.startswith("lienthong."):
                raise AssertionError(
                    f"{path.relative_to(ROOT)} imports {module}; use 'from lienthong import …'"
                )
