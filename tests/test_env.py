"""IoTEdgeEnv: the checkers, determinism, the latency / energy / reward model by hand, bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import edge_rl
from edge_rl.config import NODE_FEATURES, EnvConfig
from edge_rl.envs.dynamics import SimState, Simulator
from edge_rl.envs.heuristics import make_heuristic
from edge_rl.envs.iot_edge import IoTEdgeEnv, make_env
from edge_rl.evaluation import evaluate
from edge_rl.registry import LOAD_TRACES

RESULTS = Path(__file__).resolve().parents[1] / "results"

STEP_INFO_KEYS = {"latency_ms", "energy_j", "deadline_met", "node", "node_type"}


def _warnings_of(check, env) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check(env)
    return [str(w.message) for w in caught]


def test_gymnasium_check_env_passes_without_warnings() -> None:
    # Through gymnasium.make, so the checker also sees the registered spec. (Not on a padded
    # env: the checker steps random actions, and a padding slot is an invalid action.)
    assert _warnings_of(gym_check_env, make_env().unwrapped) == []


def test_sb3_check_env_passes_without_warnings_on_the_flat_env() -> None:
    assert _warnings_of(sb3_check_env, make_env(flat=True)) == []


def test_sb3_check_env_on_the_graph_env_only_advises_a_custom_policy() -> None:
    # SB3 advises a custom policy for 2-D observations: that is what the GNN extractor is.
    messages = _warnings_of(sb3_check_env, IoTEdgeEnv())
    assert len(messages) == 2
    assert all("unconventional shape" in m and "custom policy" in m for m in messages)


def test_observation_has_exactly_the_designed_keys_and_shapes() -> None:
    env = IoTEdgeEnv()
    obs, info = env.reset(seed=0)
    assert list(obs) == ["nodes", "adjacency", "node_mask", "task"]
    assert obs["nodes"].shape == (17, len(NODE_FEATURES)) and obs["nodes"].dtype == np.float32
    assert obs["adjacency"].shape == (17, 17) and obs["node_mask"].shape == (17,)
    assert obs["task"].shape == (4,)
    assert np.array_equal(obs["nodes"][:, 6], [0] * 10 + [1] * 6 + [2])
    assert set(info["task"]) >= {"source", "demand_mi", "input_kb", "memory_mb", "deadline_ms"}
    _, _, _, _, info = env.step(10)
    assert STEP_INFO_KEYS <= set(info)


def _rollout(env: gym.Env, seed: int, steps: int = 60) -> list:
    obs, _ = env.reset(seed=seed)
    actions = np.random.default_rng(123).integers(0, 17, size=steps)
    trace = [obs]
    for action in actions:
        trace.append(env.step(action))
    return trace


def _same(a: object, b: object) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def test_same_seed_gives_the_identical_trajectory_and_another_seed_does_not() -> None:
    first = _rollout(make_env(), seed=5)
    assert _same(first, _rollout(make_env(), seed=5))
    assert not _same(first, _rollout(make_env(), seed=6))


def test_episodes_are_truncated_after_100_steps_never_terminated() -> None:
    env = make_env()
    env.reset(seed=0)
    for t in range(100):
        _, _, terminated, truncated, _ = env.step(10)
        assert not terminated
        assert truncated == (t == 99)


# --------------------------------------------------------------- the model, by hand
# tiny_config: sensor 0, fog 1, cloud 2; task 1000 MI, 8 Mbit, 64 MB, deadline 400 ms.


def test_placing_on_the_fog_node_by_hand(tiny_config: EnvConfig) -> None:
    env = IoTEdgeEnv(tiny_config)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(1)
    transfer = 6.0 + 1000.0 * 8.0 / 50.0  # path latency + 8 Mbit over the 50 Mbit/s sensor link
    execution = 1000.0 * 1000.0 / 2800.0
    assert info["transfer_ms"] == pytest.approx(transfer)
    assert info["wait_ms"] == 0.0
    assert info["latency_ms"] == pytest.approx(transfer + execution)  # 523.1 ms
    assert not info["deadline_met"]
    energy = 107.3 * execution / 1000.0 + 0.5 * 1.0 * 1  # busy power x time + 0.5 J/MB x 1 MB x 1 hop
    assert info["energy_j"] == pytest.approx(energy)
    # Largest energy for this task is the fog's own, so e = 1. Servers' queues (steps of compute):
    # fog 1000/280, cloud 0 -> Jain index 1/2.
    expected = 2.0 * 0 - 1.0 * (transfer + execution) / 400.0 - 0.5 * 1.0 + 0.3 * 0.5
    assert reward == pytest.approx(expected)


def test_queues_drain_and_the_next_task_waits(tiny_config: EnvConfig) -> None:
    env = IoTEdgeEnv(tiny_config)
    env.reset(seed=0)
    obs, _, _, _, _ = env.step(1)
    # One step of 100 ms later the fog node has done 280 MI of the 1000.
    fog = obs["nodes"][1]
    assert fog[NODE_FEATURES.index("cpu_util")] == pytest.approx(1.0)
    assert fog[NODE_FEATURES.index("queue_len")] == pytest.approx(720.0 / 280.0)
    assert fog[NODE_FEATURES.index("mem_util")] == pytest.approx(64.0 * 0.72 / 4000.0)
    _, _, _, _, info = env.step(1)
    assert info["wait_ms"] == pytest.approx(1000.0 * 720.0 / 2800.0)


def test_placing_on_the_cloud_and_its_saturating_link_by_hand(tiny_config: EnvConfig) -> None:
    env = IoTEdgeEnv(tiny_config)
    env.reset(seed=0)
    obs, reward, _, _, info = env.step(2)
    # 16 ms path; the narrowest of the 50 Mbit/s sensor link and the 40 Mbit/s WAN link.
    transfer = 16.0 + 1000.0 * 8.0 / 40.0
    execution = 1000.0 * 1000.0 / 40000.0
    assert info["latency_ms"] == pytest.approx(transfer + execution)  # 241 ms
    assert info["deadline_met"]
    energy = 200.0 * execution / 1000.0 + 0.5 * 1.0 * 2
    fog_energy = 107.3 * (1000.0 / 2800.0) + 0.5
    expected = 2.0 - (transfer + execution) / 400.0 - 0.5 * energy / fog_energy + 0.3 * 0.5
    assert info["energy_j"] == pytest.approx(energy)
    assert reward == pytest.approx(expected)
    # The WAN link moved 4 of the 8 Mbit in one step: the next task waits 100 ms behind them.
    assert obs["nodes"][2, NODE_FEATURES.index("latency")] == pytest.approx((16.0 + 100.0) / 100.0)
    _, _, _, _, info = env.step(2)
    assert info["transfer_ms"] == pytest.approx(transfer + 100.0)


def test_running_on_the_source_sensor_has_no_transfer(tiny_config: EnvConfig) -> None:
    env = IoTEdgeEnv(tiny_config)
    obs, _ = env.reset(seed=0)
    assert obs["nodes"][0, NODE_FEATURES.index("latency")] == 0.0
    assert obs["nodes"][0, NODE_FEATURES.index("bandwidth")] == 1.0
    _, reward, _, _, info = env.step(0)
    assert info["transfer_ms"] == 0.0
    assert info["latency_ms"] == pytest.approx(10_000.0)  # 1000 MI at 100 MIPS
    assert info["energy_j"] == pytest.approx(2.0 * 10.0)  # 2 W for 10 s, nothing transmitted
    # latency / deadline = 25 is capped at 4; the fog node would have used the most energy.
    fog_energy = 107.3 * (1000.0 / 2800.0) + 0.5
    assert reward == pytest.approx(-4.0 - 0.5 * 20.0 / fog_energy + 0.3 * 1.0)


def test_a_task_that_does_not_fit_in_memory_is_dropped(no_memory_sensor: EnvConfig) -> None:
    env = IoTEdgeEnv(no_memory_sensor)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(0)
    assert info["dropped"] and not info["deadline_met"]
    assert info["latency_ms"] == pytest.approx(4.0 * 400.0)
    assert info["energy_j"] == 0.0
    assert reward == pytest.approx(-4.0 + 0.3 * 1.0)
    obs, _, _, _, info = env.step(1)  # the fog node has the memory
    assert not info["dropped"]


def _started(config: EnvConfig, rng: np.random.Generator) -> tuple[Simulator, SimState]:
    """A lone episode of the shared dynamics (edge_rl.envs.dynamics), started with ``rng``."""
    simulator = Simulator(config)
    state = simulator.new_state(1)
    simulator.start(state, [rng])
    return simulator, state


def test_background_work_is_poisson_with_the_configured_rate() -> None:
    rng = np.random.default_rng(0)
    simulator, state = _started(EnvConfig(warmup_steps=0), rng)
    arrivals = []
    for _ in range(2000):
        before = state.backlog_mi.copy()
        simulator.advance(state, [rng])
        drained = np.maximum(before - simulator.step_mi, 0.0)
        arrivals.append(int(np.count_nonzero(state.backlog_mi > drained + 1e-12)))
    # Jobs landing on the same node in one step count once, so the mean is a little below 5.
    assert 4.0 < np.mean(arrivals) <= 5.0


def _background_jobs(config: EnvConfig, steps: int = 3000) -> np.ndarray:
    """The background jobs of each step (counted as the draws the simulator makes)."""
    counts: list[int] = []

    class Recording:  # the episode's generator, recording each step's Poisson draw
        def __init__(self, rng: np.random.Generator) -> None:
            self.rng = rng

        def __getattr__(self, name: str):
            return getattr(self.rng, name)

        def poisson(self, rate: float) -> int:
            counts.append(int(self.rng.poisson(rate)))
            return counts[-1]

    rng = np.random.default_rng(0)
    simulator, state = _started(config.replace(warmup_steps=0), rng)
    for _ in range(steps):
        simulator.advance(state, [Recording(rng)])
    return np.asarray(counts)


def test_load_scale_multiplies_the_background_arrivals_and_a_trace_follows_its_series() -> None:
    card, double = _background_jobs(EnvConfig()), _background_jobs(EnvConfig(load_scale=2.0))
    assert 4.8 < card.mean() < 5.2 and 9.6 < double.mean() < 10.4
    traced = _background_jobs(EnvConfig(load_trace="alibaba2018"), steps=2243)
    series = LOAD_TRACES.get("alibaba2018")()
    assert series.mean() == pytest.approx(1.0) and series.std() > 0.2  # the trace's swings, the card's mean
    # Over the whole series (one sample per step), the arrivals follow it: busy samples, more jobs.
    _, state = _started(EnvConfig(load_trace="alibaba2018", warmup_steps=0), np.random.default_rng(0))
    start = int(state.trace_at[0]) % len(series)
    aligned = np.roll(series, -start)[: len(traced)]
    assert np.corrcoef(aligned, traced)[0, 1] > 0.1
    assert traced[aligned > 1.3].mean() > 1.3 * traced[aligned < 0.8].mean()


def test_the_card_load_gives_the_committed_episodes_digit_for_digit() -> None:
    """load_scale 1 and no trace draw nothing more than before these fields existed: the rule's
    committed test episodes (results/tables, notebook 00) come out to the last digit."""
    committed = pd.read_csv(RESULTS / "tables" / "heuristics_episodes.csv")
    committed = committed[(committed["policy"] == "greedy_earliest_finish") & (committed["seed"] < 10_003)]
    rows = evaluate(make_heuristic("greedy_earliest_finish"), committed["seed"].tolist())
    assert rows["return"].tolist() == committed["return"].tolist()


# --------------------------------------------------------------- padding and bad input


def test_padding_runs_a_small_topology_in_a_larger_observation() -> None:
    env = IoTEdgeEnv(n_sensors=4, n_fog=2, n_cloud=1, max_nodes=17)
    obs, _ = env.reset(seed=1)
    assert obs["nodes"].shape == (17, 7)
    assert np.array_equal(obs["node_mask"], [1.0] * 7 + [0.0] * 10)
    assert np.all(obs["nodes"][7:] == 0) and np.all(obs["adjacency"][7:] == 0)
    assert np.array_equal(env.action_masks(), obs["node_mask"] > 0)
    with pytest.raises(ValueError, match=r"integer in \[0, 6\]; slots 7..16 are padding"):
        env.step(9)


@pytest.mark.parametrize("action", [-1, 17, 2.5, "3", None, np.array([1, 2])])
def test_invalid_actions_say_which_actions_are_valid(action: object) -> None:
    env = IoTEdgeEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"invalid action .*an integer in \[0, 16\]"):
        env.step(action)


def test_numpy_integer_actions_are_accepted() -> None:
    env = IoTEdgeEnv()
    env.reset(seed=0)
    for action in (np.int64(3), np.array(3), 3.0):
        assert env.step(action)[4]["node"] == 3


def test_step_before_reset_and_unknown_reset_options_are_refused() -> None:
    with pytest.raises(RuntimeError, match=r"call reset\(\) before step\(\)"):
        IoTEdgeEnv().step(0)
    with pytest.raises(ValueError, match=r"accepts no options, got \['foo'\]"):
        IoTEdgeEnv().reset(seed=0, options={"foo": 1})


@pytest.mark.parametrize(
    ("seed", "message"),
    [(-1, "Seed must be greater or equal to zero"), (1.5, "Seed must be a python integer")],
)
def test_bad_seeds_are_refused_clearly(seed: object, message: str) -> None:
    with pytest.raises(gym.error.Error, match=message):
        IoTEdgeEnv().reset(seed=seed)


def test_config_overrides_and_bad_ones_through_gym_make() -> None:
    env = gym.make(edge_rl.ENV_ID, n_sensors=20, n_fog=8)
    assert env.unwrapped.n_nodes == 29
    with pytest.raises(TypeError, match=r"unknown EnvConfig field\(s\) \['n_fogs'\]"):
        gym.make(edge_rl.ENV_ID, n_fogs=8)
    with pytest.raises(TypeError, match="config must be an EnvConfig, got dict"):
        IoTEdgeEnv({"n_fog": 3})
