"""The ``hub`` command as an operator runs it: a subprocess, its exit code and what it prints.

Configuration mistakes must all be reported at once, each at ``file:line:column`` with its key, so
that provincial IT staff fix them in one pass. The operating commands (send, status, replay) work
against a running hub and share its database, as they would on a server.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from lienthong.config.files import configuration_json_schema
from lienthong.devtools.samples import sample_dossiers

ROOT = Path(__file__).resolve().parents[2]
PROVINCE = "000.00.00.H49"
SCHEMA_FILES = {
    "hub.yaml": "hub.schema.json",
    "adapters/*.yaml": "adapter.schema.json",
    "routes.yaml": "routes.schema.json",
}

Cli = Callable[..., subprocess.CompletedProcess[str]]


def edit(path: Path, old: str, new: str) -> tuple[int, str]:
    """Replace ``old`` (once) and return the 1-based line it is on, with that line's new text."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} not found once in {path}"
    text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    line = text[: text.index(new)].count("\n") + 1
    return line, text.splitlines()[line - 1]


def append(path: Path, addition: str) -> int:
    """Add a line at the end; return its number."""
    text = path.read_text(encoding="utf-8")
    text = text if text.endswith("\n") else text + "\n"
    path.write_text(text + addition + "\n", encoding="utf-8")
    return text.count("\n") + 1


# ---------------------------------------------------------------- hub --help


def test_help_lists_every_command(hub_cli: Cli) -> None:
    result = hub_cli("--help")
    assert result.returncode == 0, result.stderr
    listed = set(re.findall(r"^│ (\w+) ", result.stdout.split("Commands", 1)[1], re.MULTILINE))
    expected = {"serve", "worker", "demo", "config", "db", "send", "status", "trail", "replay", "simulate"}
    assert expected <= listed


# ---------------------------------------------------------------- hub config check


def test_config_check_accepts_the_project_configuration(hub_cli: Cli) -> None:
    """What ships checks clean, however many adapters and routes it has by now."""
    adapters = len(list((ROOT / "config" / "adapters").glob("*.yaml")))
    routes = YAML(typ="safe", pure=True).load((ROOT / "config" / "routes.yaml").read_text(encoding="utf-8"))

    result = hub_cli("config", "check", "-c", ROOT / "config")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK ")
    assert f"{adapters} adapter(s), {len(routes['routes'])} route(s)" in result.stdout
    assert result.stderr == ""


def test_config_check_reports_every_file_error_with_its_position(hub_cli: Cli, pristine_project: Any) -> None:
    config = pristine_project.config_dir
    typo_line = append(config / "adapters" / "land.yaml", "timout: 5s")
    duration_line, _ = edit(config / "hub.yaml", "poll_interval: 500ms", "poll_interval: half a second")
    edit(config / "routes.yaml", "targets: [land]", "targets: [land")

    result = hub_cli("config", "check", "-c", config)

    assert result.returncode == 2
    errors = result.stderr.splitlines()
    assert errors[-1] == "3 configuration error(s) / lỗi cấu hình"
    assert len(errors) == 4, result.stderr
    expected = [
        f"config/adapters/land.yaml:{typo_line}:1 [timout]: unknown key 'timout' (did you mean 'timeout'?)",
        f"config/hub.yaml:{duration_line}:3 [workers.poll_interval]: 'half a second' is not a duration",
    ]
    for prefix in expected:
        assert any(e.startswith(prefix) for e in errors), f"{prefix!r} not in:\n{result.stderr}"
    syntax = [e for e in errors if e.startswith("config/routes.yaml:")]
    assert len(syntax) == 1
    assert re.match(r"config/routes\.yaml:\d+:\d+: YAML syntax error: expected ',' or ']'", syntax[0])


def test_config_check_reports_every_cross_file_error(hub_cli: Cli, pristine_project: Any) -> None:
    config = pristine_project.config_dir
    target_line, target_text = edit(config / "routes.yaml", "targets: [land]", "targets: [land, cadastre]")
    mapping_line, mapping_text = edit(
        config / "adapters" / "land.yaml",
        "mapping: mappings/land/hoso-to-tiepnhanhoso.xsl",
        "mapping: mappings/land/missing.xsl",
    )

    result = hub_cli("config", "check", "-c", config)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"config/adapters/land.yaml:{mapping_line}:{mapping_text.index('mapping') + 1} "
        "[operations.TiepNhanHoSo.mapping]: file not found: mappings/land/missing.xsl",
        f"config/routes.yaml:{target_line}:{target_text.index('cadastre') + 1} [routes[0].targets]: "
        "route 'land-transfer' targets unknown adapter 'cadastre' (configured: land)",
        "2 configuration error(s) / lỗi cấu hình",
    ]


def test_config_check_reports_what_only_building_the_adapter_finds(
    hub_cli: Cli, pristine_project: Any
) -> None:
    """The WSDL is read and the operation looked up while checking, not first when the hub starts."""
    config = pristine_project.config_dir
    line, text = edit(
        config / "adapters" / "land.yaml", "operation: TiepNhanHoSo", "operation: TiepNhanHoSoMoi"
    )

    result = hub_cli("config", "check", "-c", config)

    assert result.returncode == 2
    [error, summary] = result.stderr.splitlines()
    assert error.startswith(
        f"config/adapters/land.yaml:{line}:{text.index('operation') + 1} "
        "[operations.TiepNhanHoSo.options.operation]: "
    )
    assert "operation 'TiepNhanHoSoMoi' is not in" in error and "TiepNhanHoSo)" in error
    assert summary == "1 configuration error(s) / lỗi cấu hình"


def test_config_check_reports_the_errors_of_every_stage_in_one_run(
    hub_cli: Cli, pristine_project: Any
) -> None:
    """A file that does not load, a check across files and a check that needs the adapter built: all
    three in one run, where the check used to stop at the first stage with errors."""
    config = pristine_project.config_dir
    (config / "adapters" / "tax.yaml").write_text(
        (config / "adapters" / "land.yaml").read_text(encoding="utf-8").replace("name: land", "name: tax")
        + "retries: 3\n",
        encoding="utf-8",
    )
    edit(config / "routes.yaml", "targets: [land]", "targets: [land, tax]")
    operation_line, _ = edit(
        config / "adapters" / "land.yaml", "operation: TiepNhanHoSo", "operation: TiepNhanHoSoMoi"
    )
    with (config / "hub.yaml").open("a", encoding="utf-8") as f:  # read only once the files have loaded
        f.write('trust:\n  agencies:\n    "000.00.00.G13":\n      anchors: [trust/missing.pem]\n')

    result = hub_cli("config", "check", "-c", config)

    assert result.returncode == 2
    errors = result.stderr.splitlines()
    assert errors[-1] == "3 configuration error(s) / lỗi cấu hình", result.stderr
    for prefix in (
        "config/adapters/tax.yaml:",  # does not load: unknown key 'retries'
        f"config/adapters/land.yaml:{operation_line}:",  # only building the adapter finds it
    ):
        assert any(e.startswith(prefix) for e in errors), f"{prefix!r} not in:\n{result.stderr}"
    assert any("trust/missing.pem" in e and "trust anchor file not found" in e for e in errors), result.stderr
    assert not any("unknown adapter 'tax'" in e for e in errors), "a file that did not load is not unknown"


# ---------------------------------------------------------------- hub config schema


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


_TYPES: dict[str, Callable[[object], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}


def schema_errors(value: object, schema: dict[str, Any], root: dict[str, Any], at: str = "") -> list[str]:
    """A small JSON Schema checker for the keywords these schemas use (jsonschema is not a dependency)."""
    schema = _resolve(schema, root)
    errors: list[str] = []
    if "anyOf" in schema and all(schema_errors(value, s, root, at) for s in schema["anyOf"]):
        errors.append(f"{at}: {value!r} matches no alternative")
    types = schema.get("type")
    if types is not None and not any(
        _TYPES[t](value) for t in ([types] if isinstance(types, str) else types)
    ):
        return [*errors, f"{at}: {value!r} is not of type {types}"]
    if "not" in schema and not schema_errors(value, schema["not"], root, at):
        errors.append(f"{at}: {value!r} matches what is excluded")
    if "if" in schema and "then" in schema and not schema_errors(value, schema["if"], root, at):
        errors += schema_errors(value, schema["then"], root, at)
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{at}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{at}: {value!r} is not {schema['const']!r}")
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{at}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{at}: {value} < {schema['minimum']}")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            errors.append(f"{at}: {value} <= {schema['exclusiveMinimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{at}: {value} > {schema['maximum']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        errors += [f"{at}.{key}: required" for key in schema.get("required", []) if key not in value]
        for key, item in value.items():
            if key in properties:
                errors += schema_errors(item, properties[key], root, f"{at}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{at}.{key}: not allowed")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += schema_errors(item, schema["additionalProperties"], root, f"{at}.{key}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{at}: fewer than {schema['minItems']} items")
        if isinstance(schema.get("items"), dict):
            for index, item in enumerate(value):
                errors += schema_errors(item, schema["items"], root, f"{at}[{index}]")
    return errors


def validate(value: object, schema: dict[str, Any]) -> list[str]:
    try:
        import jsonschema
    except ImportError:
        return schema_errors(value, schema, schema)
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(value)]


def test_config_schema_writes_schemas_that_accept_the_project_files(hub_cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "schemas"
    result = hub_cli("config", "schema", "-o", out)

    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(SCHEMA_FILES.values())
    yaml = YAML(typ="safe", pure=True)
    checked = 0
    for pattern, name in SCHEMA_FILES.items():
        assert f"wrote {out / name}" in result.stdout.replace("\n", "")
        schema = json.loads((out / name).read_text(encoding="utf-8"))
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        for path in sorted((ROOT / "config").glob(pattern)):
            data = yaml.load(path.read_text(encoding="utf-8"))
            assert validate(data, schema) == [], path
            checked += 1
    assert checked >= 3  # hub.yaml, routes.yaml and at least the land adapter

    # The schemas refuse what `hub config check` refuses: an unknown key, a duration in words.
    adapter = json.loads((out / "adapter.schema.json").read_text(encoding="utf-8"))
    land = yaml.load((ROOT / "config" / "adapters" / "land.yaml").read_text(encoding="utf-8"))
    assert validate({**land, "timout": "5s"}, adapter)
    assert validate({**land, "timeout": "half a second"}, adapter)
    # Without operations, an adapter needs its endpoint (with them, each operation may name its own).
    single = {k: v for k, v in land.items() if k not in ("endpoint", "operations", "namespaces")}
    assert validate(single, adapter)


def test_the_schemas_in_the_repository_are_up_to_date() -> None:
    current = configuration_json_schema()
    assert set(current) == set(SCHEMA_FILES)
    for pattern, name in SCHEMA_FILES.items():
        committed = json.loads((ROOT / "config" / "schema" / name).read_text(encoding="utf-8"))
        assert committed == current[pattern], f"config/schema/{name} is stale: run 'hub config schema'"


# ---------------------------------------------------------------- hub db upgrade


def test_db_upgrade_creates_a_fresh_database(hub_cli: Cli, pristine_project: Any, tmp_path: Path) -> None:
    project = pristine_project.root
    database = tmp_path / "fresh" / "hub.db"
    edit(
        project / "config" / "hub.yaml",
        '"${HUB_DATABASE_URL:-sqlite:///var/hub.db}"',
        f'"sqlite:///{database}"',
    )

    result = hub_cli("db", "upgrade", "-c", project / "config")

    assert result.returncode == 0, result.stderr
    match = re.fullmatch(r"database at revision (\S+)\n", result.stdout)
    assert match, result.stdout
    with sqlite3.connect(database) as conn:
        [(revision,)] = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert revision == match.group(1)
    assert {"messages", "deliveries", "attempts", "route_decisions", "idempotency_keys"} <= tables

    again = hub_cli("db", "upgrade", "-c", project / "config")  # safe to run on every release
    assert (again.returncode, again.stdout) == (0, result.stdout)


# ---------------------------------------------------------------- hub send / hub status


def test_send_submits_a_file_and_status_shows_its_delivery(
    hub_cli: Cli, hub_server: Any, land_sim: Any, tmp_path: Path
) -> None:
    s = sample_dossiers(1, day=date(2026, 11, 21))[0]
    payload = tmp_path / "hoso.xml"
    payload.write_bytes(s.xml)

    result = hub_cli(
        "send", payload, "--url", hub_server.url, "--sender", PROVINCE,
        "--procedure", s.procedure_code, "--dossier-code", s.dossier_code,
        "--sender-message-id", "motcua-cli-1",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    accepted = json.loads(result.stdout)
    assert accepted["duplicate"] is False
    assert accepted["route"]["targets"] == ["land"]
    message_id = accepted["message_id"]
    hub_server.wait(message_id)
    assert hub_server.client.get(f"/api/v1/messages/{message_id}/payload").content == s.xml

    status = hub_cli("status", message_id, "-c", hub_server.project.config_dir)
    assert status.returncode == 0, status.stderr
    out = status.stdout
    assert f"{message_id} dossier from {PROVINCE} (motcua-cli-1)" in out
    assert f"dossier {s.dossier_code}" in out
    assert "route: routed — matched rule 'land-transfer'" in out
    rows = [line for line in out.splitlines() if re.match(r"^\W*land\W", line)]
    assert len(rows) == 1, out
    assert re.search(
        r"\bland/TiepNhanHoSo\s*│\s*delivered\s*│\s*1\s*│\s*\d\d:\d\d:\d\d\.\d{3}\s*│\s*delivered\s*│",
        rows[0],
    )


def test_send_posts_a_json_message_as_it_is(hub_cli: Cli, hub_server: Any, tmp_path: Path) -> None:
    message = tmp_path / "message.json"
    message.write_text(
        json.dumps(
            {
                "sender_message_id": "qlvb-1",
                "kind": "document",
                "sender": PROVINCE,
                "content_type": "text/plain",
                "payload": "Công văn số 12/UBND",
            }
        ),
        encoding="utf-8",
    )

    result = hub_cli("send", message, "--url", hub_server.url)

    assert result.returncode == 0, result.stderr
    accepted = json.loads(result.stdout)
    assert accepted["route"]["status"] == "unroutable"
    view = hub_server.status(accepted["message_id"])
    assert (view["kind"], view["sender_message_id"]) == ("document", "qlvb-1")


def test_send_points_at_the_mistake_in_a_malformed_json_file(
    hub_cli: Cli, hub_server: Any, tmp_path: Path
) -> None:
    message = tmp_path / "message.json"
    message.write_text('{\n  "sender_message_id": "x",\n  "kind": \n}\n', encoding="utf-8")

    result = hub_cli("send", message, "--url", hub_server.url)

    assert result.returncode == 1
    assert f"{message}:4:1: not valid JSON" in result.stderr.replace("\n", "")
    assert hub_server.count_messages() == 0


def test_send_reports_a_refusal_and_fails(hub_cli: Cli, hub_server: Any, tmp_path: Path) -> None:
    s = sample_dossiers(1, day=date(2026, 11, 21))[0]
    invalid = tmp_path / "invalid.xml"
    invalid.write_bytes(s.xml.replace(b"<ChuHoSo>", b"<ChuHoSoX>").replace(b"</ChuHoSo>", b"</ChuHoSoX>"))

    result = hub_cli(
        "send", invalid, "--url", hub_server.url, "--sender", PROVINCE, "--procedure", "1.004227"
    )

    assert result.returncode == 1
    assert "HTTP 422 Dữ liệu không đúng lược đồ / Schema validation failed" in result.stderr.replace(
        "\n", " "
    )
    assert hub_server.count_messages() == 0
