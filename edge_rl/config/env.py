"""The environment's configuration: the network, its nodes and links, the load, the tasks and
the reward weights. Every default of the simulator lives here, in one place.

The numbers of the original system that we know (``shared/original-system.md``) are kept:
node capacities, link bandwidths and latencies, fog and cloud power, the Poisson rate of 5
background arrivals per step, 100-step episodes and the reward weights. Everything else
(the task distribution, the sensor's power, the access links, the background utilisations)
is our own reconstruction, tuned so that no fixed placement rule is best in every state; the
environment's docstring explains each quantity.

Configs are frozen dataclasses so that a config can be hashed, compared, written to JSON with
:func:`dataclasses.asdict` and rebuilt with :meth:`EnvConfig.from_dict`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from edge_rl.checks import check, check_at_most, check_types, from_dict
from edge_rl.registry import LOAD_TRACES

NODE_TYPES: tuple[str, ...] = ("sensor", "fog", "cloud")
"""Node type names; a node's ``node_type`` feature is its index in this tuple."""

NODE_FEATURES: tuple[str, ...] = (
    "cpu_util",
    "mem_util",
    "energy",
    "latency",
    "bandwidth",
    "queue_len",
    "node_type",
)
"""Columns of the ``nodes`` observation, in the model card's order."""

TASK_FEATURES: tuple[str, ...] = ("demand", "input_size", "memory", "deadline")
"""Entries of the ``task`` observation."""

# Bounds on every size a config gives, far past anything a run needs (the card's network has 17
# nodes, its encoder 64-64-128), checked before anything is built: a config read from a
# checkpoint file or typed on a command line cannot ask for more memory or time than a machine
# has. Each error names the field and its bound.
MAX_ENV_NODES = 1_024
"""Most nodes of a topology (``n_sensors + n_fog + n_cloud``, and ``max_nodes``): the simulator
and the observation are dense, O(nodes^2); building a 1,024-node topology takes seconds."""
MAX_BACKGROUND_RATE = 10_000.0
"""Most background arrivals per step (each one is drawn and placed every step)."""
MAX_WARMUP_STEPS = 10_000
"""Most warm-up steps run at every reset."""
@dataclass(frozen=True)
class NodeTypeSpec:
    """Capacities, power and background load of one node type.

    Attributes:
        mips: compute capacity in million instructions per second.
        memory_mb: memory capacity in MB.
        busy_power_w: power drawn while executing, in W (energy = power x execution time).
        ingress_mbps: capacity of the node's shared access link in Mbit/s; every transfer
            into the node queues on it (this is the cloud's WAN link, the one that saturates).
        bg_cpu_util: mean fraction of the node's compute taken by background work.
        bg_link_util: mean fraction of the access link taken by background transfers.
        bg_mem_util: mean fraction of memory held by queued background work, at the mean
            background backlog.
    """

    mips: float
    memory_mb: float
    busy_power_w: float
    ingress_mbps: float
    bg_cpu_util: float
    bg_link_util: float
    bg_mem_util: float

    def __post_init__(self) -> None:
        check_types(self)
        for name in ("mips", "memory_mb", "busy_power_w", "ingress_mbps"):
            value = getattr(self, name)
            check(value > 0, name, "a finite number > 0", value)
        for name in ("bg_cpu_util", "bg_link_util", "bg_mem_util"):
            value = getattr(self, name)
            check(0.0 <= value < 1.0, name, "in [0, 1)", value)


@dataclass(frozen=True)
class LinkSpec:
    """A link's bandwidth (Mbit/s) and one-way latency (ms)."""

    bandwidth_mbps: float
    latency_ms: float

    def __post_init__(self) -> None:
        check_types(self)
        check(self.bandwidth_mbps > 0, "bandwidth_mbps", "> 0", self.bandwidth_mbps)
        check(self.latency_ms > 0, "latency_ms", "> 0", self.latency_ms)


def _sensor() -> NodeTypeSpec:
    # 100 MIPS / 128 MB are the original's; 2 W is a typical single-board computer under load.
    return NodeTypeSpec(100.0, 128.0, 2.0, 50.0, 0.5, 0.0, 0.1)


def _fog() -> NodeTypeSpec:
    # 2800 MIPS / 4000 MB / 107.3 W busy are the original's.
    return NodeTypeSpec(2800.0, 4000.0, 107.3, 100.0, 0.5, 0.1, 0.05)


def _cloud() -> NodeTypeSpec:
    # 40000 MIPS / 40000 MB / 200 W busy are the original's; the 40 Mbit/s WAN access link,
    # 40 % used by other tenants, is ours: it is what makes "always the cloud" saturate.
    return NodeTypeSpec(40000.0, 40000.0, 200.0, 40.0, 0.3, 0.4, 0.1)


@dataclass(frozen=True)
class EnvConfig:
    """Configuration of :class:`edge_rl.envs.IoTEdgeEnv`. Defaults reproduce the card's network.

    Topology: ``n_sensors`` sensors, ``n_fog`` fog nodes, ``n_cloud`` clouds. Each sensor is
    linked to one fog node (fog ``i mod n_fog`` when ``topology_seed`` is None, a random one
    otherwise); fog nodes are fully meshed; every fog node is linked to every cloud.
    ``max_nodes`` pads observations so one policy can run on topologies of several sizes.
    """

    ADDED_FIELDS: ClassVar[tuple[str, ...]] = ("load_scale", "load_trace")
    """Fields added after checkpoints were first written: a checkpoint's config without them was
    trained before they existed, with the behaviour their defaults keep (a constant card load)."""

    n_sensors: int = 10
    n_fog: int = 6
    n_cloud: int = 1
    topology_seed: int | None = None
    max_nodes: int | None = None

    sensor: NodeTypeSpec = field(default_factory=_sensor)
    fog: NodeTypeSpec = field(default_factory=_fog)
    cloud: NodeTypeSpec = field(default_factory=_cloud)
    sensor_fog_link: LinkSpec = field(default_factory=lambda: LinkSpec(50.0, 6.0))
    fog_fog_link: LinkSpec = field(default_factory=lambda: LinkSpec(100.0, 5.0))
    fog_cloud_link: LinkSpec = field(default_factory=lambda: LinkSpec(200.0, 10.0))

    step_ms: float = 100.0
    background_rate: float = 5.0
    # Background load beyond the card: a constant factor on the arrival rate (2.0: twice as
    # many background jobs of the same sizes), and a real trace's pattern over time
    # (edge_rl.envs.traces; None: a constant rate).
    load_scale: float = 1.0
    load_trace: str | None = None
    warmup_steps: int = 20
    tx_energy_j_per_mb: float = 0.5

    # Task distribution: log-uniform between the bounds (memory: uniform).
    demand_mi: tuple[float, float] = (1.0, 1000.0)
    input_kb: tuple[float, float] = (10.0, 1000.0)
    memory_mb: tuple[float, float] = (8.0, 256.0)
    deadline_ms: tuple[float, float] = (50.0, 500.0)

    # Reward weights (the card's) and the cap on latency / deadline.
    w_deadline: float = 2.0
    w_latency: float = 1.0
    w_energy: float = 0.5
    w_balance: float = 0.3
    latency_cap: float = 4.0

    def __post_init__(self) -> None:
        check_types(self)
        for name, low in (("n_sensors", 1), ("n_fog", 1), ("n_cloud", 0)):
            value = getattr(self, name)
            check(
                isinstance(value, int) and not isinstance(value, bool) and value >= low,
                name,
                f"an integer >= {low}",
                value,
            )
        check_at_most(self, MAX_ENV_NODES, "n_sensors", "n_fog", "n_cloud")
        check(self.n_nodes <= MAX_ENV_NODES, "n_sensors + n_fog + n_cloud",
              f"at most {MAX_ENV_NODES:,} (edge_rl's bound on it)", self.n_nodes)
        if self.topology_seed is not None:
            check(
                isinstance(self.topology_seed, int) and self.topology_seed >= 0,
                "topology_seed",
                "None or an integer >= 0",
                self.topology_seed,
            )
        if self.max_nodes is not None:
            check(
                isinstance(self.max_nodes, int) and self.max_nodes >= self.n_nodes,
                "max_nodes",
                f"None or an integer >= n_sensors + n_fog + n_cloud = {self.n_nodes}",
                self.max_nodes,
            )
            check_at_most(self, MAX_ENV_NODES, "max_nodes")
        check(self.step_ms > 0, "step_ms", "> 0", self.step_ms)
        check(self.background_rate >= 0, "background_rate", ">= 0", self.background_rate)
        check_at_most(self, MAX_BACKGROUND_RATE, "background_rate")
        check(self.load_scale >= 0, "load_scale", ">= 0", self.load_scale)
        check(self.background_rate * self.load_scale <= MAX_BACKGROUND_RATE, "background_rate x load_scale",
              f"at most {MAX_BACKGROUND_RATE:,} (edge_rl's bound on it)", self.background_rate * self.load_scale)
        if self.load_trace is not None:
            check(self.load_trace in LOAD_TRACES, "load_trace", f"None or one of {list(LOAD_TRACES.names())}",
                  self.load_trace)
        check(
            isinstance(self.warmup_steps, int) and self.warmup_steps >= 0,
            "warmup_steps",
            "an integer >= 0",
            self.warmup_steps,
        )
        check_at_most(self, MAX_WARMUP_STEPS, "warmup_steps")
        check(self.tx_energy_j_per_mb >= 0, "tx_energy_j_per_mb", ">= 0", self.tx_energy_j_per_mb)
        for name in ("demand_mi", "input_kb", "memory_mb", "deadline_ms"):
            low, high = getattr(self, name)
            check(0 < low <= high, name, "a pair (low, high) with 0 < low <= high", (low, high))
        for name in ("w_deadline", "w_latency", "w_energy", "w_balance"):
            check(getattr(self, name) >= 0, name, ">= 0", getattr(self, name))
        check(self.latency_cap >= 1, "latency_cap", ">= 1", self.latency_cap)

    @property
    def n_nodes(self) -> int:
        """Number of real nodes."""
        return self.n_sensors + self.n_fog + self.n_cloud

    @property
    def padded_nodes(self) -> int:
        """Number of node slots in observations (``max_nodes`` or ``n_nodes``)."""
        return self.n_nodes if self.max_nodes is None else self.max_nodes

    def node_type_spec(self, node_type: int) -> NodeTypeSpec:
        """The spec of node type 0 (sensor), 1 (fog) or 2 (cloud)."""
        return (self.sensor, self.fog, self.cloud)[node_type]

    def replace(self, **changes: Any) -> EnvConfig:
        """A copy with ``changes`` applied; unknown names are refused with the accepted ones."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise TypeError(f"unknown EnvConfig field(s) {unknown}; accepted: {sorted(known)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict; :meth:`from_dict` inverts it."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvConfig:
        """Rebuild a config from :meth:`to_dict`'s output, refusing unknown keys."""
        return from_dict(cls, data)
