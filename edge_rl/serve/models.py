"""Serving the trained models: an observation -> a decision, for every policy the server offers.

Pure logic, no web framework: :mod:`edge_rl.serve.api` (FastAPI) and
:mod:`edge_rl.serve.dashboard` (Streamlit) both call it.

- :data:`MODEL_SPECS` names every policy the server runs: the catalogue's served variants
  (:func:`edge_rl.catalogue.served`: committed checkpoints in ``results/models/``
  and the budget study's in ``results/study/models/``, graph policies, so any topology size)
  and every fixed rule.
- :class:`Predictor` loads them once and answers a batch of observations per call.
- :mod:`edge_rl.serve.performance` reads each policy's measured results from ``results/``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_rl.agents import Agent, CheckpointError, Observation, load
from edge_rl.agents.checkpoint import paths
from edge_rl.catalogue import BEST_HYBRID, BEST_TUNED_HYBRID, TUNED_HYBRIDS, pretrains, served
from edge_rl.config import EnvConfig
from edge_rl.envs.heuristics import HEURISTICS, HeuristicPolicy, RandomPolicy, RoundRobinPolicy, make_heuristic
from edge_rl.serve.conversions import probe_observation, stack_observations
from edge_rl.serve.schemas import MODEL_TYPES
from edge_rl.serve.selection import Choice, choose_seed, rank_variants

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SEED = 0
"""A checkpoint stem's seed when none is chosen (:meth:`ModelSpec.stem`). The server chooses each
model's seed on validation episodes, never on test ones (:mod:`edge_rl.serve.selection`);
``GET /models`` shows the variant's row over all seeds and the served checkpoint's own test
episodes."""

def results_dir() -> Path:
    """``$EDGE_RL_RESULTS_DIR``, else the repository's ``results/``."""
    return Path(os.environ.get("EDGE_RL_RESULTS_DIR") or ROOT / "results")


MODELS_VARIABLE = "EDGE_RL_MODELS_DIR"
"""Names the one folder that every checkpoint the server reads comes from (the budget study's
``budget-*`` beside the card's); unset, each comes from its results folder (:meth:`Predictor.checkpoints`)."""


def models_dir() -> Path:
    """``$EDGE_RL_MODELS_DIR``, else ``<results>/models`` (the checkpoints ``make reproduce`` commits)."""
    return Path(os.environ.get(MODELS_VARIABLE) or results_dir() / "models")


@dataclass(frozen=True)
class ModelSpec:
    """A policy the server offers.

    Attributes:
        model_type: the name clients use.
        description: one line for ``GET /models``.
        row: its row (``Model``) of ``results/tables/evaluation_results.csv``.
        checkpoint: a learned model's checkpoint stem without its seed (``hybrid-best``).
        rule: a fixed rule's name in :data:`edge_rl.envs.heuristics.HEURISTICS`.
        algo: a learned model's algorithm.
        alias_of: the model types one of which answers (chosen by validation score).
        folder: where under ``results/`` its runs are (``""``: the card's; ``study``: the budget
            study's, whose checkpoints are ``results/study/models``).
    """

    model_type: str
    description: str
    row: str | None
    checkpoint: str | None = None
    rule: str | None = None
    algo: str | None = None
    alias_of: tuple[str, ...] = ()
    folder: str = ""

    @property
    def kind(self) -> str:
        return "rule" if self.rule else "learned"

    def stem(self, seed: int = DEFAULT_SEED) -> str | None:
        return f"{self.checkpoint}-seed{seed}" if self.checkpoint else None

    def home(self, results: Path) -> Path:
        """The folder of its runs (``runs/``, ``validation/``) in the results folder ``results``."""
        return results / self.folder


def _rule_description(name: str) -> str:
    """A rule's docstring, first line, without reStructuredText's code quotes."""
    return (HEURISTICS.get(name).__doc__ or name).strip().splitlines()[0].replace("``", "")


_LEARNED = tuple(ModelSpec(v.model_type, v.description, v.name, checkpoint=v.stem,  # type: ignore[arg-type]
                           algo=v.algo, folder=v.folder)
                 for v in served())
_HYBRIDS = tuple(spec.model_type for spec in _LEARNED if pretrains(spec.algo))
CANDIDATES: dict[str, ModelSpec] = {
    v.stem: ModelSpec(v.stem, v.description, v.name, checkpoint=v.stem, algo=v.algo, folder=v.folder)
    for v in TUNED_HYBRIDS}
"""Checkpoints that answer only through an alias, by stem: the tuned hybrid's designs (the budget
study trains the one its tuning chose, so the others have no checkpoint and are no model type)."""
MODEL_SPECS: dict[str, ModelSpec] = {
    spec.model_type: spec
    for spec in (
        *(() if BEST_HYBRID in {s.model_type for s in _LEARNED} else (
            ModelSpec(BEST_HYBRID, "The best hybrid: of the served hybrid variants (the budget study's, tuned or "
                      "not, among them), the one whose training seeds score best on validation episodes (selection "
                      "says which).", None, algo="hybrid", alias_of=(*_HYBRIDS, *CANDIDATES)),)),
        *_LEARNED,
        ModelSpec(BEST_TUNED_HYBRID, "The budget study's tuned hybrid: the design the tuning study chose on "
                  "validation seeds, with its settings, trained for 200,000 environment steps (make study), last "
                  "weights.", None, algo="hybrid", alias_of=tuple(CANDIDATES)),
        *(ModelSpec(name, _rule_description(name), name, rule=name) for name in HEURISTICS),
    )
}
"""Every ``model_type``: the learned models are graph policies (any topology size); the MLP
baselines are not served, their input is fixed at the card's 17 nodes."""
assert tuple(MODEL_SPECS) == MODEL_TYPES, "edge_rl.serve.schemas.MODEL_TYPES must list MODEL_SPECS, in order"
SPECS: dict[str, ModelSpec] = {**MODEL_SPECS, **CANDIDATES}
"""Whatever can answer: every model type, and the candidates its aliases choose among."""


# ---------------------------------------------------------------------- decisions


class UnknownModelError(KeyError):
    """A ``model_type`` that is not in :data:`MODEL_SPECS`."""

    def __init__(self, model_type: str) -> None:
        super().__init__(model_type)
        self.model_type = model_type
        self.message = f"unknown model_type {model_type!r}; accepted: {sorted(MODEL_SPECS)}"

    def __str__(self) -> str:
        return self.message


class ModelUnavailableError(RuntimeError):
    """A known model whose checkpoint could not be loaded; the message says why and what to do."""


class NoEligibleNodeError(ValueError):
    """The network has no node this rule may choose (e.g. least_loaded with no fog or cloud node)."""


@dataclass(frozen=True)
class Decision:
    """One answer: the chosen node and the per-node outputs behind it (see :class:`PredictResponse`)."""

    selected_node: int
    confidence: float | None
    q_values: list[float] | None
    node_scores: list[float | None]


def _listed(values: np.ndarray) -> list[float | None]:
    return [v if math.isfinite(v) else None for v in values.tolist()]


class LearnedPolicy:
    """A loaded checkpoint; one forward pass per batch."""

    def check(self, obs: Observation) -> None:
        """A graph policy can place a task on any network: nothing to check."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        outputs = set(agent.node_scores(probe_observation()))
        self.has_distribution = "probabilities" in outputs
        self.has_q_values = "q_values" in outputs
        self.score_kind = "probability" if self.has_distribution else "q_value"
        self.confidence = (
            "probability of the chosen node under the model's "
            # what it acts by: a hybrid's fused scores, or (a distilled hybrid, PPO) its policy head
            + ("fused distribution" if agent.greedy_output == "fused_logits" else "policy")
            if self.has_distribution
            else "null: DQN has no distribution, it acts greedily on the Q-values"
        )

    def decide(self, observations: Sequence[Observation]) -> list[Decision]:
        scores = self.agent.node_scores(stack_observations(observations))
        chosen = scores[self.agent.greedy_output].argmax(axis=-1)
        decisions = []
        for i, obs in enumerate(observations):
            n, node = obs["nodes"].shape[0], int(chosen[i])
            probabilities = scores["probabilities"][i, :n] if self.has_distribution else None
            q_values = _listed(scores["q_values"][i, :n]) if self.has_q_values else None
            decisions.append(
                Decision(
                    selected_node=node,
                    confidence=float(probabilities[node]) if probabilities is not None else None,
                    q_values=q_values,
                    node_scores=_listed(probabilities) if probabilities is not None else q_values,
                )
            )
        return decisions


class RulePolicy:
    """A fixed rule on the same observation, with the card network's capacities
    (:class:`EnvConfig` defaults). ``node_scores`` is the rule's cost, negated (higher is
    preferred); round-robin's is minus the turns until the node's turn."""

    def __init__(self, name: str, config: EnvConfig | None = None) -> None:
        self.rule: HeuristicPolicy = make_heuristic(name, config)
        self.score_kind = f"negated {self.rule.cost}"
        self.draws = isinstance(self.rule, RandomPolicy)
        self.confidence = "1 / the number of nodes it draws from" if self.draws else "null: a deterministic rule"
        self._position = 0  # round-robin's turn, carried over from request to request

    def check(self, obs: Observation) -> None:
        """Raise :class:`NoEligibleNodeError` if the rule has no node to choose in ``obs``."""
        if not self.rule.allowed({k: v[None] for k, v in obs.items()}).any():
            what = "cloud node" if self.rule.name == "all_cloud" else "fog or cloud node"
            raise NoEligibleNodeError(f"{self.rule.name} places tasks on a {what}, and this network has none")

    def decide(self, observations: Sequence[Observation]) -> list[Decision]:
        for obs in observations:
            self.check(obs)
        return [self._decide_one(obs) for obs in observations]

    def _decide_one(self, obs: Observation) -> Decision:
        batch = {k: v[None] for k, v in obs.items()}
        rule = self.rule
        allowed = rule.allowed(batch)[0]
        # Invalid floating-point operations are expected here: a bandwidth that underflows to 0
        # gives an infinite transfer time, which is the right cost.
        with np.errstate(all="ignore"):
            if isinstance(rule, RoundRobinPolicy):
                slots = allowed.shape[0]
                cost = ((np.arange(slots) - self._position) % slots).astype(np.float64)
            else:
                cost = rule.scores(batch)[0].astype(np.float64)
            masked = np.where(allowed, cost, np.inf)
            node = int(masked.argmin())  # as HeuristicPolicy.predict: the first of the cheapest
            scores = np.where(allowed & np.isfinite(cost), -cost, np.nan)
        if isinstance(rule, RoundRobinPolicy):
            self._position = (node + 1) % allowed.shape[0]
        confidence = 1.0 / int(allowed.sum()) if self.draws else None
        return Decision(selected_node=node, confidence=confidence, q_values=None, node_scores=_listed(scores))


class Predictor:
    """Every policy of :data:`MODEL_SPECS`, each loaded once.

    A checkpoint that is missing, unreadable or crafted (a config too large to build, weights
    that do not fit it) does not stop the others: its model is listed in :attr:`errors` with the
    reason, and asking for it raises :class:`ModelUnavailableError`.

    Args:
        models: the folder of checkpoints (default :func:`models_dir`).
        seed: the training seed whose checkpoint each learned model uses; default: each model's
            seed with the best validation return (:mod:`edge_rl.serve.selection`).
        results: where the validation rows are (default :func:`results_dir`).
        lazy: load a learned model when it is first asked for (the dashboard, whose pages use a
            few), not all at once (the API, which reports every unreadable checkpoint at start).
    """

    def __init__(self, models: str | os.PathLike | None = None, seed: int | None = None,
                 results: str | os.PathLike | None = None, lazy: bool = False) -> None:
        # A folder given (here or by the variable) holds every checkpoint; none given, each
        # model's checkpoints are in its own results folder's models/.
        self.single_folder = models is not None or bool(os.environ.get(MODELS_VARIABLE))
        self.models_dir = Path(models) if models is not None else models_dir()
        self.results_dir = Path(results) if results is not None else results_dir()
        self.seed = seed
        self.policies: dict[str, LearnedPolicy | RulePolicy] = {}
        self.errors: dict[str, str] = {}  # by model type
        self.candidates: dict[str, LearnedPolicy] = {}  # alias candidates (CANDIDATES) loaded
        self.unloaded: dict[str, str] = {}  # and those that did not load, and why
        self.choices: dict[str, Choice] = {}
        self.aliases: dict[str, str] = {}
        for spec in SPECS.values():
            if spec.rule is not None:
                self.policies[spec.model_type] = RulePolicy(spec.rule)
            elif spec.checkpoint is not None:
                self.choices[spec.model_type] = choose_seed(spec.home(self.results_dir), spec.checkpoint, self.seed)
        if not lazy:
            for model_type in MODEL_SPECS:
                self._ensure(model_type)

    def _ensure(self, model_type: str) -> None:
        """Load ``model_type`` (resolve an alias) unless it is loaded or known to fail."""
        if any(model_type in known for known in (self.policies, self.errors, self.candidates, self.unloaded)):
            return
        spec = SPECS[model_type]
        if spec.alias_of:
            self._resolve(spec)
        else:
            self._load(spec)

    def checkpoints(self, spec: ModelSpec) -> Path:
        """The folder of ``spec``'s checkpoints: the one folder given (``models``,
        ``$EDGE_RL_MODELS_DIR``) for every model; none given, :attr:`models_dir` for the card's
        models and the study's own ``<results>/study/models`` for the budget study's."""
        return spec.home(self.results_dir) / "models" if spec.folder and not self.single_folder else self.models_dir

    def _load(self, spec: ModelSpec) -> None:
        choice = self.choices[spec.model_type]
        path = self.checkpoints(spec) / choice.stem
        public = spec.model_type in MODEL_SPECS
        errors = self.errors if public else self.unloaded
        try:
            agent = load(path)
        except (CheckpointError, OSError) as error:
            errors[spec.model_type] = f"{error}. {self._remedy(spec, path)}"
            return
        if agent.config.policy != "gnn":
            errors[spec.model_type] = f"{path}: an MLP policy, fixed at 17 nodes; serve a graph policy"
            return
        try:
            (self.policies if public else self.candidates)[spec.model_type] = LearnedPolicy(agent)
        except Exception as error:  # noqa: BLE001 - a model that cannot answer is unavailable, not fatal
            errors[spec.model_type] = (f"{path}: the model loaded but failed on a two-node probe network "
                                       f"({type(error).__name__}: {error})")

    def _remedy(self, spec: ModelSpec, path: Path) -> str:
        """What to do about a checkpoint that did not load, by its cause: missing, or there but
        unusable (corrupt, truncated, edited, half a pair)."""
        make = "make study" if spec.folder else "make reproduce"
        files = f"{path.name}.json/.safetensors"
        if not any(p.exists() for p in paths(path)):
            where = (f"Point {MODELS_VARIABLE} (or --models-dir) at a folder with {files}" if self.single_folder
                     or not spec.folder else
                     f"Point EDGE_RL_RESULTS_DIR (or --results-dir) at a folder whose {spec.folder}/models has {files}")
            return f"{where}, or run `{make}` to train it."
        return (f"The checkpoint is there but unusable: restore {path}.json and {path}.safetensors from where they "
                f"came (for a committed model, `git checkout -- {path}.*`), or delete both and run `{make}` to retrain it.")

    def _resolve(self, spec: ModelSpec) -> None:
        """An alias answers with the variant that scores best on validation and loads (the next
        best if it does not load; the first that loads, without validation results)."""
        ranked, reason = rank_variants({t: (SPECS[t].home(self.results_dir), SPECS[t].checkpoint)
                                        for t in spec.alias_of})
        best = ranked[0] if ranked else None
        order = ranked + [t for t in spec.alias_of if t not in ranked]
        for candidate in order:
            self._ensure(candidate)
            policy = self.policies.get(candidate) or self.candidates.get(candidate)
            if policy is not None:
                if candidate != best:
                    reason = f"{candidate}: the first hybrid that loads ({reason})"
                self.aliases[spec.model_type] = candidate
                choice = self.choices[candidate]
                self.choices[spec.model_type] = Choice(choice.stem, choice.seed, f"{reason}; {choice.reason}",
                                                       choice.score)
                self.policies[spec.model_type] = policy
                return
        self.errors[spec.model_type] = f"none of {list(spec.alias_of)} is available"

    def policy(self, model_type: str) -> LearnedPolicy | RulePolicy:
        """The loaded policy, or :class:`UnknownModelError` / :class:`ModelUnavailableError`."""
        if model_type not in MODEL_SPECS:
            raise UnknownModelError(model_type)
        self._ensure(model_type)
        if model_type in self.errors:
            raise ModelUnavailableError(f"model_type {model_type!r} is unavailable: {self.errors[model_type]}")
        return self.policies[model_type]

    def agent(self, model_type: str) -> Agent | HeuristicPolicy:
        """The policy as something with ``predict`` (for episodes): the agent, or a fresh rule."""
        policy = self.policy(model_type)
        return policy.agent if isinstance(policy, LearnedPolicy) else make_heuristic(policy.rule.name)

    def checkpoint(self, model_type: str) -> str:
        """The checkpoint stem or the rule's name that answers for ``model_type``."""
        spec = MODEL_SPECS[model_type]
        if spec.alias_of:  # which variant answers is known once it is resolved
            self._ensure(model_type)
        return self.choices[model_type].stem if model_type in self.choices else spec.rule  # type: ignore[return-value]

    def checkpoint_path(self, model_type: str) -> Path | None:
        """Where the checkpoint that answers for ``model_type`` is read from (its stem); None for a rule."""
        stem = self.checkpoint(model_type)
        spec = SPECS[self.aliases.get(model_type, model_type)]
        return self.checkpoints(spec) / stem if spec.checkpoint else None

    def predict(self, model_type: str, observations: Sequence[Observation]) -> list[Decision]:
        """Decisions for a batch of observations (any sizes), in order."""
        return self.policy(model_type).decide(observations)
