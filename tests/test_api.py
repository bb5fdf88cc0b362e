"""The inference API through FastAPI's test client: every endpoint, every bad input, the card's
request, and the answers of the loaded models themselves."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from edge_rl.agents import load
from edge_rl.config import NODE_FEATURES, EnvConfig
from edge_rl.envs.iot_edge import make_env
from edge_rl.serve.api import create_app
from edge_rl.serve.conversions import network_state_from_env
from edge_rl.serve.models import MODEL_SPECS, SPECS
from edge_rl.serve.performance import PERFORMANCE_TABLES
from edge_rl.serve.schemas import MAX_BATCH, MAX_NODES

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "results" / "models"
LEARNED = [m for m, spec in MODEL_SPECS.items() if spec.checkpoint]
CARD_OUTPUT = {"selected_node", "confidence", "q_values", "processing_time_ms"}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(None, ROOT / "results", torch_threads=None)) as client:
        yield client


def card_request(seed: int = 0, model_type: str = "hybrid") -> dict:
    """The card's "Input Format": 17 nodes with the seven raw features, the edges, a model.

    The values are the card network's state after ``reset(seed)``, in the card's units.
    """
    env = make_env()
    env.reset(seed=seed)
    state, _ = network_state_from_env(env)
    nodes = [
        {
            "cpu_util": node.cpu_util,  # 0-1
            "mem_util": node.mem_util,  # 0-1
            "energy": node.energy,  # Joules
            "latency": node.latency,  # ms
            "bandwidth": node.bandwidth,  # Mbps
            "queue_len": node.queue_len,  # in steps of the node's compute (the card: tasks)
            "node_type": node.node_type,  # 0=sensor, 1=fog, 2=cloud
        }
        for node in state.nodes
    ]
    return {"network_state": {"nodes": nodes, "edges": [list(e) for e in state.edges]}, "model_type": model_type}


def served(client: TestClient, model_type: str) -> str:
    """The checkpoint that answers for ``model_type`` (chosen by validation score: GET /models says which)."""
    return client.get(f"/models/{model_type}").json()["checkpoint"]


def _post(client: TestClient, body: dict | str | bytes, path: str = "/predict"):
    if isinstance(body, dict):
        body = json.dumps(body)  # json.dumps writes NaN and Infinity, which a client may send
    return client.post(path, content=body, headers={"content-type": "application/json"})


# ---------------------------------------------------------------------- /predict


def test_the_cards_example_request_with_17_nodes(client: TestClient) -> None:
    request = card_request()
    assert len(request["network_state"]["nodes"]) == 17
    assert set(request["network_state"]["nodes"][0]) == set(NODE_FEATURES)
    response = client.post("/predict", json=request)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert CARD_OUTPUT <= set(answer)
    assert answer["selected_node"] in range(17)
    assert 0.0 <= answer["confidence"] <= 1.0
    assert len(answer["q_values"]) == len(answer["node_scores"]) == 17
    assert answer["node_scores"][answer["selected_node"]] == answer["confidence"] == max(answer["node_scores"])
    assert answer["processing_time_ms"] > 0
    assert answer["model"] == served(client, "hybrid") and answer["score_kind"] == "probability"


@pytest.mark.parametrize("model_type", LEARNED)
def test_predict_answers_the_node_the_loaded_model_chooses(client: TestClient, model_type: str) -> None:
    """The environment's own observation into the checkpoint, beside the card's request to the API."""
    info = client.get(f"/models/{model_type}").json()
    assert Path(info["checkpoint_path"]).name == info["checkpoint"]
    agent = load(info["checkpoint_path"])
    env = make_env()
    rng = np.random.default_rng(1)
    for seed in range(2):
        obs, _ = env.reset(seed=seed)
        for _ in range(10):
            state, task = network_state_from_env(env)
            body = {"network_state": state.model_dump(), "task": task.model_dump(), "model_type": model_type}
            answer = client.post("/predict", json=body).json()
            assert answer["selected_node"] == agent.predict(obs)[0]
            scores = agent.node_scores(obs)
            if "q_values" in scores:
                np.testing.assert_allclose(answer["q_values"], scores["q_values"], rtol=1e-6)
            obs, *_ = env.step(rng.integers(env.unwrapped.n_nodes))


@pytest.mark.parametrize("model_type", list(MODEL_SPECS))
def test_every_model_type_answers(client: TestClient, model_type: str) -> None:
    answer = client.post("/predict", json=card_request(1, model_type)).json()
    assert answer["model_type"] == model_type and answer["selected_node"] in range(17)
    spec = MODEL_SPECS[model_type]
    learned = spec.checkpoint is not None or bool(spec.alias_of)
    assert (answer["q_values"] is not None) == (learned and spec.algo != "ppo")
    assert (answer["confidence"] is None) == (spec.algo == "dqn" or (spec.rule is not None and model_type != "random"))
    assert answer["node_scores"][answer["selected_node"]] == max(s for s in answer["node_scores"] if s is not None)


def test_the_task_is_optional_and_changes_the_answer(client: TestClient) -> None:
    request = card_request(0, "greedy_earliest_finish")
    small = client.post("/predict", json=request | {"task": {"demand_mi": 1.0, "input_kb": 1000.0}}).json()
    large = client.post("/predict", json=request | {"task": {"demand_mi": 1000.0, "input_kb": 10.0}}).json()
    assert small["node_scores"] != large["node_scores"]


def test_any_topology_size_up_to_the_maximum(client: TestClient) -> None:
    for config in (EnvConfig(n_sensors=1, n_fog=1, n_cloud=0), EnvConfig(n_sensors=MAX_NODES - 12, n_fog=10, n_cloud=2)):
        env = make_env(config)
        env.reset(seed=0)
        state, _ = network_state_from_env(env)
        answer = client.post("/predict", json={"network_state": state.model_dump(), "model_type": "hybrid_sage"})
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["node_scores"]) == config.n_nodes


def test_a_network_without_edges_is_accepted(client: TestClient) -> None:
    request = card_request()
    request["network_state"]["edges"] = []
    assert client.post("/predict", json=request).status_code == 200


# ---------------------------------------------------------------------- bad input


def _node_change(field: str, value) -> dict:
    request = card_request()
    request["network_state"]["nodes"][3][field] = value
    return request


def _network(**changes) -> dict:
    request = card_request()
    request["network_state"].update(changes)
    return request


BAD_REQUESTS = {
    "edge to a missing node": (_network(edges=[[0, 10], [4, 17]]), ["network_state", "edges"], "names node 17"),
    "edge to itself": (_network(edges=[[2, 2]]), ["network_state", "edges"], "to itself"),
    "negative edge index": (_network(edges=[[-1, 3]]), ["network_state", "edges", 0, 0], "greater than or equal to 0"),
    "edge of three nodes": (_network(edges=[[0, 1, 2]]), ["network_state", "edges", 0], "at most 2 items"),
    "NaN": (_node_change("energy", float("nan")), ["network_state", "nodes", 3, "energy"], "finite number"),
    "infinity": (_node_change("latency", float("inf")), ["network_state", "nodes", 3, "latency"], "finite number"),
    "cpu_util above 1": (_node_change("cpu_util", 1.5), ["network_state", "nodes", 3, "cpu_util"], "less than or equal to 1"),
    "mem_util below 0": (_node_change("mem_util", -0.2), ["network_state", "nodes", 3, "mem_util"], "greater than or equal to 0"),
    "zero bandwidth": (_node_change("bandwidth", 0), ["network_state", "nodes", 3, "bandwidth"], "greater than 0"),
    "negative queue": (_node_change("queue_len", -1), ["network_state", "nodes", 3, "queue_len"], "greater than or equal to 0"),
    "unknown node type": (_node_change("node_type", 3), ["network_state", "nodes", 3, "node_type"], "less than or equal to 2"),
    "unknown node type name": (_node_change("node_type", "router"), ["network_state", "nodes", 3, "node_type"], "valid integer"),
    "boolean node type": (_node_change("node_type", True), ["network_state", "nodes", 3, "node_type"], "0 (sensor)"),
    "string number": (_node_change("cpu_util", "0.5"), ["network_state", "nodes", 3, "cpu_util"], "valid number"),
    "missing feature": ({**card_request(), "network_state": {"nodes": [{"cpu_util": 0.1}], "edges": []}},
                        ["network_state", "nodes", 0, "mem_util"], "Field required"),
    "unknown field": (_node_change("temperature", 40.0), ["network_state", "nodes", 3, "temperature"], "Extra inputs"),
    "empty network": (_network(nodes=[], edges=[]), ["network_state", "nodes"], "at least 1 item"),
    "oversized network": (_network(nodes=card_request()["network_state"]["nodes"][:1] * (MAX_NODES + 1), edges=[]),
                          ["network_state", "nodes"], f"at most {MAX_NODES} items"),
    "no network": ({"model_type": "hybrid"}, ["network_state"], "Field required"),
    "task out of range": ({**card_request(), "task": {"deadline_ms": 5000.0}}, ["task", "deadline_ms"], "less than or equal to 500"),
    "model_type not a string": ({**card_request(), "model_type": 7}, ["model_type"], "valid string"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_input_gets_422_naming_the_field(client: TestClient, case: str) -> None:
    body, loc, message = BAD_REQUESTS[case]
    response = _post(client, body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["detail"][0]["loc"] == ["body", *loc]
    assert message in error["detail"][0]["msg"]
    assert error["message"].startswith(".".join(map(str, ["body", *loc])))


@pytest.mark.parametrize("body", [b"{not json", b"", b"[]", b"null", b"\xff\xfe\x00garbage", b'{"network_state": '])
def test_a_malformed_body_gets_422(client: TestClient, body: bytes) -> None:
    response = client.post("/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"


def test_an_unknown_model_gets_404_with_the_accepted_ones(client: TestClient) -> None:
    response = client.post("/predict", json={**card_request(), "model_type": "hybrid_xl"})
    assert response.status_code == 404
    detail = response.json()["detail"][0]
    assert detail["loc"] == ["body", "model_type"] and "'hybrid'" in detail["msg"] and "'dqn'" in detail["msg"]


def test_a_rule_without_a_node_to_choose_gets_422(client: TestClient) -> None:
    request = card_request(0, "all_cloud")
    request["network_state"]["nodes"] = [n for n in request["network_state"]["nodes"] if n["node_type"] != 2]
    request["network_state"]["edges"] = []
    response = client.post("/predict", json=request)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "network_state", "nodes"]
    assert "cloud" in response.json()["message"]


def _limit_bodies(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    import dataclasses

    import edge_rl.serve.http

    for model, limit in edge_rl.serve.http.BODY_LIMITS.items():
        monkeypatch.setitem(edge_rl.serve.http.BODY_LIMITS, model, dataclasses.replace(limit, bytes=size))


def test_a_body_past_the_limit_gets_413_unread(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    _limit_bodies(monkeypatch, 1000)
    response = client.post("/predict", json=card_request())
    assert response.status_code == 413 and response.json()["detail"][0]["loc"] == ["body"]


@pytest.mark.parametrize("path", ["/predict", "/batch-predict"])
def test_a_chunked_body_past_the_limit_gets_413(client: TestClient, monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    """A chunked upload declares no length: it is cut off once the chunks read pass the limit."""
    _limit_bodies(monkeypatch, 1000)
    chunks = (b" " * 400 for _ in range(10))  # a generator: sent chunked, without Content-Length
    response = client.post(path, content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text
    assert "more than 1,000 bytes" in response.json()["message"]


def test_a_chunked_body_within_the_limit_is_answered_as_any_other(client: TestClient) -> None:
    body = json.dumps(card_request()).encode()
    chunked = client.post("/predict", content=(body[i : i + 100] for i in range(0, len(body), 100)),
                          headers={"content-type": "application/json"})
    assert chunked.status_code == 200, chunked.text
    plain = client.post("/predict", json=card_request()).json()
    assert {**chunked.json(), "processing_time_ms": 0} == {**plain, "processing_time_ms": 0}


def test_the_server_refuses_a_thread_count_below_one() -> None:
    import edge_rl.serve.api

    with pytest.raises(ValueError, match="torch_threads must be None or an integer >= 1, got 0"):
        edge_rl.serve.api.create_app(torch_threads=0)
    with pytest.raises(SystemExit):
        edge_rl.serve.api.main(["--threads", "0"])


def test_a_wrong_method_or_path_is_not_a_server_error(client: TestClient) -> None:
    assert client.get("/predict").status_code == 405
    assert client.get("/nowhere").status_code == 404


def test_the_fast_path_answers_exactly_as_the_routed_endpoint(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """``POST /predict`` skips FastAPI's routing (PredictFastPath); an app without the fast path
    routes it. Both must give the same status and body, for answers and for every error."""
    import edge_rl.serve.api
    import edge_rl.serve.http

    routed_calls: list[bool] = []  # per parsed request: did FastAPI's router dispatch it?
    parse = edge_rl.serve.http.parse

    async def recording_parse(request, model):  # noqa: ANN001, ANN202
        routed_calls.append("endpoint" in request.scope)  # the router sets it on a match
        return await parse(request, model)

    monkeypatch.setattr(edge_rl.serve.api, "parse", recording_parse)
    bodies: list[dict | bytes] = [card_request(seed, model) for seed, model in
                                  ((0, "hybrid"), (1, "dqn"), (2, "ppo"), (3, "greedy_earliest_finish"))]
    bodies += [body for body, _, _ in BAD_REQUESTS.values()]
    bodies += [b"{not json", b"", b"null", {**card_request(), "model_type": "hybrid_xl"}]
    with TestClient(create_app(None, ROOT / "results", torch_threads=None, fast_predict=False)) as routed:
        for body in bodies:
            fast = _post(client, body)
            assert routed_calls.pop() is False  # the fast path answered
            slow = _post(routed, body)
            assert routed_calls.pop() is True
            assert fast.status_code == slow.status_code, body
            a, b = fast.json(), slow.json()
            for answer in (a, b):
                answer.pop("processing_time_ms", None)
            assert a == b, body
        for method in ("GET", "HEAD", "OPTIONS", "PUT"):
            assert client.request(method, "/predict").status_code == routed.request(method, "/predict").status_code == 405
        trailing = [c.post("/predict/", json=card_request(), follow_redirects=False) for c in (client, routed)]
        assert trailing[0].status_code == trailing[1].status_code == 307
    assert not routed_calls


# ---------------------------------------------------------------------- /batch-predict


def test_batch_predict_answers_each_request_as_predict_does(client: TestClient) -> None:
    requests = [card_request(seed, model) for seed, model in [(0, "hybrid"), (1, "dqn"), (2, "hybrid"), (3, "least_loaded")]]
    small = make_env(EnvConfig(n_sensors=3, n_fog=2))
    small.reset(seed=4)
    requests.append({"network_state": network_state_from_env(small)[0].model_dump(), "model_type": "hybrid"})
    response = client.post("/batch-predict", json={"requests": requests})
    assert response.status_code == 200, response.text
    answers = response.json()["predictions"]
    assert len(answers) == len(requests)
    for request, answer in zip(requests, answers):
        if request["model_type"] == "round_robin":
            continue
        alone = client.post("/predict", json=request).json()
        assert answer["selected_node"] == alone["selected_node"] and answer["model_type"] == request["model_type"]
        np.testing.assert_allclose(np.array(answer["node_scores"], dtype=float),
                                   np.array(alone["node_scores"], dtype=float), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "body, status, loc",
    [
        ({"requests": []}, 422, ["body", "requests"]),
        ({"requests": [card_request()] * (MAX_BATCH + 1)}, 422, ["body", "requests"]),
        ({"requests": [card_request(), _node_change("cpu_util", 2.0)]}, 422, ["body", "requests", 1, "network_state", "nodes", 3, "cpu_util"]),
        ({"requests": [card_request(), {**card_request(), "model_type": "nope"}]}, 404, ["body", "requests", 1, "model_type"]),
        ({}, 422, ["body", "requests"]),
    ],
    ids=["empty", "oversized", "bad item", "unknown model", "no requests"],
)
def test_bad_batches_are_refused_naming_the_item(client: TestClient, body: dict, status: int, loc: list) -> None:
    response = client.post("/batch-predict", json=body)
    assert response.status_code == status
    assert response.json()["detail"][0]["loc"] == loc


# ---------------------------------------------------------------------- /models, /health, /docs


def test_models_lists_every_model_type_with_its_measured_performance(client: TestClient) -> None:
    models = {m["model_type"]: m for m in client.get("/models").json()}
    assert set(models) == set(MODEL_SPECS)
    for model_type, info in models.items():
        spec = MODEL_SPECS[model_type]
        # the best hybrid: the table and row of the variant that answers (its selection names it)
        answering = SPECS[info["selection"].split(":")[0]] if spec.alias_of else spec
        source = info["performance"]["source"]  # results/tables/<the first of its folder's tables with its row>
        assert source.removeprefix("results/tables/") in PERFORMANCE_TABLES[answering.folder]
        table = pd.read_csv(ROOT / source, index_col=0)
        assert info["available"] and info["error"] is None
        assert info["performance"]["row"] == answering.row
        assert info["performance"]["metrics"]["Mean Reward"] == table.loc[answering.row, "Mean Reward"]
        assert info["kind"] == ("learned" if spec.checkpoint or spec.alias_of else "rule")
        if spec.checkpoint or spec.alias_of:
            folder = ROOT / "results" / answering.folder
            assert info["checkpoint_path"] == str((folder / "models" if answering.folder else MODELS) / info["checkpoint"])
            runs = pd.read_csv(folder / "runs" / f"{info['checkpoint']}.csv")
            assert info["checkpoint_performance"]["metrics"]["return"] == pytest.approx(runs["return"].mean())


def test_one_model_and_an_unknown_one(client: TestClient) -> None:
    from edge_rl.serve.selection import rank_variants

    info = client.get("/models/hybrid").json()
    results = ROOT / "results"
    (best, *_), _ = rank_variants({t: (SPECS[t].home(results), SPECS[t].checkpoint)
                                   for t in MODEL_SPECS["hybrid"].alias_of})
    public = best if best in MODEL_SPECS else "hybrid_tuned"  # a tuned design answers through hybrid_tuned
    assert best in info["selection"] and info["checkpoint"] == served(client, public)
    assert info["config_name"] == client.get(f"/models/{public}").json()["config_name"]
    assert client.get("/models/hybrid_card").json()["config_name"] == "hybrid-gcn-weighted_sum"
    assert "fused distribution" in info["confidence"]
    assert "no distribution" in client.get("/models/dqn").json()["confidence"]
    response = client.get("/models/hybrid_xl")
    assert response.status_code == 404 and response.json()["detail"][0]["loc"] == ["path", "model_type"]


def test_health(client: TestClient) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and set(health["models_loaded"]) == set(MODEL_SPECS)
    assert health["models_unavailable"] == {}


def test_the_docs_and_their_examples_work(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    assert client.get("/").headers.get("location", "/docs") == "/docs"
    schema = client.get("/openapi.json").json()
    for path in ("/predict", "/batch-predict"):
        body = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        assert body["schema"]["$ref"].split("/")[-1] in schema["components"]["schemas"]
        for name, example in body["examples"].items():
            response = client.post(path, json=example["value"])
            assert response.status_code == 200, (path, name, response.text)
    node = schema["components"]["schemas"]["NodeState"]["properties"]
    assert node["cpu_util"]["maximum"] == 1 and node["bandwidth"]["exclusiveMinimum"] == 0


# ---------------------------------------------------------------------- without the checkpoints


def test_missing_checkpoints_give_503_and_a_degraded_health(tmp_path: Path) -> None:
    for suffix in (".json", ".safetensors"):
        shutil.copy(MODELS / f"ppo-gnn-seed0{suffix}", tmp_path)
    with TestClient(create_app(tmp_path, tmp_path / "no-results", torch_threads=None)) as client:
        health = client.get("/health").json()
        assert health["status"] == "degraded" and "hybrid_card" in health["models_unavailable"]
        response = client.post("/predict", json=card_request(0, "hybrid_card"))
        assert response.status_code == 503
        assert "hybrid-best-seed0" in response.json()["message"] and "make reproduce" in response.json()["message"]
        assert client.post("/predict", json=card_request(0, "ppo_plain")).status_code == 200
        info = client.get("/models/hybrid_card").json()
        assert not info["available"] and info["performance"] is None


@pytest.mark.parametrize("change", [{"hidden": 200_000}, {"layers": 100_000}, {"kind": "gat", "gat_heads": 3}],
                         ids=["160 GB", "100,000 layers", "weights of another network"])
def test_a_crafted_checkpoint_leaves_the_server_up_and_its_model_unavailable(tmp_path: Path, change: dict) -> None:
    """A JSON whose config would build a network too large (or one its weights do not fit) is
    reported like truncated weights: the server starts, that model answers 503, the rest serve."""
    for suffix in (".json", ".safetensors"):
        shutil.copy(MODELS / f"hybrid-best-seed0{suffix}", tmp_path)
        shutil.copy(MODELS / f"ppo-gnn-seed0{suffix}", tmp_path)
    description = tmp_path / "hybrid-best-seed0.json"
    document = json.loads(description.read_text())
    document["config"]["encoder"].update(change)
    description.write_text(json.dumps(document))
    with TestClient(create_app(tmp_path, tmp_path / "no-results", torch_threads=None)) as client:
        unavailable = client.get("/health").json()["models_unavailable"]
        assert str(description) in unavailable["hybrid_card"]
        response = client.post("/predict", json=card_request(0, "hybrid_card"))
        assert response.status_code == 503 and str(description) in response.json()["message"]
        assert client.post("/predict", json=card_request(0, "ppo_plain")).status_code == 200


def test_the_server_runs_torch_on_one_thread_and_restores_the_count() -> None:
    import torch

    before = torch.get_num_threads()
    with TestClient(create_app()) as client:
        assert client.get("/health").json()["torch_threads"] == 1
    assert torch.get_num_threads() == before


def test_bad_bodies_never_change_later_answers(client: TestClient) -> None:
    request = card_request(5)
    first = client.post("/predict", json=request).json()["selected_node"]
    broken = copy.deepcopy(request)
    broken["network_state"]["nodes"][0]["cpu_util"] = float("nan")
    _post(client, broken)
    assert client.post("/predict", json=request).json()["selected_node"] == first


def test_a_request_that_names_no_model_is_refused_not_answered_by_a_default(client: TestClient) -> None:
    request = card_request()
    del request["model_type"]
    response = client.post("/predict", json=request)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "model_type"]


# ---------------------------------------------------------------------- what a careless client sends


def test_a_value_past_the_clip_headroom_is_refused_naming_the_field(client: TestClient) -> None:
    from edge_rl.serve.schemas import CAPS, CLIP_HEADROOM

    request = card_request(0, "dqn")
    request["network_state"]["nodes"][3]["bandwidth"] = 1e308  # was clipped silently to the answer for 200
    response = _post(client, request)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "network_state", "nodes", 3, "bandwidth"]
    schema = client.get("/openapi.json").json()["components"]["schemas"]["NodeState"]["properties"]
    assert schema["bandwidth"]["maximum"] == CLIP_HEADROOM * CAPS["bandwidth"]  # the schema says the bound


def test_a_clipped_value_is_named_in_the_answer(client: TestClient) -> None:
    request = card_request(0, "dqn")
    plain = _post(client, request).json()
    assert plain["clipped"] == []
    request["network_state"]["nodes"][3]["bandwidth"] = 1000.0  # past the 200 Mbit/s the model reads
    request["network_state"]["nodes"][5]["queue_len"] = 50.0
    answer = _post(client, request).json()
    assert answer["clipped"] == ["network_state.nodes[3].bandwidth", "network_state.nodes[5].queue_len"]


def test_duplicate_edges_are_merged_as_documented(client: TestClient) -> None:
    request = card_request(0, "hybrid_gcn")
    edges = request["network_state"]["edges"]
    twice = copy.deepcopy(request)
    twice["network_state"]["edges"] = edges + edges + [[t, s] for s, t in edges]
    one, two = _post(client, request).json(), _post(client, twice).json()
    assert {**one, "processing_time_ms": 0} == {**two, "processing_time_ms": 0}
    schema = client.get("/openapi.json").json()["components"]["schemas"]["NetworkState"]["properties"]
    assert "duplicates are merged" in schema["edges"]["description"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_a_body_of_another_media_type_gets_415(client: TestClient, content_type: str) -> None:
    body = json.dumps(card_request(0, "dqn"))
    for path, content in (("/predict", body), ("/batch-predict", json.dumps({"requests": [json.loads(body)]}))):
        response = client.post(path, content=content, headers={"content-type": content_type})
        assert response.status_code == 415, path
        assert response.json()["detail"][0]["loc"] == ["header", "content-type"] and "application/json" in response.json()["message"]
    for accepted in ("application/json; charset=utf-8", "APPLICATION/JSON"):
        assert client.post("/predict", content=body, headers={"content-type": accepted}).status_code == 200


@pytest.mark.parametrize("path, body, loc", [
    ("/predict", '{"network_state": %s, "model_type": "dqn", "model_type": "ppo"}', ["body", "model_type"]),
    ("/predict", '{"network_state": %s, "model_type": "dqn", "task": {"input_kb": 10, "input_kb": 20}}',
     ["body", "task", "input_kb"]),
    ("/batch-predict", '{"requests": [{"network_state": %s, "model_type": "dqn"}, '
     '{"model_type": "dqn", "network_state": %s, "model_type": "ppo"}]}', ["body", "requests", 1, "model_type"]),
], ids=["model_type", "task field", "batch item"])
def test_a_key_given_twice_is_refused_naming_it(client: TestClient, path: str, body: str, loc: list) -> None:
    state = json.dumps(card_request(0)["network_state"])
    response = _post(client, body.replace("%s", state), path)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == loc and "twice" in response.json()["message"]


def test_a_duplicated_node_field_is_refused_with_its_node() -> None:
    from edge_rl.serve.strict_json import duplicate_key, json_path

    body = json.dumps(card_request(0)["network_state"]).encode()
    assert duplicate_key(body) is None
    first = body.index(b'"energy"')
    second = body.index(b'"energy"', first + 1)
    edited = body[:second] + b'"energy": 1.0, ' + body[second:]
    assert duplicate_key(edited) == "energy" and json_path(edited, duplicated="energy") == ["nodes", 1, "energy"]


def test_json_nested_too_deeply_names_the_field(client: TestClient) -> None:
    request = card_request(0, "dqn")
    request["network_state"]["edges"] = "@"
    body = json.dumps(request).replace('"@"', "[" * 5000 + "]" * 5000)
    response = _post(client, body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:3] == ["body", "network_state", "edges"]
    assert response.json()["message"].startswith("body.network_state.edges")


def test_each_batch_item_reports_its_own_processing_time(client: TestClient) -> None:
    batch = {"requests": [card_request(0, "greedy_earliest_finish"), card_request(1, "hybrid_gcn"),
                          card_request(2, "greedy_earliest_finish"), card_request(3, "hybrid_gcn")]}
    answer = _post(client, batch, "/batch-predict").json()
    times = [p["processing_time_ms"] for p in answer["predictions"]]
    assert all(0 < t <= answer["processing_time_ms"] for t in times)
    assert len(set(times)) == len(times)  # not the whole batch's time repeated


def test_a_corrupt_checkpoint_is_not_told_to_train_but_to_restore(tmp_path: Path) -> None:
    for suffix in (".json", ".safetensors"):
        shutil.copy(MODELS / f"ppo-gnn-seed0{suffix}", tmp_path)
        shutil.copy(MODELS / f"hybrid-best-seed0{suffix}", tmp_path)
    weights = tmp_path / "hybrid-best-seed0.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])  # truncated
    with TestClient(create_app(tmp_path, tmp_path / "no-results", torch_threads=None)) as client:
        unavailable = client.get("/health").json()["models_unavailable"]
        corrupt, missing = unavailable["hybrid_card"], unavailable["hybrid_gat"]
    assert "restore" in corrupt and str(tmp_path / "hybrid-best-seed0") in corrupt and "to train it" not in corrupt
    assert "make reproduce` to train it" in missing and "restore" not in missing


def test_one_variable_moves_every_models_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_rl.serve.models import Predictor

    budget = MODEL_SPECS["dqn_budget"]
    stem = Predictor(lazy=True).checkpoint("dqn_budget")
    for suffix in (".json", ".safetensors"):
        shutil.copy(ROOT / "results" / budget.folder / "models" / f"{stem}{suffix}", tmp_path)
    monkeypatch.setenv("EDGE_RL_MODELS_DIR", str(tmp_path))
    with TestClient(create_app(torch_threads=None)) as client:
        info = client.get("/models/dqn_budget").json()
        assert info["available"] and info["checkpoint_path"] == str(tmp_path / stem)
        assert client.post("/predict", json=card_request(0, "dqn_budget")).status_code == 200
