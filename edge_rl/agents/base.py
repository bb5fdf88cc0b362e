"""What every trained policy is: an :class:`Agent`; :func:`train` makes one, :func:`load` reads one.

An agent takes the graph observation of ``edge_rl/IoTEdge-v0`` (one observation or a batch),
has Stable-Baselines3's ``predict``, shows its per-node outputs with ``node_scores``, and saves
itself as safetensors + JSON (:mod:`edge_rl.agents.checkpoint`).

Each algorithm is an :class:`Agent` subclass, registered in :data:`edge_rl.registry.ALGORITHMS`
under its ``TrainConfig.algo`` name by its torch-free spec
(:class:`~edge_rl.config.algorithms.AlgorithmSpec`, which names the class) or as the class itself
(whose :attr:`Agent.spec` is then its spec); :func:`load`, :func:`train` and the experiment runner
dispatch through that table and nothing else.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from edge_rl.agents import checkpoint
from edge_rl.config import TrainConfig, from_dict
from edge_rl.config.algorithms import AlgorithmSpec
from edge_rl.envs import make_env
from edge_rl.registry import ALGORITHMS

Observation = dict[str, np.ndarray]
"""One graph observation of ``edge_rl/IoTEdge-v0``, or a batch (a leading axis on every array)."""

StopRule = Callable[[Sequence[tuple[int, float]]], bool]
"""Asked after every validation during training with the learning curve so far (``(step,
return)`` pairs, validation seeds only): True ends the training there, as an SB3 callback that
returns False does. A tuning study's pruner (:mod:`edge_rl.experiments.studies.tuning`) is one; a
rule that reads only the curve changes nothing of a run it does not stop."""


class Agent(ABC):
    """The contract of an algorithm. A subclass says how to build its network from a
    :class:`TrainConfig` (:meth:`build_network`), how to train one (:meth:`train`), and what its
    network outputs per node (:meth:`_forward`, with ``greedy_output`` naming the output whose
    argmax is the deterministic action); everything else (``predict``, ``node_scores``,
    saving and loading) is shared.

    What configs and the CLI must know of the algorithm before it trains (the sections it reads,
    its defaults, its run names) is its spec: :attr:`spec` when the class is registered itself.
    """

    greedy_output = "probabilities"
    spec: ClassVar[AlgorithmSpec] = AlgorithmSpec()
    """Its spec when registered as a class: by default it reads no DQN / PPO / hybrid section,
    trains either policy for 10,000 steps and is named ``<algo>-<policy>[-<encoder>]``."""

    def __init__(self, config: TrainConfig, network: torch.nn.Module, trained: dict[str, Any]) -> None:
        self.config = config
        self.network = network.eval()
        self.trained = trained
        self.name = config.name
        self._keys = list(make_env(config.env).observation_space.spaces)
        self._flat_size: int | None = None  # set by MLP agents

    # ------------------------------------------------------------------ the algorithm's part

    @staticmethod
    @abstractmethod
    def build_network(config: TrainConfig) -> torch.nn.Module:
        """The untrained network ``config`` describes (a checkpoint's weights are loaded into it)."""

    @classmethod
    @abstractmethod
    def train(cls, config: TrainConfig, path: str | os.PathLike | None = None, progress: bool = False,
              log_dir: str | os.PathLike | None = None, prerequisites: Sequence[Agent] = (),
              stop: StopRule | None = None) -> Agent:
        """Train what ``config`` describes; save it to ``path`` if given; keep the training
        episodes in ``log_dir`` (SB3 Monitor CSVs). ``prerequisites``: trained agents for the
        configs of :meth:`prerequisites`, to start from instead of training them. ``stop``:
        ends the training early when it says so after a validation (:data:`StopRule`).

        An algorithm that can write TensorBoard events also takes ``tensorboard``, the run's
        events folder (:mod:`edge_rl.agents.tensorboard`); the built-in ones all do. It is
        passed only when asked for, so an algorithm without it trains as before."""

    @classmethod
    def prerequisites(cls, config: TrainConfig) -> tuple[TrainConfig, ...]:
        """Runs whose agents :meth:`train` starts from (the hybrid's pre-training); none by default."""
        return ()

    @classmethod
    def training_envs(cls, config: TrainConfig) -> int:
        """How many environments the run trains on, side by side (its training logs' count)."""
        return 1

    @classmethod
    def planned_steps(cls, config: TrainConfig) -> dict[str, int]:
        """The environment steps :meth:`train` will take, by part (``train``, and pre-training):
        a learner that collects whole rollouts runs past ``total_timesteps`` to finish the last."""
        return {"train": config.total_timesteps}

    @abstractmethod
    def _forward(self, obs: Any) -> dict[str, torch.Tensor]:
        """Named per-node outputs ``(B, N)`` of a batch of observations (tensors)."""

    # ------------------------------------------------------------------ inference

    def _tensors(self, observation: Observation) -> tuple[Any, bool]:
        if not isinstance(observation, dict) or "nodes" not in observation:
            raise ValueError(
                "observation must be the dict of edge_rl/IoTEdge-v0 (keys nodes, adjacency, "
                f"node_mask, task), got {type(observation).__name__}"
            )
        single = np.ndim(observation["nodes"]) == 2
        arrays = {k: np.asarray(observation[k], dtype=np.float32) for k in self._keys}
        if single:
            arrays = {k: v[None] for k, v in arrays.items()}
        if self._flat_size is None:
            return {k: torch.from_numpy(v) for k, v in arrays.items()}, single
        # MLP policies read the observation as Gymnasium's FlattenObservation writes it.
        batch = arrays["nodes"].shape[0]
        flat = np.concatenate([arrays[k].reshape(batch, -1) for k in self._keys], axis=1)
        if flat.shape[1] != self._flat_size:
            raise ValueError(
                f"{self.name} is an MLP policy for {self.config.env.n_nodes} nodes; it cannot "
                f"read an observation of {arrays['nodes'].shape[1]} nodes (graph policies can)"
            )
        return torch.from_numpy(flat), single

    @torch.inference_mode()
    def _outputs(self, observation: Observation) -> tuple[dict[str, torch.Tensor], bool]:
        obs, single = self._tensors(observation)
        return self._forward(obs), single

    def predict(
        self,
        observation: Observation,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        """The chosen node and the unchanged ``state``: the argmax when ``deterministic``,
        otherwise a draw from the agent's distribution (greedy for DQN, which has none)."""
        with torch.inference_mode():  # the choice too: inference tensors are slow outside it
            outputs, single = self._outputs(observation)
            if not deterministic and "probabilities" in outputs:
                actions = torch.distributions.Categorical(probs=outputs["probabilities"]).sample()
            else:
                actions = outputs[self.greedy_output].argmax(dim=-1)
            actions = actions.numpy()
        return (actions[0] if single else actions), state

    def node_scores(self, observation: Observation) -> dict[str, np.ndarray]:
        """Per-node outputs, e.g. ``q_values``, ``logits``, ``probabilities``.

        Padded nodes have the lowest float as Q-value or logit, and probability 0.
        """
        outputs, single = self._outputs(observation)
        return {k: (v[0] if single else v).numpy() for k, v in outputs.items()}

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | os.PathLike) -> os.PathLike:
        """Write ``<path>.safetensors`` and ``<path>.json``; return the JSON path."""
        return checkpoint.save(path, self.network, self.config.to_dict(), self.trained)


def rollout_steps(steps: int, batch: int) -> int:
    """Steps actually taken by a learner that collects whole rollouts of ``batch`` steps."""
    return -(-steps // batch) * batch


def algorithm(config: TrainConfig) -> type[Agent]:
    """The :class:`Agent` subclass that trains ``config.algo`` (:data:`edge_rl.registry.ALGORITHMS`:
    the class a spec names, or the class registered itself)."""
    entry = ALGORITHMS.get(config.algo)
    cls = entry.agent_class() if isinstance(entry, AlgorithmSpec) else entry
    if not (isinstance(cls, type) and issubclass(cls, Agent)):
        raise TypeError(f"algo {config.algo!r} is registered as {cls!r}, which is not an Agent subclass")
    return cls


def load(path: str | os.PathLike) -> Agent:
    """Rebuild a saved agent from its JSON config and safetensors weights; no pickle is read.

    The file is checked in the order that spends least on a bad one: the JSON (bounded in size
    and depth), its config (every size bounded), the weights' checksum, then the size of the
    network the config describes (counted without allocating it) against the weights file;
    only then is the network built and the weights copied in.

    Raises:
        CheckpointError: a missing, foreign, corrupted, truncated or incompatible checkpoint, or
            any failure while building or loading its network; the message names the file.
    """
    document = checkpoint.read_description(path)
    _, description = checkpoint.paths(path)
    try:
        # Every field must be there: a field the file lacks is not filled in with a default.
        config = from_dict(TrainConfig, document["config"], complete=True)
    except (TypeError, ValueError) as error:
        raise checkpoint.CheckpointError(f"{description}: incompatible config: {error}") from None
    cls = algorithm(config)
    checkpoint.check_weights(path, document)
    try:
        checkpoint.check_size(path, lambda: cls.build_network(config))
        network = cls.build_network(config)
        checkpoint.load_weights(path, network, document)
        return cls(config, network, document["trained"])
    except checkpoint.CheckpointError:
        raise
    except Exception as error:  # noqa: BLE001 - whatever a file's network does when built is the file's fault
        raise checkpoint.CheckpointError(
            f"{description}: the network its config describes could not be built and loaded "
            f"({type(error).__name__}: {error})"
        ) from error


def train(config: TrainConfig, path: str | os.PathLike | None = None, progress: bool = False,
          log_dir: str | os.PathLike | None = None, tensorboard: str | os.PathLike | None = None) -> Agent:
    """Train what ``config`` describes (a DQN/PPO baseline or the hybrid); save it to ``path``;
    keep the training episodes in ``log_dir`` (SB3 Monitor CSVs); with ``tensorboard``, write
    its TensorBoard events into that folder."""
    extra = {} if tensorboard is None else {"tensorboard": tensorboard}
    return algorithm(config).train(config, path, progress, log_dir, **extra)
