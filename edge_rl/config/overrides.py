"""Settings typed as text, for the command line and sweep specs: ``key=value`` overrides of a
config (``--set``, a spec's ``[set]``) and seed lists (``--seeds``). Errors name the option."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from edge_rl.checks import from_dict


class UsageError(ValueError):
    """Bad command-line input; reported as one line, exit status 2."""


def parse_seeds(text: str) -> list[int]:
    """``"10000-10099"`` (inclusive range) or ``"1,2,5"``, or a mix: ``"1-3,7"``."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            low, sep, high = part.strip().partition("-")
            seeds += list(range(int(low), int(high) + 1)) if sep else [int(low)]
    except ValueError:
        raise UsageError(f"--seeds: expected ranges and integers like '10000-10099' or '1,2,5', got {text!r}") from None
    return seeds


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # a bare string such as gat


def apply_overrides(config: Any, assignments: Sequence[str], option: str) -> Any:
    """``config`` with dotted ``key=value`` assignments applied (values are JSON; a whole
    section is a JSON object of its fields, the others keeping their defaults)."""
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep:
            raise UsageError(f"{option}: expected KEY=VALUE, got {assignment!r}")
        config = _replace(config, key.strip().split("."), _parse_value(value), f"{option} {key.strip()}")
    return config


def _replace(config: Any, path: list[str], value: Any, label: str) -> Any:
    names = {f.name for f in dataclasses.fields(config)}
    if path[0] not in names:
        raise UsageError(f"{label}: unknown field {path[0]!r} of {type(config).__name__}; accepted: {sorted(names)}")
    current = getattr(config, path[0])
    try:
        if len(path) > 1:
            if not dataclasses.is_dataclass(current):
                raise UsageError(f"{label}: {path[0]!r} has no fields")
            value = _replace(current, path[1:], value, label)
        elif dataclasses.is_dataclass(current) and isinstance(value, dict):
            value = from_dict(type(current), value)
        elif isinstance(value, list):
            value = tuple(value)
        return dataclasses.replace(config, **{path[0]: value})
    except UsageError:
        raise
    except (TypeError, ValueError) as error:
        raise UsageError(f"{label}: {error}") from None
