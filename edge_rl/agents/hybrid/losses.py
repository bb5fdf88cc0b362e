"""The hybrid's losses, each the textbook version and a pure function (tested on its own).

- :func:`td_targets`: double-DQN targets, bootstrapping from the *next* state and cut only at
  true termination, never at the time limit.
- :func:`ppo_loss`: PPO's clipped objective on the fused distribution that chose the actions,
  plus the value loss and the entropy bonus.
- :func:`bootstrap_time_limits`: the rollout's rewards with the value of the last state added
  where the time limit cut an episode.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from edge_rl.agents.hybrid.network import HybridNetwork, HybridOutput
from edge_rl.config import HybridConfig


def as_tensors(obs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(v, dtype=torch.float32) for k, v in obs.items()}


def td_targets(network: HybridNetwork, target: HybridNetwork, rewards: torch.Tensor,
               next_obs: dict[str, torch.Tensor], terminated: torch.Tensor, gamma: float) -> torch.Tensor:
    """Double-DQN targets ``r + gamma * (1 - terminated) * Q_target(s', argmax_a Q(s', a))``.

    The online network chooses the next action and the target network values it, which
    removes most of Q-learning's over-estimation. ``terminated`` is 1 only at a true end of
    the task; an episode cut by the time limit still bootstraps (the future goes on).
    """
    with torch.no_grad():
        next_action = network.q_values(next_obs).argmax(dim=-1, keepdim=True)
        next_q = target.q_values(next_obs, next_action).squeeze(-1)  # the target scores a* only
        return rewards + gamma * (1.0 - terminated) * next_q


def ppo_loss(out: HybridOutput, actions: torch.Tensor, old_log_prob: torch.Tensor,
             advantages: torch.Tensor, returns: torch.Tensor, config: HybridConfig) -> tuple[torch.Tensor, dict]:
    """PPO's clipped objective on the fused distribution, plus value loss and entropy bonus.

    Returns the loss and its parts (for logging and tests): ``ratio`` is 1 before the first
    update, because the rollout's ``old_log_prob`` came from the same fused distribution.
    """
    # No argument validation: the fused logits are finite by construction (masked nodes get
    # the lowest float, not -inf), and checking them costs a third of this function.
    distribution = torch.distributions.Categorical(logits=out.fused, validate_args=False)
    log_prob = distribution.log_prob(actions)
    ratio = torch.exp(log_prob - old_log_prob)
    # Advantages normalised per minibatch, as SB3 and CleanRL do.
    if advantages.numel() > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    clip = config.clip_range
    policy_loss = -torch.min(advantages * ratio, advantages * ratio.clamp(1 - clip, 1 + clip)).mean()
    value_loss = F.mse_loss(out.value, returns)
    entropy = distribution.entropy().mean()
    loss = policy_loss + config.vf_coef * value_loss - config.ent_coef * entropy
    return loss, {"ratio": ratio, "policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}


def bootstrap_time_limits(rewards: np.ndarray, dones: np.ndarray, infos: list[dict],
                          last_obs: dict[str, np.ndarray], network: HybridNetwork, gamma: float) -> np.ndarray:
    """The rollout's rewards (float32), plus ``gamma * V(last state)`` where the time limit cut
    the episode.

    A time-limit cut is not an end: PPO bootstraps it with the value of the last state (as
    SB3's PPO does), so the advantage does not pretend the future is worth zero. A true end
    (``terminated``) adds nothing. ``last_obs`` holds each environment's real last observation
    (not the reset one the vectorised environment returns).
    """
    rewards = rewards.astype(np.float32)
    cut = [i for i, done in enumerate(dones) if done and infos[i].get("TimeLimit.truncated", False)]
    if cut:
        with torch.inference_mode():
            values = network.value(as_tensors({k: v[cut] for k, v in last_obs.items()}))
        rewards[cut] += gamma * values.numpy().astype(np.float64)
    return rewards
