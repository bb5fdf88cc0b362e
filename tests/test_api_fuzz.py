"""Property-based fuzzing of the API from its own OpenAPI schema (schemathesis + hypothesis).

Hypothesis generates requests for every operation: schema-valid ones (positive) and ones that
break the schema (negative). Whatever is sent, the server must answer with a documented status
and a body that matches the documented schema; never a 5xx. Schema-valid requests must be
accepted (schemathesis's positive-data check, ST202): the schema says every rule JSON Schema
can say (a link joins two different nodes, a rule that places on servers needs one). The rules
it cannot say, its descriptions do: an edge must name a node of the list beside it, and a
batch has totals; a generated request that breaks one of those must get 422 for that reason,
and is counted apart. Run with ``-s`` to see the counts.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from edge_rl.serve.api import create_app
from edge_rl.serve.schemas import MAX_BATCH_EDGES, MAX_BATCH_NODES

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_PER_MODE = 250

schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(None, ROOT / "results"))


def documented_refusal(case: schemathesis.Case) -> str | None:
    """The rule the schema's descriptions state, and JSON Schema cannot, that this schema-valid
    request breaks (None: it breaks none, and must be accepted)."""
    if case.method != "POST" or not isinstance(case.body, dict):
        return None
    batch = case.path == "/batch-predict"
    requests: list[Any] = case.body.get("requests", []) if batch else [case.body]
    for request in requests:
        network = request["network_state"]
        if any(max(edge) >= len(network["nodes"]) for edge in network.get("edges", [])):
            return "an edge names a node past the list"
    if batch and requests:
        if len(requests) * max(len(r["network_state"]["nodes"]) for r in requests) > MAX_BATCH_NODES:
            return "the batch has too many node slots"
        if sum(len(r["network_state"].get("edges", [])) for r in requests) > MAX_BATCH_EDGES:
            return "the batch has too many edges"
    return None


DOCUMENTED_MESSAGES = {
    "an edge names a node past the list": "names node",
    "the batch has too many node slots": "node slots",
    "the batch has too many edges": "edges together",
}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_no_generated_request_gets_a_server_error_and_every_valid_one_is_accepted(mode: GenerationMode) -> None:
    answered: Counter[tuple[str, str, int]] = Counter()
    documented: Counter[str] = Counter()

    @settings(max_examples=EXAMPLES_PER_MODE, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @given(case=schema.as_strategy(mode))
    def call(case: schemathesis.Case) -> None:
        reason = documented_refusal(case) if mode is GenerationMode.POSITIVE else None
        if reason is None:
            response = case.call_and_validate()  # every check, ST202 (valid data is accepted) included
        else:
            response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
            assert response.status_code == 422, (reason, response.text)
            assert DOCUMENTED_MESSAGES[reason] in response.json()["message"], (reason, response.text)
            documented[reason] += 1
        answered[(case.method, case.path, response.status_code)] += 1

    call()
    total = sum(answered.values())
    errors = sum(n for key, n in answered.items() if key[2] >= 500)
    refused = sum(n for (method, _, status), n in answered.items() if method == "POST" and 400 <= status < 500)
    print(f"\n{mode}: {total} requests, {errors} answered 5xx, {refused} POSTs refused with 4xx"
          + (f" ({sum(documented.values())} schema-valid ones for a reason the schema's descriptions state: "
             f"{dict(documented)}; 0 for any other reason)" if mode is GenerationMode.POSITIVE else "")
          + f"; by operation and status: {dict(answered)}")
    assert errors == 0
    posts = sum(n for (method, _, _), n in answered.items() if method == "POST")
    assert total >= EXAMPLES_PER_MODE * 0.8, answered
    assert posts >= total / 3, answered  # /predict and /batch-predict get their share
