"""The demo's business lookup: a provincial system asks the business registry through the hub, which
checks the enterprise code first and answers at once, or says clearly why it cannot (docs/api.md).

Three asks of ``GET /api/v1/lookups/business/{code}`` as the one-stop system: a valid code, answered with
the registry's EntCert; the same code with a wrong check digit, refused before any call; and a valid
code while the registry is down (the simulator's fault plan), a 503 problem at once, nothing hanging.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from lienthong.devtools.demo.stage import DemoStage

__all__ = ["BusinessLookupSection"]

#: In the simulated register: a joint-stock company of Hạ Long, and its branch.
HELD = "5700100256"
BRANCH = "5700100256-001"
#: HELD with its check digit wrong.
WRONG_DIGIT = "5700100257"


@dataclass
class BusinessLookupSection:
    title: str = "Business lookup: asked through the hub, answered at once"
    adapters: tuple[str, ...] = ("business",)

    def run(self, console: Console, stage: DemoStage) -> bool:
        registry = stage.simulators["business"].control

        def calls() -> int:
            return int(registry.get("/_sim/stats").json()["total"])

        table = Table(title=self.title, box=box.SIMPLE_HEAD)
        table.add_column("ask", min_width=12)
        table.add_column("code", no_wrap=True)
        table.add_column("HTTP", no_wrap=True)
        table.add_column("answer", ratio=1, min_width=20)
        table.add_column("calls", no_wrap=True)
        table.add_column("time", no_wrap=True, justify="right")
        verdicts = []

        def ask(what: str, code: str, expect: int) -> httpx.Response:
            before, started = calls(), time.monotonic()
            response = stage.api.get(f"/api/v1/lookups/business/{code}")
            elapsed = time.monotonic() - started
            body = response.json()
            if response.status_code == 200:
                answer = f"[green]{escape(body['EntCert']['TenTiengViet'])}[/]"
            else:  # the problem's detail, English half (it reads "English / Tiếng Việt")
                detail = str(body.get("detail", "")).split(" / ")[0]
                answer = f"[yellow]{escape(detail if len(detail) <= 80 else detail[:79] + '…')}[/]"
            made = calls() - before
            table.add_row(what, code, str(response.status_code), answer, str(made), f"{elapsed:.2f}s")
            verdicts.append(response.status_code == expect)
            return response

        ask("a valid enterprise code", HELD, 200)
        wrong = ask("a wrong check digit", WRONG_DIGIT, 422)
        verdicts.append(calls() == 1 and wrong.status_code == 422)  # refused before any call
        registry.put("/_sim/faults", json={"mode": "503", "fail_next": 1}).raise_for_status()
        ask("the registry is down", BRANCH, 503)
        registry.put("/_sim/faults", json={"clear": True}).raise_for_status()
        console.print(table)
        ok = all(verdicts)
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        console.print(
            f"{mark} answered from the registry, a wrong code refused without calling it, a registry "
            "that is down a 503 problem at once; each exchange logged as a message"
        )
        return ok
