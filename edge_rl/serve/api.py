"""The inference server: FastAPI over :mod:`edge_rl.serve.models`. Start it with ``make serve``.

Endpoints (OpenAPI documentation with working examples at ``/docs``):

- ``POST /predict``: the card's request (a network state, ``model_type``, optionally the task)
  -> the chosen node, its confidence, the Q-values and per-node scores.
- ``POST /batch-predict``: up to :data:`~edge_rl.serve.schemas.MAX_BATCH` requests, one forward
  pass per model.
- ``GET /models``, ``GET /models/{model_type}``: the policies and their measured performance,
  read from ``results/tables`` (and the served checkpoint's own test episodes from ``results/runs``).
- ``GET /health``: which models loaded.

Errors: a malformed body or a value out of range -> 422, an unknown ``model_type`` -> 404, a
body past its endpoint's limit (:data:`~edge_rl.serve.http.BODY_LIMITS`) -> 413, a model whose
checkpoint is missing or unusable -> 503; each with ``detail`` (FastAPI's list of ``{loc, msg,
type}``: ``loc`` names the field) and a one-line ``message`` (:mod:`edge_rl.serve.http`).

Speed: every handler is ``async`` and runs the forward pass on the event loop (a
``/batch-predict`` one of a learned model in a worker thread; large bodies are parsed in one,
:func:`~edge_rl.serve.http.parse`); ``/predict``
requests that arrive together are answered by one batched forward pass
(:class:`~edge_rl.serve.http.MicroBatcher`, no added wait: a batch is whatever queued up while
the loop was busy), and reach their handler ahead of FastAPI's routing
(:class:`~edge_rl.serve.http.PredictFastPath`). Torch runs on one thread (``--threads``): for
graphs this small, more threads cost more in synchronisation than they save, and they would
compete with the server's own thread. Bodies are validated by pydantic straight from their
bytes, answers written by pydantic-core's JSON encoder, and the objects loaded at startup are
frozen out of the garbage collector (``gc.freeze``).
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import torch
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic.json_schema import models_json_schema
from starlette.concurrency import run_in_threadpool

import edge_rl
from edge_rl.agents import Observation
from edge_rl.checks import positive_int
from edge_rl.serve.conversions import clipped_fields, example_request, to_observation
from edge_rl.serve.http import (
    ERRORS,
    ApiError,
    MicroBatcher,
    PredictFastPath,
    api_error,
    documented_body,
    errors,
    json_response,
    parse,
    validation_error,
)
from edge_rl.serve.models import (
    MODEL_SPECS,
    SPECS,
    Decision,
    LearnedPolicy,
    ModelUnavailableError,
    NoEligibleNodeError,
    Predictor,
    UnknownModelError,
)
from edge_rl.serve.models import results_dir as default_results_dir
from edge_rl.serve.performance import model_performance
from edge_rl.serve.responses import BatchPredictResponse, Health, ModelInfo, PredictResponse
from edge_rl.serve.schemas import MAX_BATCH, MAX_NODES, BatchPredictRequest, PredictRequest

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000


class Server:
    """What the app holds once started: the predictor, one batcher per model, the model list."""

    def __init__(self, models_dir: Path | None, results_dir: Path | None, seed: int | None) -> None:
        self.results_dir = results_dir if results_dir is not None else default_results_dir()
        self.predictor = Predictor(models_dir, seed, self.results_dir)
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
        resolved = SPECS[predictor.aliases.get(model_type, model_type)]
        choice = predictor.choices.get(model_type)
        variant, own = model_performance(resolved, self.results_dir, choice.stem if choice else None)
        policy = predictor.policies.get(model_type)
        learned = isinstance(policy, LearnedPolicy)
        return ModelInfo(
            model_type=model_type,
            kind=spec.kind,
            description=spec.description,
            available=policy is not None,
            error=predictor.errors.get(model_type),
            checkpoint=choice.stem if choice else None,
            checkpoint_path=str(path) if (path := predictor.checkpoint_path(model_type)) else None,
            selection=choice.reason if choice else None,
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
        observation = to_observation(request.network_state, request.task)
        try:
            policy.check(observation)
        except NoEligibleNodeError as error:
            raise ApiError(422, [*loc, "network_state", "nodes"], "no_eligible_node", str(error)) from None
        return observation

    def answer(self, request: PredictRequest, decision: Decision, seconds: float) -> dict[str, Any]:
        """The answer to ``request``; ``seconds``: the server's time on it before formatting."""
        start = time.perf_counter()
        model_type = request.model_type
        answer = {
            "model_type": model_type,
            "model": self.predictor.checkpoint(model_type),
            "selected_node": decision.selected_node,
            "confidence": decision.confidence,
            "q_values": decision.q_values,
            "node_scores": decision.node_scores,
            "score_kind": self.predictor.policies[model_type].score_kind,
            "clipped": clipped_fields(request.network_state),
        }
        answer["processing_time_ms"] = (seconds + time.perf_counter() - start) * 1e3
        return answer


def _lifespan(models: Path | None, results: Path | None, seed: int | None,
              torch_threads: int | None) -> Callable[[FastAPI], Any]:
    """Load the models when the app starts (with its own torch thread count), restore after."""

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

    return lifespan


def _add_predict_routes(app: FastAPI, server: Callable[[], Server]) -> Callable[[Request], Any]:
    """``POST /predict`` and ``POST /batch-predict``; returns the /predict handler (the fast path's)."""
    examples = {
        "card": {"summary": "The card's format: 17 nodes, the hybrid, the default (median) task",
                 "value": example_request(0)},
        "with_task": {"summary": "DQN, with the task's features given",
                      "value": example_request(1, "dqn", task=True)},
        "rule": {"summary": "A fixed rule: greedy earliest finish",
                 "value": example_request(2, "greedy_earliest_finish", task=True)},
    }
    batch_example = {"two": {"summary": "Two requests, two models",
                             "value": {"requests": [example_request(0), example_request(1, "ppo")]}}}

    @app.post("/predict", response_model=PredictResponse, responses=errors(PredictRequest), tags=["predict"],
              openapi_extra=documented_body(PredictRequest, examples))
    async def predict(raw: Request) -> Response:
        """Choose the node for one task. Concurrent requests share one forward pass."""
        request: PredictRequest = await parse(raw, PredictRequest)
        start = time.perf_counter()
        srv = server()
        observation = srv.prepare(request, ["body"])
        decision = await srv.batchers[request.model_type].submit(observation)
        return json_response(srv.answer(request, decision, time.perf_counter() - start))

    @app.post("/batch-predict", response_model=BatchPredictResponse, responses=errors(BatchPredictRequest),
              tags=["predict"],
              openapi_extra=documented_body(BatchPredictRequest, batch_example))
    async def batch_predict(raw: Request) -> Response:
        """Several requests at once: one forward pass per model named in the batch."""
        batch: BatchPredictRequest = await parse(raw, BatchPredictRequest)
        start = time.perf_counter()
        srv = server()
        # Each item's time: its own conversion and formatting, plus its model group's forward
        # pass (shared with the group's other items), so that items of a cheap rule do not
        # report a learned model's pass, nor any item the whole batch's time.
        observations, seconds = [], []
        for i, r in enumerate(batch.requests):
            began = time.perf_counter()
            observations.append(srv.prepare(r, ["body", "requests", i]))
            seconds.append(time.perf_counter() - began)
        groups: dict[str, list[int]] = {}
        for i, r in enumerate(batch.requests):
            groups.setdefault(r.model_type, []).append(i)
        decisions: list[Decision | None] = [None] * len(observations)
        for model_type, indices in groups.items():
            group = [observations[i] for i in indices]
            began = time.perf_counter()
            if isinstance(srv.predictor.policies[model_type], LearnedPolicy):
                # A forward pass of up to MAX_BATCH_NODES node slots (~0.1 s): in a worker thread,
                # where torch lets the event loop run meanwhile. (The rules are cheap, and keep
                # state from request to request: they stay on the loop.)
                answered = await run_in_threadpool(srv.predictor.predict, model_type, group)
            else:
                answered = srv.predictor.predict(model_type, group)
            shared = time.perf_counter() - began
            for i, decision in zip(indices, answered):
                decisions[i] = decision
                seconds[i] += shared
        answers = [srv.answer(r, d, t) for r, d, t in zip(batch.requests, decisions, seconds)]  # type: ignore[arg-type]
        return json_response({"predictions": answers, "processing_time_ms": (time.perf_counter() - start) * 1e3})

    return predict


def _add_model_routes(app: FastAPI, server: Callable[[], Server]) -> None:
    """``GET /``, ``/models``, ``/models/{model_type}`` and ``/health``."""

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    @app.get("/models", response_model=list[ModelInfo], tags=["models"])
    async def list_models() -> list[ModelInfo]:
        """Every model_type, whether it loaded, and its measured performance from results/."""
        return list(server().models.values())

    @app.get("/models/{model_type}", response_model=ModelInfo, responses={404: ERRORS[404]}, tags=["models"])
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


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """FastAPI's schema, plus the request models that :func:`~edge_rl.serve.http.parse`
    validates (FastAPI never saw them)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            _, definitions = models_json_schema(
                [(PredictRequest, "validation"), (BatchPredictRequest, "validation")],
                ref_template="#/components/schemas/{model}",
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(definitions["$defs"])
        return app.openapi_schema

    return openapi


def create_app(models_dir: str | os.PathLike | None = None, results_dir: str | os.PathLike | None = None,
               seed: int | None = None, torch_threads: int | None = 1,
               fast_predict: bool = True) -> FastAPI:
    """The FastAPI app. Models load when it starts (``with TestClient(app)``, or uvicorn).

    Args:
        models_dir: checkpoints (default ``$EDGE_RL_MODELS_DIR`` or ``results/models``).
        results_dir: tables read by ``/models`` (default ``$EDGE_RL_RESULTS_DIR`` or ``results``).
        seed: the training seed of the checkpoints served (``<variant>-seed<seed>``); default:
            each model's seed with the best validation return (:mod:`edge_rl.serve.selection`).
        torch_threads: torch's thread count while the app runs (None leaves it as it is).
        fast_predict: answer ``POST /predict`` in :class:`~edge_rl.serve.http.PredictFastPath`,
            ahead of FastAPI's routing (the same handler; False routes it like every other endpoint).
    """
    if torch_threads is not None and (isinstance(torch_threads, bool) or not isinstance(torch_threads, int)
                                      or torch_threads < 1):
        raise ValueError(f"torch_threads must be None or an integer >= 1, got {torch_threads!r}")
    models = Path(models_dir) if models_dir is not None else None
    results = Path(results_dir) if results_dir is not None else None

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
        lifespan=_lifespan(models, results, seed, torch_threads),
    )
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(ApiError, api_error)

    def server() -> Server:
        # Loaded by the lifespan; loaded here if the app runs without one (mounted in another app).
        if getattr(app.state, "server", None) is None:
            app.state.server = Server(models, results, seed)
        return app.state.server

    predict = _add_predict_routes(app, server)
    _add_model_routes(app, server)
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    if fast_predict:
        app.add_middleware(PredictFastPath, handler=predict)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m edge_rl.serve.api``: serve on 127.0.0.1 (``make serve``; ``PORT=8001 make serve``)."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m edge_rl.serve.api", description="Serve the trained models over HTTP.")
    parser.add_argument("--host", default=DEFAULT_HOST, help="interface to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or DEFAULT_PORT),
                        help="port (default: $PORT or 8000)")
    parser.add_argument("--models-dir", default=None, help="checkpoints (default: $EDGE_RL_MODELS_DIR or results/models)")
    parser.add_argument("--results-dir", default=None, help="tables for /models (default: $EDGE_RL_RESULTS_DIR or results)")
    parser.add_argument("--seed", type=int, default=None,
                        help="training seed of every served checkpoint (default: each model's best on validation)")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1; see the module docstring)")
    parser.add_argument("--no-access-log", action="store_true", help="do not log every request")
    args = parser.parse_args(argv)
    app = create_app(args.models_dir, args.results_dir, args.seed, args.threads)
    print(f"edge-rl API on http://{args.host}:{args.port} (docs: http://{args.host}:{args.port}/docs)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, access_log=not args.no_access_log, log_level="info")


if __name__ == "__main__":
    main()
