"""Hub projects that tests assemble from pieces the tests own, never from the shipped ``config/``.

A project is a base hub.yaml for tests (tests/fixtures/hub/hub.yaml), the adapters a test asks for and
the routes it gives (by default the land route, tests/fixtures/hub/routes.yaml). An adapter comes from
an :class:`AdapterSource`: a folder holding ``config/adapters/<name>.yaml`` and the schemas and
mappings that file names. The land adapter's source is the repository itself (its YAML, schemas and
mappings are what most tests exercise), a sixth adapter's is a fixture folder such as
tests/fixtures/fee-adapter. So adding an adapter or a route to the shipped configuration changes no
test's project: only the tests that are about the shipped configuration read it.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, MutableMapping, MutableSequence, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ruamel.yaml import YAML

from lienthong.config.files import load_configuration
from lienthong.config.models import Configuration

ROOT: Final = Path(__file__).resolve().parents[1]
FIXTURES: Final = ROOT / "tests" / "fixtures"
#: The hub settings every assembled project starts from.
BASE_HUB: Final = FIXTURES / "hub" / "hub.yaml"
#: The routes an assembled project has unless the test gives its own: the land route.
BASE_ROUTES: Final = FIXTURES / "hub" / "routes.yaml"
#: How XSD, WSDL and XSLT files name the files they import or include.
_REFERENCE: Final = re.compile(r'(?:schemaLocation|location|href)\s*=\s*["\']([^"\']+)["\']')


@dataclass(frozen=True)
class AdapterSource:
    """Where one adapter's files come from: ``root`` holds ``config/adapters/<name>.yaml`` and every
    schema and mapping that file names, at the paths it names them by (relative to ``root``)."""

    name: str
    root: Path

    @property
    def file(self) -> Path:
        return self.root / "config" / "adapters" / f"{self.name}.yaml"

    @property
    def cases(self) -> Path:
        """The adapter's own cases (input, metadata, expected output): ``adapters/<name>/cases/``."""
        return self.root / "adapters" / self.name / "cases"

    def named_files(self) -> list[Path]:
        """Every file the adapter's YAML names (schemas, mappings, WSDLs, the simulator's answers),
        relative to ``root``: any string value that is the relative path of a file there."""
        data = YAML(typ="safe", pure=True).load(self.file.read_text(encoding="utf-8"))
        return sorted({Path(value) for _, _, value in _file_values(data, self.root)})

    def resources(self) -> list[Path]:
        """The folders (or lone files) to bring along: ``schemas/<x>/``, ``mappings/<x>/``, for the
        files the YAML names and, transitively, for those they import by relative path (a WSDL its
        schemas, an XSD its neighbours: hub-inbound.wsdl imports ../hub/hub.xsd)."""
        root = self.root.resolve()
        pending = [root / p for p in self.named_files()]
        seen: set[Path] = set()
        while pending:
            file = pending.pop()
            if file in seen or not file.is_file():
                continue
            seen.add(file)
            text = file.read_text(encoding="utf-8", errors="replace")
            for reference in _REFERENCE.findall(text):
                if "://" not in reference and not reference.startswith("#"):
                    target = (file.parent / reference).resolve()
                    if target.is_relative_to(root):
                        pending.append(target)
        return sorted({Path(*f.relative_to(root).parts[:2]) for f in seen})


#: The land registry adapter, as the repository ships it.
LAND_ADAPTER: Final = AdapterSource("land", ROOT)
#: The tax authority's adapter, as the repository ships it (the land/tax workflow, docs/workflows.md).
TAX_ADAPTER: Final = AdapterSource("tax", ROOT)
#: A sixth adapter added as docs/howto/add-an-adapter.md says: data only.
FEE_ADAPTER: Final = AdapterSource("fee", FIXTURES / "fee-adapter")


def assemble_project(
    root: Path,
    *,
    adapters: Sequence[AdapterSource] = (LAND_ADAPTER,),
    routes: Sequence[Mapping[str, Any]] | None = None,
) -> Path:
    """Create the project ``root``: ``config/`` written from the test pieces, the adapters' schemas
    and mappings linked beside it (read-only by convention: a test that breaks one copies it first).

    ``routes`` replaces the default routes (the land route); returns ``root / "config"``."""
    config_dir = write_config(root / "config", adapters=adapters, routes=routes)
    for source in adapters:
        for resource in source.resources():
            link = root / resource
            if link.is_symlink() and link.resolve() == (source.root / resource).resolve():
                continue  # another adapter shares it (schemas/province)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(source.root / resource, target_is_directory=(source.root / resource).is_dir())
    return config_dir


def write_config(
    config_dir: Path,
    *,
    adapters: Sequence[AdapterSource] = (LAND_ADAPTER,),
    routes: Sequence[Mapping[str, Any]] | None = None,
) -> Path:
    """Write hub.yaml, routes.yaml and ``adapters/<name>.yaml`` into ``config_dir`` (files only).

    The files are copied as text, so comments and ``${...}`` references survive for tests that edit
    them and for the lines ``hub config check`` reports."""
    (config_dir / "adapters").mkdir(parents=True)
    shutil.copyfile(BASE_HUB, config_dir / "hub.yaml")
    if routes is None:
        shutil.copyfile(BASE_ROUTES, config_dir / "routes.yaml")
    else:
        with (config_dir / "routes.yaml").open("w", encoding="utf-8") as f:
            _yaml().dump({"routes": [dict(r) for r in routes]}, f)
    for source in adapters:
        shutil.copyfile(source.file, config_dir / "adapters" / f"{source.name}.yaml")
    return config_dir


def base_routes() -> list[dict[str, Any]]:
    """The routes of tests/fixtures/hub/routes.yaml (the land route), to give or to extend."""
    routes: list[dict[str, Any]] = _yaml().load(BASE_ROUTES.read_text(encoding="utf-8"))["routes"]
    return routes


def adapter_configuration(
    source: AdapterSource,
    *,
    environ: Mapping[str, str] | None = None,
    routes: Sequence[Mapping[str, Any]] = (),
) -> Configuration:
    """One adapter alone in a configuration of its own (hub.yaml for tests, ``routes``: none by
    default), its files resolved from its source: for tests that need no project on disk.

    The configuration is read from a scratch directory, then pointed at the source's root, so the
    files it names resolve where they live and its problems name ``config/adapters/<name>.yaml``."""
    with tempfile.TemporaryDirectory(prefix="lienthong-adapter-") as scratch:
        config_dir = write_config(Path(scratch) / "config", adapters=(source,), routes=routes)
        config = load_configuration(config_dir, environ=environ or {})
    return config.model_copy(update={"root": source.root, "config_dir": source.root / "config"})


def make_paths_absolute(data: Any, root: Path) -> None:
    """Rewrite, in place, every relative file path an adapter file names as an absolute one under
    ``root`` (for a config directory that lives away from the adapter's files)."""
    for node, key, value in list(_file_values(data, root)):
        node[key] = str(root / value)


def _file_values(node: Any, root: Path) -> Iterator[tuple[Any, Any, str]]:
    """(container, key, value) for every string value naming a file under ``root``, at any depth."""
    items: Iterator[tuple[Any, Any]]
    if isinstance(node, MutableMapping):
        items = iter(list(node.items()))
    elif isinstance(node, MutableSequence):
        items = iter(list(enumerate(node)))
    else:
        return
    for key, value in items:
        if isinstance(value, str):
            if value and "${" not in value and not Path(value).is_absolute() and (root / value).is_file():
                yield node, key, value
        else:
            yield from _file_values(value, root)


def _yaml() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    # Keys in the order written: an adapter's operations are tried in that order.
    yaml.representer.sort_base_mapping_type_on_output = False
    return yaml
