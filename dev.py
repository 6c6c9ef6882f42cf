#!/usr/bin/env python3
"""Set up the project's virtual environment when needed, then run one task in it.

    python3 dev.py demo [--keep-running]   # the hub and the simulated ministries, on SQLite
    python3 dev.py test [pytest args]      # lint, type-check and the whole test suite
    python3 dev.py check                   # lint and type-check (the package and the tests) only
    python3 dev.py bench [e2e|...]         # benchmarks under bench/
    python3 dev.py lock                    # re-resolve the newest allowed versions into constraints.txt

Installs are pinned: every package comes at the version written in constraints.txt, so a new release of
signxml or zeep cannot change what a fresh clone runs. Upgrading is a deliberate step: `dev.py lock`,
then `dev.py test`, then commit both files.

Only the Python standard library is used here, so it runs on a fresh machine with Python 3.11+.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
STAMP = VENV / ".installed"
CONSTRAINTS = ROOT / "constraints.txt"
PIP = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]


def _fingerprint() -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    digest.update(CONSTRAINTS.read_bytes())
    return digest.hexdigest()


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs before any check of the version
        sys.exit(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}")
    if STAMP.exists() and STAMP.read_text() == _fingerprint() and PY.exists():
        return
    if not PY.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    print("installing the hub and its dependencies (first run only)…", flush=True)
    run([str(PY), *PIP, "-c", str(CONSTRAINTS), "-e", ".[dev]"])
    STAMP.write_text(_fingerprint())


def lock() -> None:
    """Resolve the newest versions pyproject.toml allows in a scratch environment and pin them all."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        env_dir = Path(scratch) / "venv"
        venv.EnvBuilder(with_pip=True).create(env_dir)
        py = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
        run([str(py), *PIP, "--upgrade", ".[dev]"])
        frozen = subprocess.run(
            [str(py), "-m", "pip", "freeze", "--exclude-editable", "--disable-pip-version-check"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    pins = [line for line in frozen.splitlines() if line and not line.lower().startswith("lienthong")]
    header = CONSTRAINTS.read_text().splitlines()[:2]
    CONSTRAINTS.write_text("\n".join([*header, *pins]) + "\n")
    print(f"pinned {len(pins)} packages in {CONSTRAINTS.name}; now run: python3 dev.py test")


def run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    code = subprocess.call(cmd, cwd=ROOT, env=env)
    if code != 0:
        sys.exit(code)


#: Test folders type-checked one by one, as strictly as the package: each has a conftest.py, which
#: mypy would otherwise see as one module found twice (the folders are not packages, as pytest
#: runs them). Helpers shared by folders (tests/land_support, tests/e2e's support and soap_support)
#: are imported by their bare names.
TEST_GROUPS = (
    ["tests/conftest.py", "tests/conformance"],
    ["tests/unit"],
    ["tests/integration"],
    ["tests/e2e"],
)


def check() -> None:
    """ruff and mypy (on the package and the tests), the one script that keeps the code clean."""
    run([str(BIN / "ruff"), "check", "."])
    run([str(BIN / "ruff"), "format", "--check", "."])
    # The folder hub/ installs as 'lienthong'; mypy cannot follow setuptools' editable import hook,
    # so it reads it through a link with the import name.
    links = ROOT / ".typecheck"
    links.mkdir(exist_ok=True)
    link = links / "lienthong"
    if not link.is_symlink():
        link.symlink_to(ROOT / "hub", target_is_directory=True)
    env = dict(os.environ, MYPYPATH=str(links))
    run([str(BIN / "mypy"), "-p", "lienthong"], env=env)
    tests_env = dict(
        env, MYPYPATH=os.pathsep.join([str(links), str(ROOT / "tests"), str(ROOT / "tests" / "e2e")])
    )
    for group in TEST_GROUPS:
        run([str(BIN / "mypy"), *group], env=tests_env)


def main() -> None:
    task, *args = sys.argv[1:] or ["help"]
    if task not in {"demo", "test", "check", "bench", "lock"}:
        print(__doc__)
        sys.exit(0 if task == "help" else 2)
    if task == "lock":
        lock()
        return
    ensure_venv()
    if task == "demo":
        run([str(BIN / "hub"), "demo", *args])
    elif task == "check":
        check()
    elif task == "test":
        check()
        run([str(PY), "-m", "pytest", *args])
    else:
        name = args[0] if args else "e2e"
        run([str(PY), str(ROOT / "bench" / f"{name}.py"), *args[1:]])


if __name__ == "__main__":
    main()
