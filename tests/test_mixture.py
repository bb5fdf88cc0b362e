"""Training on a mixture of networks and loads (TrainConfig.env_mix, edge_rl.envs.mixture)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from edge_rl.agents import load, train
from edge_rl.config import EnvConfig, TrainConfig
from edge_rl.envs.mixture import EnvMixture, make_training_env
from edge_rl.evaluation import evaluate
from tests.test_baselines import tiny

MIX = (EnvConfig(n_sensors=4, n_fog=2, n_cloud=1, max_nodes=12),
       EnvConfig(n_sensors=8, n_fog=3, n_cloud=1, max_nodes=12, load_scale=2.0))


def test_each_episode_runs_on_one_of_the_networks_the_seed_decides_which() -> None:
    def networks(seed: int) -> list[int]:
        env = EnvMixture(MIX)
        env.reset(seed=seed)
        drawn = []
        for _ in range(20):
            obs, _ = env.reset()
            drawn.append(int(obs["node_mask"].sum()))
        return drawn

    assert networks(3) == networks(3) and networks(3) != networks(4)
    assert set(networks(3)) == {7, 12}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # (unpadded: Gymnasium's checker steps with any action, a padding slot too)
        check_env(EnvMixture((EnvConfig(n_sensors=4, n_fog=2), EnvConfig(n_sensors=4, n_fog=2, load_scale=2.0))),
                  skip_render_check=True)


def test_a_mixture_must_share_one_padding_and_a_graph_policy() -> None:
    with pytest.raises(ValueError, match=r"pad to \[7, 12\]: set max_nodes=12 on each"):
        EnvMixture((EnvConfig(n_sensors=4, n_fog=2, n_cloud=1), MIX[1]))
    with pytest.raises(ValueError, match="needs a graph policy"):
        make_training_env(EnvConfig(), MIX, flat=True)
    with pytest.raises(ValueError, match=r"env_mix must be environments padded to one number of node slots"):
        TrainConfig(env_mix=(MIX[0], EnvConfig()))
    with pytest.raises(ValueError, match="policy must be 'gnn' to train on env_mix"):
        TrainConfig(policy="mlp", env_mix=MIX)


@pytest.mark.parametrize("algo", ["dqn", "ppo"])
def test_a_model_trained_on_a_mixture_saves_loads_and_scores_identically(algo: str, tmp_path: Path) -> None:
    config = tiny(algo, env_mix=MIX)
    assert config.name.endswith("-mix") and TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    agent = train(config, tmp_path / "mixed")
    loaded = load(tmp_path / "mixed")
    assert loaded.config == config
    for env in (EnvConfig(), *MIX, EnvConfig(n_sensors=20, n_fog=9, n_cloud=1)):  # any size, padded or not
        a, b = evaluate(agent, [10_000, 10_001], env), evaluate(loaded, [10_000, 10_001], env)
        assert np.array_equal(a["return"], b["return"])
