"""Adding an adapter to the shipped configuration leaves the hub's own tests green (issue 8).

A contributor adds a sixth adapter as docs/howto/add-an-adapter.md says: its YAML in config/adapters/,
its schemas and mappings, its cases, and a route to it in config/routes.yaml. The tests must not
notice, because they assemble their own projects (tests/project_support.py) and each adapter's cases
run on that adapter alone. This test makes that change to a copy of the checkout and runs a
representative part of the suite there, in a pytest of its own with this interpreter: the unit tests
(every adapter's cases among them, the new adapter's included), the CLI's configuration checks (which
also check the shipped configuration itself) and the REST intake end to end, which builds hubs with
routes and adapters of its own.

The copy is the checkout's tracked and unignored files, so work not yet committed is tested too. The
``lienthong`` package is the installed one (this checkout's hub/, unchanged in the copy): what differs
is only the configuration, as for a contributor who adds an adapter without touching the hub.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from project_support import FEE_ADAPTER

#: What runs in the copy: fast, yet every kind of test that used to read the shipped config/.
SUBSET = ("tests/unit", "tests/e2e/test_cli.py", "tests/e2e/test_rest_intake.py")
FEE_ROUTE = """\
  - name: fee-declaration
    description: "Tờ khai lệ phí trước bạ nhà, đất → cơ quan thuế"
    match:
      kind: document
      xpath: "boolean(/t:ToKhai)"
      namespaces:
        t: "urn:example:province:tokhai:1"
    targets: [fee]
"""


def copy_checkout(dest: Path) -> Path:
    """The checkout's tracked and unignored files (no .venv, no var/, no caches) under ``dest``."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=False,
        timeout=60,
    )
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout: {listed.stderr.decode(errors='replace').strip()}")
    for name in sorted(set(listed.stdout.decode("utf-8").split("\0")) - {""}):
        source = ROOT / name
        if source.is_file():  # a deleted file is still listed until the deletion is staged
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name, follow_symlinks=False)
    shared = ROOT.parent / "shared"
    if shared.is_dir():  # the shared test data sits beside the checkout, as the tests expect
        (dest.parent / "shared").symlink_to(shared, target_is_directory=True)
    return dest


def add_fee_adapter(checkout: Path) -> None:
    """What the how-to asks of a contributor, and nothing else: no Python, no line in hub/."""
    source = FEE_ADAPTER.root
    shutil.copy2(FEE_ADAPTER.file, checkout / "config" / "adapters" / "fee.yaml")
    for resource in FEE_ADAPTER.resources():
        shutil.copytree(source / resource, checkout / resource)
    shutil.copytree(FEE_ADAPTER.cases, checkout / "adapters" / "fee" / "cases")
    routes = checkout / "config" / "routes.yaml"
    routes.write_text(routes.read_text(encoding="utf-8") + FEE_ROUTE, encoding="utf-8")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_adding_an_adapter_and_a_route_leaves_the_tests_green(tmp_path: Path) -> None:
    checkout = copy_checkout(tmp_path / "checkout")
    shipped_routes = (checkout / "config" / "routes.yaml").read_text(encoding="utf-8").count("- name:")
    add_fee_adapter(checkout)

    hub = Path(sys.executable).with_name("hub")
    check = subprocess.run(
        [str(hub), "config", "check", "-c", "config"],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    adapters = len(list((checkout / "config" / "adapters").glob("*.yaml")))
    assert check.returncode == 0, check.stderr
    assert f"{adapters} adapter(s), {shipped_routes + 1} route(s)" in check.stdout

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env |= {"COLUMNS": "200", "NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            f"--basetemp={tmp_path / 'pytest'}",
            "-v",  # each test's outcome, to find the adapters' cases among them
            "-rfE",
            "--rootdir",
            str(checkout),
            *SUBSET,
        ],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-20_000:]
    summary = output.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and "failed" not in summary and "error" not in summary, summary

    # The new adapter's own cases ran, in the checkout, beside the land adapter's.
    for case in ("adapters/fee/cases/declaration-basic", "adapters/land/cases/transfer-basic"):
        assert f"test_adapter_cases.py::test_case[{case}] PASSED" in output, output[-20_000:]
