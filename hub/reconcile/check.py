"""What ``hub config check`` says about a ``reconcile:`` section, at its YAML line: a push whose inbound
operation or XSLT is missing or does not compile, a poll to fetch with that the adapter lacks, a one-stop
listing with no endpoint, statuses mapped to no national code, a listing with no endpoint to ask."""

from __future__ import annotations

from lxml import etree

from lienthong.adapter import adapter_file
from lienthong.config.files import issue_at
from lienthong.config.models import Configuration
from lienthong.errors import ConfigIssue, HubError
from lienthong.xml import parse_trusted_file

__all__ = ["check_reconcile"]

_NATIONAL = {str(n) for n in range(1, 11)}


def check_reconcile(config: Configuration) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for name, adapter in config.adapters.items():
        spec = adapter.reconcile
        if spec is None:
            continue
        file = adapter_file(config, name)

        def issue(path: tuple[str | int, ...], message: str, file: str = file) -> None:
            issues.append(
                issue_at(
                    config, file, ("reconcile", *path), ".".join(map(str, ("reconcile", *path))), message
                )
            )

        if spec.list_.protocol != "axis" and not (spec.list_.endpoint or adapter.endpoint):
            issue(("list",), "the listing has no endpoint: give list.endpoint (the adapter has none)")
        if spec.one_stop is not None and not spec.one_stop.endpoint:
            issue(("one_stop",), "the one-stop system's listing needs an endpoint")
        for status, code in spec.statuses.items():
            if code not in _NATIONAL:
                issue(("statuses", status), f"{code!r} is not a national TrangThaiHoSo (1–10)")
        if spec.fetch_result is not None and spec.fetch_result not in adapter.polling:
            issue(("fetch_result",), f"the adapter has no poll {spec.fetch_result!r} (polling:)")
        for index, operation in enumerate(spec.operations):
            if operation not in adapter.operations:
                issue(("operations", index), f"the adapter has no operation {operation!r}")
        if (push := spec.push_status) is not None:
            inbound = adapter.inbound.operations if adapter.inbound is not None else {}
            if push.operation not in inbound:
                issue(
                    ("push_status", "operation"), f"the adapter has no inbound operation {push.operation!r}"
                )
            path = config.resolve(push.body)
            try:
                etree.XSLT(parse_trusted_file(str(path)))
            except (OSError, HubError, etree.XSLTParseError) as exc:
                issue(("push_status", "body"), f"{push.body}: {exc}")
    return issues
