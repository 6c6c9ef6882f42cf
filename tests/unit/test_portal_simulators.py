"""The one-stop and national portal simulators as their adapters declare them: what they accept is
read from the environment when they start, never from YAML, and a missing value stops them at once."""

from __future__ import annotations

import pytest
from project_support import ROOT, AdapterSource, adapter_configuration

from lienthong.devtools.simulator import simulator_spec
from lienthong.errors import HubError

DVCQG = AdapterSource("dvcqg", ROOT)
MOTCUA = AdapterSource("motcua", ROOT)


@pytest.mark.parametrize(
    ("source", "environ", "missing"),
    [
        (DVCQG, {}, "DVCQG_USERNAME"),
        (DVCQG, {"DVCQG_USERNAME": "u"}, "DVCQG_PASSWORD"),
        (MOTCUA, {}, "MOTCUA_CALLBACK_API_KEY"),
    ],
)
def test_a_simulator_without_its_credentials_refuses_to_start_naming_the_variable(
    source: AdapterSource, environ: dict[str, str], missing: str
) -> None:
    with pytest.raises(HubError) as refused:
        simulator_spec(adapter_configuration(source), source.name, store=":memory:", environ=environ)

    assert missing in refused.value.message


def test_the_portal_simulator_takes_its_credentials_from_the_environment() -> None:
    spec = simulator_spec(
        adapter_configuration(DVCQG),
        "dvcqg",
        store=":memory:",
        environ={"DVCQG_USERNAME": "quangninh", "DVCQG_PASSWORD": "pw"},
    )

    [service] = spec.services
    assert service.session is not None
    assert (service.session.username, service.session.password) == ("quangninh", "pw")
    assert service.session.login_path == "/api/dvcqg/login" and service.session.expired_code == "-1"
    assert "pw" not in repr(spec)  # credentials never reach a log line
