"""The inference server: FastAPI over :mod:`edge_rl.serving`. Start it with ``make serve``.

Endpoints (OpenAPI documentation with working examples at ``/docs``):

- ``POST /predict``: the card's request (a network state, ``model_type``, optionally the task)
  -> the chosen node, its confidence, the Q-values and per-node scores.
- ``POST /batch-predict``: up to :data:`~edge_rl.schemas.MAX_BATCH` requests, one forward pass per model.
- ``GET /models``, ``GET /models/{model_type}``: the policies and their measured performance,
  read from ``results/tables`` (and the served checkpoint's own test episodes from ``results/runs``).
- ``GET /health``: which models loaded.

Errors: a malformed body or a value out of range -> 422, an unknown ``model_type`` -> 404, a
model whose checkpoint is missing -> 503; each with ``detail`` (FastAPI's list of ``{loc, msg,
type}``: ``loc`` names the field) and a one-line ``message``.

Speed: every handler is ``async`` and runs the forward pass on the event loop; ``/predict``
requests that arrive together are answered by one batched forward pass (:class:`MicroBatcher`,
no added wait: a batch is whatever queued up while the loop was busy), and reach their handler
ahead of FastAPI's routing (:class:`PredictFastPath`). Torch runs on one
thread (``--threads``): for graphs this small, more threads cost more in synchronisation than
they save, and they would compete with the server's own thread. Bodies are validated by
pydantic straight from their bytes, answers written by pydantic-core's JSON encoder, and the
objects loaded at startup are frozen out of the garbage collector (``gc.freeze``).
"""

import argparse
import asyncio
import gc
import math
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from pydantic_core import to_json

import edge_rl
from edge_rl import serving
from edge_rl.cli import positive_int
from edge_rl.schemas import (
    MAX_BATCH,
    MAX_NODES,
    BatchPredictRequest,
    BatchPredictResponse,
    Health,
    ModelInfo,
    PredictRequest,
    PredictResponse,
)
from edge_rl.serving import (
    MODEL_SPECS,
    Decision,
    ModelUnavailableError,
    NoEligibleNodeError,
    Observation,
    Predictor,
    UnknownModelError,
)

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000
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


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
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


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return _error_response(exc.status, [{"type": exc.kind, "loc": exc.loc, "msg": exc.msg, "input": _finite(exc.value)}])


_ERROR_SCHEMA = {
    "content": {"application/json": {"schema": {"type": "object", "properties": {
        "detail": {"type": "array", "items": {"type": "object"}}, "message": {"type": "string"}}}}}
}
_ERRORS = {
    404: {"description": "Unknown model_type", **_ERROR_SCHEMA},
    413: {"description": f"Body larger than {MAX_BODY_BYTES // 2**20} MiB", **_ERROR_SCHEMA},
    422: {"description": "Malformed body or a value out of range; detail[].loc names the field", **_ERROR_SCHEMA},
    503: {"description": "The model's checkpoint could not be loaded (see GET /health)", **_ERROR_SCHEMA},
}


async def _parse(request: Request, model: type[BaseModel]) -> Any:
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


def _body(model: type[BaseModel], examples: dict[str, Any]) -> dict[str, Any]:
    """The documented request body of a route that parses it itself (:func:`_parse`)."""
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
            response = await _validation_error(request, error)
        except ApiError as error:
            response = await _api_error(request, error)
        await response(scope, receive, send)


class Server:
    """What the app holds once started: the predictor, one batcher per model, the model list."""

    def __init__(self, models_dir: Path | None, results_dir: Path | None, seed: int) -> None:
        self.predictor = Predictor(models_dir, seed)
        self.results_dir = results_dir if results_dir is not None else serving.results_dir()
        self.batchers = {
            model_type: MicroBatcher(self._runner(model_type))
            for model_type in MODEL_SPECS
            if model_type not in self.predictor.errors
        }
        self.models = {model_type: self._info(model_type) for model_type in MODEL_SPECS}

    def _runner(self, model_type: str) -> Callable[[list[Observation]], list[Decision]]:
        policy = self.predictor.policy(model_type)
        return policy.decide

    def _info(self, model_type: str) -> ModelInfo:
        spec, predictor = MODEL_SPECS[model_type], self.predictor
        variant, own = serving.model_performance(spec, self.results_dir, predictor.seed)
        policy = predictor.policies.get(model_type)
        learned = isinstance(policy, serving.LearnedPolicy)
        return ModelInfo(
            model_type=model_type,
            kind=spec.kind,
            description=spec.description,
            available=policy is not None,
            error=predictor.errors.get(model_type),
            checkpoint=spec.stem(predictor.seed),
            config_name=policy.agent.name if learned else None,
            confidence=policy.confidence if policy is not None else "unknown: the model is unavailable",
            score_kind=policy.score_kind if policy is not None else "unknown: the model is unavailable",
            performance=variant,
            checkpoint_performance=own,
        )

    def policy(self, model_type: str, loc: Sequence[str | int]) -> Any:
        try:
            return self.predictor.policy(model_type)
        except UnknownModelError as error:
            raise ApiError(404, loc, "unknown_model", error.message, model_type) from None
        except ModelUnavailableError as error:
            raise ApiError(503, loc, "model_unavailable", str(error), model_type) from None

    def prepare(self, request: PredictRequest, loc: Sequence[str | int]) -> Observation:
        """The request's observation, after checking its model can answer it."""
        policy = self.policy(request.model_type, [*loc, "model_type"])
        observation = serving.to_observation(request.network_state, request.task)
        try:
            policy.check(observation)
        except NoEligibleNodeError as error:
            raise ApiError(422, [*loc, "network_state", "nodes"], "no_eligible_node", str(error)) from None
        return observation

    def answer(self, model_type: str, decision: Decision, start: float) -> dict[str, Any]:
        return {
            "model_type": model_type,
            "model": self.predictor.checkpoint(model_type),
            "selected_node": decision.selected_node,
            "confidence": decision.confidence,
            "q_values": decision.q_values,
            "node_scores": decision.node_scores,
            "score_kind": self.predictor.policies[model_type].score_kind,
            "processing_time_ms": (time.perf_counter() - start) * 1e3,
        }


def _json(payload: Any) -> Response:
    # Serialised here by pydantic-core's encoder (10x json.dumps on a batch) rather than through
    # FastAPI's response_model (the documented schema), which would validate the answer a second
    # time. Non-finite scores are already None; any other non-finite float is written as
    # null, so the answer is always valid JSON.
    return Response(to_json(payload, inf_nan_mode="null"), media_type="application/json")


def create_app(models_dir: str | os.PathLike | None = None, results_dir: str | os.PathLike | None = None,
               seed: int = serving.DEFAULT_SEED, torch_threads: int | None = 1,
               fast_predict: bool = True) -> FastAPI:
    """The FastAPI app. Models load when it starts (``with TestClient(app)``, or uvicorn).

    Args:
        models_dir: checkpoints (default ``$EDGE_RL_MODELS_DIR`` or ``results/models``).
        results_dir: tables read by ``/models`` (default ``$EDGE_RL_RESULTS_DIR`` or ``results``).
        seed: the training seed of the checkpoints served (``<variant>-seed<seed>``).
        torch_threads: torch's thread count while the app runs (None leaves it as it is).
        fast_predict: answer ``POST /predict`` in :class:`PredictFastPath`, ahead of FastAPI's
            routing (the same handler; False routes it like every other endpoint).
    """
    if torch_threads is not None and (isinstance(torch_threads, bool) or not isinstance(torch_threads, int)
                                      or torch_threads < 1):
        raise ValueError(f"torch_threads must be None or an integer >= 1, got {torch_threads!r}")
    models = Path(models_dir) if models_dir is not None else None
    results = Path(results_dir) if results_dir is not None else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        previous = torch.get_num_threads()
        if torch_threads is not None:
            torch.set_num_threads(torch_threads)
        app.state.server = Server(models, results, seed)
        # Move everything loaded so far (torch, the models, pandas, ...: ~400,000 objects) out of
        # the garbage collector's sight: a full collection would otherwise stall every request in
        # flight for ~150 ms now and then (it was the whole p99 at 32 clients). Nothing loaded at
        # startup is garbage.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            torch.set_num_threads(previous)

    # FastAPIOffline: FastAPI whose /docs and /redoc load Swagger UI and ReDoc from files it
    # ships, not from a CDN, so the documentation works on a machine with no internet.
    app = FastAPIOffline(
        title="edge-rl inference API",
        version=edge_rl.__version__,
        summary="Place an IoT task on a node of a sensor / fog / cloud network with a trained graph policy.",
        description=(
            "Every answer comes from a real forward pass of a committed checkpoint (results/models) "
            f"or from a fixed rule. Networks of 1 to {MAX_NODES} nodes; up to {MAX_BATCH} requests per "
            "batch. Field ranges and units are in the schemas below; out-of-range values get 422 "
            "naming the field, an unknown model_type 404."
        ),
        lifespan=lifespan,
    )
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ApiError, _api_error)

    def server() -> Server:
        # Loaded by the lifespan; loaded here if the app runs without one (mounted in another app).
        if getattr(app.state, "server", None) is None:
            app.state.server = Server(models, results, seed)
        return app.state.server

    examples = {
        "card": {"summary": "The card's format: 17 nodes, the hybrid, the default (median) task",
                 "value": serving.example_request(0)},
        "with_task": {"summary": "DQN, with the task's features given",
                      "value": serving.example_request(1, "dqn", task=True)},
        "rule": {"summary": "A fixed rule: greedy earliest finish",
                 "value": serving.example_request(2, "greedy_earliest_finish", task=True)},
    }
    batch_example = {"two": {"summary": "Two requests, two models",
                             "value": {"requests": [serving.example_request(0), serving.example_request(1, "ppo")]}}}

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.post("/predict", response_model=PredictResponse, responses=_ERRORS, tags=["predict"],
              openapi_extra=_body(PredictRequest, examples))
    async def predict(raw: Request) -> Response:
        """Choose the node for one task. Concurrent requests share one forward pass."""
        request: PredictRequest = await _parse(raw, PredictRequest)
        start = time.perf_counter()
        srv = server()
        observation = srv.prepare(request, ["body"])
        decision = await srv.batchers[request.model_type].submit(observation)
        return _json(srv.answer(request.model_type, decision, start))

    @app.post("/batch-predict", response_model=BatchPredictResponse, responses=_ERRORS, tags=["predict"],
              openapi_extra=_body(BatchPredictRequest, batch_example))
    async def batch_predict(raw: Request) -> Response:
        """Several requests at once: one forward pass per model named in the batch."""
        batch: BatchPredictRequest = await _parse(raw, BatchPredictRequest)
        start = time.perf_counter()
        srv = server()
        observations = [srv.prepare(r, ["body", "requests", i]) for i, r in enumerate(batch.requests)]
        groups: dict[str, list[int]] = {}
        for i, r in enumerate(batch.requests):
            groups.setdefault(r.model_type, []).append(i)
        decisions: list[Decision | None] = [None] * len(observations)
        for model_type, indices in groups.items():
            for i, decision in zip(indices, srv.predictor.predict(model_type, [observations[i] for i in indices])):
                decisions[i] = decision
        answers = [srv.answer(r.model_type, d, start) for r, d in zip(batch.requests, decisions)]  # type: ignore[arg-type]
        elapsed = (time.perf_counter() - start) * 1e3
        for answer in answers:
            answer["processing_time_ms"] = elapsed
        return _json({"predictions": answers, "processing_time_ms": elapsed})

    @app.get("/models", response_model=list[ModelInfo], tags=["models"])
    async def list_models() -> list[ModelInfo]:
        """Every model_type, whether it loaded, and its measured performance from results/."""
        return list(server().models.values())

    @app.get("/models/{model_type}", response_model=ModelInfo, responses={404: _ERRORS[404]}, tags=["models"])
    async def get_model(model_type: str) -> ModelInfo:
        """One model_type (404 if unknown)."""
        models = server().models
        if model_type not in models:
            raise ApiError(404, ["path", "model_type"], "unknown_model", UnknownModelError(model_type).message, model_type)
        return models[model_type]

    @app.get("/health", response_model=Health, tags=["health"])
    async def health() -> Health:
        """'ok' when every model loaded; 'degraded' lists what did not and why."""
        predictor = server().predictor
        return Health(
            status="degraded" if predictor.errors else "ok",
            models_loaded=sorted(predictor.policies),
            models_unavailable=predictor.errors,
            models_dir=str(predictor.models_dir),
            torch_threads=torch.get_num_threads(),
            version=edge_rl.__version__,
        )

    def openapi() -> dict[str, Any]:
        # FastAPI's schema, plus the request models that _parse validates (FastAPI never saw them).
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            _, definitions = models_json_schema(
                [(PredictRequest, "validation"), (BatchPredictRequest, "validation")],
                ref_template="#/components/schemas/{model}",
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(definitions["$defs"])
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    if fast_predict:
        app.add_middleware(PredictFastPath, handler=predict)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m edge_rl.api``: serve on 127.0.0.1 (``make serve``; ``PORT=8001 make serve``)."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m edge_rl.api", description="Serve the trained models over HTTP.")
    parser.add_argument("--host", default=DEFAULT_HOST, help="interface to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or DEFAULT_PORT),
                        help="port (default: $PORT or 8000)")
    parser.add_argument("--models-dir", default=None, help="checkpoints (default: $EDGE_RL_MODELS_DIR or results/models)")
    parser.add_argument("--results-dir", default=None, help="tables for /models (default: $EDGE_RL_RESULTS_DIR or results)")
    parser.add_argument("--seed", type=int, default=serving.DEFAULT_SEED, help="training seed of the served checkpoints")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1; see the module docstring)")
    parser.add_argument("--no-access-log", action="store_true", help="do not log every request")
    args = parser.parse_args(argv)
    app = create_app(args.models_dir, args.results_dir, args.seed, args.threads)
    print(f"edge-rl API on http://{args.host}:{args.port} (docs: http://{args.host}:{args.port}/docs)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, access_log=not args.no_access_log, log_level="info")


if __name__ == "__main__":
    main()
