"""Read ``config/`` into one :class:`Configuration`, pointing every problem at file:line:column.

The people who edit these files are provincial IT staff, not Python developers: a traceback or "the
first error only" costs them one hub restart per typo. So every file is read, every problem is
collected, and one :class:`ConfigError` lists them all, each at the line to fix.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar, get_args

from pydantic import BaseModel, ValidationError
from pydantic.json_schema import GenerateJsonSchema
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from lienthong.config.models import AdapterConfig, Configuration, HubSettings, RoutesConfig
from lienthong.errors import ConfigError, ConfigIssue

KeyPath = tuple[str | int, ...]
Positions = dict[tuple[str, KeyPath], tuple[int, int]]
_M = TypeVar("_M", bound=BaseModel)

#: ``$${`` (a literal ``${``), a whole ``${...}`` reference, or an unterminated ``${``.
_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_NAME_AND_DEFAULT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)
_DUPLICATE_KEY = re.compile(r'found duplicate key "(.*?)" with value', re.DOTALL)
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


@dataclass(frozen=True)
class _Substitution:
    """What a scalar became, kept so that error messages can hide it (it may hold a password)."""

    variables: tuple[str, ...]
    value: str
    secrets: tuple[str, ...]

    @property
    def placeholder(self) -> str:
        return "(value from " + ", ".join(f"${{{name}}}" for name in self.variables) + ")"

    def scrub(self, message: str) -> str:
        message = message.replace(repr(self.value), self.placeholder)
        # Short values are too likely to occur in the message's own words ("greater than 0").
        for secret in (self.value, *self.secrets):
            if len(secret) >= 4:
                message = message.replace(secret, self.placeholder)
        return message


@dataclass
class _Document:
    """One YAML file: its display name, and the issues and substitutions that belong to it."""

    name: str
    environ: Mapping[str, str]
    positions: Positions
    issues: list[ConfigIssue] = field(default_factory=list)
    substitutions: dict[KeyPath, _Substitution] = field(default_factory=dict)
    _failed: set[KeyPath] = field(default_factory=set)

    def issue(
        self, path: KeyPath, message: str, *, key: str | None = None, where: tuple[int, int] | None = None
    ) -> None:
        self._failed.add(path)
        line, column = where or _nearest(self.positions, self.name, path)
        self.issues.append(
            ConfigIssue(self.name, line, column, _dotted(path) if key is None else key, message)
        )

    def plain(self, node: object, path: KeyPath, where: tuple[int, int] | None) -> object:
        """Turn ruamel's nodes into plain data for pydantic, recording where each key and item is.

        ``where`` is the node's own position: a problem with a scalar (an unset variable) points at
        the value, while a problem found by pydantic points at the key, which is always on screen.
        """
        if isinstance(node, CommentedSeq):
            items = []
            for index, item in enumerate(node):
                self.record((*path, index), at := _mark(node, index, 0))
                items.append(self.plain(item, (*path, index), at))
            return items
        if isinstance(node, CommentedMap):
            result: dict[object, object] = {}
            for key, value in node.items():
                step = key if isinstance(key, str | int) and not isinstance(key, bool) else str(key)
                self.record((*path, step), _mark(node, key, 0))
                result[key] = self.plain(value, (*path, step), _mark(node, key, 2))
            return result
        if isinstance(node, TaggedScalar):
            self.issue(path, f"YAML tags such as {node.tag!s} are not supported here", where=where)
            return None
        if isinstance(node, str):
            return self._substitute(str(node), path, where)
        if isinstance(node, int) and not isinstance(node, bool):
            return int(node)  # ruamel's ScalarInt and ScalarFloat carry formatting we do not need
        return float(node) if isinstance(node, float) else node

    def record(self, path: KeyPath, where: tuple[int, int] | None) -> None:
        if where is not None:  # keys merged in with ``<<`` have no position of their own
            self.positions[(self.name, path)] = where

    def _substitute(self, text: str, path: KeyPath, where: tuple[int, int] | None) -> str:
        """Expand ``${VAR}`` and ``${VAR:-default}`` so that secrets stay out of the YAML files."""
        if "${" not in text:
            return text
        names: list[str] = []
        secrets: list[str] = []

        def expand(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            body = match.group(1)
            if body is None:
                self.issue(path, "'${' is never closed; write $${ for a literal '${'", where=where)
                return ""
            reference = _NAME_AND_DEFAULT.fullmatch(body)
            if reference is None:
                hint = "write ${NAME} or ${NAME:-default}"
                self.issue(path, f"'${{{body}}}' is not a variable reference; {hint}", where=where)
                return ""
            name, default = reference.group(1), reference.group(2)
            names.append(name)
            value = self.environ.get(name)
            # As in the shell, ':-' also replaces a variable that is set but empty.
            if value is not None and (value or default is None):
                secrets.append(value)
                return value
            if default is None:
                message = f"environment variable {name} is not set (or write ${{{name}:-default}})"
                self.issue(path, message, where=where)
                return ""
            return default

        result = _REFERENCE.sub(expand, text)
        if names:
            self.substitutions[path] = _Substitution(tuple(names), result, tuple(secrets))
        return result

    def validation_issues(self, model: type[BaseModel], data: object, error: ValidationError) -> None:
        found: dict[KeyPath, tuple[KeyPath, list[str]]] = {}
        union_paths: set[KeyPath] = set()
        for detail in error.errors(include_url=False, include_input=False):
            path, shown, in_union = _locate(data, detail["loc"], missing=detail["type"] == "missing")
            if path in self._failed:
                continue  # already reported, e.g. an unset variable that left the value empty
            message = detail["msg"].removeprefix("Value error, ")
            if detail["type"] == "extra_forbidden":
                message = _unknown_key_message(model, path)
            for at, substitution in self.substitutions.items():
                # A validator of a parent may quote its children, so scrub everything below ``path``.
                if at[: len(path)] == path or path[: len(at)] == at:
                    message = substitution.scrub(message)
            if in_union:
                union_paths.add(shown)
            found.setdefault(shown, (path, []))[1].append(message)
        for shown, (path, messages) in found.items():
            # Pydantic reports every member of a union that failed; when one member got further
            # into the value (a list of the wrong items), the shallower complaints are noise.
            if shown in union_paths and any(p[: len(shown)] == shown and p != shown for p in union_paths):
                continue
            self.issue(path, "; or ".join(dict.fromkeys(messages)), key=_dotted(shown))


def load_configuration(config_dir: Path, *, environ: Mapping[str, str] | None = None) -> Configuration:
    """Load hub.yaml, adapters/*.yaml and routes.yaml, or raise one ConfigError listing every problem."""
    loaded = read_configuration(config_dir, environ=environ)
    if loaded.issues or loaded.config is None:
        raise ConfigError(loaded.issues)
    return loaded.config


@dataclass(frozen=True)
class LoadedConfiguration:
    """What could be loaded from a directory with errors in it, so that a check can go on past them.

    ``config`` holds every file that loaded (None when hub.yaml or routes.yaml did not);
    ``unloaded_adapters`` names, by file stem, the adapter files that did not load, so that checks
    of the rest do not also report routes to them as unknown."""

    config: Configuration | None
    issues: list[ConfigIssue]
    unloaded_adapters: frozenset[str] = frozenset()


def read_configuration(config_dir: Path, *, environ: Mapping[str, str] | None = None) -> LoadedConfiguration:
    """Load what loads and list every problem, without raising: ``hub config check`` reports the
    errors of every file and of every later check in one run."""
    config_dir = config_dir.resolve()
    root = config_dir.parent
    env = os.environ if environ is None else environ
    positions: Positions = {}
    issues: list[ConfigIssue] = []

    def load(path: Path, model: type[_M]) -> tuple[_M | None, _Document]:
        document = _Document(path.relative_to(root).as_posix(), env, positions)
        result = _load_document(path, model, document)
        issues.extend(sorted(document.issues, key=lambda i: (i.line or 0, i.column or 0)))
        return result, document

    hub_file = config_dir / "hub.yaml"
    hub: HubSettings | None = None
    if hub_file.is_file():
        hub, _ = load(hub_file, HubSettings)
    else:
        name = hub_file.relative_to(root).as_posix()
        issues.append(ConfigIssue(name, None, None, "", "file not found; every hub needs hub.yaml"))

    adapters: dict[str, AdapterConfig] = {}
    unloaded: set[str] = set()
    owners: dict[str, str] = {}
    adapters_dir = config_dir / "adapters"
    for stray in sorted(adapters_dir.glob("*.yml")):
        name = stray.relative_to(root).as_posix()
        issues.append(ConfigIssue(name, None, None, "", "ignored: adapter files must end in .yaml"))
    for path in sorted(adapters_dir.glob("*.yaml")):
        adapter, document = load(path, AdapterConfig)
        if adapter is None:
            unloaded.add(path.stem)
            continue
        if adapter.name in owners:
            line, column = _nearest(positions, document.name, ("name",))
            message = f"this adapter name is already used by {owners[adapter.name]}"
            issues.append(ConfigIssue(document.name, line, column, "name", message))
            continue
        owners[adapter.name] = document.name
        adapters[adapter.name] = adapter

    routes: RoutesConfig | None = RoutesConfig()
    if (config_dir / "routes.yaml").exists():
        routes, _ = load(config_dir / "routes.yaml", RoutesConfig)

    config = None
    if hub is not None and routes is not None:
        config = Configuration(
            root=root, config_dir=config_dir, hub=hub, adapters=adapters, routes=routes, positions=positions
        )
    return LoadedConfiguration(config, issues, frozenset(unloaded))


def issue_at(config: Configuration, file: str, path: KeyPath, key: str, message: str) -> ConfigIssue:
    """Point a check made after loading (say, an unknown route target) at the YAML line it concerns."""
    line, column = _nearest(config.positions, file, path)
    return ConfigIssue(file, line, column, key, message)


@dataclass(frozen=True)
class LoadedYaml(Generic[_M]):
    """A YAML file other than the configuration's own (a declarative mapping), read into ``model``
    with the position of every key kept, so that checks made later still point at file:line:column."""

    name: str
    value: _M | None
    issues: list[ConfigIssue]
    positions: Positions

    def issue(self, path: KeyPath, message: str, *, key: str | None = None) -> ConfigIssue:
        line, column = _nearest(self.positions, self.name, path)
        return ConfigIssue(self.name, line, column, _dotted(path) if key is None else key, message)


def read_yaml_file(path: Path, model: type[_M], *, name: str | None = None) -> LoadedYaml[_M]:
    """Read one YAML file into ``model`` as the configuration files are read (every problem listed,
    at file:line:column). ``name`` is how issues name the file (default: the path as given).
    Nothing is read from the environment (such files hold no settings or secrets): a literal ``${``
    is written ``$${``, as in the configuration."""
    document = _Document(name or path.as_posix(), {}, {})
    value = _load_document(path, model, document)
    issues = sorted(document.issues, key=lambda i: (i.line or 0, i.column or 0))
    return LoadedYaml(document.name, value, issues, document.positions)


def configuration_json_schema() -> dict[str, object]:
    """JSON Schemas (draft 2020-12) for each kind of config file, keyed by the file's place in config/."""
    return {pattern: _file_schema(model, title) for pattern, _, model, title in _SCHEMA_FILES}


def write_json_schemas(out_dir: Path) -> list[Path]:
    """Write one schema per file kind, for ``# yaml-language-server: $schema=...`` comments in editors."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for _, filename, model, title in _SCHEMA_FILES:
        target = out_dir / filename
        text = json.dumps(_file_schema(model, title), indent=2, ensure_ascii=False)
        target.write_text(text + "\n", encoding="utf-8")
        written.append(target)
    return written


# ---------------------------------------------------------------- helpers


def _load_document(path: Path, model: type[_M], document: _Document) -> _M | None:
    try:
        text = path.read_text(encoding="utf-8-sig")  # editors on Windows like to add a BOM
    except (OSError, UnicodeDecodeError) as exc:
        document.issue((), f"cannot read the file: {exc}")
        return None
    try:
        node = YAML(typ="rt").load(text)
    except DuplicateKeyError as exc:
        # ruamel's own message quotes both values, which may be secrets.
        found = _DUPLICATE_KEY.search(str(exc.problem))
        key = repr(found.group(1)) if found else "a key"
        _syntax_issue(document, exc, f"duplicate key {key}: a key may appear only once in a mapping")
        return None
    except MarkedYAMLError as exc:
        context = f" ({exc.context})" if exc.context else ""
        _syntax_issue(document, exc, f"YAML syntax error: {exc.problem}{context}")
        return None
    except YAMLError as exc:
        document.issue((), f"YAML error: {exc}")
        return None
    if node is None:
        node = CommentedMap()  # an empty file means "all defaults"
    line = getattr(node.lc, "line", None) if isinstance(node, CommentedMap | CommentedSeq) else None
    start = (line + 1, node.lc.col + 1) if line is not None else (1, 1)
    document.record((), start)
    data = document.plain(node, (), start)
    if not isinstance(data, dict):
        shape = "a list" if isinstance(data, list) else "a single value"
        document.issue((), f"the top level must be a mapping of keys to values, not {shape}")
        return None
    try:
        result = model.model_validate(data)
    except ValidationError as exc:
        document.validation_issues(model, data, exc)
        return None
    return None if document.issues else result


def _syntax_issue(document: _Document, exc: MarkedYAMLError, message: str) -> None:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
    document.issues.append(ConfigIssue(document.name, line, column, "", message))


def _mark(node: CommentedMap | CommentedSeq, key: object, first: int) -> tuple[int, int] | None:
    """1-based position of a key (first=0) or its value (first=2); None for keys merged with ``<<``."""
    data = node.lc.data
    if data is None or key not in data:
        return None
    return data[key][first] + 1, data[key][first + 1] + 1


def _nearest(positions: Positions, file: str, path: KeyPath) -> tuple[int | None, int | None]:
    for end in range(len(path), -1, -1):
        found = positions.get((file, path[:end]))
        if found is not None:
            return found
    return None, None


def _dotted(path: KeyPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _locate(data: object, loc: tuple[str | int, ...], *, missing: bool) -> tuple[KeyPath, KeyPath, bool]:
    """Map pydantic's ``loc`` onto the data: the path that exists, the path to show, and whether a
    union member was named on the way.

    ``loc`` also holds steps that are not places in the file, such as the member of a union tried
    (``str``, ``list[str]``); they are skipped. A missing key is shown but cannot be pointed at.
    """
    path: list[str | int] = []
    node = data
    in_union = False
    for index, part in enumerate(loc):
        in_mapping = isinstance(node, dict) and part in node
        in_sequence = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_mapping or in_sequence:
            node = node[part]  # type: ignore[index]
            path.append(part)
        elif missing and index == len(loc) - 1:
            return tuple(path), (*path, part), in_union
        else:
            in_union = True
    return tuple(path), tuple(path), in_union


def _unknown_key_message(model: type[BaseModel], path: KeyPath) -> str:
    key = str(path[-1]) if path else "?"
    parent = _model_at(model, path[:-1])
    if parent is None:
        return f"unknown key {key!r}"
    allowed = [info.alias or name for name, info in parent.model_fields.items()]
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key {key!r}{hint}; allowed keys: {', '.join(allowed)}"


def _model_at(model: type[BaseModel], path: KeyPath) -> type[BaseModel] | None:
    """The model that validates the mapping at ``path``: through nested models and ``list[Model]``."""
    current: object = model
    for part in path:
        if isinstance(part, int):
            current = next(iter(get_args(current)), None)
        elif isinstance(current, type) and issubclass(current, BaseModel):
            fields = current.model_fields.items()
            current = next((info.annotation for name, info in fields if part in (name, info.alias)), None)
        else:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


class _YamlDefaults(GenerateJsonSchema):
    """Show defaults as people write them (``30s``, not ``PT30S``), so a schema accepts its own defaults."""

    def encode_default(self, dft: Any) -> Any:
        return super().encode_default(_as_yaml(dft))


def _as_yaml(value: object) -> object:
    if isinstance(value, BaseModel):
        return _as_yaml(value.model_dump(by_alias=True))
    if isinstance(value, timedelta):
        return _duration_text(value)
    if isinstance(value, dict):
        return {key: _as_yaml(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_as_yaml(item) for item in value]
    return value


def _duration_text(value: timedelta) -> str | float:
    if value % timedelta(milliseconds=1):
        return value.total_seconds()
    ms = value // timedelta(milliseconds=1)
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0 and (ms or unit == "s"):
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _file_schema(model: type[BaseModel], title: str) -> dict[str, object]:
    schema = model.model_json_schema(by_alias=True, schema_generator=_YamlDefaults)
    return {"$schema": _DIALECT, **schema, "title": title}


_SCHEMA_FILES: tuple[tuple[str, str, type[BaseModel], str], ...] = (
    ("hub.yaml", "hub.schema.json", HubSettings, "lienthong hub.yaml"),
    ("adapters/*.yaml", "adapter.schema.json", AdapterConfig, "lienthong adapters/*.yaml"),
    ("routes.yaml", "routes.schema.json", RoutesConfig, "lienthong routes.yaml"),
)
