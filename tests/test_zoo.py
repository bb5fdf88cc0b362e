"""RL Zoo 3's configs (edge_rl/zoo/dqn.py, ppo.py) build our DQN-GNN + root and PPO-GNN + root
networks, and SB3 trains and replays them with exactly those keyword arguments.

rl_zoo3 itself lives in a venv of its own (make zoo): these tests read the files as RL Zoo does
(it ``exec``s a Python config and imports the policy by its dotted name) and hand SB3 what
RL Zoo would."""

from __future__ import annotations

import importlib
import runpy
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.env_util import make_vec_env

import edge_rl
from edge_rl.agents.baselines import BaselineAgent, make_model
from edge_rl.evaluation import evaluate
from edge_rl.nn.policies import GraphFeaturesExtractor
from edge_rl.zoo import hyperparams_for, row_config, zoo_entry

ROOT = Path(__file__).resolve().parents[1]
ALGOS = {"dqn": DQN, "ppo": PPO}
# SB3's make_vec_env asks every environment for render_mode="rgb_array" and falls back to none
# when it is refused; Gymnasium warns first (our environment renders nothing). RL Zoo users see it too.
pytestmark = pytest.mark.filterwarnings("ignore:.*render_mode='rgb_array' that is not in the possible render_modes")


def _zoo_model(algo: str, **overrides: Any) -> tuple[Any, dict]:
    """The SB3 model RL Zoo makes from ``edge_rl/zoo/<algo>.py`` (its own steps, seed 0)."""
    entry = dict(runpy.run_path(str(ROOT / "edge_rl" / "zoo" / f"{algo}.py"))["hyperparams"][edge_rl.ENV_ID])
    module, _, name = entry.pop("policy").rpartition(".")
    policy = getattr(importlib.import_module(module), name)  # as rl_zoo3's get_class_by_name does
    n_envs, steps = entry.pop("n_envs"), entry.pop("n_timesteps")
    env = make_vec_env(edge_rl.ENV_ID, n_envs=n_envs, seed=0)  # as RL Zoo makes its training environments
    return ALGOS[algo](policy, env, seed=0, device="cpu", verbose=0, **{**entry, **overrides}), {"steps": steps}


@pytest.mark.parametrize("algo", list(ALGOS))
def test_the_zoo_config_builds_our_row_s_network_weight_for_weight(algo: str) -> None:
    model, meta = _zoo_model(algo)
    ours = make_model(row_config(algo))  # our own training's model of that row, seed 0
    assert meta["steps"] == 10_000 == row_config(algo).total_timesteps
    theirs, mine = model.policy.state_dict(), ours.policy.state_dict()
    assert list(theirs) == list(mine)
    assert all(torch.equal(theirs[key], mine[key]) for key in mine), "same seed, same initial weights"
    extractor = model.policy.q_net.features_extractor if algo == "dqn" else model.policy.features_extractor
    assert isinstance(extractor, GraphFeaturesExtractor) and extractor.encoder.config == row_config(algo).encoder
    for key in ("learning_rate", "gamma", "batch_size") + (("n_steps",) if algo == "ppo" else ("buffer_size",)):
        assert getattr(model, key) == getattr(ours, key), key
    assert model.n_envs == ours.n_envs
    ours.get_env().close()


@pytest.mark.parametrize("algo", list(ALGOS))
def test_sb3_trains_the_zoo_config_briefly_and_our_evaluation_replays_it(algo: str) -> None:
    model, _ = _zoo_model(algo, **({"learning_starts": 100} if algo == "dqn" else {}))
    before = {k: v.clone() for k, v in model.policy.state_dict().items()}
    model.learn(total_timesteps=300)
    assert model.num_timesteps >= 300
    assert any(not torch.equal(before[k], v) for k, v in model.policy.state_dict().items()), "it learned"
    agent = BaselineAgent(row_config(algo), model.policy, {"timesteps": model.num_timesteps})
    rows = evaluate(agent, [10_000, 10_001], row_config(algo).env)
    assert len(rows) == 2 and np.isfinite(rows["return"]).all()
    obs, _ = gym.make(edge_rl.ENV_ID).reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert action == agent.predict(obs)[0]  # SB3's own replay and ours choose the same node


def test_the_files_are_rl_zoo_s_python_format_for_our_environment_only() -> None:
    for algo in ALGOS:
        assert list(runpy.run_path(str(ROOT / "edge_rl" / "zoo" / f"{algo}.py"))["hyperparams"]) == [edge_rl.ENV_ID]
        assert hyperparams_for(algo)[edge_rl.ENV_ID]["policy"].startswith("edge_rl.nn.policies.Graph")
    with pytest.raises(ValueError, match="algo: RL Zoo configs exist for 'dqn' and 'ppo', got 'hybrid'"):
        row_config("hybrid")
    from dataclasses import replace

    refused = r"config: RL Zoo configs are for DQN-GNN and PPO-GNN \(algo dqn or ppo, policy gnn\), got dqn-mlp"
    with pytest.raises(ValueError, match=refused):
        zoo_entry(replace(row_config("dqn"), policy="mlp"))
