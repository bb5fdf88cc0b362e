"""The heads table: a trained hybrid scored acting by each of its parts, so a reader sees which
part carries the skill.

The hybrid has three ways to choose a node: the argmax of the fused scores (the card's way), of
its Q head alone (its DQN part) or of its policy head alone (its PPO part). :func:`heads_table`
evaluates each greedily on the same seeds with :func:`edge_rl.evaluation.evaluate`, one row per
head. At 200k steps the card's hybrid scores as its Q head does: that is how we learnt that its
shared training, not its fusion, is what costs (issue 28). Pass validation seeds when choosing
between designs; the test seeds are for the tables that report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from edge_rl.config import EnvConfig
from edge_rl.evaluation import evaluate

HEADS = {"fused": "fused_logits", "q": "q_values", "policy": "logits"}
"""Each head of the table and the :meth:`HybridAgent.node_scores` output it acts by."""


class HeadPolicy:
    """A hybrid acting greedily by one of its outputs (``fused_logits``, ``q_values`` or ``logits``)."""

    def __init__(self, agent: Any, output: str) -> None:
        self.agent, self.output = agent, output
        self.name = f"{agent.name}[{output}]"

    def predict(self, observation: Any, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        scores = self.agent.node_scores(observation)[self.output]
        return scores.argmax(axis=-1), state


def heads_table(agent: Any, seeds: Sequence[int], config: EnvConfig | None = None) -> pd.DataFrame:
    """One row per head: ``head``, ``output``, ``acts`` (the head the agent itself acts by), and the
    mean, standard deviation and count of the returns and the deadline success over ``seeds``.

    Args:
        agent: a trained :class:`~edge_rl.agents.hybrid.HybridAgent`.
        seeds: the episodes' seeds (validation seeds, 20000+, when comparing designs).
        config: the environment; the agent's own by default.
    """
    config = config or agent.config.env
    rows = []
    for head, output in HEADS.items():
        episodes = evaluate(HeadPolicy(agent, output), seeds, config)
        rows.append({"head": head, "output": output, "acts": output == agent.greedy_output,
                     "return_mean": float(episodes["return"].mean()), "return_std": float(episodes["return"].std()),
                     "deadline_success": float(episodes["deadline_success"].mean()), "episodes": len(episodes)})
    return pd.DataFrame(rows)
