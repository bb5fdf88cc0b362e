"""Serving logic: the card's raw units -> the environment's observation, the model catalogue,
decisions of learned models and rules, and the measured performance read from results/."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from edge_rl.agents import load
from edge_rl.config import EnvConfig
from edge_rl.envs.heuristics import HEURISTICS, make_heuristic
from edge_rl.envs.iot_edge import QUEUE_CAP_STEPS, make_env
from edge_rl.serve.conversions import (
    example_request,
    network_state_from_env,
    network_state_from_observation,
    stack_observations,
    to_observation,
)
from edge_rl.serve.models import (
    MODEL_SPECS,
    ModelUnavailableError,
    NoEligibleNodeError,
    Predictor,
    UnknownModelError,
)
from edge_rl.serve.performance import PERFORMANCE_TABLES, model_performance
from edge_rl.serve.schemas import MAX_NODES, NetworkState, NodeState, PredictRequest, TaskSpec

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "results" / "models"
RESULTS = ROOT / "results"
LEARNED = [m for m, spec in MODEL_SPECS.items() if spec.checkpoint]
STUDY = {m for m in LEARNED if MODEL_SPECS[m].folder}  # read from <results>/study/models unless one models folder is named
VALID_NODE = {"cpu_util": 0.5, "mem_util": 0.5, "energy": 1.0, "latency": 10.0, "bandwidth": 50.0, "queue_len": 1.0,
              "node_type": 1}


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor()


def _states(config: EnvConfig | None = None, seeds: range = range(3), steps: int = 30):
    """(observation, env) pairs along random episodes: loaded queues, every source."""
    env = make_env(config)
    rng = np.random.default_rng(0)
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        for _ in range(steps):
            yield obs, env
            action = rng.choice(np.flatnonzero(obs["node_mask"] > 0.5))
            obs, *_ = env.step(action)


def _node(**changes: float) -> NodeState:
    return NodeState(**(VALID_NODE | changes))


# ---------------------------------------------------------------------- conversions


@pytest.mark.parametrize("config", [None, EnvConfig(n_sensors=20, n_fog=8, n_cloud=2, topology_seed=3)],
                         ids=["card", "30-nodes"])
def test_a_state_read_off_the_environment_converts_to_its_exact_observation(config: EnvConfig | None) -> None:
    for obs, env in _states(config):
        state, task = network_state_from_env(env)
        converted = to_observation(state, task)
        for key in obs:
            assert converted[key].dtype == obs[key].dtype, key
            np.testing.assert_array_equal(converted[key], obs[key], err_msg=key)


def test_values_past_a_cap_are_clipped_as_the_environment_clips_them() -> None:
    node = _node(energy=1e6, latency=1e7, bandwidth=2e6, queue_len=1e4)  # at most CLIP_HEADROOM x the caps
    obs = to_observation(NetworkState(nodes=[node, _node()], edges=[(0, 1)]))
    high = make_env().observation_space["nodes"].high[0]
    np.testing.assert_array_equal(obs["nodes"][0, 2:6], high[2:6])
    assert obs["nodes"][0, 5] == QUEUE_CAP_STEPS


def test_edges_become_a_symmetric_adjacency_with_a_zero_diagonal() -> None:
    state = NetworkState(nodes=[_node()] * 4, edges=[(0, 1), (2, 1), (1, 2), (3, 0)])
    adjacency = to_observation(state)["adjacency"]
    np.testing.assert_array_equal(adjacency, adjacency.T)
    assert adjacency.sum() == 6 and np.trace(adjacency) == 0


def test_the_default_task_is_the_median_of_the_training_distribution() -> None:
    config, task = EnvConfig(), TaskSpec()
    assert task.demand_mi == pytest.approx(np.sqrt(np.prod(config.demand_mi)), abs=1e-3)
    assert task.memory_mb == pytest.approx(np.mean(config.memory_mb))
    assert task.deadline_ms == pytest.approx(np.sqrt(np.prod(config.deadline_ms)), abs=1e-3)


def test_an_observation_reads_back_to_the_same_observation() -> None:
    for obs, _ in _states(steps=10):
        state, task = network_state_from_observation(obs)
        again = to_observation(state, task)
        for key in obs:
            np.testing.assert_allclose(again[key], obs[key], rtol=1e-6, atol=1e-7, err_msg=key)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"cpu_util": 1.01}, "cpu_util"),
        ({"mem_util": -0.1}, "mem_util"),
        ({"energy": float("nan")}, "energy"),
        ({"latency": float("inf")}, "latency"),
        ({"bandwidth": 0.0}, "bandwidth"),
        ({"queue_len": -1.0}, "queue_len"),
        ({"node_type": 3}, "node_type"),
        ({"node_type": "router"}, "node_type"),
        ({"node_type": True}, "node_type"),
        ({"cpu_util": "0.5"}, "cpu_util"),
    ],
)
def test_a_node_out_of_range_is_refused_naming_the_field(changes: dict, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        NodeState(**(VALID_NODE | changes))
    assert error.value.errors()[0]["loc"] == (field,)


def test_node_types_are_accepted_by_name_and_as_whole_floats() -> None:
    assert [_node(node_type=t).node_type for t in ("sensor", "Fog", "cloud", 2.0)] == [0, 1, 2, 2]


def test_a_network_must_name_existing_nodes_and_stay_within_the_maximum() -> None:
    with pytest.raises(ValidationError, match=r"edges\[1\] = \[1, 2\] names node 2"):
        NetworkState(nodes=[_node(), _node()], edges=[(0, 1), (1, 2)])
    with pytest.raises(ValidationError, match="links node 1 to itself"):
        NetworkState(nodes=[_node(), _node()], edges=[(1, 1)])
    with pytest.raises(ValidationError, match="at least 1"):
        NetworkState(nodes=[], edges=[])
    with pytest.raises(ValidationError, match=f"at most {MAX_NODES}"):
        NetworkState(nodes=[_node()] * (MAX_NODES + 1))
    with pytest.raises(ValidationError, match="deadline_ms"):
        TaskSpec(deadline_ms=10.0)


def test_the_documented_example_request_is_valid() -> None:
    for request in (example_request(0), example_request(1, "dqn", task=True)):
        parsed = PredictRequest.model_validate(request)
        assert len(parsed.network_state.nodes) == EnvConfig().n_nodes


# ---------------------------------------------------------------------- decisions


def test_every_model_type_loads_from_the_committed_checkpoints(predictor: Predictor) -> None:
    assert predictor.errors == {}
    assert set(predictor.policies) == set(MODEL_SPECS)


@pytest.mark.parametrize("model_type", LEARNED)
def test_a_learned_model_decides_as_its_agent_predicts(predictor: Predictor, model_type: str) -> None:
    agent = load(predictor.checkpoint_path(model_type))
    for obs, env in _states(steps=15):
        decision = predictor.predict(model_type, [to_observation(*network_state_from_env(env))])[0]
        assert decision.selected_node == agent.predict(obs)[0]
        scores = agent.node_scores(obs)
        if "probabilities" in scores:
            assert decision.confidence == pytest.approx(scores["probabilities"][decision.selected_node])
            assert sum(decision.node_scores) == pytest.approx(1.0, abs=1e-5)
        else:  # DQN: no distribution
            assert decision.confidence is None
            assert decision.node_scores == pytest.approx(scores["q_values"].tolist())
        assert (decision.q_values is not None) == ("q_values" in scores)


@pytest.mark.parametrize("model_type", ["hybrid", "hybrid_gat", "hybrid_sage", "dqn", "ppo"])
def test_a_batch_of_different_sizes_decides_as_each_alone(predictor: Predictor, model_type: str) -> None:
    observations = [obs for obs, _ in _states(EnvConfig(n_sensors=4, n_fog=2), seeds=range(1), steps=3)]
    observations += [obs for obs, _ in _states(seeds=range(1), steps=3)]
    together = predictor.predict(model_type, observations)
    for obs, decision in zip(observations, together):
        alone = predictor.predict(model_type, [obs])[0]
        assert decision.selected_node == alone.selected_node
        assert len(decision.node_scores) == obs["nodes"].shape[0]
        np.testing.assert_allclose(decision.node_scores, alone.node_scores, rtol=1e-4, atol=1e-6)


def test_padding_a_batch_matches_the_environments_padding() -> None:
    small = next(_states(EnvConfig(n_sensors=2, n_fog=1, n_cloud=1)))[0]
    large = next(_states())[0]
    batch = stack_observations([small, large])
    padded = next(_states(EnvConfig(n_sensors=2, n_fog=1, n_cloud=1, max_nodes=17)))[0]
    for key in ("nodes", "adjacency", "node_mask"):
        np.testing.assert_array_equal(batch[key][0], padded[key], err_msg=key)


@pytest.mark.parametrize("name", [n for n in HEURISTICS if n not in ("random", "round_robin")])
def test_a_rule_decides_as_the_heuristic_predicts(predictor: Predictor, name: str) -> None:
    rule = make_heuristic(name)
    for obs, _ in _states(steps=20):
        decision = predictor.predict(name, [obs])[0]
        assert decision.selected_node == rule.predict(obs)[0]
        assert decision.node_scores[decision.selected_node] == max(s for s in decision.node_scores if s is not None)
        assert decision.confidence is None and decision.q_values is None


def test_round_robin_takes_the_servers_in_turn_across_requests() -> None:
    predictor = Predictor()
    obs = next(_states())[0]
    servers = np.flatnonzero(obs["nodes"][:, -1] > 0.5).tolist()
    chosen = [predictor.predict("round_robin", [obs])[0].selected_node for _ in range(2 * len(servers))]
    assert chosen == servers * 2


def test_random_reports_the_probability_of_its_uniform_draw(predictor: Predictor) -> None:
    obs = next(_states())[0]
    assert predictor.predict("random", [obs])[0].confidence == pytest.approx(1 / obs["nodes"].shape[0])


def test_a_rule_with_no_node_to_choose_says_so(predictor: Predictor) -> None:
    sensors_only = to_observation(NetworkState(nodes=[_node(node_type=0)] * 3, edges=[(0, 1)]))
    with pytest.raises(NoEligibleNodeError, match="least_loaded places tasks on a fog or cloud node"):
        predictor.predict("least_loaded", [sensors_only])
    assert predictor.predict("hybrid", [sensors_only])[0].selected_node in range(3)
    assert predictor.predict("greedy_earliest_finish", [sensors_only])[0].selected_node in range(3)


def test_a_zero_bandwidth_after_scaling_costs_infinity_without_warnings(predictor: Predictor) -> None:
    # 1e-300 Mbit/s underflows to 0 in float32: the greedy rule divides by it (no warning, no NaN).
    obs = to_observation(NetworkState(nodes=[_node(latency=0.0, node_type=0), _node(bandwidth=1e-300)], edges=[(0, 1)]))
    decision = predictor.predict("greedy_earliest_finish", [obs])[0]
    assert decision.selected_node == 0 and decision.node_scores[1] is None


def test_a_missing_checkpoint_leaves_the_other_models_serving(tmp_path: Path) -> None:
    served = Predictor(lazy=True).checkpoint("dqn")  # the seed chosen on validation episodes
    for suffix in (".json", ".safetensors"):
        shutil.copy(MODELS / f"{served}{suffix}", tmp_path)
    predictor = Predictor(tmp_path)
    assert "dqn" in predictor.policies and "greedy_earliest_finish" in predictor.policies
    # the study's too (the folder holds every model), and the tuned hybrid with them
    assert set(predictor.errors) - {"hybrid"} == set(LEARNED) - {"dqn"} | {"hybrid_tuned"}
    with pytest.raises(ModelUnavailableError, match=r"hybrid-best-seed\d+.*EDGE_RL_MODELS_DIR"):
        predictor.policy("hybrid_card")
    with pytest.raises(UnknownModelError, match="accepted: .*'hybrid'"):
        predictor.policy("hybrid_xl")


def test_the_models_folder_follows_the_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_RL_MODELS_DIR", str(tmp_path))
    predictor = Predictor()
    assert predictor.models_dir == tmp_path and set(predictor.errors) - {"hybrid"} == set(LEARNED) | {"hybrid_tuned"}


# ---------------------------------------------------------------------- measured performance


@pytest.mark.parametrize("model_type", [m for m, spec in MODEL_SPECS.items() if not spec.alias_of])
def test_performance_is_the_row_of_the_results_table(model_type: str) -> None:
    """(The best hybrid answers with its variant's row: tests/test_api.py.)"""
    spec = MODEL_SPECS[model_type]
    variant, own = model_performance(spec, RESULTS)
    name = next(n for n in PERFORMANCE_TABLES[spec.folder]  # the card's table, or the budget study's
                if spec.row in pd.read_csv(RESULTS / "tables" / n, index_col=0).index)
    table = pd.read_csv(RESULTS / "tables" / name, index_col=0)
    assert variant["source"] == f"results/tables/{name}" and variant["row"] == spec.row
    assert variant["metrics"]["Mean Reward"] == table.loc[spec.row, "Mean Reward"]
    if spec.checkpoint:
        runs = pd.read_csv(RESULTS / spec.folder / "runs" / f"{spec.stem()}.csv")
        assert own["source"] == "/".join(("results", *Path(spec.folder).parts, "runs", f"{spec.stem()}.csv"))
        assert own["metrics"]["return"] == pytest.approx(runs["return"].mean())
        assert own["metrics"]["episodes"] == len(runs)
    else:
        assert own is None


def test_performance_is_none_without_results(tmp_path: Path) -> None:
    assert model_performance(MODEL_SPECS["hybrid"], tmp_path) == (None, None)
