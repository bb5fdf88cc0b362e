"""Hybrid designs: how the hybrid's Q head and policy head learn from each other
(``HybridConfig.design``, registered in :data:`edge_rl.registry.HYBRID_DESIGNS`).

Why there is more than one. The card's design (``card``) trains one encoder with PPO's clipped
loss on the *fused* distribution plus the double-DQN TD loss, one optimizer step on their sum.
At 200k steps it loses to its own DQN part trained alone (DQN-GNN + root 94.46, hybrid 90.31),
and acting by its Q head alone scores as the hybrid does (90.36): the *shared training* costs,
not the fusion. The policy-gradient step moves the representation (and, through the fused
distribution, the Q head itself) in directions the TD loss did not ask for. Phasic Policy
Gradient (Cobbe et al., 2021) separates the phases for this reason; PGQ (O'Donoghue et al.,
2017), MPO (Abdolmaleki et al., 2018) and policy distillation (Rusu et al., 2016) instead move
the policy *toward* the Q-values, so that the two parts agree rather than vote as equals.

- :class:`Card`: today's training, bit for bit. Its minibatch step is the training loop's own
  code (:func:`~edge_rl.agents.hybrid.training.train_hybrid`), left where it was, so that every
  existing config, checkpoint and result stays what it was.
- :class:`Separated`: the encoder and the Q head learn from the TD loss alone; the policy head,
  the value head and the fusion learn PPO's loss on a *detached* embedding and detached
  Q-values. The DQN part then sees exactly DQN's gradient (no PPO gradient reaches a parameter
  it owns), and the gradient norm is clipped per part, so a large PPO gradient cannot shrink
  the TD step either (one joint clip would couple them). Acts, as the card, by the fused
  distribution: the policy learns a correction on top of DQN's ranking.
- :class:`Distill`: ``Separated``, plus a KL term on replay states pulling the policy toward
  ``softmax(standardise(Q_target(s)) / tau)``, and it *acts by the policy head*: the policy is
  what both the distillation and PPO improve, so it is what should act; acting by
  ``softmax(Q / tau)`` instead would make PPO's ratio about a distribution the policy head does
  not control. The target comes from a *target* network, as MPO's does, so the policy chases a
  stable target, not the online head's noise: the design's own polyak copy of the encoder and
  Q head, moved ``distill_target_tau`` of the way after every gradient step (SAC's schedule).
  Not the TD's target network: with the card's schedule (0.5 % every 500 steps) that one lags
  the Q head by about 100k steps: distilling it, 4,096 steps scored -203.8 on validation seeds
  20100-20149 (a random placement scores about -258), against +85.4 with the TD target refreshed
  fully every 500 steps (``tau = 1``, which would change the DQN part) and +87.3 with this copy.
  Q-values are standardised per state first (as the fusion does): ``tau`` is then in units of
  the state's Q spread and one value fits every reward scale.

A design is a class built from the :class:`~edge_rl.config.HybridConfig`; the training loop
asks it for the logits to act with (:meth:`Design.acting_logits`) and, unless it is the
card's, lets it take each minibatch step (:meth:`Design.step`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn
from stable_baselines3.common.utils import polyak_update
from torch.nn import functional as F

from edge_rl.agents.hybrid.losses import ppo_loss, td_targets
from edge_rl.agents.hybrid.network import HybridNetwork, HybridOutput
from edge_rl.config import HybridConfig
from edge_rl.nn.encoders import GraphFeatures
from edge_rl.nn.fusions import standardise
from edge_rl.registry import HYBRID_DESIGNS


class Design:
    """The card's acting rule; subclasses change how the parts learn.

    Attributes:
        name: the design's ``HybridConfig.design`` name.
        acts_by: the :class:`~edge_rl.agents.hybrid.training.HybridAgent` output whose softmax
            the agent acts with (``fused_logits`` or ``logits``).
        owns_step: whether :meth:`step` takes the minibatch step (False: the training loop's own
            code, the card's, does).
    """

    name = "design"
    acts_by = "fused_logits"
    owns_step = False

    def __init__(self, config: HybridConfig) -> None:
        self.config = config

    def acting_logits(self, out: HybridOutput) -> torch.Tensor:
        """The logits of the distribution the agent samples from (rollouts) and argmaxes (tests)."""
        return out.fused

    def step(self, network: HybridNetwork, target: HybridNetwork, optimizer: torch.optim.Optimizer,
             batch, sample) -> dict[str, float]:
        """One minibatch step on a rollout ``batch`` and a replay ``sample`` (None before
        ``learning_starts``); returns the loss parts."""
        raise NotImplementedError


class Card(Design):
    """The card's design: PPO on the fused distribution plus TD, one step into the shared
    encoder. Its step is the training loop's own code, untouched (bit-identical results)."""

    name = "card"


def detached_forward(network: HybridNetwork, obs: dict[str, torch.Tensor]) -> tuple[HybridOutput, GraphFeatures]:
    """:meth:`HybridNetwork.forward`, with the policy head, the value head and the fusion reading a
    *detached* embedding and detached Q-values: a loss on the policy, value or fused outputs
    sends no gradient into the encoder or the Q head. Same values as ``network(obs)`` (tested).
    Also returns the (attached) features, for a Q loss on the same pass."""
    features: GraphFeatures = network.encoder(obs)
    frozen = GraphFeatures(*(None if t is None else t.detach() for t in features))
    q_values = network.q_head(features)
    logits = network.policy_head(frozen)
    mask = frozen.mask
    q_scaled = standardise(q_values.detach(), mask)
    real_logits = torch.where(mask > 0.5, logits, 0.0)
    fused = network.fuse.fuse(q_scaled, real_logits, frozen)
    fused = fused.masked_fill(mask < 0.5, torch.finfo(fused.dtype).min)
    value = network.value_head(frozen.graph).squeeze(-1)
    return HybridOutput(q_values, logits, fused, value), features


def dqn_parameters(network: HybridNetwork) -> list[nn.Parameter]:
    """The DQN part: the encoder and the Q head (what the TD loss alone trains in the separated designs)."""
    return [*network.encoder.parameters(), *network.q_head.parameters()]


def policy_parameters(network: HybridNetwork) -> list[nn.Parameter]:
    """Everything else: the policy head, the value head and the fusion's parameters."""
    dqn = {id(p) for p in dqn_parameters(network)}
    return [p for p in network.parameters() if id(p) not in dqn]


def _clip(parameters: Iterable[nn.Parameter], max_norm: float) -> None:
    nn.utils.clip_grad_norm_(list(parameters), max_norm, foreach=True)


class Separated(Design):
    """Gradient-separated training: TD alone trains the encoder and the Q head; PPO trains the
    policy head, the value head and the fusion on the detached embedding (Phasic Policy Gradient's
    point: the policy gradient does not disturb the representation the Q-values are read from).

    Why the encoder goes with the Q head (and not a shared, PPO-moved encoder): DQN-GNN alone
    beats the card's hybrid, so the part that must not lose its skill is DQN's; with the encoder
    on TD alone, the DQN part is DQN-GNN trained on the hybrid's own rollouts. The policy still
    learns on DQN's features, which DQN-GNN's results say are good ones for this task.
    """

    name = "separated"
    owns_step = True

    def policy_loss(self, network: HybridNetwork, batch) -> tuple[torch.Tensor, dict]:
        """PPO's loss on the acting distribution; reaches no DQN parameter."""
        out, _ = detached_forward(network, batch.observations)
        out = out._replace(fused=self.acting_logits(out))  # ppo_loss reads ``fused``: what chose the actions
        return ppo_loss(out, batch.actions.long().flatten(), batch.old_log_prob, batch.advantages,
                        batch.returns, self.config)

    def td_loss(self, network: HybridNetwork, target: HybridNetwork, sample) -> torch.Tensor:
        """The double-DQN TD loss, as the card's (Huber on Q(s, a) of the taken node)."""
        targets = td_targets(network, target, sample.rewards.flatten(), sample.next_observations,
                             sample.dones.flatten(), self.config.gamma)
        q_taken = network.q_values(sample.observations, sample.actions.long()).squeeze(-1)
        return F.smooth_l1_loss(q_taken, targets)

    def extra_loss(self, network: HybridNetwork, target: HybridNetwork, sample) -> tuple[torch.Tensor, dict]:
        """A further loss on replay states (none here; :class:`Distill`'s KL)."""
        return torch.zeros(()), {}

    def step(self, network, target, optimizer, batch, sample) -> dict[str, float]:
        config = self.config
        loss, parts = self.policy_loss(network, batch)
        loss = config.ppo_coef * loss
        logged = {"policy_loss": parts["policy_loss"].item(), "value_loss": parts["value_loss"].item()}
        if sample is not None:
            td = self.td_loss(network, target, sample)
            extra, more = self.extra_loss(network, target, sample)
            loss = loss + config.td_coef * td + extra
            logged.update(td_loss=td.item(), **more)
        optimizer.zero_grad()
        loss.backward()
        # Clipped per part: one joint norm would let a large PPO gradient shrink the TD step.
        _clip(dqn_parameters(network), config.max_grad_norm)
        _clip(policy_parameters(network), config.max_grad_norm)
        optimizer.step()
        return logged


def distill_targets(target: HybridNetwork, obs: dict[str, torch.Tensor], temperature: float) -> torch.Tensor:
    """``softmax(standardise(Q_target(s)) / temperature)`` over the real nodes (0 on padded ones),
    from the *target* network only, without gradient."""
    with torch.no_grad():
        features = target.encoder(obs)
        q = standardise(target.q_head(features), features.mask)
        scores = (q / temperature).masked_fill(features.mask < 0.5, torch.finfo(q.dtype).min)
        return torch.softmax(scores, dim=-1)


def distill_kl(logits: torch.Tensor, target_probs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over states of ``KL(target || softmax(logits))`` over the real nodes. Its gradient is the
    cross-entropy's (the target's entropy is a constant); the KL is 0 when the policy matches."""
    log_pi = torch.log_softmax(logits, dim=-1)
    real = (mask > 0.5) & (target_probs > 0)
    terms = torch.where(real, target_probs * (torch.log(target_probs.clamp_min(1e-30)) - log_pi), 0.0)
    return terms.sum(dim=-1).mean()


class Distill(Separated):
    """``Separated`` plus distillation toward the Q-values (MPO / PGQ / policy distillation): on each
    replay minibatch, ``distill_coef * KL(softmax(standardise(Q_target)/tau) || pi)`` moves the
    policy head (on the detached embedding) toward the target network's Boltzmann policy; PPO
    still improves it from the returns. Acts by the policy head (see the module's docstring)."""

    name = "distill"
    acts_by = "logits"
    policy_target: HybridNetwork | None = None
    """The distillation's target network: a polyak copy of the encoder and Q head (the rest unused)."""

    def acting_logits(self, out: HybridOutput) -> torch.Tensor:
        return out.logits

    def step(self, network, target, optimizer, batch, sample) -> dict[str, float]:
        if self.policy_target is None:  # the weights before the first update (after any warm start)
            self.policy_target = copy.deepcopy(network).requires_grad_(False)
        logged = super().step(network, target, optimizer, batch, sample)
        polyak_update(dqn_parameters(network), dqn_parameters(self.policy_target), self.config.distill_target_tau)
        return logged

    def extra_loss(self, network, target, sample) -> tuple[torch.Tensor, dict]:
        obs = sample.observations
        assert self.policy_target is not None
        probs = distill_targets(self.policy_target, obs, self.config.distill_temperature)
        features = network.encoder(obs)
        logits = network.policy_head(GraphFeatures(*(None if t is None else t.detach() for t in features)))
        kl = distill_kl(logits, probs, features.mask)
        return self.config.distill_coef * kl, {"distill_kl": kl.item()}


def design_for(config: HybridConfig) -> Design:
    """The design ``config.design`` names (:data:`edge_rl.registry.HYBRID_DESIGNS`), built."""
    return HYBRID_DESIGNS.get(config.design)(config)
