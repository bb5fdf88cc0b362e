"""Property-based fuzzing of the API from its own OpenAPI schema (schemathesis + hypothesis).

Hypothesis generates requests for every operation: schema-valid ones (positive) and ones that
break the schema (negative). Whatever is sent, the server must answer with a documented status
and a body that matches the documented schema; never a 5xx. Schema-valid requests may still get
422: the schema cannot say that an edge must name one of the nodes listed beside it, so
schemathesis's "valid data must be accepted" check is left out.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from edge_rl.serve.api import create_app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_PER_MODE = 250

schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(ROOT / "results" / "models", ROOT / "results"))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_no_generated_request_gets_a_server_error(mode: GenerationMode) -> None:
    answered: Counter[tuple[str, str, int]] = Counter()

    @settings(max_examples=EXAMPLES_PER_MODE, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @given(case=schema.as_strategy(mode))
    def call(case: schemathesis.Case) -> None:
        response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
        answered[(case.method, case.path, response.status_code)] += 1

    call()
    assert not [key for key in answered if key[2] >= 500]
    total = sum(answered.values())
    posts = sum(n for (method, _, _), n in answered.items() if method == "POST")
    assert total >= EXAMPLES_PER_MODE * 0.8, answered
    assert posts >= total / 3, answered  # /predict and /batch-predict get their share
