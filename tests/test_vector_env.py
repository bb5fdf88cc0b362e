"""The vectorised environment: each of its episodes is, bit for bit, the lone environment's."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import edge_rl
from edge_rl.config import EnvConfig
from edge_rl.envs.iot_edge import IoTEdgeEnv
from edge_rl.envs.vector import INFO_KEYS, IoTEdgeVectorEnv

CONFIGS = {
    "card": EnvConfig(),
    "padded 30": EnvConfig(n_sensors=20, n_fog=8, n_cloud=2, max_nodes=40),
    "no cloud, random links": EnvConfig(n_sensors=3, n_fog=1, n_cloud=0, topology_seed=3),
    "63 nodes": EnvConfig(n_sensors=40, n_fog=20, n_cloud=3),
    "no background": EnvConfig(background_rate=0.0, warmup_steps=0),
    "load x2": EnvConfig(load_scale=2.0),
    "Alibaba trace, random links": EnvConfig(load_trace="alibaba2018", topology_seed=1),
}


@pytest.mark.parametrize("seeds", [[5, 6, 10_000, 77], [5]], ids=["4 episodes", "1 episode"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_episode_equals_a_lone_environment_bit_for_bit_through_autoreset(name: str, seeds: list[int]) -> None:
    """Observations, rewards, every ``info`` value (and the arrays' dtypes) and the time limit, over episodes
    of 37 steps (so each episode restarts, continuing its generator, as a lone env's reset() does).
    One episode is a batch of one on the vector side too: the shared dynamics' Python-float path."""
    config, steps = CONFIGS[name], 37
    vector = IoTEdgeVectorEnv(len(seeds), config, max_episode_steps=steps)
    lone = [IoTEdgeEnv(config) for _ in seeds]
    vector_obs, _ = vector.reset(seed=seeds)
    lone_obs = [env.reset(seed=seed)[0] for env, seed in zip(lone, seeds)]
    count, done = [0] * len(seeds), [False] * len(seeds)
    actions_rng = np.random.default_rng(1)
    for _ in range(2 * steps + 5):
        for i in range(len(seeds)):
            for key in vector_obs:
                assert np.array_equal(vector_obs[key][i], lone_obs[i][key]), (key, i)
        actions = actions_rng.integers(0, config.n_nodes, len(seeds))
        vector_obs, rewards, terminated, truncated, info = vector.step(actions)
        assert not terminated.any()
        for i, env in enumerate(lone):
            if done[i]:  # next-step autoreset: a new episode, the action ignored
                lone_obs[i], _ = env.reset()
                count[i], done[i] = 0, False
                assert rewards[i] == 0.0 and not truncated[i]
                continue
            lone_obs[i], reward, _, _, lone_info = env.step(int(actions[i]))
            count[i] += 1
            done[i] = count[i] >= steps
            assert reward == rewards[i] and done[i] == truncated[i]
            assert all(lone_info[key] == info[key][i] for key in INFO_KEYS), i
    assert rewards.dtype == np.float64 and {key: info[key].dtype for key in INFO_KEYS} == {
        key: np.dtype(bool if key in ("deadline_met", "dropped") else np.int64 if key in ("node", "node_type")
                      else np.float64) for key in INFO_KEYS}


def test_make_vec_builds_it_with_the_registered_time_limit() -> None:
    envs = gym.make_vec(edge_rl.ENV_ID, num_envs=3, n_sensors=4, n_fog=2)
    assert isinstance(envs, IoTEdgeVectorEnv) and envs.max_episode_steps == 100 and envs.n_nodes == 7
    obs, _ = envs.reset(seed=1)
    assert obs["nodes"].shape == (3, 7, 7) and envs.observation_space.contains(obs)
    first = IoTEdgeEnv(n_sensors=4, n_fog=2).reset(seed=2)[0]  # seed + i, as Gymnasium's vector envs
    assert np.array_equal(obs["nodes"][1], first["nodes"])
    for _ in range(100):
        obs, _, _, truncated, _ = envs.step(np.zeros(3, dtype=np.int64))
    assert truncated.all()


def test_bad_actions_and_seeds_are_refused_with_what_is_accepted() -> None:
    envs = IoTEdgeVectorEnv(2, n_sensors=2, n_fog=1, n_cloud=0, max_nodes=5)
    with pytest.raises(RuntimeError, match="call reset"):
        envs.step(np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="one seed per episode \\(2\\), got 3"):
        envs.reset(seed=[1, 2, 3])
    envs.reset(seed=[1, 2])
    for actions in (np.array([0, 3]), np.array([0.0, 1.0]), np.array([0])):
        with pytest.raises(ValueError, match=r"actions must be 2 node indices, integers in \[0, 2\]"):
            envs.step(actions)
    with pytest.raises(ValueError, match="num_envs must be an integer >= 1"):
        IoTEdgeVectorEnv(0)
