"""A CleanRL-style DQN on edge_rl/IoTEdge-v0, in one file: the environment as any Gymnasium user
gets it, flattened for an MLP, and every line of the algorithm in sight.

    .venv/bin/python examples/cleanrl_style_dqn.py --total-timesteps 10000
    .venv/bin/python examples/cleanrl_style_dqn.py --total-timesteps 300 --learning-starts 100   # a smoke run

What it shows:

- ``gymnasium.make_vec("edge_rl/IoTEdge-v0", num_envs=N)`` builds the package's own vector
  environment (N episodes stepped in one set of array operations; importing ``edge_rl``
  registers it), and ``gymnasium.wrappers.vector.FlattenObservation`` turns its Dict observation
  (nodes, adjacency, node_mask, task) into the flat Box that CleanRL's scripts assume.
- Gymnasium 1.x's vector environments reset an ended episode on the *next* step, whose action is
  ignored: that step's transition is not stored (``autoreset`` below).
- The greedy policy is then scored on the test seeds with the project's own
  ``edge_rl.evaluation.evaluate(..., flat=True)``, the evaluation behind every table.

CleanRL's DQN (MSE TD loss, a hard target copy every ``target_network_frequency`` steps, a
linear epsilon schedule), with the original system's DQN settings where CleanRL has one. This is
a plain MLP on the flattened graph: the graph policies are ``python -m edge_rl train``'s.
"""

from __future__ import annotations

import argparse
import random
import time

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

import edge_rl
from edge_rl.evaluation import DEFAULT_EVAL_SEEDS, evaluate


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-envs", type=int, default=1, help="episodes stepped together (make_vec)")
    parser.add_argument("--total-timesteps", type=int, default=10_000, help="environment steps, all envs together")
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--buffer-size", type=int, default=100_000)
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--target-network-frequency", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--start-e", type=float, default=1.0)
    parser.add_argument("--end-e", type=float, default=0.05)
    parser.add_argument("--exploration-fraction", type=float, default=0.3)
    parser.add_argument("--learning-starts", type=int, default=1_000)
    parser.add_argument("--train-frequency", type=int, default=4)
    parser.add_argument("--eval-episodes", type=int, default=100, help="test episodes, seeds 10000 on")
    args = parser.parse_args()
    for name in ("num_envs", "total_timesteps", "batch_size", "buffer_size", "eval_episodes"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    return args


class QNetwork(nn.Module):
    """CleanRL's MLP Q-network: one Q-value per node slot from the flat observation."""

    def __init__(self, obs_dim: int, n_actions: int) -> None:
        super().__init__()
        self.network = nn.Sequential(nn.Linear(obs_dim, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                                     nn.Linear(84, n_actions))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)


class Greedy:
    """The trained Q-network as a policy of ``edge_rl.evaluation.evaluate`` (SB3's ``predict``)."""

    name = "CleanRL-style DQN (MLP)"

    def __init__(self, q_network: QNetwork) -> None:
        self.q_network = q_network

    def predict(self, observation, state=None, episode_start=None, deterministic=True):  # noqa: ANN001
        with torch.no_grad():
            return self.q_network(torch.as_tensor(observation, dtype=torch.float32)).argmax(dim=1).numpy(), state


def linear_schedule(start_e: float, end_e: float, duration: int, t: int) -> float:
    return max(end_e, start_e + (end_e - start_e) * t / max(duration, 1))


def main() -> None:
    args = parse_args()
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)

    envs = gym.make_vec(edge_rl.ENV_ID, num_envs=args.num_envs)  # the package's vector environment
    envs = gym.wrappers.vector.FlattenObservation(envs)
    envs = gym.wrappers.vector.RecordEpisodeStatistics(envs)
    obs_dim, n_actions = envs.single_observation_space.shape[0], envs.single_action_space.n

    q_network = QNetwork(obs_dim, n_actions)
    optimizer = torch.optim.Adam(q_network.parameters(), lr=args.learning_rate)
    target_network = QNetwork(obs_dim, n_actions)
    target_network.load_state_dict(q_network.state_dict())

    # A replay buffer in numpy (CleanRL uses SB3's; this one keeps the file self-contained).
    size = max(args.buffer_size // args.num_envs, 1)
    shape = (size, args.num_envs)
    buffer = {"obs": np.zeros((*shape, obs_dim), np.float32), "next_obs": np.zeros((*shape, obs_dim), np.float32),
              "actions": np.zeros(shape, np.int64), "rewards": np.zeros(shape, np.float32),
              "dones": np.zeros(shape, np.float32), "valid": np.zeros(shape, bool)}
    position, filled = 0, 0

    start_time = time.time()
    obs, _ = envs.reset(seed=args.seed)
    autoreset = np.zeros(args.num_envs, dtype=bool)  # this step only resets the episodes it marks
    iterations = -(-args.total_timesteps // args.num_envs)
    for iteration in range(iterations):
        global_step = iteration * args.num_envs
        epsilon = linear_schedule(args.start_e, args.end_e, int(args.exploration_fraction * args.total_timesteps),
                                  global_step)
        if random.random() < epsilon:
            actions = envs.action_space.sample()
        else:
            with torch.no_grad():
                actions = q_network(torch.as_tensor(obs)).argmax(dim=1).numpy()
        next_obs, rewards, terminations, truncations, infos = envs.step(actions)

        if "episode" in infos:
            for i in np.flatnonzero(infos["_episode"]):
                print(f"global_step={global_step}, episodic_return={infos['episode']['r'][i]:.2f}")

        buffer["obs"][position], buffer["next_obs"][position] = obs, next_obs
        buffer["actions"][position], buffer["rewards"][position] = actions, rewards
        buffer["dones"][position] = terminations  # a time-limit cut still bootstraps
        buffer["valid"][position] = ~autoreset
        position, filled = (position + 1) % size, min(filled + 1, size)
        obs, autoreset = next_obs, terminations | truncations

        if global_step >= args.learning_starts and iteration % max(args.train_frequency // args.num_envs, 1) == 0:
            rows = np.random.randint(0, filled, args.batch_size)
            envs_of = np.random.randint(0, args.num_envs, args.batch_size)
            keep = buffer["valid"][rows, envs_of]  # not the steps that only reset an episode
            rows, envs_of = rows[keep], envs_of[keep]
            if len(rows):
                batch = {k: torch.as_tensor(v[rows, envs_of]) for k, v in buffer.items() if k != "valid"}
                with torch.no_grad():
                    target_max = target_network(batch["next_obs"]).max(dim=1).values
                    td_target = batch["rewards"] + args.gamma * target_max * (1 - batch["dones"])
                old_val = q_network(batch["obs"]).gather(1, batch["actions"][:, None]).squeeze(1)
                loss = F.mse_loss(td_target, old_val)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            if iteration % 100 == 0:
                print(f"global_step={global_step}, td_loss={loss.item() if len(rows) else float('nan'):.4f}, "
                      f"SPS={int(global_step / (time.time() - start_time + 1e-9))}")
        if global_step % args.target_network_frequency < args.num_envs:
            target_network.load_state_dict(q_network.state_dict())
    envs.close()

    seeds = list(DEFAULT_EVAL_SEEDS[: args.eval_episodes])
    rows = evaluate(Greedy(q_network), seeds, flat=True)  # the project's evaluation, flattened as above
    print(f"test episodes {seeds[0]}-{seeds[-1]}: mean return {rows['return'].mean():.2f} "
          f"± {rows['return'].std(ddof=0):.2f}, deadline success {rows['deadline_success'].mean():.3f}")


if __name__ == "__main__":
    main()
