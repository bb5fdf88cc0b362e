"""The hybrid DQN-PPO agent: how it learns (:func:`train_hybrid`), read top to bottom.

The network (:mod:`edge_rl.agents.hybrid.network`): one graph encoder shared by a Q head, a
policy head and a value head; the agent acts with the fused distribution of Q-values and
policy logits (:mod:`edge_rl.nn.fusions`). Learning, each part the textbook version (the
losses are pure functions in :mod:`edge_rl.agents.hybrid.losses`):

- every transition goes to SB3's replay buffer; the Q head learns by the double-DQN TD loss
  ``r + gamma * Q_target(s', argmax_a Q(s', a))`` with a target network updated as SB3's DQN
  does (``tau`` every ``target_update_interval`` steps), bootstrapping from the *next* state and
  cut only at true termination, never at the 100-step time limit;
- on-policy rollouts (SB3's rollout buffer, GAE) feed PPO's clipped objective and value loss;
  the probability ratio is taken on the fused distribution that chose the actions;
- each PPO minibatch step also takes a TD minibatch from the replay buffer, and one optimizer
  step on ``ppo_coef * L_ppo + td_coef * L_td`` sends both gradients into the shared encoder.
  That is the card's design (``HybridConfig.design = "card"``); the other designs
  (:mod:`edge_rl.agents.hybrid.designs`) keep the PPO gradient out of the DQN part, and one
  also distils the Q-values into the policy; they take the minibatch step themselves.

What that costs: about 2.6x PPO-GNN's matrix arithmetic per environment step (the PPO
gradient also runs through the Q head; the TD step adds a forward and backward pass and the
online and target networks' passes on the next states). ``make bench`` counts it and compares
the hybrid's arithmetic rate with PPO-GNN's.

The card's procedure (``pretrain_steps > 0``): pre-train DQN-GNN and PPO-GNN with SB3, copy
their weights in (:func:`~edge_rl.agents.hybrid.network.warm_start`), then fine-tune. The
"best" weights are chosen on validation seeds, never on the test seeds that tables report.
"""

from __future__ import annotations

import copy
import os
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.utils import polyak_update, set_random_seed
from stable_baselines3.common.vec_env import DummyVecEnv
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from edge_rl.agents.base import Agent, StopRule, rollout_steps
from edge_rl.agents.baselines import BaselineAgent, monitored_vec_env, train_baseline
from edge_rl.agents.hybrid.designs import design_for
from edge_rl.agents.hybrid.losses import as_tensors, bootstrap_time_limits, ppo_loss, td_targets
from edge_rl.agents.hybrid.network import HybridNetwork, warm_start
from edge_rl.agents.hybrid.spec import HYBRID
from edge_rl.agents.sb3_parts import SampledDictReplayBuffer, SampledDictRolloutBuffer
from edge_rl.agents.tensorboard import RunEvents
from edge_rl.config import HybridConfig, PPOConfig, TrainConfig
from edge_rl.evaluation import VALIDATION_SEEDS_START, episode_returns


class HybridAgent(Agent):
    """A trained hybrid: acts with the fused distribution (or, by its design, the policy head's:
    :mod:`edge_rl.agents.hybrid.designs`); shows Q-values and policy scores."""

    greedy_output = "fused_logits"
    spec = HYBRID

    def __init__(self, config: TrainConfig, network: torch.nn.Module, trained: dict[str, Any]) -> None:
        super().__init__(config, network, trained)
        self.greedy_output = design_for(config.hybrid).acts_by  # what the design acts by

    @staticmethod
    def build_network(config: TrainConfig) -> HybridNetwork:
        return HybridNetwork(config.encoder, config.hybrid)

    @classmethod
    def train(cls, config: TrainConfig, path: str | os.PathLike | None = None, progress: bool = False,
              log_dir: str | os.PathLike | None = None, prerequisites: Sequence[Agent] = (),
              stop: StopRule | None = None, tensorboard: str | os.PathLike | None = None) -> HybridAgent:
        pretrained = tuple(prerequisites) if prerequisites else None
        return train_hybrid(config, path, progress, pretrained=pretrained, log_dir=log_dir,  # type: ignore[arg-type]
                            stop=stop, tensorboard=tensorboard)

    @classmethod
    def prerequisites(cls, config: TrainConfig) -> tuple[TrainConfig, ...]:
        """The card's procedure starts from DQN-GNN and PPO-GNN with the same encoder and seed."""
        return tuple(pretrain_config(config, algo) for algo in ("dqn", "ppo")) if config.pretrain_steps else ()

    @classmethod
    def training_envs(cls, config: TrainConfig) -> int:
        return config.hybrid.n_envs

    @classmethod
    def planned_steps(cls, config: TrainConfig) -> dict[str, int]:
        steps = {"train": rollout_steps(config.total_timesteps, config.hybrid.n_envs * config.hybrid.n_steps)}
        for prerequisite in cls.prerequisites(config):
            steps[f"pretrain_{prerequisite.algo}"] = BaselineAgent.planned_steps(prerequisite)["train"]
        return steps

    def _forward(self, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = self.network(obs)
        fused = out.fused - out.fused.logsumexp(dim=-1, keepdim=True)
        logits = out.logits - out.logits.logsumexp(dim=-1, keepdim=True)
        acting = fused if self.greedy_output == "fused_logits" else logits
        return {"fused_logits": fused, "probabilities": acting.exp(), "q_values": out.q_values,
                "logits": logits}



def _make_vec_env(config: TrainConfig, log_dir: str | os.PathLike | None) -> DummyVecEnv:
    env = monitored_vec_env(config.env, config.hybrid.n_envs, False, log_dir, config.env_mix)
    env.seed(config.seed)
    return env


def pretrain_config(config: TrainConfig, algo: str) -> TrainConfig:
    """The baseline run that pre-trains ``algo`` for the hybrid ``config``: the same encoder,
    environment, seed and DQN/PPO settings, ``pretrain_steps`` long. (Its ``hybrid`` field, and
    DQN's ``ppo``, are reset to the defaults: those algorithms do not read them, and so the
    DQN-GNN baseline run of a seed *is* the pre-training of every hybrid variant with that
    encoder and seed, whatever PPO's settings.)"""
    unread = {"ppo": PPOConfig()} if algo == "dqn" else {}
    return replace(config, algo=algo, total_timesteps=config.pretrain_steps, pretrain_steps=0,
                   hybrid=HybridConfig(), **unread)


def pretrain(config: TrainConfig, path: str | os.PathLike | None = None, progress: bool = False,
             tensorboard: str | os.PathLike | None = None) -> tuple[BaselineAgent, BaselineAgent]:
    """The card's pre-training: DQN-GNN and PPO-GNN, ``pretrain_steps`` each, same encoder and
    seed (saved, and their events written, as ``<path>-pretrain-<algo>``, ``<tensorboard>-pretrain-<algo>``)."""
    agents = []
    for algo in ("dqn", "ppo"):
        sub_path = None if path is None else f"{path}-pretrain-{algo}"
        events = None if tensorboard is None else f"{os.fspath(tensorboard)}-pretrain-{algo}"
        agents.append(train_baseline(pretrain_config(config, algo), sub_path, progress=progress, tensorboard=events))
    return agents[0], agents[1]


def _check_pretrained(config: TrainConfig, pretrained: tuple[BaselineAgent, ...]) -> None:
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
                 pretrained: tuple[BaselineAgent, BaselineAgent] | None = None,
                 log_dir: str | os.PathLike | None = None, stop: StopRule | None = None,
                 tensorboard: str | os.PathLike | None = None) -> HybridAgent:
    """Train the hybrid ``config`` describes (pre-training first if ``pretrain_steps``);
    ``log_dir`` keeps the fine-tuning's episodes (SB3 Monitor CSVs); ``tensorboard``, its
    scalars as TensorBoard events (after each update: ``train/`` PPO, value and TD losses and the
    entropy, ``rollout/ep_rew_mean``, and ``validation/return`` when it validates).

    ``pretrained`` gives the DQN-GNN and PPO-GNN agents to start from instead of training
    them; they must be exactly what :func:`pretrain` would train (same encoder, environment,
    seed and steps), as the baseline runs of the same seed are. Same config, seed and thread
    count give bit-identical weights. Training runs whole rollouts, so it may run past
    ``total_timesteps`` to finish the last one. ``stop`` may end it after a validation
    (:data:`~edge_rl.agents.base.StopRule`).
    """
    if config.algo != "hybrid":
        raise ValueError(f"train_hybrid needs algo='hybrid', got {config.algo!r}")
    torch.set_num_threads(config.threads)
    start_time = time.perf_counter()
    hybrid = config.hybrid
    design = design_for(hybrid)  # how the parts learn; the card's step is the loop's own code below
    trained: dict[str, Any] = {"pretrain_timesteps": {}}

    set_random_seed(config.seed)  # the initial weights
    network = HybridNetwork(config.encoder, config.hybrid)
    if pretrained is not None:
        _check_pretrained(config, pretrained)
    if config.pretrain_steps:
        dqn, ppo = pretrained if pretrained is not None else pretrain(config, path, progress, tensorboard)
        warm_start(network, dqn, ppo, hybrid.encoder_from)
        trained["pretrain_timesteps"] = {"dqn": dqn.trained["timesteps"], "ppo": ppo.trained["timesteps"]}
    # Seed again after pre-training, so the rollouts' randomness does not depend on whether
    # the agent was warm-started.
    set_random_seed(config.seed)
    target = copy.deepcopy(network)
    target.requires_grad_(False)
    # foreach: one fused update over all tensors (the per-tensor loop is PyTorch's CPU default).
    optimizer = torch.optim.Adam(network.parameters(), lr=hybrid.learning_rate, eps=1e-5, foreach=True)

    envs = _make_vec_env(config, log_dir)
    obs_space, action_space = envs.observation_space, envs.action_space
    # SB3's dict buffers, less a copy of every sample (edge_rl.agents.sb3_parts: the same data).
    rollout = SampledDictRolloutBuffer(hybrid.n_steps, obs_space, action_space, "cpu", hybrid.gae_lambda, hybrid.gamma,
                                hybrid.n_envs)
    replay = SampledDictReplayBuffer(hybrid.buffer_size, obs_space, action_space, "cpu", hybrid.n_envs,
                              handle_timeout_termination=True)

    val_seeds = list(range(VALIDATION_SEEDS_START, VALIDATION_SEEDS_START + hybrid.val_episodes))
    history: list[tuple[int, float]] = []
    best_return, best_state, best_step = -np.inf, None, 0

    validation_seconds = 0.0
    # SB3's logger: TensorBoard events, or nowhere. It reads numbers the training computed
    # anyway (as Python floats, after the fact): no random draw, no tensor it learns from.
    events = RunEvents(tensorboard)
    logger = events.logger
    recent_returns: deque[float] = deque(maxlen=100)  # the training episodes' returns, as SB3 keeps them

    def validate(step: int) -> None:
        nonlocal best_return, best_state, best_step, validation_seconds
        started = time.perf_counter()
        network.eval()
        # The validation episodes run side by side: one forward pass per step for all of them.
        score = float(episode_returns(HybridAgent(config, network, {}), val_seeds, config.env).mean())
        network.train()
        history.append((step, round(score, 4)))
        logger.record("validation/return", score)
        if score > best_return:
            best_return, best_state, best_step = score, copy.deepcopy(network.state_dict()), step
        validation_seconds += time.perf_counter() - started

    obs = envs.reset()
    episode_start = np.ones(hybrid.n_envs, dtype=bool)
    steps, next_eval, next_target_update = 0, hybrid.eval_every, hybrid.target_update_interval
    bar = tqdm(total=HybridAgent.planned_steps(config)["train"], desc=config.name, unit="step", disable=not progress)

    stopped = False
    while steps < config.total_timesteps:
        # ---- 1. Collect a rollout with the fused policy; every transition also goes to replay.
        rollout.reset()
        network.eval()
        for _ in range(hybrid.n_steps):
            with torch.inference_mode():  # acting needs no autograd at all (cheaper than no_grad)
                out = network(as_tensors(obs))
                distribution = torch.distributions.Categorical(logits=design.acting_logits(out), validate_args=False)
                actions = distribution.sample()
                log_prob = distribution.log_prob(actions)
            next_obs, rewards, dones, infos = envs.step(actions.numpy())
            steps += hybrid.n_envs

            # VecEnv resets finished episodes at once: the true last observation is in infos.
            real_next_obs = {k: v.copy() for k, v in next_obs.items()}
            for i, done in enumerate(dones):
                if done:
                    for k in real_next_obs:
                        real_next_obs[k][i] = infos[i]["terminal_observation"][k]
            replay.add(obs, real_next_obs, actions.numpy(), rewards, dones, infos)
            recent_returns.extend(info["episode"]["r"] for info in infos if "episode" in info)

            rewards = bootstrap_time_limits(rewards, dones, infos, real_next_obs, network, hybrid.gamma)
            rollout.add(obs, actions.numpy()[:, None], rewards, episode_start, out.value, log_prob)
            obs, episode_start = next_obs, dones

            if steps >= next_target_update:  # SB3's DQN schedule: polyak(tau) every interval
                polyak_update(network.q_head.parameters(), target.q_head.parameters(), hybrid.tau)
                polyak_update(network.encoder.parameters(), target.encoder.parameters(), hybrid.tau)
                next_target_update += hybrid.target_update_interval
        with torch.no_grad():
            last_values = network.value(as_tensors(obs))
        rollout.compute_returns_and_advantage(last_values=last_values, dones=episode_start)

        # ---- 2. Learn: PPO epochs over the rollout, each minibatch step joined by a TD step.
        network.train()
        td_ready = replay.size() * hybrid.n_envs >= hybrid.learning_starts
        for _ in range(hybrid.n_epochs):
            for batch in rollout.get(hybrid.batch_size):
                if design.owns_step:  # a design other than the card's (designs.py) takes the step
                    design.step(network, target, optimizer, batch, replay.sample(hybrid.batch_size) if td_ready else None)
                    continue
                if td_ready:
                    sample = replay.sample(hybrid.batch_size)
                    targets = td_targets(network, target, sample.rewards.flatten(), sample.next_observations,
                                         sample.dones.flatten(), hybrid.gamma)
                out = network(batch.observations)
                loss, parts = ppo_loss(out, batch.actions.long().flatten(), batch.old_log_prob,
                                       batch.advantages, batch.returns, hybrid)
                ppo_part = loss
                loss = hybrid.ppo_coef * loss
                if td_ready:
                    # The TD loss reads Q(s, a) of the taken node only: the Q head scores that node.
                    q_taken = network.q_values(sample.observations, sample.actions.long()).squeeze(-1)
                    td_loss = F.smooth_l1_loss(q_taken, targets)
                    loss = loss + hybrid.td_coef * td_loss
                    logger.record_mean("train/td_loss", td_loss.item())
                for key, value in (("ppo_loss", ppo_part), ("policy_loss", parts["policy_loss"]),
                                   ("value_loss", parts["value_loss"]), ("entropy", parts["entropy"]),
                                   ("loss", loss)):
                    logger.record_mean(f"train/{key}", value.item())
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(network.parameters(), hybrid.max_grad_norm, foreach=True)
                optimizer.step()
        bar.update(hybrid.n_envs * hybrid.n_steps)

        # ---- 3. Validate (never on test seeds), keep the best weights.
        if steps >= next_eval or steps >= config.total_timesteps:
            validate(steps)
            next_eval += hybrid.eval_every
            stopped = stop is not None and stop(history)  # a pruned tuning trial (edge_rl.agents.base.StopRule)
        if recent_returns:
            logger.record("rollout/ep_rew_mean", float(np.mean(recent_returns)))
        logger.dump(steps)
        if stopped:
            break
    bar.close()
    envs.close()
    events.close()

    trained["timesteps"] = steps
    trained["selected"] = "final"
    trained["validation_returns"] = history
    if hybrid.select_best and best_state is not None:
        network.load_state_dict(best_state)
        trained["selected"] = f"best on validation seeds {val_seeds[0]}-{val_seeds[-1]}, step {best_step}"
    trained["total_env_steps"] = steps + sum(trained["pretrain_timesteps"].values())
    trained["wall_time_s"] = round(time.perf_counter() - start_time, 3)
    trained["validation_s"] = round(validation_seconds, 3)
    trained["threads"] = torch.get_num_threads()
    agent = HybridAgent(config, network, trained)
    if path is not None:
        agent.save(path)
    return agent
