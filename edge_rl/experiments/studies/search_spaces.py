"""What the tuning study (:mod:`edge_rl.experiments.studies.tuning`) searches: one entry per tuned model.

Each space holds the hyperparameters that matter for its algorithm, in ranges that RL Zoo's
Optuna samplers use for DQN and PPO, bounded so that no trial costs much more than the card's
settings (DQN trains at most once per 2 environment steps, PPO at most 20 epochs):

- DQN: learning rate, batch size, gamma, the exploration schedule (fraction and final epsilon),
  train frequency, the target network's update (interval and tau);
- PPO: learning rate, rollout length, epochs, minibatch size, gamma, GAE lambda, entropy
  coefficient, clip range;
- the hybrid: PPO's space (its updates are PPO's), its target network's update, the weight of
  its TD loss and each design's own (the card's fusion weights; the distillation's temperature
  and weight).

A model is a base config (the budget study's: GCN with the chosen root path, from scratch, last
weights) and a ``suggest`` that draws the space's values from an Optuna trial and returns the
config they make; every value is a field of :class:`~edge_rl.config.TrainConfig`, so a trial's
parameters are a ``--set`` of ``python -m edge_rl train``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from edge_rl.config import TrainConfig
from edge_rl.config.overrides import apply_overrides
from edge_rl.experiments.studies.budget import study_config
from edge_rl.registry import HYBRID_DESIGNS

GAMMAS = [0.9, 0.95, 0.98, 0.99, 0.995]
BATCHES = [32, 64, 128, 256]


def _dqn(trial: Any, base: TrainConfig, rollouts: Sequence[int]) -> TrainConfig:
    dqn = replace(
        base.dqn,
        learning_rate=trial.suggest_float("dqn.learning_rate", 1e-5, 1e-3, log=True),
        batch_size=trial.suggest_categorical("dqn.batch_size", BATCHES),
        gamma=trial.suggest_categorical("dqn.gamma", GAMMAS),
        exploration_fraction=trial.suggest_float("dqn.exploration_fraction", 0.05, 0.5),
        exploration_final_eps=trial.suggest_float("dqn.exploration_final_eps", 0.01, 0.1),
        train_freq=trial.suggest_categorical("dqn.train_freq", [2, 4, 8]),
        target_update_interval=trial.suggest_categorical("dqn.target_update_interval", [1, 250, 500, 1000]),
        tau=trial.suggest_float("dqn.tau", 0.005, 1.0, log=True),
    )
    return replace(base, dqn=dqn)


def _rollout(trial: Any, section: str, rollouts: Sequence[int]) -> dict[str, Any]:
    """PPO's space, for PPO's section or the hybrid's (the same fields)."""
    n_steps = trial.suggest_categorical(f"{section}.n_steps", list(rollouts))
    return {
        "learning_rate": trial.suggest_float(f"{section}.learning_rate", 1e-5, 1e-3, log=True),
        "n_steps": n_steps,
        "n_epochs": trial.suggest_categorical(f"{section}.n_epochs", [3, 5, 10, 20]),
        # SB3 asks that a minibatch fit in a rollout (8 environments of n_steps)
        "batch_size": min(trial.suggest_categorical(f"{section}.batch_size", BATCHES), 8 * n_steps),
        "gamma": trial.suggest_categorical(f"{section}.gamma", GAMMAS),
        "gae_lambda": trial.suggest_categorical(f"{section}.gae_lambda", [0.8, 0.9, 0.95, 0.98, 1.0]),
        "ent_coef": trial.suggest_float(f"{section}.ent_coef", 1e-5, 0.05, log=True),
        "clip_range": trial.suggest_categorical(f"{section}.clip_range", [0.1, 0.2, 0.3]),
    }


def _ppo(trial: Any, base: TrainConfig, rollouts: Sequence[int]) -> TrainConfig:
    return replace(base, ppo=replace(base.ppo, **_rollout(trial, "ppo", rollouts)))


def _hybrid(trial: Any, base: TrainConfig, rollouts: Sequence[int]) -> TrainConfig:
    fields = _rollout(trial, "hybrid", rollouts)
    fields.update(
        target_update_interval=trial.suggest_categorical("hybrid.target_update_interval", [1, 250, 500, 1000]),
        tau=trial.suggest_float("hybrid.tau", 0.005, 1.0, log=True),
        td_coef=trial.suggest_float("hybrid.td_coef", 0.1, 10.0, log=True),
    )
    design = base.hybrid.design
    if design == "card":  # the fused distribution PPO trains: how much of it is Q
        q_weight = trial.suggest_float("hybrid.q_weight", 0.0, 1.0)
        fields.update(q_weight=q_weight, policy_weight=1.0 - q_weight)
    if design == "distill":
        fields.update(distill_temperature=trial.suggest_float("hybrid.distill_temperature", 0.05, 2.0, log=True),
                      distill_coef=trial.suggest_float("hybrid.distill_coef", 0.1, 10.0, log=True))
    return replace(base, hybrid=replace(base.hybrid, **fields))


@dataclass(frozen=True)
class TunedModel:
    """A model the tuning study tunes: its table ``label``, algorithm, search space and the
    settings that make it this model (``(("hybrid.design", "distill"),)``: dotted
    ``TrainConfig`` keys, as ``--set`` takes them; its hyperparameter file names them too)."""

    label: str
    algo: str
    suggest: Callable[[Any, TrainConfig, Sequence[int]], TrainConfig]  # (trial, base, rollout lengths)
    settings: tuple[tuple[str, Any], ...] = ()

    def base(self, steps: int, seed: int) -> TrainConfig:
        """The config a trial starts from: the budget study's, at ``steps`` steps and training
        seed ``seed``, with the card's rollout length for the algorithm, and the model's settings."""
        return apply_overrides(study_config(self.algo, seed, steps), [f"{key}={json.dumps(value)}"
                                                                       for key, value in self.settings], self.label)


MODELS: dict[str, TunedModel] = {
    "dqn-gnn": TunedModel("DQN-GNN", "dqn", _dqn),
    "ppo-gnn": TunedModel("PPO-GNN", "ppo", _ppo),
    **{f"hybrid-{design}": TunedModel(f"Hybrid ({design})", "hybrid", _hybrid, (("hybrid.design", design),))
       for design in HYBRID_DESIGNS},
}
"""Every tuned model, by the key its trials' records are named after."""
