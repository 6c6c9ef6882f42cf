from __future__ import annotations

import importlib.util
import json
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from lienthong.config.files import (
    configuration_json_schema,
    issue_at,
    load_configuration,
    write_json_schemas,
)
from lienthong.errors import ConfigError

HUB = """\
hub:
  name: Thừa Thiên Huế
  agency: 000.00.00.H49
database:
  url: sqlite:///var/hub.db
api:
  max_body_size: 20MiB
workers:
  poll_interval: 250ms
"""

LAND = """\
name: land
plugin: land
agency: 000.00.00.G01
endpoint: http://127.0.0.1:8701/land
schema: schemas/land/target.xsd
retry:
  max_attempts: 5
  max_age: 2h
"""

ROUTES = """\
routes:
  - name: land-dossiers
    match:
      kind: dossier
      procedure_code: [1.004227*, 2.000*]
    targets: [land]
"""


def write(root: Path, name: str, text: str) -> None:
    path = root / "config" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")


def problems(root: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_configuration(root / "config", environ=environ or {})
    return [str(issue) for issue in caught.value.issues]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path, "hub.yaml", HUB)
    write(tmp_path, "adapters/land.yaml", LAND)
    write(tmp_path, "routes.yaml", ROUTES)
    return tmp_path


def test_a_valid_configuration_loads(project: Path) -> None:
    config = load_configuration(project / "config", environ={})

    assert config.root == project.resolve()
    assert config.config_dir == project.resolve() / "config"
    assert config.hub.hub.agency == "000.00.00.H49"
    assert config.hub.api.max_body_size == 20 * 1024 * 1024
    assert config.hub.workers.poll_interval == timedelta(milliseconds=250)
    land = config.adapters["land"]
    assert land.schema_ == Path("schemas/land/target.xsd")
    assert land.retry.max_age == timedelta(hours=2)
    assert config.routes.routes[0].match.procedure_code == ["1.004227*", "2.000*"]
    assert config.positions[("config/adapters/land.yaml", ("retry", "max_age"))] == (8, 3)
    assert config.positions[("config/routes.yaml", ("routes", 0, "targets"))] == (6, 5)
    assert config.positions[("config/routes.yaml", ("routes", 0, "match", "procedure_code", 1))] == (5, 35)


def test_every_problem_in_every_file_is_reported_at_once(project: Path) -> None:
    write(
        project,
        "hub.yaml",
        """\
        hub:
          name: Huế
          agency: H49
        workers:
          count: 2
          lease: soon
        databse:
          url: sqlite:///x.db
        """,
    )
    write(
        project,
        "adapters/land.yaml",
        """\
        name: land
        plugin: land
        agency: 000.00.00.G01
        endpoint: http://127.0.0.1:8701/land
        schema: [not, a, path]
        retry:
          max_attempts: many
        retyr: 3
        """,
    )
    write(project, "adapters/broken.yaml", "name: broken\nplugin: [land\n")
    write(project, "routes.yaml", ROUTES + "routes: []\n")

    assert problems(project) == [
        "config/hub.yaml:3:3 [hub.agency]: 'H49' is not an agency code of the form 000.00.00.H49 "
        "(QCVN 102:2016)",
        "config/hub.yaml:6:3 [workers.lease]: 'soon' is not a duration; write it as 500ms, 30s, 5m, 1h or 2d",
        "config/hub.yaml:7:1 [databse]: unknown key 'databse' (did you mean 'database'?); "
        "allowed keys: hub, database, api, workers, keys, trust, intake, tls, callers, notify, audit",
        "config/adapters/broken.yaml:3:1: YAML syntax error: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence)",
        "config/adapters/land.yaml:5:1 [schema]: Input is not a valid path for <class 'pathlib.Path'>",
        "config/adapters/land.yaml:7:3 [retry.max_attempts]: "
        "Input should be a valid integer, unable to parse string as an integer",
        "config/adapters/land.yaml:8:1 [retyr]: unknown key 'retyr' (did you mean 'retry'?); allowed keys: "
        "name, plugin, agency, description, endpoint, timeout, connect_timeout, input_schema, schema, "
        "mapping, retry, circuit_breaker, signing, namespaces, operations, inbound, options, document, "
        "as_received, simulator, lookup, polling, receiving, reconcile",
        "config/routes.yaml:7:1: duplicate key 'routes': a key may appear only once in a mapping",
    ]


def test_missing_keys_point_at_the_mapping_that_lacks_them(project: Path) -> None:
    write(project, "hub.yaml", "database:\n  url: sqlite:///x.db\n")
    write(project, "routes.yaml", "routes:\n  - name: r1\n    match: {kind: [1, dossier]}\n")

    assert problems(project) == [
        "config/hub.yaml:1:1 [hub]: Field required",
        "config/routes.yaml:2:5 [routes[0].targets]: Field required",
        # Only the list member of ``str | list[str]`` is reported: it got further into the value.
        "config/routes.yaml:3:20 [routes[0].match.kind[0]]: Input should be a valid string",
    ]


def test_environment_variables_are_substituted_before_validation(project: Path) -> None:
    write(
        project,
        "hub.yaml",
        """\
        hub:
          name: ${HUB_NAME:-Huế hub}
          agency: ${AGENCY}
        database:
          url: postgresql+psycopg://${PGUSER}@db.local/hub
          pool_size: ${POOL:-3}
        api:
          host: $${NOT_A_VARIABLE}
        """,
    )
    environ = {"AGENCY": "000.00.00.H49", "PGUSER": "hub", "POOL": ""}

    config = load_configuration(project / "config", environ=environ)

    assert config.hub.hub.name == "Huế hub"
    assert config.hub.hub.agency == "000.00.00.H49"
    assert config.hub.database.url == "postgresql+psycopg://hub@db.local/hub"
    assert config.hub.database.pool_size == 3  # set but empty takes the default, as in the shell
    assert config.hub.api.host == "${NOT_A_VARIABLE}"


def test_unset_variables_are_named_and_values_never_shown(project: Path) -> None:
    write(
        project,
        "hub.yaml",
        """\
        hub:
          name: Huế
          agency: ${AGENCY}
        database:
          url: postgresql+psycopg://hub:${PGPASSWORD}@db.local/hub
          pool_size: ${POOL}
        """,
    )
    environ = {"AGENCY": "s3cr3t-agency", "POOL": "hunter2hunter2"}

    found = problems(project, environ)

    assert found == [
        "config/hub.yaml:3:3 [hub.agency]: (value from ${AGENCY}) is not an agency code "
        "of the form 000.00.00.H49 (QCVN 102:2016)",
        "config/hub.yaml:5:8 [database.url]: environment variable PGPASSWORD is not set "
        "(or write ${PGPASSWORD:-default})",
        "config/hub.yaml:6:3 [database.pool_size]: "
        "Input should be a valid integer, unable to parse string as an integer",
    ]
    assert not any("s3cr3t" in line or "hunter2" in line for line in found)


def test_an_adapter_name_may_be_used_only_once(project: Path) -> None:
    write(project, "adapters/zz-copy.yaml", "# a copy\n" + LAND)

    assert problems(project) == [
        "config/adapters/zz-copy.yaml:2:1 [name]: "
        "this adapter name is already used by config/adapters/land.yaml"
    ]


def test_file_level_problems(project: Path) -> None:
    (project / "config" / "hub.yaml").unlink()
    write(project, "adapters/empty.yaml", "")
    write(project, "adapters/list.yaml", "- name: land\n")

    assert problems(project) == [
        "config/hub.yaml: file not found; every hub needs hub.yaml",
        # An empty file is an empty mapping: only the required keys are missing.
        "config/adapters/empty.yaml:1:1 [name]: Field required",
        "config/adapters/empty.yaml:1:1 [agency]: Field required",
        "config/adapters/list.yaml:1:1: the top level must be a mapping of keys to values, not a list",
    ]


def test_routes_file_is_optional(project: Path) -> None:
    (project / "config" / "routes.yaml").unlink()

    assert load_configuration(project / "config", environ={}).routes.routes == []


def test_issue_at_walks_up_to_the_nearest_known_position(project: Path) -> None:
    config = load_configuration(project / "config", environ={})
    file = "config/routes.yaml"

    exact = issue_at(config, file, ("routes", 0, "targets", 0), "routes[0].targets[0]", "unknown adapter")
    nearest = issue_at(config, file, ("routes", 0, "match", "sender"), "routes[0].match", "never matches")

    assert str(exact) == "config/routes.yaml:6:15 [routes[0].targets[0]]: unknown adapter"
    assert (nearest.line, nearest.column) == (3, 5)
    assert issue_at(config, "config/other.yaml", ("x",), "x", "m").line is None


def test_json_schemas_describe_every_file_kind(tmp_path: Path) -> None:
    schemas = configuration_json_schema()
    written = write_json_schemas(tmp_path / "schemas")

    assert [path.name for path in written] == ["hub.schema.json", "adapter.schema.json", "routes.schema.json"]
    hub, adapter, routes = (json.loads(path.read_text(encoding="utf-8")) for path in written)
    assert hub == schemas["hub.yaml"]
    assert hub["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"hub", "database", "api", "workers", "keys"} <= set(hub["properties"])
    assert {"name", "plugin", "endpoint", "schema", "retry"} <= set(adapter["properties"])
    assert "schema_" not in adapter["properties"]
    assert routes["properties"]["routes"]["items"] == {"$ref": "#/$defs/RouteRule"}
    # Defaults read as people write them, so the schema accepts its own defaults.
    assert adapter["$defs"]["RetryPolicyConfig"]["properties"]["max_backoff"]["default"] == "10m"
    assert hub["properties"]["workers"]["default"]["poll_interval"] == "500ms"


def test_the_event_loop_is_uvloop_where_installed_unless_configured(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_configuration(project / "config", environ={}).hub.api.event_loop == "auto"
    write(project, "hub.yaml", HUB.replace("  max_body_size: 20MiB\n", "  event_loop: asyncio\n"))
    assert load_configuration(project / "config", environ={}).hub.api.event_loop == "asyncio"

    write(project, "hub.yaml", HUB.replace("  max_body_size: 20MiB\n", "  event_loop: trio\n"))
    assert problems(project) == [
        "config/hub.yaml:7:3 [api.event_loop]: Input should be 'auto', 'uvloop' or 'asyncio'"
    ]
    # uvloop named where it is not installed: said at once, with its place, not when the server starts.
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvloop" else real_find_spec(name, *a)
    )
    write(project, "hub.yaml", HUB.replace("  max_body_size: 20MiB\n", "  event_loop: uvloop\n"))
    assert problems(project) == [
        "config/hub.yaml:7:3 [api.event_loop]: uvloop is not installed here "
        "(auto uses asyncio's loop without it)"
    ]
