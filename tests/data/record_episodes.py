"""Record the simulator's behaviour as one sha256 per case, into ``recorded_episodes.json`` beside this file.

Why: the environment's dynamics may be reorganised (issue 29), but every episode must stay bit
for bit what it was, or every committed result would need a rerun. A digest per case is compact
enough to commit and still catches a change in the last bit of any observation, reward, flag,
``info`` value or served conversion. ``tests/test_recorded_episodes.py`` recomputes the digests
and compares them with the committed ones.

Run ``python tests/data/record_episodes.py`` to write the file (only when a change of behaviour is
intended, and say so in the commit), ``--check`` to compare without writing.

What is hashed, and how: every value is fed with a tag of its kind (bool, int, float, str, array
with its dtype and shape, dict with its keys in order, list): a Python float and a numpy float64
of the same value hash alike, as do ``bool`` and ``numpy.bool_``; arrays hash their dtype and
bytes, so a float32 that changes in its last bit changes the digest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edge_rl.config import EnvConfig
from edge_rl.envs.heuristics import make_heuristic
from edge_rl.envs.iot_edge import IoTEdgeEnv, make_env
from edge_rl.envs.mixture import EnvMixture
from edge_rl.envs.oracles import RolloutOracle
from edge_rl.envs.vector import IoTEdgeVectorEnv
from edge_rl.serve.conversions import (
    example_request,
    network_state_from_env,
    network_state_from_observation,
    to_observation,
)

FIXTURE = Path(__file__).with_name("recorded_episodes.json")

SINGLE_CONFIGS = {
    "card": EnvConfig(),
    "100 nodes (70/27/3)": EnvConfig(n_sensors=70, n_fog=27, n_cloud=3),
    "alibaba2018 trace": EnvConfig(load_trace="alibaba2018"),
    "topology_seed 7": EnvConfig(topology_seed=7),
    "padded 9 -> 30": EnvConfig(n_sensors=5, n_fog=3, n_cloud=1, max_nodes=30),
    "load x2, no cloud": EnvConfig(load_scale=2.0, n_cloud=0),
    "no background": EnvConfig(background_rate=0.0, warmup_steps=0),
}
VECTOR_CONFIGS = {
    "card": EnvConfig(),
    "trace, random links, padded": EnvConfig(load_trace="alibaba2018", topology_seed=3, n_sensors=12, max_nodes=24),
}
SEEDS = (0, 1, 10_000)


def _feed(digest: Any, value: Any) -> None:
    """Feed ``value`` into ``digest`` with a tag of its kind (see the module's docstring)."""
    if hasattr(value, "model_dump"):  # a pydantic model of the API
        value = value.model_dump()
    if isinstance(value, dict):
        digest.update(b"d%d" % len(value))
        for key, item in value.items():
            _feed(digest, str(key))
            _feed(digest, item)
    elif isinstance(value, (list, tuple)):
        digest.update(b"l%d" % len(value))
        for item in value:
            _feed(digest, item)
    elif isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        digest.update(f"a{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    elif isinstance(value, (bool, np.bool_)):
        digest.update(b"b1" if value else b"b0")
    elif isinstance(value, (int, np.integer)):
        digest.update(b"i%d" % int(value))
    elif isinstance(value, (float, np.floating)):
        digest.update(b"f" + float(value).hex().encode())
    elif isinstance(value, str):
        digest.update(b"s%d:" % len(value) + value.encode())
    elif value is None:
        digest.update(b"n")
    else:
        raise TypeError(f"cannot hash a {type(value).__name__}")


def _digest(records: Iterator[Any]) -> str:
    digest = hashlib.sha256()
    for record in records:
        _feed(digest, record)
    return digest.hexdigest()


def raw_state(env: IoTEdgeEnv | IoTEdgeVectorEnv) -> list[np.ndarray]:
    """The simulator's float64 state, flattened: CPU busy, memory used, queued work, queued input.

    Hashed beside the float32 observation, which rounds most of a change in the state away.
    (Recorded before issue 29 from the environments' private arrays, then read through
    ``raw_state()``: the same values, the same bytes.)
    """
    states = [env.raw_state(i) for i in range(env.num_envs)] if isinstance(env, IoTEdgeVectorEnv) else [env.raw_state()]
    return [np.concatenate([getattr(state, name) for state in states])
            for name in ("busy", "mem_used_mb", "backlog_mi", "ingress_mbit")]


def _actions(env_nodes: int, obs: dict[str, np.ndarray], config: EnvConfig, t: int, rng: np.random.Generator) -> Any:
    """Random nodes on even steps, greedy earliest-finish on odd ones: queues build up (the
    rule loads the good nodes) and every kind of node is tried, sensors' dropped tasks too."""
    if t % 2 == 0:
        shape = obs["task"].shape[:-1]
        return rng.integers(0, env_nodes, size=shape) if shape else int(rng.integers(env_nodes))
    with np.errstate(divide="ignore"):  # the rule divides by a padding slot's zero bandwidth (and then masks it)
        return make_heuristic("greedy_earliest_finish", config).predict(obs)[0]


def single_episodes(config: EnvConfig, seed: int, steps: int = 130) -> Iterator[Any]:
    """``make_env`` (the registered 100-step limit), ``steps`` steps, reset (without a seed,
    continuing the generator) after each truncation; the raw state after every step."""
    env, rng = make_env(config), np.random.default_rng(seed + 1)
    obs, info = env.reset(seed=seed)
    yield obs, info
    for t in range(steps):
        result = env.step(_actions(config.n_nodes, obs, config, t, rng))
        yield result, raw_state(env.unwrapped)
        obs = result[0]
        if result[2] or result[3]:
            obs, info = env.reset()
            yield obs, info


def vector_episodes(config: EnvConfig, num_envs: int = 8, steps: int = 80) -> Iterator[Any]:
    """``num_envs`` episodes of 37 steps side by side, each autoreset twice; the action masks and
    the exact immediate rewards of every node too."""
    envs, rng = IoTEdgeVectorEnv(num_envs, config, max_episode_steps=37), np.random.default_rng(99)
    obs, info = envs.reset(seed=[3 * i + 11 for i in range(num_envs)])
    yield obs, info, envs.action_masks()
    for t in range(steps):
        result = envs.step(np.asarray(_actions(config.n_nodes, obs, config, t, rng)))
        yield result, envs.episode_steps, envs.immediate_rewards(), raw_state(envs)
        obs = result[0]


def oracle_episodes(steps: int = 12) -> Iterator[Any]:
    """The bounds' view of the simulator: exact immediate rewards and rollouts on forks."""
    envs = IoTEdgeVectorEnv(3, EnvConfig(topology_seed=2))
    obs, _ = envs.reset(seed=[4, 5, 6])
    rollout, sampled = RolloutOracle(3), RolloutOracle(2, "sampled", samples=2)
    for _ in range(steps):
        yield envs.immediate_rewards(), rollout.act(envs), sampled.act(envs)
        obs, *rest = envs.step(rollout.act(envs))
        yield obs, rest


def mixture_episodes(steps: int = 250) -> Iterator[Any]:
    """An ``EnvMixture`` of two padded networks, through several resets."""
    configs = [EnvConfig(n_sensors=5, n_fog=3, max_nodes=20), EnvConfig(n_sensors=12, n_fog=4, n_cloud=2, max_nodes=20)]
    env, rng = EnvMixture(configs), np.random.default_rng(3)
    obs, info = env.reset(seed=8)
    yield obs, info
    for t in range(steps):
        n = env.current.n_nodes
        result = env.step(int(rng.integers(n)))
        yield result, raw_state(env.current)
        if t % 60 == 59:
            yield env.reset()


def served_conversions() -> Iterator[Any]:
    """What the API reads off the environment: the raw state, its observation, the example request."""
    for name in ("card", "100 nodes (70/27/3)", "alibaba2018 trace", "padded 9 -> 30"):
        config = SINGLE_CONFIGS[name]
        for seed in SEEDS:
            env = make_env(config)
            obs, _ = env.reset(seed=seed)
            for t in range(25):
                if t % 6 == 0:
                    state, task = network_state_from_env(env)
                    yield state, task, to_observation(state, task), network_state_from_observation(obs)
                obs, *_ = env.step(_actions(config.n_nodes, obs, config, t, np.random.default_rng(t)))
    for seed in SEEDS:
        yield example_request(seed), example_request(seed, "dqn", task=True)


def cases() -> dict[str, Callable[[], Iterator[Any]]]:
    """Every recorded case by name: what each digest is made from."""
    table: dict[str, Callable[[], Iterator[Any]]] = {}
    for name, config in SINGLE_CONFIGS.items():
        for seed in SEEDS:
            table[f"IoTEdgeEnv {name}, seed {seed}"] = lambda c=config, s=seed: single_episodes(c, s)
    for name, config in VECTOR_CONFIGS.items():
        table[f"IoTEdgeVectorEnv x8 {name}"] = lambda c=config: vector_episodes(c)
    table["oracles"] = oracle_episodes
    table["EnvMixture"] = mixture_episodes
    table["serve conversions"] = served_conversions
    return table


def record() -> dict[str, str]:
    return {name: _digest(make()) for name, make in cases().items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file, write nothing")
    args = parser.parse_args()
    digests = record()
    if args.check:
        committed = json.loads(FIXTURE.read_text())["sha256"]
        differ = sorted(name for name in committed.keys() | digests.keys() if committed.get(name) != digests.get(name))
        print("\n".join(f"DIFFERS: {name}" for name in differ) or f"all {len(digests)} cases as recorded")
        return 1 if differ else 0
    payload = {"about": "sha256 per case of tests/data/record_episodes.py; tests/test_recorded_episodes.py checks them",
               "sha256": digests}
    FIXTURE.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {len(digests)} cases to {FIXTURE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
