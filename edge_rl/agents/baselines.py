"""The DQN and PPO baselines: Stable-Baselines3 on the flat (MLP) or graph (GNN) observation.

``train_baseline(config)`` builds and trains one and returns a :class:`BaselineAgent`, the
:class:`~edge_rl.agents.base.Agent` registered for ``dqn`` and ``ppo``
(:func:`edge_rl.agents.load` gives it back from a checkpoint).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.vec_env import DummyVecEnv
from tqdm import tqdm

from edge_rl.agents.base import Agent, Observation, StopRule, rollout_steps
from edge_rl.agents.sb3_parts import SampledDictReplayBuffer, SampledDictRolloutBuffer
from edge_rl.agents.tensorboard import RunEvents
from edge_rl.config import EnvConfig, HybridConfig, TrainConfig
from edge_rl.envs import make_env
from edge_rl.envs.mixture import make_training_env
from edge_rl.evaluation import VALIDATION_SEEDS_START, episode_returns
from edge_rl.nn.policies import GraphActorCriticPolicy, GraphDQNPolicy


def monitored_env(config: EnvConfig, flat: bool, log: str | None = None, mix: tuple[EnvConfig, ...] = ()) -> gym.Env:
    """The training environment (``config``, or a mixture of ``mix``) wrapped in SB3's Monitor
    (episode returns and lengths in ``info``, and in ``<log>.monitor.csv`` if ``log`` is given:
    SB3's ``load_results`` reads them back)."""
    return Monitor(make_training_env(config, mix, flat=flat), filename=log)


def monitored_vec_env(config: EnvConfig, n_envs: int, flat: bool, log_dir: str | os.PathLike | None,
                      mix: tuple[EnvConfig, ...] = ()) -> DummyVecEnv:
    """``n_envs`` monitored environments; with ``log_dir``, one training log per environment."""
    if log_dir is not None:
        os.makedirs(log_dir, exist_ok=True)
    logs = [None if log_dir is None else os.path.join(log_dir, str(i)) for i in range(n_envs)]
    return DummyVecEnv([partial(monitored_env, config, flat, log, mix) for log in logs])


class MaskedDQN(DQN):
    """SB3's DQN, except that random actions (warm-up and epsilon-greedy) are drawn among the
    real nodes (``node_mask``), never the padding slots. SB3 has no hook for action masks in
    DQN's exploration, so these two methods are overridden; learning is unchanged."""

    def _random_nodes(self, observation: Observation) -> np.ndarray:
        masks = np.asarray(observation["node_mask"]).reshape(-1, self.action_space.n) > 0.5
        return np.array([self.action_space.sample(mask=m.astype(np.int8)) for m in masks])

    def _sample_action(self, learning_starts: int, action_noise: Any = None, n_envs: int = 1):
        if self.num_timesteps < learning_starts:
            action = self._random_nodes(self._last_obs)
            return action, action
        return super()._sample_action(learning_starts, action_noise, n_envs)

    def predict(self, observation, state=None, episode_start=None, deterministic=False):  # noqa: ANN001
        single = np.ndim(observation["nodes"]) == 2
        if not deterministic and np.random.rand() < self.exploration_rate:
            actions = self._random_nodes(observation)
        else:
            # The greedy action without SB3's per-call overhead (it switches every module's
            # train/eval mode, ~30 % of a graph policy's step): no layer here depends on it.
            # inference_mode rather than no_grad: nothing here is ever differentiated, and it
            # skips autograd's bookkeeping (~13 % of a single-observation GAT forward).
            with torch.inference_mode():
                obs = {k: torch.as_tensor(np.asarray(v, dtype=np.float32)) for k, v in observation.items()}
                if single:
                    obs = {k: v.unsqueeze(0) for k, v in obs.items()}
                # SB3's QNetwork.forward is preprocess_obs (a no-op on float tensors), the
                # extractor, the head: the same modules, called directly.
                q_net = self.q_net
                actions = q_net.q_net(q_net.features_extractor.encoder(obs)).argmax(dim=-1).numpy()
        return (actions[0] if single else actions), state


def _algorithm_kwargs(config: TrainConfig) -> tuple[type[BaseAlgorithm], Any, dict[str, Any]]:
    """The SB3 class, its policy, and its keyword arguments for ``config``."""
    graph = config.policy == "gnn"
    # Adam's foreach implementation: one fused update over all parameter tensors instead of a
    # Python loop over them (PyTorch picks the loop by default on the CPU). The same
    # arithmetic, bit for bit (tests/test_baselines.py); a graph policy has about 20 tensors.
    # SB3 gives PPO's Adam eps 1e-5 only when no optimizer_kwargs are passed: keep it.
    policy_kwargs: dict[str, Any] = {
        "optimizer_kwargs": {"foreach": True, **({"eps": 1e-5} if config.algo == "ppo" else {})}
    }
    if graph:
        policy_kwargs["features_extractor_kwargs"] = {"config": config.encoder}
        policy_kwargs["net_arch"] = list(config.encoder.head_hidden)
    # Graph policies read dict observations: SB3's dict buffers, less a copy of every sample
    # (edge_rl.agents.sb3_parts; the same data bit for bit).
    if config.algo == "dqn":
        kwargs = dict(vars(config.dqn))
        if graph:
            return MaskedDQN, GraphDQNPolicy, {**kwargs, "policy_kwargs": policy_kwargs,
                                               "replay_buffer_class": SampledDictReplayBuffer}
        return DQN, "MlpPolicy", {**kwargs, "policy_kwargs": policy_kwargs}
    kwargs = {k: v for k, v in vars(config.ppo).items() if k != "n_envs"}
    if graph:
        return PPO, GraphActorCriticPolicy, {**kwargs, "policy_kwargs": policy_kwargs,
                                             "rollout_buffer_class": SampledDictRolloutBuffer}
    return PPO, "MlpPolicy", {**kwargs, "policy_kwargs": policy_kwargs}


def sb3_arguments(config: TrainConfig) -> tuple[type[BaseAlgorithm], Any, dict[str, Any]]:
    """The SB3 algorithm class, the policy and every keyword argument ``config`` trains with:
    what :func:`make_model` builds, and what RL Zoo's configs give SB3 (:mod:`edge_rl.zoo`)."""
    return _algorithm_kwargs(config)


def make_model(config: TrainConfig, log_dir: str | os.PathLike | None = None,
               events: RunEvents | None = None) -> BaseAlgorithm:
    """The untrained SB3 model for ``config``, seeded, on the CPU (training logs in ``log_dir``;
    SB3's scalars to ``events``' logger: TensorBoard events, or by default nowhere)."""
    torch.set_num_threads(config.threads)
    algorithm, policy, kwargs = _algorithm_kwargs(config)
    n_envs = BaselineAgent.training_envs(config)
    env = monitored_vec_env(config.env, n_envs, config.policy == "mlp", log_dir, config.env_mix)
    model = algorithm(policy, env, seed=config.seed, device="cpu", verbose=0, **kwargs)
    # SB3's learn() otherwise configures a logger that writes nothing but first creates an
    # empty SB3-<date> directory in the temp folder, one per run (thousands per reproduction).
    # A logger given up front (silent, or writing TensorBoard events) creates none.
    model.set_logger((events or RunEvents(None)).logger)
    return model


class _ProgressBar(BaseCallback):
    """A tqdm bar over environment steps (SB3's own needs ``rich``, which we do not install)."""

    def __init__(self, total: int, description: str) -> None:
        super().__init__()
        self.bar = tqdm(total=total, desc=description, unit="step", dynamic_ncols=True)

    def _on_step(self) -> bool:
        self.bar.update(self.training_env.num_envs)
        return True

    def _on_training_end(self) -> None:
        self.bar.close()


VALIDATION_EVERY = HybridConfig.eval_every
VALIDATION_EPISODES = HybridConfig.val_episodes
"""A baseline's learning curve: its greedy return on the first validation episodes every so many
environment steps, as the hybrid validates itself (the same seeds, never test seeds)."""


class _Validation(BaseCallback):
    """The greedy return on validation episodes every :data:`VALIDATION_EVERY` steps and at the
    end. It reads the policy and changes nothing of the training: its episodes run in
    environments of their own, and a greedy action draws no random number."""

    def __init__(self, config: TrainConfig, stop: StopRule | None = None) -> None:
        super().__init__()
        self.config = config
        self.stop = stop
        self.seeds = list(range(VALIDATION_SEEDS_START, VALIDATION_SEEDS_START + VALIDATION_EPISODES))
        self.history: list[tuple[int, float]] = []
        self.seconds = 0.0
        self._next = VALIDATION_EVERY

    def _validate(self) -> None:
        start = time.perf_counter()
        agent = BaselineAgent(self.config, self.model.policy, {})
        score = float(episode_returns(agent, self.seeds, self.config.env).mean())
        self.history.append((int(self.num_timesteps), round(score, 4)))
        self.logger.record("validation/return", score)  # SB3's logger: TensorBoard, or nowhere
        self.logger.dump(int(self.num_timesteps))
        self.seconds += time.perf_counter() - start

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self._validate()
            self._next += VALIDATION_EVERY
            if self.stop is not None and self.stop(self.history):
                return False  # SB3 ends learn() here
        return True

    def _on_training_end(self) -> None:
        if not self.history or self.history[-1][0] != self.num_timesteps:
            self._validate()


def train_baseline(config: TrainConfig, path: str | os.PathLike | None = None, progress: bool = False,
                   log_dir: str | os.PathLike | None = None, stop: StopRule | None = None,
                   tensorboard: str | os.PathLike | None = None) -> BaselineAgent:
    """Train the baseline ``config`` describes; save it to ``path`` if given; with ``log_dir``,
    write each training environment's episodes there (SB3 Monitor CSVs); with ``tensorboard``,
    SB3's scalars and the validation return as TensorBoard events in that folder
    (:mod:`edge_rl.agents.tensorboard`).

    Same config, seed and thread count give bit-identical weights. PPO collects whole
    rollouts, so it may run past ``total_timesteps`` to finish the last one; the checkpoint
    records the steps actually taken, and the learning curve on validation episodes
    (``validation_returns``: step, mean greedy return; their cost in ``validation_s``, part of
    ``wall_time_s``). ``stop`` may end the training after a validation (:data:`StopRule`).
    """
    events = RunEvents(tensorboard)
    model = make_model(config, log_dir, events)
    start = time.perf_counter()
    validation = _Validation(config, stop)
    planned = BaselineAgent.planned_steps(config)["train"]  # the bar's total: the steps PPO will really take
    callbacks = [validation] + ([_ProgressBar(planned, config.name)] if progress else [])
    try:
        model.learn(total_timesteps=config.total_timesteps, callback=callbacks)
    finally:
        events.close()
    model.get_env().close()  # closes the training logs (Monitor's files) while the agent lives on
    trained = {
        "timesteps": int(model.num_timesteps),
        "wall_time_s": round(time.perf_counter() - start, 3),
        "validation_s": round(validation.seconds, 3),
        "threads": torch.get_num_threads(),
        "validation_returns": validation.history,
    }
    agent = BaselineAgent(config, model.policy, trained)
    if path is not None:
        agent.save(path)
    return agent


def build_policy(config: TrainConfig) -> BasePolicy:
    """The untrained SB3 policy network for ``config``, without an algorithm or environments."""
    algorithm, policy, kwargs = _algorithm_kwargs(config)
    env = make_env(config.env, flat=config.policy == "mlp")
    policy_class = algorithm.policy_aliases.get(policy, policy) if isinstance(policy, str) else policy
    return policy_class(
        env.observation_space, env.action_space, lambda _: 0.0, **kwargs["policy_kwargs"]
    )


class BaselineAgent(Agent):
    """A trained DQN or PPO policy (``network`` is the SB3 policy).

    MLP policies flatten the graph observation as Gymnasium's ``FlattenObservation`` does;
    graph policies run on any topology size, padded or not.
    """

    def __init__(self, config: TrainConfig, network: BasePolicy, trained: dict[str, Any]) -> None:
        super().__init__(config, network, trained)
        self.policy = self.network
        self.greedy_output = "q_values" if config.algo == "dqn" else "logits"
        if config.policy == "mlp":
            self._flat_size = int(self.policy.observation_space.shape[0])

    build_network = staticmethod(build_policy)

    @classmethod
    def train(cls, config: TrainConfig, path: str | os.PathLike | None = None, progress: bool = False,
              log_dir: str | os.PathLike | None = None, prerequisites: Sequence[Agent] = (),
              stop: StopRule | None = None, tensorboard: str | os.PathLike | None = None) -> BaselineAgent:
        if prerequisites:
            raise ValueError(f"{config.algo} trains from scratch: it takes no pre-trained agents")
        return train_baseline(config, path, progress, log_dir, stop, tensorboard)

    @classmethod
    def training_envs(cls, config: TrainConfig) -> int:
        return config.ppo.n_envs if config.algo == "ppo" else 1

    @classmethod
    def planned_steps(cls, config: TrainConfig) -> dict[str, int]:
        if config.algo == "ppo":  # whole rollouts of n_envs x n_steps
            return {"train": rollout_steps(config.total_timesteps, config.ppo.n_envs * config.ppo.n_steps)}
        return {"train": config.total_timesteps}

    def _forward(self, obs: Any) -> dict[str, torch.Tensor]:
        graph = self.config.policy == "gnn"
        if self.config.algo == "dqn":
            q_net = self.policy.q_net
            if graph:  # the same modules as SB3's q_net(obs), without its generic wrappers
                return {"q_values": q_net.q_net(q_net.features_extractor.encoder(obs))}
            return {"q_values": q_net(obs)}
        if graph:  # the actor's path in GraphActorCriticPolicy: encoder -> node scorer
            logits = self.policy.action_net(self.policy.features_extractor.encoder(obs))
            logits = logits - logits.logsumexp(dim=-1, keepdim=True)
            return {"logits": logits, "probabilities": logits.exp()}
        distribution = self.policy.get_distribution(obs).distribution
        return {"logits": distribution.logits, "probabilities": distribution.probs}
