"""The hybrid DQN-PPO agent: one graph encoder, a Q head and a policy head, fused.

The network (:class:`HybridNetwork`): a :class:`~edge_rl.encoders.GraphEncoder` shared by three
heads, a Q head and a policy head that score nodes from ``[h_i || g]`` (the
:class:`~edge_rl.policies.NodeScorer` of the baselines) and a value head on the graph
embedding ``g``. The agent acts with the *fused* distribution ``softmax(z)``, where ``z``
mixes the per-state standardised Q-values ``q~`` with the policy logits ``l``:

- ``weighted_sum``: ``z = 0.6 q~ + 0.4 l`` (the card's weights). Q-values are in reward units
  and their spread changes from state to state; standardising them over the real nodes
  (zero mean, unit deviation) puts them on the scale of logits, so the weights mean something.
- ``attention``: ``z = a_q q~ + a_l l`` with ``(a_q, a_l) = softmax(W g)``, weights per state.
- ``gating``: ``z_i = s_i q~_i + (1 - s_i) l_i`` with ``s_i = sigmoid(MLP[h_i || g])``, per node.

Learning (:func:`train_hybrid`), each part the textbook version:

- every transition goes to SB3's replay buffer; the Q head learns by the double-DQN TD loss
  ``r + gamma * Q_target(s', argmax_a Q(s', a))`` with a target network updated as SB3's DQN
  does (``tau`` every ``target_update_interval`` steps), bootstrapping from the *next* state and
  cut only at true termination, never at the 100-step time limit;
- on-policy rollouts (SB3's rollout buffer, GAE) feed PPO's clipped objective and value loss;
  the probability ratio is taken on the fused distribution that chose the actions;
- each PPO minibatch step also takes a TD minibatch from the replay buffer, and one optimizer
  step on ``ppo_coef * L_ppo + td_coef * L_td`` sends both gradients into the shared encoder.

What that costs: about 2.6x PPO-GNN's matrix arithmetic per environment step (the PPO
gradient also runs through the Q head; the TD step adds a forward and backward pass and the
online and target networks' passes on the next states). ``make bench`` counts it and compares
the hybrid's arithmetic rate with PPO-GNN's.

The card's procedure (``pretrain_steps > 0``): pre-train DQN-GNN and PPO-GNN with SB3, copy
their weights in (:func:`warm_start`), then fine-tune. The "best" weights are chosen on
validation seeds, never on the test seeds that tables report.
"""

from __future__ import annotations

import copy
import os
import time
from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np
import torch
from stable_baselines3.common.buffers import DictReplayBuffer, DictRolloutBuffer
from stable_baselines3.common.utils import polyak_update, set_random_seed
from stable_baselines3.common.vec_env import DummyVecEnv
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from edge_rl import baselines
from edge_rl.agent import Agent
from edge_rl.config import EncoderConfig, HybridConfig, TrainConfig
from edge_rl.encoders import GraphEncoder, GraphFeatures
from edge_rl.evaluation import episode_returns
from edge_rl.policies import NodeScorer

VALIDATION_SEEDS_START = 20_000
"""Validation episodes use seeds 20000, 20001, ...: apart from training seeds (small integers)
and from the test seeds of :data:`edge_rl.evaluation.DEFAULT_EVAL_SEEDS` (10000-10099)."""


class HybridOutput(NamedTuple):
    q_values: torch.Tensor  # (B, N), lowest float on padded nodes
    logits: torch.Tensor  # (B, N) policy head, lowest float on padded nodes
    fused: torch.Tensor  # (B, N) the logits the agent acts with
    value: torch.Tensor  # (B,)


def standardise(q_values: torch.Tensor, mask: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-state z-scores of the Q-values over the real nodes (0 on padded nodes)."""
    real = mask > 0.5
    count = real.sum(dim=-1, keepdim=True).clamp(min=1)
    q = torch.where(real, q_values, 0.0)
    mean = q.sum(dim=-1, keepdim=True) / count
    centred = torch.where(real, q_values - mean, 0.0)
    # sqrt(var + eps^2), not sqrt(var) + eps: when every node has the same Q-value (a collapsed
    # encoder can do that) the gradient of sqrt at 0 is infinite and would turn the weights NaN.
    std = (centred.pow(2).sum(dim=-1, keepdim=True) / count + eps * eps).sqrt()
    return centred / std


class HybridNetwork(nn.Module):
    """Encoder, Q head, policy head, value head, and the fusion of Q and policy.

    Args:
        encoder: the graph encoder's config (card: GCN, 64 hidden, 3 layers, 128 embedding).
        hybrid: the fusion strategy and its weights.
    """

    def __init__(self, encoder: EncoderConfig, hybrid: HybridConfig) -> None:
        super().__init__()
        self.fusion, self.q_weight, self.policy_weight = hybrid.fusion, hybrid.q_weight, hybrid.policy_weight
        embed, hidden = encoder.embed, encoder.head_hidden
        self.encoder = GraphEncoder(encoder)
        self.q_head = NodeScorer(embed, hidden)
        self.policy_head = NodeScorer(embed, hidden)
        # The value head has the layout of SB3's PPO critic (MLP with tanh, then a linear
        # layer), so that a pre-trained PPO critic can be copied into it.
        layers: list[nn.Module] = []
        for a, b in zip((embed, *hidden[:-1]), hidden):
            layers += [nn.Linear(a, b), nn.Tanh()]
        self.value_head = nn.Sequential(*layers, nn.Linear(hidden[-1], 1))
        if self.fusion == "attention":
            self.attention = nn.Linear(embed, 2)
        elif self.fusion == "gating":
            self.gate = NodeScorer(embed, hidden)

    def q_values(self, obs: dict[str, torch.Tensor], actions: torch.Tensor | None = None) -> torch.Tensor:
        """Q(s, .) on every node ``(B, N)``; with ``actions`` ``(B, 1)``, Q(s, a) alone ``(B, 1)``.

        The TD loss and its target read one Q-value per state, and the Q head scores each
        node on its own (from ``[h_i || g]``): the encoder still passes messages over the
        whole graph, but the head then scores the chosen node only.
        """
        features: GraphFeatures = self.encoder(obs)
        if actions is not None:
            index = actions.unsqueeze(-1).expand(-1, -1, features.nodes.shape[-1])
            features = GraphFeatures(features.nodes.gather(1, index), features.graph, features.mask.gather(1, actions))
        return self.q_head(features)

    def value(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """V(s) alone ``(B,)``: PPO's bootstrap values need neither Q nor policy head."""
        return self.value_head(self.encoder(obs).graph).squeeze(-1)

    def forward(self, obs: dict[str, torch.Tensor]) -> HybridOutput:
        features: GraphFeatures = self.encoder(obs)
        q_values, logits = self.q_head(features), self.policy_head(features)
        mask = features.mask
        q_scaled = standardise(q_values, mask)
        real_logits = torch.where(mask > 0.5, logits, 0.0)
        if self.fusion == "weighted_sum":
            fused = self.q_weight * q_scaled + self.policy_weight * real_logits
        elif self.fusion == "attention":
            weights = torch.softmax(self.attention(features.graph), dim=-1)  # (B, 2)
            fused = weights[:, :1] * q_scaled + weights[:, 1:] * real_logits
        else:  # gating
            gate = torch.sigmoid(torch.where(mask > 0.5, self.gate(features), 0.0))
            fused = gate * q_scaled + (1.0 - gate) * real_logits
        fused = fused.masked_fill(mask < 0.5, torch.finfo(fused.dtype).min)
        value = self.value_head(features.graph).squeeze(-1)
        return HybridOutput(q_values, logits, fused, value)


def warm_start(network: HybridNetwork, dqn: baselines.BaselineAgent, ppo: baselines.BaselineAgent,
               encoder_from: str = "dqn") -> None:
    """Copy pre-trained weights into ``network``.

    - Q head <- DQN-GNN's Q network head; policy head <- PPO-GNN's node scorer (its
      ``action_net``); value head <- PPO-GNN's critic (``mlp_extractor.value_net`` + ``value_net``).
    - Encoder <- DQN-GNN's (default) or PPO-GNN's. There is one encoder and two pre-trained
      ones; we take the one under the head with the larger fusion weight (Q: 0.6), so the
      agent starts out acting like the pre-trained DQN; the policy and value heads then adapt
      to it during fine-tuning.
    - The fusion's own weights (attention, gate) start fresh: nothing pre-trained has them.
    """
    q_net, policy = dqn.policy.q_net, ppo.policy
    source = q_net.features_extractor.encoder if encoder_from == "dqn" else policy.features_extractor.encoder
    network.encoder.load_state_dict(source.state_dict())
    network.q_head.load_state_dict(q_net.q_net.state_dict())
    network.policy_head.load_state_dict(policy.action_net.state_dict())
    critic = nn.Sequential(*policy.mlp_extractor.value_net, policy.value_net)
    network.value_head.load_state_dict(critic.state_dict())


class HybridAgent(Agent):
    """A trained hybrid: acts with the fused distribution; shows Q-values and policy scores."""

    greedy_output = "fused_logits"

    @staticmethod
    def build_network(config: TrainConfig) -> HybridNetwork:
        return HybridNetwork(config.encoder, config.hybrid)

    def _forward(self, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = self.network(obs)
        fused = out.fused - out.fused.logsumexp(dim=-1, keepdim=True)
        logits = out.logits - out.logits.logsumexp(dim=-1, keepdim=True)
        return {"fused_logits": fused, "probabilities": fused.exp(), "q_values": out.q_values,
                "logits": logits}


# ---------------------------------------------------------------------- the losses


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


# ---------------------------------------------------------------------- training


def _as_tensors(obs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(v, dtype=torch.float32) for k, v in obs.items()}


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
            values = network.value(_as_tensors({k: v[cut] for k, v in last_obs.items()}))
        rewards[cut] += gamma * values.numpy().astype(np.float64)
    return rewards


def _make_vec_env(config: TrainConfig, log_dir: str | os.PathLike | None) -> DummyVecEnv:
    env = baselines.monitored_vec_env(config.env, config.hybrid.n_envs, False, log_dir)
    env.seed(config.seed)
    return env


def pretrain_config(config: TrainConfig, algo: str) -> TrainConfig:
    """The baseline run that pre-trains ``algo`` for the hybrid ``config``: the same encoder,
    environment, seed and DQN/PPO settings, ``pretrain_steps`` long. (Its ``hybrid`` field is
    reset to the default: baselines do not read it, and so the DQN-GNN baseline run of a seed
    *is* the pre-training of every hybrid variant with that encoder and seed.)"""
    return replace(config, algo=algo, total_timesteps=config.pretrain_steps, pretrain_steps=0,
                   hybrid=HybridConfig())


def pretrain(config: TrainConfig, path: str | os.PathLike | None = None,
             progress: bool = False) -> tuple[baselines.BaselineAgent, baselines.BaselineAgent]:
    """The card's pre-training: DQN-GNN and PPO-GNN, ``pretrain_steps`` each, same encoder and seed."""
    agents = []
    for algo in ("dqn", "ppo"):
        sub_path = None if path is None else f"{path}-pretrain-{algo}"
        agents.append(baselines.train(pretrain_config(config, algo), sub_path, progress=progress))
    return agents[0], agents[1]


def _check_pretrained(config: TrainConfig, pretrained: tuple[baselines.BaselineAgent, ...]) -> None:
    if not config.pretrain_steps:
        raise ValueError("pretrained agents were given, but pretrain_steps is 0 (training from scratch)")
    for algo, agent in zip(("dqn", "ppo"), pretrained):
        if agent.config != pretrain_config(config, algo):
            raise ValueError(
                f"the pre-trained {algo} agent {agent.name} was not trained with the config this "
                f"hybrid would pre-train with (algo={algo}, policy=gnn, encoder, env, seed "
                f"{config.seed}, {config.pretrain_steps} steps); pass pretrained=None to train it"
            )


def train_hybrid(config: TrainConfig, path: str | os.PathLike | None = None, progress: bool = False,
                 pretrained: tuple[baselines.BaselineAgent, baselines.BaselineAgent] | None = None,
                 log_dir: str | os.PathLike | None = None) -> HybridAgent:
    """Train the hybrid ``config`` describes (pre-training first if ``pretrain_steps``);
    ``log_dir`` keeps the fine-tuning's episodes (SB3 Monitor CSVs).

    ``pretrained`` gives the DQN-GNN and PPO-GNN agents to start from instead of training
    them; they must be exactly what :func:`pretrain` would train (same encoder, environment,
    seed and steps), as the baseline runs of the same seed are. Same config, seed and thread
    count give bit-identical weights. Training runs whole rollouts, so it may run past
    ``total_timesteps`` to finish the last one.
    """
    if config.algo != "hybrid":
        raise ValueError(f"train_hybrid needs algo='hybrid', got {config.algo!r}")
    torch.set_num_threads(config.threads)
    start_time = time.perf_counter()
    hp = config.hybrid
    trained: dict[str, Any] = {"pretrain_timesteps": {}}

    set_random_seed(config.seed)  # the initial weights
    network = HybridNetwork(config.encoder, config.hybrid)
    if pretrained is not None:
        _check_pretrained(config, pretrained)
    if config.pretrain_steps:
        dqn, ppo = pretrained if pretrained is not None else pretrain(config, path, progress)
        warm_start(network, dqn, ppo, hp.encoder_from)
        trained["pretrain_timesteps"] = {"dqn": dqn.trained["timesteps"], "ppo": ppo.trained["timesteps"]}
    # Seed again after pre-training, so the rollouts' randomness does not depend on whether
    # the agent was warm-started.
    set_random_seed(config.seed)
    target = copy.deepcopy(network)
    target.requires_grad_(False)
    # foreach: one fused update over all tensors (the per-tensor loop is PyTorch's CPU default).
    optimizer = torch.optim.Adam(network.parameters(), lr=hp.learning_rate, eps=1e-5, foreach=True)

    envs = _make_vec_env(config, log_dir)
    obs_space, action_space = envs.observation_space, envs.action_space
    rollout = DictRolloutBuffer(hp.n_steps, obs_space, action_space, "cpu", hp.gae_lambda, hp.gamma, hp.n_envs)
    replay = DictReplayBuffer(hp.buffer_size, obs_space, action_space, "cpu", hp.n_envs,
                              handle_timeout_termination=True)

    val_seeds = list(range(VALIDATION_SEEDS_START, VALIDATION_SEEDS_START + hp.val_episodes))
    history: list[tuple[int, float]] = []
    best_return, best_state, best_step = -np.inf, None, 0

    def validate(step: int) -> None:
        nonlocal best_return, best_state, best_step
        network.eval()
        # The validation episodes run side by side: one forward pass per step for all of them.
        score = float(episode_returns(HybridAgent(config, network, {}), val_seeds, config.env).mean())
        network.train()
        history.append((step, round(score, 4)))
        if score > best_return:
            best_return, best_state, best_step = score, copy.deepcopy(network.state_dict()), step

    obs = envs.reset()
    episode_start = np.ones(hp.n_envs, dtype=bool)
    steps, next_eval, next_target_update = 0, hp.eval_every, hp.target_update_interval
    bar = tqdm(total=config.total_timesteps, desc=config.name, unit="step", disable=not progress)

    while steps < config.total_timesteps:
        # ---- 1. Collect a rollout with the fused policy; every transition also goes to replay.
        rollout.reset()
        network.eval()
        for _ in range(hp.n_steps):
            with torch.inference_mode():  # acting needs no autograd at all (cheaper than no_grad)
                out = network(_as_tensors(obs))
                distribution = torch.distributions.Categorical(logits=out.fused, validate_args=False)
                actions = distribution.sample()
                log_prob = distribution.log_prob(actions)
            next_obs, rewards, dones, infos = envs.step(actions.numpy())
            steps += hp.n_envs

            # VecEnv resets finished episodes at once: the true last observation is in infos.
            real_next_obs = {k: v.copy() for k, v in next_obs.items()}
            for i, done in enumerate(dones):
                if done:
                    for k in real_next_obs:
                        real_next_obs[k][i] = infos[i]["terminal_observation"][k]
            replay.add(obs, real_next_obs, actions.numpy(), rewards, dones, infos)

            rewards = bootstrap_time_limits(rewards, dones, infos, real_next_obs, network, hp.gamma)
            rollout.add(obs, actions.numpy()[:, None], rewards, episode_start, out.value, log_prob)
            obs, episode_start = next_obs, dones

            if steps >= next_target_update:  # SB3's DQN schedule: polyak(tau) every interval
                polyak_update(network.q_head.parameters(), target.q_head.parameters(), hp.tau)
                polyak_update(network.encoder.parameters(), target.encoder.parameters(), hp.tau)
                next_target_update += hp.target_update_interval
        with torch.no_grad():
            last_values = network.value(_as_tensors(obs))
        rollout.compute_returns_and_advantage(last_values=last_values, dones=episode_start)

        # ---- 2. Learn: PPO epochs over the rollout, each minibatch step joined by a TD step.
        network.train()
        td_ready = replay.size() * hp.n_envs >= hp.learning_starts
        for _ in range(hp.n_epochs):
            for batch in rollout.get(hp.batch_size):
                if td_ready:
                    sample = replay.sample(hp.batch_size)
                    targets = td_targets(network, target, sample.rewards.flatten(), sample.next_observations,
                                         sample.dones.flatten(), hp.gamma)
                out = network(batch.observations)
                loss, _ = ppo_loss(out, batch.actions.long().flatten(), batch.old_log_prob,
                                   batch.advantages, batch.returns, hp)
                loss = hp.ppo_coef * loss
                if td_ready:
                    # The TD loss reads Q(s, a) of the taken node only: the Q head scores that node.
                    q_taken = network.q_values(sample.observations, sample.actions.long()).squeeze(-1)
                    loss = loss + hp.td_coef * F.smooth_l1_loss(q_taken, targets)
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(network.parameters(), hp.max_grad_norm, foreach=True)
                optimizer.step()
        bar.update(hp.n_envs * hp.n_steps)

        # ---- 3. Validate (never on test seeds), keep the best weights.
        if steps >= next_eval or steps >= config.total_timesteps:
            validate(steps)
            next_eval += hp.eval_every
    bar.close()
    envs.close()

    trained["timesteps"] = steps
    trained["selected"] = "final"
    trained["validation_returns"] = history
    if hp.select_best and best_state is not None:
        network.load_state_dict(best_state)
        trained["selected"] = f"best on validation seeds {val_seeds[0]}-{val_seeds[-1]}, step {best_step}"
    trained["total_env_steps"] = steps + sum(trained["pretrain_timesteps"].values())
    trained["wall_time_s"] = round(time.perf_counter() - start_time, 3)
    trained["threads"] = torch.get_num_threads()
    agent = HybridAgent(config, network, trained)
    if path is not None:
        agent.save(path)
    return agent
