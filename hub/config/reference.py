"""The configuration reference, generated from the models so that it can never drift from the code.

``hub config reference`` writes it to docs/reference/configuration.md; a test fails when the file
in the repository differs from what the models produce.
"""

from __future__ import annotations

from datetime import timedelta
from enum import Enum
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from lienthong.config.models import AdapterConfig, HubSettings, RoutesConfig

_FILES: list[tuple[str, type[BaseModel], str]] = [
    ("config/hub.yaml", HubSettings, "Settings of this hub: identity, database, API, workers, keys."),
    ("config/adapters/<name>.yaml", AdapterConfig, "One file per connection to a ministry system."),
    ("config/routes.yaml", RoutesConfig, "Which adapters receive which messages."),
]


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if annotation is timedelta:
        return "duration"
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(annotation))
    if origin in (Union, UnionType):
        return " | ".join(_type_name(a) for a in get_args(annotation) if a is not type(None))
    if origin in (list, tuple):
        return f"list of {_type_name(get_args(annotation)[0])}"
    if origin is dict:
        key, value = get_args(annotation)
        return f"map {_type_name(key)} → {_type_name(value)}"
    if get_origin(annotation) is not None and hasattr(annotation, "__metadata__"):
        return _type_name(get_args(annotation)[0])
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
        if issubclass(annotation, Enum):
            return " | ".join(repr(m.value) for m in annotation)
        names = {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "ByteSize": "size"}
        return {**names, "Path": "path"}.get(annotation.__name__, annotation.__name__)
    return str(annotation).replace("typing.", "")


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "(see section)"
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
            if seconds >= size and seconds % size == 0:
                return f"`{int(seconds // size)}{unit}`"
        return f"`{int(seconds * 1000)}ms`"
    if value in ({}, []):
        return "empty"
    return f"`{value}`"


def _models(model: type[BaseModel], seen: dict[str, type[BaseModel]]) -> None:
    if model.__name__ in seen:
        return
    seen[model.__name__] = model
    for field in model.model_fields.values():
        for candidate in (field.annotation, *get_args(field.annotation)):
            for inner in (candidate, *get_args(candidate)):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    _models(inner, seen)


def configuration_reference() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Generated from the configuration models by `hub config reference`; do not edit by hand.",
        "Unknown keys are errors. Any string may use `${VAR}` or `${VAR:-default}` to take its value",
        "from the environment; secrets belong there (or in files), never in YAML.",
        "Durations are written `500ms`, `30s`, `5m`, `1h`, `2d`; sizes `512KiB`, `20MiB`.",
        "",
    ]
    # The built-in plugins' options, documented with the files.
    from lienthong.delivery.axis_client import AxisOptions
    from lienthong.delivery.rest_adapter import RestOptions
    from lienthong.delivery.soap_adapter import SoapOptions
    from lienthong.notify.smtp import SmtpOptions

    files: list[tuple[str, type[BaseModel], str]] = [
        *_FILES,
        (
            "options: of plugin soap",
            SoapOptions,
            "The `options:` section of an adapter file with `plugin: soap` (the built-in SOAP adapter).",
        ),
        (
            "options: of plugin rest",
            RestOptions,
            "The `options:` section of an adapter file with `plugin: rest` (the built-in REST/JSON "
            "adapter; see docs/rest.md).",
        ),
        (
            "options: of plugin edxml-axis",
            AxisOptions,
            "The `options:` section of an adapter file with `plugin: edxml-axis` (the national document "
            'axis; see docs/edxml.md, "The national axis").',
        ),
        (
            "options: of plugin smtp",
            SmtpOptions,
            "The `options:` section of an adapter file with `plugin: smtp` (notices to citizens by email; "
            "see docs/notify.md).",
        ),
    ]
    for path, root, about in files:
        lines += [f"## `{path}`", "", about, ""]
        seen: dict[str, type[BaseModel]] = {}
        _models(root, seen)
        for name, model in seen.items():
            lines += [f"### {name}", ""]
            doc = (model.__doc__ or "").strip().splitlines()
            if doc and model is not root:
                lines += [doc[0], ""]
            lines += ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
            for field_name, field in model.model_fields.items():
                key = field.alias or field_name
                about_field = (field.description or "").replace("|", "\\|")
                kind = _type_name(field.annotation).replace("|", "\\|")  # a table cell
                lines.append(f"| `{key}` | {kind} | {_default(field)} | {about_field} |")
            lines.append("")
    return "\n".join(lines)
