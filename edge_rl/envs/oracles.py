"""Reference policies with privileged access: bounds on how good a placement can be.

They read the simulator, not the observation, so no deployed system could run them; tables
label them as bounds. Each acts on the vectorised environment itself (``act(envs)``), for every
running episode at once; :func:`edge_rl.evaluation.evaluate` runs them like the rules. The
first two are registered as bounds (:data:`edge_rl.registry.BOUNDS`), as the rules are
(:data:`edge_rl.registry.HEURISTICS`).

- :class:`OneStepOracle` (``oracle_one_step``): the node with the best exact immediate reward
  (each node's placement tried on a copy of the state).
- :class:`RolloutOracle` (``oracle_rollout``): Bertsekas' rollout on greedy earliest-finish:
  each node tried, then ``horizon - 1`` steps of the base rule, on copies of the simulator that
  know the future (the episode's own random stream), the best return-to-go chosen.
- the same with ``future="sampled"`` (``rollout_sampled``): a real lookahead policy, which does
  not know the future: every candidate node sees the same sampled future (common random
  numbers), drawn from generators of its own, never the episode's.
"""

from __future__ import annotations

import copy

import numpy as np

from edge_rl.config import EnvConfig
from edge_rl.envs.heuristics import make_heuristic
from edge_rl.envs.vector import IoTEdgeVectorEnv


class OneStepOracle:
    """The node whose placement has the best exact immediate reward (the first on ties)."""

    name = "oracle_one_step"
    privileged = True  # reads the simulator: evaluate() hands it the environment, not observations

    def act(self, envs: IoTEdgeVectorEnv) -> np.ndarray:
        return envs.immediate_rewards().argmax(axis=1)


class RolloutOracle:
    """Rollout on a base rule with a ``horizon``-step lookahead, every candidate node tried.

    Args:
        horizon: steps simulated per candidate (the candidate's placement, then the base rule).
        future: ``known`` (copies of the episode's own generators: the true future; a bound) or
            ``sampled`` (``samples`` futures of generators of its own, the same for every
            candidate, averaged: a lookahead policy that reads the state but not the future).
        base: the rule that acts after the first step (greedy earliest-finish).
        config: the environment's config, for the base rule.
        seed: the sampled futures' seed.
    """

    privileged = True

    def __init__(self, horizon: int = 10, future: str = "known", samples: int = 1,
                 base: str = "greedy_earliest_finish", config: EnvConfig | None = None, seed: int = 0) -> None:
        if future not in ("known", "sampled"):
            raise ValueError(f"future must be 'known' or 'sampled', got {future!r}")
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
            raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}")
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1 or (future == "known" and samples != 1):
            raise ValueError(f"samples must be an integer >= 1 (1 for the known future), got {samples!r}")
        self.horizon, self.future, self.samples, self.seed = horizon, future, samples, seed
        self.base = make_heuristic(base, config)
        self.name = "oracle_rollout" if future == "known" else "rollout_sampled"

    def _generators(self, envs: IoTEdgeVectorEnv) -> list[np.random.Generator]:
        """One generator per (episode, sample, candidate): a copy of the episode's own for the
        known future; for a sampled one, the same fresh stream for every candidate of a sample."""
        n, steps = envs.n_nodes, envs.episode_steps
        if self.future == "known":
            return [copy.deepcopy(rng) for rng in envs.generators for _ in range(n)]
        return [np.random.default_rng([self.seed, episode, int(steps[episode]), sample])
                for episode in range(envs.num_envs) for sample in range(self.samples) for _ in range(n)]

    def act(self, envs: IoTEdgeVectorEnv) -> np.ndarray:
        n, batch = envs.n_nodes, envs.num_envs
        copies = self.samples * n
        forks = envs.fork(np.repeat(np.arange(batch), copies), self._generators(envs))
        actions = np.tile(np.arange(n), batch * self.samples)
        value = np.zeros(forks.num_envs)
        for _ in range(self.horizon):  # the candidate first, then the base rule
            obs, rewards, _, _, _ = forks.step(actions)
            value += rewards
            actions = self.base.predict(obs)[0]
        return value.reshape(batch, self.samples, n).mean(axis=1).argmax(axis=1)
