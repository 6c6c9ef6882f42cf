"""``hub demo``: the stage, then each part in turn, then one verdict (exit status 0 only if all passed)."""

from __future__ import annotations

import contextlib
import logging
import time

from rich.console import Console

from lienthong.devtools.demo.outage import OUTAGE_ADAPTER, run_outage
from lienthong.devtools.demo.stage import DemoStage, project_root
from lienthong.devtools.demo.workflows import workflow_sections
from lienthong.devtools.samples import sample_dossiers
from lienthong.intake.callers import API_KEY_HEADER

__all__ = ["WORKFLOW_DOSSIERS", "run_demo"]

#: Dossiers carried through the land ↔ tax workflow (the bulk outage part sends its own).
WORKFLOW_DOSSIERS = 3


def run_demo(
    console: Console, *, count: int, outage_seconds: float, keep_running: bool, sign: bool = True
) -> int:
    root = project_root()
    started = time.monotonic()
    console.rule("[bold]Trục liên thông — demo")
    console.print(
        "The hub and every ministry system the configuration declares (simulated SOAP and REST services,"
        " the national document axis and the province's document system) run on loopback and call each"
        " other as the real ones do.\n"
        f"The land registry is [bold red]down for {outage_seconds:.0f}s[/] at the start; the hub keeps every "
        "dossier and retries until it is back.\n"
    )
    faults = {OUTAGE_ADAPTER: {"outage_seconds": outage_seconds, "mode": "503"}}
    # The demo's schedules (polls, the axis every 300 ms) are shorter than a round can take on a busy
    # machine; a round skipped because the last one still runs is expected here, not news.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    stage = DemoStage.start(root, sign=sign, faults=faults)
    try:
        if stage.ca is not None:
            console.print(
                "Signing: every payload for the registry (xmldsig) and every document for the national "
                "axis (edxml) is signed, RSA-SHA256, with a development key made in "
                f"{stage.ca.directory.relative_to(root)}/ by 'hub keys dev-ca'; the simulated ministries "
                "sign with theirs, and the hub checks them"
            )
        systems = ", ".join(f"{name} {s.url}" for name, s in stage.simulators.items())
        console.print(f"hub API  {stage.server.url}/docs\nsimulators: {systems}\n")
        samples = sample_dossiers(count + WORKFLOW_DOSSIERS)
        ok = run_outage(console, stage, samples[:count], outage_seconds)
        for section in workflow_sections(samples[count:]):
            missing = [a for a in section.adapters if a not in stage.simulators]
            console.rule(section.title)
            if missing:
                console.print(f"skipped: no simulator for {', '.join(missing)} in this configuration")
                continue
            ok = section.run(console, stage) and ok
        console.rule()
        verdict = "[green]all parts went through[/]" if ok else "[red]some parts did not go through[/]"
        console.print(f"{verdict} in {time.monotonic() - started:.1f}s")
        if keep_running:
            console.print(f"\nHub still running: API docs {stage.server.url}/docs — press Ctrl-C to stop.")
            console.print(f"This run's API key of the one-stop system ({API_KEY_HEADER}): {stage.api_key}")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(1)
        return 0 if ok else 1
    finally:
        stage.close()
