"""Invariants of the simulator, over generated topologies, seeds and action sequences."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_rl.config import EnvConfig
from edge_rl.envs.iot_edge import IoTEdgeEnv


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[EnvConfig, int, list[int]]:
    n_sensors = draw(st.integers(1, 12))
    n_fog = draw(st.integers(1, 5))
    n_cloud = draw(st.integers(0, 2))
    n = n_sensors + n_fog + n_cloud
    config = EnvConfig(
        n_sensors=n_sensors,
        n_fog=n_fog,
        n_cloud=n_cloud,
        topology_seed=draw(st.none() | st.integers(0, 2**16)),
        max_nodes=draw(st.sampled_from([None, n + 3])),
        background_rate=draw(st.sampled_from([0.0, 5.0, 20.0])),
        warmup_steps=draw(st.integers(0, 5)),
    )
    seed = draw(st.integers(0, 2**32 - 1))
    actions = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=40))
    return config, seed, actions


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_state_and_observation_invariants(scenario: tuple[EnvConfig, int, list[int]]) -> None:
    config, seed, actions = scenario
    env = IoTEdgeEnv(config)
    obs, info = env.reset(seed=seed)
    n, padded = config.n_nodes, config.padded_nodes
    for action in actions:
        assert env.observation_space.contains(obs)
        assert np.all(obs["nodes"][n:] == 0) and np.all(obs["node_mask"][n:] == 0)
        assert np.array_equal(env.action_masks(), np.arange(padded) < n)
        source = info["task"]["source"]
        assert 0 <= source < config.n_sensors  # tasks arrive at sensors

        obs, reward, terminated, truncated, info = env.step(action)

        state = env.raw_state()
        assert np.all(state.backlog_mi >= 0) and np.all(state.ingress_mbit >= 0)
        assert np.all(state.mem_used_mb >= 0)
        assert np.all((obs["nodes"][:, :2] >= 0) & (obs["nodes"][:, :2] <= 1))  # utilisations
        assert info["latency_ms"] >= env.topology.path_latency_ms[source, action]
        assert info["latency_ms"] >= info["transfer_ms"] >= 0
        assert info["energy_j"] >= 0
        assert -4.5 <= reward <= 2.3 + 1e-9
        assert 0 < info["load_balance"] <= 1 + 1e-12
        assert not terminated and not truncated
