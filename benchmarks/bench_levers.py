"""The speed levers issue 27 left untaken, measured: what each would buy a DQN-GNN run.

Run with ``make bench`` (or ``python benchmarks/bench_levers.py``). Card hyperparameters, one
torch thread, every figure from this run. A DQN-GNN gradient step already runs its matrix
products at about this core's matmul rate (``bench_training.py --only flops``), so a lever must
either fuse the rest of the step or do less arithmetic. Each changes floating-point rounding, so
adopting one means rerunning every committed DQN and hybrid result; this says whether it pays:

- ``eager``: the gradient step as training runs it (SB3's ``DQN.train``), and the same step
  written out below (:func:`gradient_step`), the reference for the other rows.
- ``compile``: ``torch.compile`` (inductor, CPU) of the online and target Q networks
  (``nn.Module.compile``: the checkpoint keys stay); and of the whole loss in one graph
  (``fullgraph=True``), with the two things dynamo cannot trace replaced by equal code: the
  graph-operator cache (derived afresh instead) and ``node_inputs``' writes into one tensor
  (a concatenation instead).
- ``taken node``: the online pass on the taken node alone, the same function in exact
  arithmetic. The loss reads ``Q(s, a)`` of one node, so the head runs on that node's row, and
  the last GCN layer, which is linear (no ReLU after it), runs on two rows per graph instead of
  17: the taken node's and the masked mean over nodes (the mean of a linear map is the map of
  the mean). The target network still scores every node of the next state (it takes a max).

Last, a 20,000-step run is timed and split into its gradient steps and the rest, and each
lever's gain on the step is carried to the whole run (Amdahl): the speed-up a run would see.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Iterator
from unittest import mock

import numpy as np
import torch
from torch.nn import functional as F

from edge_rl.agents.baselines import make_model
from edge_rl.config import TrainConfig
from edge_rl.nn import encoders

CONFIG = TrainConfig(algo="dqn")


def taken_node_q(q_net: torch.nn.Module, obs: dict[str, torch.Tensor], actions: torch.Tensor) -> torch.Tensor:
    """``Q(s, a)`` ``(B, 1)`` of a card DQN-GNN (GCN, ``root`` path), computing only what it reads."""
    encoder, head = q_net.features_extractor.encoder, q_net.q_net
    stack = encoder.stacks[0]
    assert stack.kind == "gcn" and stack.root_path == "root" and len(encoder.stacks) == 1, "the card's encoder only"
    x, adj, mask = encoders.node_inputs(obs), obs["adjacency"], obs["node_mask"]
    operator = encoder._operators.get(adj, encoder._derive_operators)[1][0]  # D^-1/2 (A+I) D^-1/2
    for conv, root in zip(stack.convs[:-1], stack.roots[:-1]):
        x = torch.relu(torch.matmul(operator, F.linear(x, conv.lin.weight)) + conv.bias + root(x))
    conv, root = stack.convs[-1], stack.roots[-1]
    index = actions.long().unsqueeze(-1).expand(-1, 1, x.shape[-1])  # (B, 1, F)
    mixed = torch.matmul(operator, x)  # A x: the last layer is W (A x) + b + W_root x
    count = mask.sum(dim=1, keepdim=True).clamp(min=1.0)
    weights = mask.unsqueeze(1) / count.unsqueeze(-1)  # (B, 1, N): the masked mean as a product
    rows = torch.cat([mixed.gather(1, index), torch.matmul(weights, mixed)], dim=1)  # (B, 2, F)
    own = torch.cat([x.gather(1, index), torch.matmul(weights, x)], dim=1)
    out = F.linear(rows, conv.lin.weight) + F.linear(own, root.weight)
    node = (out[:, 0] + conv.bias) * mask.gather(1, actions.long())
    graph = out[:, 1] + conv.bias * (mask.sum(dim=1, keepdim=True) / count)
    z = F.linear(node, head.node_in.weight) + F.linear(graph, head.graph_in.weight, head.graph_in.bias)
    for layer in head.rest:
        z = F.linear(z, layer.weight, layer.bias) if isinstance(layer, torch.nn.Linear) else torch.relu(z)
    return F.linear(z, head.out.weight, head.out.bias)


def full_q(q_net: torch.nn.Module, obs: dict[str, torch.Tensor], actions: torch.Tensor) -> torch.Tensor:
    return torch.gather(q_net(obs), 1, actions.long())


def gradient_step(model, online: Callable) -> None:
    """SB3's ``DQN.train`` for one step, written out (sample, TD target, Huber loss, clip, Adam).
    (The soft target update every 500 steps is left out: it is the same in every row.)"""
    data = model.replay_buffer.sample(CONFIG.dqn.batch_size)
    with torch.no_grad():
        next_q = model.q_net_target(data.next_observations).max(dim=1).values.reshape(-1, 1)
        target = data.rewards + (1 - data.dones) * CONFIG.dqn.gamma * next_q
    loss = F.smooth_l1_loss(online(data.observations, data.actions), target)
    model.policy.optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.policy.parameters(), model.max_grad_norm)
    model.policy.optimizer.step()


def _concatenated_inputs(obs: dict[str, torch.Tensor]) -> torch.Tensor:
    nodes, task = obs["nodes"], obs["task"]
    types = torch.arange(encoders.N_NODE_TYPES, dtype=nodes.dtype)
    one_hot = (nodes[..., encoders.NODE_TYPE :] == types).to(nodes.dtype)
    return torch.cat([nodes[..., : encoders.NODE_TYPE], one_hot, task.unsqueeze(-2).expand(*nodes.shape[:-1], -1)], -1)


@contextlib.contextmanager
def traceable(name: str) -> Iterator[None]:
    """For the compiled rows, what dynamo cannot trace replaced by equal code (torch.equal's
    data-dependent branch in the operator cache, node_inputs' writes into views); the other
    rows run the package as it is."""
    if not name.startswith("compile"):
        yield
        return
    with mock.patch.object(encoders.GraphOperatorCache, "get", lambda self, adj, derive: derive(adj)), \
            mock.patch.object(encoders, "node_inputs", _concatenated_inputs):
        yield


def variants() -> dict[str, Callable[[], Callable[[], None]]]:
    """Each lever: a function that builds a filled model and returns one gradient step of it."""

    def filled():
        model = make_model(CONFIG)
        model.learn(total_timesteps=CONFIG.dqn.learning_starts + 200)
        return model

    def sb3():
        model = filled()
        return lambda: model.train(gradient_steps=1, batch_size=CONFIG.dqn.batch_size)

    def written_out():
        model = filled()
        return lambda: gradient_step(model, lambda o, a: full_q(model.q_net, o, a))

    def compiled_modules():
        model = filled()
        model.q_net.compile(dynamic=False)
        model.q_net_target.compile(dynamic=False)
        return lambda: gradient_step(model, lambda o, a: full_q(model.q_net, o, a))

    def compiled_loss():
        model = filled()
        q_net, target = model.q_net, model.q_net_target

        def loss(obs, next_obs, actions, rewards, dones):
            with torch.no_grad():
                next_q = target(next_obs).max(dim=1).values.reshape(-1, 1)
                td = rewards + (1 - dones) * CONFIG.dqn.gamma * next_q
            return F.smooth_l1_loss(full_q(q_net, obs, actions), td)

        compiled = torch.compile(loss, dynamic=False, fullgraph=True)

        def step():
            data = model.replay_buffer.sample(CONFIG.dqn.batch_size)
            value = compiled(data.observations, data.next_observations, data.actions, data.rewards, data.dones)
            model.policy.optimizer.zero_grad()
            value.backward()
            torch.nn.utils.clip_grad_norm_(model.policy.parameters(), model.max_grad_norm)
            model.policy.optimizer.step()

        return step

    def taken():
        model = filled()
        return lambda: gradient_step(model, lambda o, a: taken_node_q(model.q_net, o, a))

    return {"SB3's DQN.train": sb3, "written out (reference)": written_out, "compile: Q networks": compiled_modules,
            "compile: whole loss, one graph": compiled_loss, "taken node only": taken}


def agreement() -> float:
    """The largest |difference| between ``Q(s, a)`` on the taken node and from every node's scores."""
    model = make_model(CONFIG)
    model.learn(total_timesteps=CONFIG.dqn.learning_starts + 200)
    data = model.replay_buffer.sample(CONFIG.dqn.batch_size)
    with torch.no_grad():
        full = full_q(model.q_net, data.observations, data.actions)
        fast = taken_node_q(model.q_net, data.observations, data.actions)
    return float((full - fast).abs().max() / full.abs().max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gradient-steps", type=int, default=200, help="gradient steps timed per round")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; medians are printed")
    parser.add_argument("--steps", type=int, default=20_000, help="environment steps of the whole run timed")
    args = parser.parse_args()
    torch.set_num_threads(1)
    steps = {}
    for name, build in variants().items():
        with traceable(name):
            steps[name] = build()
            for _ in range(5):  # warm-up, and the compiled rows' compilation
                steps[name]()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.repeats):
        for name, step in steps.items():
            with traceable(name):
                start = time.process_time()
                for _ in range(args.gradient_steps):
                    step()
                times[name].append((time.process_time() - start) / args.gradient_steps)

    model = make_model(TrainConfig(algo="dqn", total_timesteps=args.steps))
    start = time.process_time()
    model.learn(total_timesteps=args.steps)
    run = time.process_time() - start
    updates = model._n_updates
    reference = float(np.median(times["written out (reference)"]))
    share = updates * float(np.median(times["SB3's DQN.train"])) / run
    print(f"a {args.steps:,}-step DQN-GNN run: {run:.1f} CPU-s, {args.steps / run:.0f} steps/CPU-s; its {updates:,} "
          f"gradient steps are about {share:.0%} of it\n")
    print(f"{'DQN-GNN gradient step':32s} {'ms':>6s} {'vs reference':>13s} {'a whole run (Amdahl)':>21s}")
    for name, values in times.items():
        ms = float(np.median(values))
        whole = run / (run - updates * (reference - ms))
        print(f"{name:32s} {ms * 1e3:6.2f} {reference / ms:12.2f}x {whole:20.2f}x")
    print(f"\ntaken node only: Q(s, a) within {agreement():.1e} (relative) of every node's scores' entry: the same "
          "function, other rounding")


if __name__ == "__main__":
    main()
