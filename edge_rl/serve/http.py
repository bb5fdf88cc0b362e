"""The HTTP plumbing of the inference server, apart from its routes (:mod:`edge_rl.serve.api`).

- Errors: :class:`ApiError` and the handlers that answer every client error as
  ``{"detail": [{loc, msg, type, input}], "message": ...}``, inputs echoed only when small and
  never as a NaN (not valid JSON).
- Bodies: :func:`parse` validates a body with pydantic straight from its bytes, as JSON only
  (415 for another media type) and with every key of an object given once. Each endpoint
  reads at most :data:`BODY_LIMITS` (a few times its largest valid request, as ``json.dumps``
  writes it): a longer body gets 413 before it is read, one holding more JSON values than that
  request gets 413 before it is parsed, so what is parsed costs at most about a maximal valid
  request. Bodies past :data:`INLINE_BYTES` are parsed in a worker thread, one at a time, so
  that a large valid request does not hold up the small ones around it.
- Speed: :class:`MicroBatcher` answers the requests that arrive together with one forward pass;
  :class:`PredictFastPath` answers ``POST /predict`` ahead of FastAPI's routing;
  :func:`json_response` writes answers with pydantic-core's encoder.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from pydantic_core import to_json

from edge_rl.agents import Observation
from edge_rl.serve.models import Decision
from edge_rl.serve.schemas import (
    MAX_BATCH,
    MAX_BATCH_EDGES,
    MAX_BATCH_NODES,
    MAX_EDGES,
    MAX_NODES,
    MODEL_TYPES,
    BatchPredictRequest,
    PredictRequest,
)
from edge_rl.serve.strict_json import JSON_MEDIA_TYPE, duplicate_key, is_json_media_type, json_path, nesting_loc

HEADROOM = 4
"""A body may have this many times the bytes of the largest valid request written compactly:
enough for it pretty-printed (``indent=2`` makes a maximal /predict 3.5x longer)."""


def _values(body: bytes) -> int:
    """An upper bound on the JSON values in ``body`` beyond the first: every further value of
    an array or object follows a comma, or opens one. Counted at memchr speed, before parsing."""
    return body.count(b",") + body.count(b"[") + body.count(b"{")


def _body(nodes: int, edges: int, requests: int = 1) -> bytes:
    """A request body as long as a valid one can be: ``requests`` requests with ``nodes`` nodes
    and ``edges`` edges in all, every number at its longest, written by json.dumps."""
    longest = 2.2250738585072014e-308  # 23 characters: as long as a valid float gets
    node = {"cpu_util": longest, "mem_util": longest, "energy": longest, "latency": longest,
            "bandwidth": longest, "queue_len": longest, "node_type": "sensor"}
    task = {"demand_mi": 123.45678901234567, "input_kb": 123.45678901234567, "memory_mb": 123.45678901234567,
            "deadline_ms": 123.45678901234567}
    per_request = [nodes // requests + (i < nodes % requests) for i in range(requests)]
    links = [edges // requests + (i < edges % requests) for i in range(requests)]
    items = [{"network_state": {"nodes": [node] * n, "edges": [[MAX_NODES - 1, MAX_NODES - 2]] * e},
              "model_type": max(MODEL_TYPES, key=len), "task": task} for n, e in zip(per_request, links)]
    return json.dumps(items[0] if requests == 1 else {"requests": items}).encode()


def _largest(nodes: int, edges: int, requests: int = 1) -> tuple[int, int]:
    """Bytes and JSON values of :func:`_body` ``(nodes, edges, requests)``, from three small
    bodies (each node and each edge adds the same to both, so the sizes are linear in them)."""
    base, node, edge = (_body(requests + n, requests + e, requests) for n, e in ((0, 0), (1, 0), (0, 1)))

    def size(measure: Callable[[bytes], int]) -> int:
        return (measure(base) + (nodes - requests) * (measure(node) - measure(base))
                + (edges - requests) * (measure(edge) - measure(base)))

    return size(len), size(_values)


@dataclass(frozen=True)
class BodyLimit:
    """What an endpoint reads: at most ``bytes`` bytes (413 before reading past them) and
    ``values`` JSON values (413 before parsing), from ``largest``, its largest valid request."""

    largest: int
    bytes: int
    values: int

    @classmethod
    def of(cls, largest: tuple[int, int]) -> BodyLimit:
        size, values = largest
        return cls(size, HEADROOM * size, values + 64)  # + 64: a few keys repeated, say


BODY_LIMITS: dict[type[BaseModel], BodyLimit] = {
    PredictRequest: BodyLimit.of(_largest(MAX_NODES, MAX_EDGES)),
    BatchPredictRequest: BodyLimit.of(_largest(MAX_BATCH_NODES, MAX_BATCH_EDGES, MAX_BATCH)),
}
"""Per request model (so per endpoint): /predict about 3.4 MB, /batch-predict about 10 MB."""

INLINE_BYTES = 64 * 2**10
"""Bodies up to this size (a 256-node network without edges; the card's is 3 KB) are parsed on
the event loop: a thread would cost more than the parse. Larger ones go to :data:`_PARSER`."""

_PARSER = anyio.CapacityLimiter(1)
"""One worker thread parses the large bodies, one at a time: pydantic holds the interpreter
while it parses, so more threads would only take more turns from the event loop."""


class ApiError(Exception):
    """A client error found after validation: an unknown or unavailable model, a network a rule
    cannot place on. Answered as ``{"detail": [{loc, msg, type, input}], "message": ...}``."""

    def __init__(self, status: int, loc: Sequence[str | int], kind: str, msg: str, value: Any = None) -> None:
        super().__init__(msg)
        self.status, self.loc, self.kind, self.msg, self.value = status, list(loc), kind, msg, value


class MicroBatcher:
    """Gathers the observations submitted during one turn of the event loop and answers them
    with one call of ``run``: under load, concurrent requests share a forward pass; alone, a
    request waits for nothing (the batch runs as soon as the loop is free)."""

    def __init__(self, run: Callable[[list[Observation]], list[Decision]], max_batch: int = MAX_BATCH) -> None:
        self._run, self._max_batch = run, max_batch
        self._pending: list[tuple[Observation, asyncio.Future[Decision]]] = []
        self._scheduled = False

    async def submit(self, observation: Observation) -> Decision:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Decision] = loop.create_future()
        self._pending.append((observation, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        while self._pending:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            live = [(obs, future) for obs, future in batch if not future.cancelled()]
            if not live:
                continue
            try:
                decisions = self._run([obs for obs, _ in live])
            except Exception as error:  # noqa: BLE001 - whatever failed is every waiting request's answer
                for _, future in live:
                    future.set_exception(error)
            else:
                for (_, future), decision in zip(live, decisions):
                    future.set_result(decision)


def _finite(value: Any) -> Any:
    """A JSON-safe copy of an echoed input: NaN and infinities become strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _error_response(status: int, errors: list[dict[str, Any]]) -> JSONResponse:
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first.get("loc", []))
    more = f" (and {len(errors) - 1} more error(s) in detail)" if len(errors) > 1 else ""
    return JSONResponse(status_code=status, content={"detail": errors, "message": f"{where}: {first['msg']}{more}"})


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, with inputs echoed only when small, and never a NaN (not valid JSON)."""
    errors = []
    for error in exc.errors():
        item = {"type": error.get("type"), "loc": list(error.get("loc", ())), "msg": error.get("msg")}
        value = error.get("input")
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        if isinstance(value, str) and len(value) > 200:
            value = value[:200] + "..."
        if not isinstance(value, (dict, list)):  # the offending value, not the whole body
            item["input"] = _finite(value)
        errors.append(item)
    return _error_response(422, errors)


async def api_error(request: Request, exc: ApiError) -> JSONResponse:
    return _error_response(exc.status, [{"type": exc.kind, "loc": exc.loc, "msg": exc.msg, "input": _finite(exc.value)}])


_ERROR_SCHEMA = {
    "content": {"application/json": {"schema": {"type": "object", "properties": {
        "detail": {"type": "array", "items": {"type": "object"}}, "message": {"type": "string"}}}}}
}
ERRORS = {
    404: {"description": "Unknown model_type", **_ERROR_SCHEMA},
    422: {"description": "Malformed body or a value out of range; detail[].loc names the field", **_ERROR_SCHEMA},
    503: {"description": "The model's checkpoint could not be loaded (see GET /health)", **_ERROR_SCHEMA},
}


def errors(model: type[BaseModel]) -> dict[int, dict[str, Any]]:
    """The documented error answers of a route that parses ``model``, its body limits named."""
    limit = BODY_LIMITS[model]
    too_large = (f"Body of more than {limit.bytes:,} bytes or {limit.values:,} JSON values ({HEADROOM}x the bytes, "
                 f"and the values, of the largest valid request: {limit.largest:,} bytes as json.dumps writes it)")
    return {**ERRORS, 413: {"description": too_large, **_ERROR_SCHEMA},
            415: {"description": f"A body sent as another media type than JSON (send it as {JSON_MEDIA_TYPE})",
                  **_ERROR_SCHEMA}}


def _validate(model: type[BaseModel], body: bytes) -> Any:
    try:
        value = model.model_validate_json(body)
    except ValidationError as error:
        errors_ = [_located(e, body) for e in error.errors(include_url=False)]
        raise RequestValidationError(errors_) from None
    key = duplicate_key(body)
    if key is not None:  # valid, but a parser kept one of two values: the client must say which
        loc = ("body", *json_path(body, duplicated=key))
        raise RequestValidationError([{"type": "duplicate_key", "loc": loc, "input": key,
                                       "msg": f"the key {key!r} appears twice in one JSON object; give it once"}])
    return value


def _located(error: Any, body: bytes) -> dict[str, Any]:
    """A pydantic error with ``loc`` under ``body``; JSON nested past the parser's limit (which
    jiter reports by line and column alone) gets the field it is in."""
    loc = error["loc"]
    if error["type"] == "json_invalid" and "recursion limit" in error["msg"]:
        loc = tuple(nesting_loc(body, error["msg"]))
        where = ".".join(map(str, loc)) or "the body"
        error = {**error, "input": None,
                 "msg": f"{where} is nested too deeply (JSON arrays or objects inside one another past the "
                        f"parser's limit); {error['msg']}"}
    return {**error, "loc": ("body", *loc)}


async def parse(request: Request, model: type[BaseModel]) -> Any:
    """The body validated by pydantic straight from its bytes: faster than FastAPI's
    decode-then-validate, and a body that is not even UTF-8 gets the same 422. Refused with 415
    if sent as another media type than JSON, with 413 past the endpoint's :data:`BODY_LIMITS`,
    before it is read or parsed, and with 422 if an object names a key twice
    (:mod:`edge_rl.serve.strict_json`); parsed in the worker thread past :data:`INLINE_BYTES`."""
    content_type = request.headers.get("content-type")
    if not is_json_media_type(content_type):
        raise ApiError(415, ["header", "content-type"], "unsupported_media_type",
                       f"Content-Type {content_type!r}: the body is read as JSON only; send it as {JSON_MEDIA_TYPE}",
                       content_type)
    limit = BODY_LIMITS[model]
    body = await _read_body(request, limit.bytes)
    values = _values(body)
    if values > limit.values:
        raise ApiError(413, ["body"], "body_too_large",
                       f"the body holds more than {values:,} JSON values; at most {limit.values:,} are parsed (a valid "
                       f"request holds fewer: {MAX_NODES} nodes, {MAX_EDGES:,} edges)", values)
    if len(body) <= INLINE_BYTES:
        return _validate(model, body)
    return await anyio.to_thread.run_sync(_validate, model, body, limiter=_PARSER)


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 past ``limit`` bytes: at once when ``Content-Length`` says
    so, else (a chunked upload declares no length) as soon as the chunks read exceed it."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise ApiError(413, ["body"], "body_too_large",
                       f"the body has {int(length):,} bytes; at most {limit:,} are read", int(length))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, ["body"], "body_too_large",
                           f"the body has more than {limit:,} bytes; at most {limit:,} are read", size)
        chunks.append(chunk)
    return b"".join(chunks)


def documented_body(model: type[BaseModel], examples: dict[str, Any]) -> dict[str, Any]:
    """The documented request body of a route that parses it itself (:func:`parse`)."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}, "examples": examples}}}}


class PredictFastPath:
    """ASGI middleware that answers ``POST /predict`` itself, with the very handler the route
    documents (:func:`create_app`'s ``predict``), and passes every other request to the app.

    Why: FastAPI's routing, dependency solving and endpoint wrapping cost about as much CPU as
    validating the request and running the model together. ``/predict`` is the one route
    under load (32 clients sharing two cores with the server), so it skips them; its answers,
    errors included, are the route's own (the tests call both ways).

    What it skips, and so what to mind when extending the app: exception handlers other than
    the two it applies (validation errors and :class:`ApiError`; anything else propagates to
    Starlette's 500 as from any route), and middleware added *before* it (``create_app`` adds
    it last: middleware added afterwards wraps it and runs). It matches ``scope["path"]``: an
    app mounted under a prefix sends ``/predict`` through the routing, correctly but slower.
    """

    def __init__(self, app: Any, handler: Callable[[Request], Any]) -> None:
        self.app, self.handler = app, handler

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["path"] != "/predict" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await self.handler(request)
        except RequestValidationError as error:
            response = await validation_error(request, error)
        except ApiError as error:
            response = await api_error(request, error)
        await response(scope, receive, send)


def json_response(payload: Any) -> Response:
    # Serialised here by pydantic-core's encoder (10x json.dumps on a batch) rather than through
    # FastAPI's response_model (the documented schema), which would validate the answer a second
    # time. Non-finite scores are already None; any other non-finite float is written as
    # null, so the answer is always valid JSON.
    return Response(to_json(payload, inf_nan_mode="null"), media_type="application/json")
