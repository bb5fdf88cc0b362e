"""RL Zoo 3 configs for ``edge_rl/IoTEdge-v0``: our graph policies under RL Zoo's training.

``dqn.py`` and ``ppo.py`` here are RL Zoo's Python hyperparameter files (``hyperparams =
{env id: {...}}``, one file per algorithm, as RL Zoo reads them), run from the project's root::

    python -m rl_zoo3.train --algo dqn --env edge_rl/IoTEdge-v0 --gym-packages edge_rl -conf edge_rl/zoo/dqn.py
    python -m rl_zoo3.enjoy --algo dqn --env edge_rl/IoTEdge-v0 --gym-packages edge_rl -f logs/ --exp-id 0

Each entry is the SB3 policy and keyword arguments of one of our committed rows, built by the very
function our own training builds them with (:func:`edge_rl.agents.baselines.sb3_arguments`):
``dqn.py`` is DQN-GNN + root and ``ppo.py`` PPO-GNN + root at the card's budget (the graph
features extractor and node-scoring heads of :mod:`edge_rl.nn.policies`, ``EncoderConfig()``'s
defaults, the original system's hyperparameters, PPO's 8 x 8-step rollouts). With seed 0 and one
torch thread (``OMP_NUM_THREADS=1``) RL Zoo's runs gave, on a 2-core AMD EPYC, the very weights of
``results/models/dqn-gnn-root-seed0`` and ``ppo-gnn-root-seed0``, tensor for tensor.

What differs is RL Zoo's: ``--algo dqn`` is SB3's DQN, whose random actions are drawn over every
action slot rather than the real nodes only (the same set on the card's 17-node network, which
has no padded slots; a padded topology through ``env_kwargs`` would explore the padding); SB3
picks its own dict buffers (ours are the same data less a copy); and RL Zoo saves SB3 zip files,
which pickle, where our checkpoints never do.

rl_zoo3 lives in a venv of its own (``make zoo``: ``.venv-zoo``): it would downgrade pillow and
python-dateutil below our pins.
"""

from __future__ import annotations

from typing import Any

from edge_rl import ENV_ID
from edge_rl.catalogue import DESIGN, find
from edge_rl.config import TrainConfig


def row_config(algo: str) -> TrainConfig:
    """The config of our ``DQN-GNN + root`` (``dqn``) or ``PPO-GNN + root`` (``ppo``) row at the
    card's budget, seed 0: the run ``make reproduce`` trains (its steps are RL Zoo's
    ``n_timesteps``; ``--n-timesteps`` overrides them)."""
    from edge_rl.experiments.plan.suites import budget

    if algo not in ("dqn", "ppo"):
        raise ValueError(f"algo: RL Zoo configs exist for 'dqn' and 'ppo', got {algo!r}")
    return find(algo, root_path=DESIGN).config(0, budget("full"))


def zoo_entry(config: TrainConfig) -> dict[str, Any]:
    """RL Zoo's hyperparameters for ``config``: ``n_timesteps``, ``policy``, ``n_envs`` and every
    keyword argument SB3 gets in our own training of it."""
    from edge_rl.agents.baselines import BaselineAgent, sb3_arguments
    from edge_rl.nn.policies import GraphFeaturesExtractor

    if config.policy != "gnn" or config.algo not in ("dqn", "ppo"):
        raise ValueError("config: RL Zoo configs are for DQN-GNN and PPO-GNN (algo dqn or ppo, policy gnn), "
                         f"got {config.name}")
    _, policy, kwargs = sb3_arguments(config)
    # Named, though the graph policies default to it: a Zoo user sees what to change.
    policy_kwargs = {"features_extractor_class": GraphFeaturesExtractor, **kwargs["policy_kwargs"]}
    # Our buffers (edge_rl.agents.sb3_parts) are SB3's dict buffers less a copy, the same data bit
    # for bit; SB3 picks its own for a Dict observation, and rl_zoo3.enjoy reads a buffer class
    # only as a name. RL Zoo imports a custom policy by its dotted name.
    kwargs = {key: value for key, value in kwargs.items() if key not in ("replay_buffer_class", "rollout_buffer_class")}
    return {"n_timesteps": config.total_timesteps, "n_envs": BaselineAgent.training_envs(config),
            "policy": f"{policy.__module__}.{policy.__qualname__}", **kwargs, "policy_kwargs": policy_kwargs}


def hyperparams_for(algo: str) -> dict[str, dict[str, Any]]:
    """RL Zoo's ``hyperparams`` of ``algo``'s file: ``{"edge_rl/IoTEdge-v0": {...}}``."""
    return {ENV_ID: zoo_entry(row_config(algo))}
