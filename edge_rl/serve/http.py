"""The HTTP plumbing of the inference server, apart from its routes (:mod:`edge_rl.serve.api`).

- Errors: :class:`ApiError` and the handlers that answer every client error as
  ``{"detail": [{loc, msg, type, input}], "message": ...}``, inputs echoed only when small and
  never as a NaN (not valid JSON).
- Bodies: :func:`parse` validates a body with pydantic straight from its bytes, refusing
  oversized ones (413) before reading them whole.
- Speed: :class:`MicroBatcher` answers the requests that arrive together with one forward pass;
  :class:`PredictFastPath` answers ``POST /predict`` ahead of FastAPI's routing;
  :func:`json_response` writes answers with pydantic-core's encoder.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from pydantic_core import to_json

from edge_rl.agents import Observation
from edge_rl.serve.models import Decision
from edge_rl.serve.schemas import MAX_BATCH

MAX_BODY_BYTES = 64 * 2**20
"""Larger bodies get 413 before they are read (the largest valid /predict body is about 1 MB)."""


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
    413: {"description": f"Body larger than {MAX_BODY_BYTES // 2**20} MiB", **_ERROR_SCHEMA},
    422: {"description": "Malformed body or a value out of range; detail[].loc names the field", **_ERROR_SCHEMA},
    503: {"description": "The model's checkpoint could not be loaded (see GET /health)", **_ERROR_SCHEMA},
}


async def parse(request: Request, model: type[BaseModel]) -> Any:
    """The body validated by pydantic straight from its bytes (any content type): faster than
    FastAPI's decode-then-validate, and a body that is not even UTF-8 gets the same 422."""
    try:
        return model.model_validate_json(await _read_body(request))
    except ValidationError as error:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        raise RequestValidationError(errors) from None


async def _read_body(request: Request) -> bytes:
    """The body, refused with 413 past :data:`MAX_BODY_BYTES`: at once when ``Content-Length``
    says so, else (a chunked upload declares no length) as soon as the chunks read exceed it."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise ApiError(413, ["body"], "body_too_large",
                       f"the body has {int(length):,} bytes; at most {MAX_BODY_BYTES:,} are read", int(length))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, ["body"], "body_too_large",
                           f"the body has more than {MAX_BODY_BYTES:,} bytes; at most {MAX_BODY_BYTES:,} are read",
                           size)
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
