"""Listing what a system holds, through its query operation (docs/simulators.md, "The query
operation"): SOAP (a body element with the filters as children), REST (GET with query parameters,
answered ``{"total", "records"}``) or the national axis's ``getReceivedEdocList``.

Why a listing of its own and not an adapter operation: a run reads hundreds of records at once and
never stores the call as a message (a run every hour would bury the trail); the calls' answers are
summarised in the run's row instead."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Final

import httpx
from lxml import etree

from lienthong.config.models import ReconcileList
from lienthong.errors import ReconcileListingError as ListingError
from lienthong.xml import SOAP11_NS, parse_xml

__all__ = ["HeldRecord", "list_held"]

VN: Final = timezone(timedelta(hours=7))


@dataclass(frozen=True)
class HeldRecord:
    """One request the system took in, and where its case stands there."""

    message_id: str
    operation: str
    key: str | None
    status: str
    sequence: int
    received_at: datetime
    updated_at: datetime


def _when(text: str | None) -> datetime:
    if not text:
        return datetime.now(VN)
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=VN)


def _record(fields: Mapping[str, Any]) -> HeldRecord:
    return HeldRecord(
        message_id=str(fields.get("messageId") or fields.get("message_id") or ""),
        operation=str(fields.get("operation") or ""),
        key=(str(fields["key"]) if fields.get("key") not in (None, "") else None),
        status=str(fields.get("status") or ""),
        sequence=int(fields.get("sequence") or 0),
        received_at=_when(fields.get("receivedAt") or fields.get("received_at")),
        updated_at=_when(fields.get("updatedAt") or fields.get("updated_at")),
    )


def list_held(
    spec: ReconcileList,
    endpoint: str,
    namespaces: Mapping[str, str],
    since: datetime,
    until: datetime,
    *,
    timeout: float,
    agency: str | None = None,
    client: httpx.Client | None = None,
) -> list[HeldRecord]:
    """Every record the system holds received in [since, until), oldest first."""
    headers: dict[str, str] = {}
    if spec.api_key is not None:
        key = os.environ.get(spec.api_key.env)
        if not key:
            raise ListingError(f"the listing's API key is not set: environment variable {spec.api_key.env}")
        headers[spec.api_key.header] = key
    own = client is None
    http = client or httpx.Client(timeout=timeout)
    try:
        if spec.protocol == "soap":
            return _soap(http, spec, endpoint, namespaces, since, until, headers)
        if spec.protocol == "rest":
            return _rest(http, spec, endpoint, since, until, headers)
        return _axis(http, endpoint, agency or "", headers)
    except httpx.HTTPError as exc:
        raise ListingError(f"no answer from {endpoint}: {type(exc).__name__}: {exc}") from exc
    finally:
        if own:
            http.close()


def _soap(
    http: httpx.Client,
    spec: ReconcileList,
    endpoint: str,
    namespaces: Mapping[str, str],
    since: datetime,
    until: datetime,
    headers: dict[str, str],
) -> list[HeldRecord]:
    assert spec.element is not None
    prefix, _, local = spec.element.rpartition(":")
    ns = namespaces.get(prefix, "") if prefix else ""
    env = etree.Element(f"{{{SOAP11_NS}}}Envelope", nsmap={"soap": SOAP11_NS})
    body = etree.SubElement(env, f"{{{SOAP11_NS}}}Body")
    query = etree.SubElement(body, f"{{{ns}}}{local}" if ns else local, nsmap={"q": ns} if ns else None)
    for name, value in (
        ("since", since.astimezone(VN).isoformat()),
        ("until", until.astimezone(VN).isoformat()),
        ("limit", str(spec.limit)),
    ):
        etree.SubElement(query, f"{{{ns}}}{name}" if ns else name).text = value
    response = http.post(
        endpoint,
        content=etree.tostring(env, xml_declaration=True, encoding="UTF-8"),
        headers=headers | {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
    )
    if response.status_code != 200:
        raise ListingError(f"{endpoint} answered HTTP {response.status_code} to the query")
    root = parse_xml(response.content, what="query answer")
    answer = root.find(f"{{{SOAP11_NS}}}Body/*")
    if answer is None:
        raise ListingError(f"{endpoint}: the query answer has no body element")
    records = []
    for entry in answer:
        if not isinstance(entry.tag, str) or etree.QName(entry).localname != "record":
            continue
        fields = {etree.QName(c).localname: (c.text or "").strip() for c in entry if isinstance(c.tag, str)}
        records.append(_record(fields))
    return records


def _rest(
    http: httpx.Client,
    spec: ReconcileList,
    endpoint: str,
    since: datetime,
    until: datetime,
    headers: dict[str, str],
) -> list[HeldRecord]:
    params = {"since": since.isoformat(), "until": until.isoformat(), "limit": str(spec.limit)}
    response = http.get(endpoint, params=params, headers=headers)
    if response.status_code != 200:
        raise ListingError(f"{endpoint} answered HTTP {response.status_code} to the query")
    try:
        data = response.json()
        return [_record(r) for r in data["records"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ListingError(f"{endpoint}: unreadable query answer: {exc}") from exc


def _axis(http: httpx.Client, endpoint: str, agency: str, headers: dict[str, str]) -> list[HeldRecord]:
    """What the axis still holds for the hub's agency (pending or processing): the received list."""
    url = endpoint.rstrip("/") + "/getReceivedEdocList"
    response = http.post(url, headers=headers | {"from": agency})
    try:
        data = response.json()
    except ValueError as exc:
        raise ListingError(f"{url}: unreadable answer: {exc}") from exc
    if response.status_code != 200 or data.get("status") != "OK":
        raise ListingError(f"{url} answered HTTP {response.status_code}: {data.get('ErrorDesc') or data}")
    return [
        HeldRecord(
            message_id=str(item.get("docId")),
            operation=str(item.get("messageType") or "edoc"),
            key=None,
            status=str(item.get("status") or ""),
            sequence=index,
            received_at=_when(item.get("createdTime")),
            updated_at=_when(item.get("createdTime")),
        )
        for index, item in enumerate(data.get("data") or [])
    ]
