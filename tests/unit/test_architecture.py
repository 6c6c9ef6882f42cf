"""Structure the style guide promises: one complete public API, and dependencies that point inward."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
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


def _type_checking_imports() -> dict[str, str]:
    """Name → module of the imports under ``if typing.TYPE_CHECKING:`` in hub/__init__.py."""
    tree = ast.parse((ROOT / "hub" / "__init__.py").read_text(encoding="utf-8"))
    (block,) = [node for node in tree.body if isinstance(node, ast.If)]
    return {
        alias.asname or alias.name: node.module or ""
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def test_public_api_is_sorted_and_complete() -> None:
    assert lienthong.__all__ == sorted(lienthong.__all__)
    # The names are imported on first use: resolving them all must work, and then the module holds
    # exactly the public names (besides modules and private helpers).
    for name in lienthong.__all__:
        assert getattr(lienthong, name).__name__ == name
    assert set(lienthong.__all__) <= set(dir(lienthong))
    exported = {
        name
        for name, value in vars(lienthong).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert exported == set(lienthong.__all__)


def test_type_checkers_see_the_public_api_the_runtime_serves() -> None:
    """A name missing from the TYPE_CHECKING imports would type as Any in every plugin, silently."""
    sources = vars(lienthong)["_SOURCES"]
    assert _type_checking_imports() == sources
    assert set(sources) == set(lienthong.__all__)


def test_import_lienthong_loads_no_server_soap_client_signing_or_database() -> None:
    """``import lienthong`` is paid by every command, plugin and test: the heavy libraries wait for use."""
    heavy = ["fastapi", "signxml", "sqlalchemy", "uvicorn", "zeep"]
    probe = f"import sys, lienthong; print([m for m in {heavy!r} if m in sys.modules])"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True, timeout=60
    ).stdout.strip()
    assert loaded == "[]"
    # ...and the probe can see them: using a public name that needs zeep does load it.
    probe = "import sys, lienthong; lienthong.SoapAdapter; print('zeep' in sys.modules)"
    used = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True, timeout=60
    ).stdout.strip()
    assert used == "True"


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
