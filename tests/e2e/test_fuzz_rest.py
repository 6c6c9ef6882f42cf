"""The REST API fuzzed from its own OpenAPI description (schemathesis), over real HTTP.

Whatever a caller sends — valid requests and, in schemathesis' negative mode, requests that break the
contract in every way the description allows it to derive — the hub answers without a 5xx, and every
answer that is not 2xx is ``application/problem+json`` with its status in the body (docs/api.md).

The fuzzer authenticates as the one-stop system, so it reaches past 401 into the routes. It is bounded
and deterministic for CI: a fixed number of examples per operation, derandomized (the examples derive
from the test's name, not from a seed that changes per run), no example database, no deadline.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from support import MOTCUA_HEADERS

#: Explicit, so that no ``schemathesis.toml`` a developer has lying around changes what CI runs.
CONFIG = SchemathesisConfig.from_dict({"generation": {"mode": "all"}})
EXAMPLES_PER_OPERATION = 40


#: What the description must offer, so that the fuzzer can never pass by finding nothing to call.
OPERATIONS = {
    "POST /api/v1/messages",
    "GET /api/v1/messages",
    "GET /api/v1/messages/{message_id}",
    "GET /api/v1/messages/{message_id}/payload",
    "GET /api/v1/dossiers/{code}",
    "GET /api/v1/documents",
    "GET /api/v1/documents/{document_id}",
    "GET /api/v1/lookups/{adapter}/{key}",
    "GET /api/v1/reconciliations",
    "GET /api/v1/reconciliations/{run_id}",
    "GET /api/v1/reports/monthly",
    "GET /healthz",
    "GET /readyz",
}

#: Operations that take no input at all: negative mode has nothing to break in them.
NO_INPUT = {"GET /healthz", "GET /readyz"}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_no_request_gets_a_5xx_or_an_error_that_is_not_problem_json(
    hub_server: Any, mode: GenerationMode
) -> None:
    # Loaded from the running hub, and driven through hypothesis directly: schemathesis' pytest
    # integration (``from_fixture``) does not run under this pytest.
    schema = schemathesis.openapi.from_url(f"{hub_server.url}/openapi.json", config=CONFIG, timeout=10)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the description parses, every operation of it
        operations.append(result.ok())
    assert {f"{op.method.upper()} {op.path}" for op in operations} == OPERATIONS
    answered: Counter[int] = Counter()

    for operation in operations:
        if mode is GenerationMode.NEGATIVE and f"{operation.method.upper()} {operation.path}" in NO_INPUT:
            continue  # nothing a request could get wrong

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def answers_well(case: Any) -> None:
            case.headers = {**(case.headers or {}), **MOTCUA_HEADERS}  # a valid caller, whatever was drawn
            response = case.call(timeout=15)
            answered[response.status_code] += 1
            where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
            assert response.status_code < 500, where
            if not 200 <= response.status_code < 300:
                assert response.headers.get("content-type") == ["application/problem+json"], where
                problem = response.json()
                assert problem["status"] == response.status_code, where
                assert problem["type"].startswith("urn:lienthong:problem:"), where
                assert " / " in problem["title"], where  # Vietnamese / English

        answers_well()

    # The fuzzer got past authentication: it was answered by the routes, not only refused at the door.
    print(f"{mode.value}: answers by status {dict(sorted(answered.items()))}")
    assert sum(answered.values()) >= len(OPERATIONS) * 10, answered
    assert answered[401] == 0, answered
    if mode is GenerationMode.POSITIVE:
        assert answered[200] + answered[202] > 0, answered
    else:
        assert answered[422] > 0, answered
