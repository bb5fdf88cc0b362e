"""Type and range checks for the frozen config dataclasses of :mod:`edge_rl.config`,
:func:`from_dict`, which rebuilds a config from JSON, and :func:`positive_int` for the
command lines (the CLI's and the API server's).

Every config calls :func:`check_types` first in its ``__post_init__`` (so the range checks
after it compare numbers with numbers), then the range helpers; each error names the field and
what is accepted.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import typing
from typing import Any


def check(condition: bool, name: str, accepted: str, value: Any) -> None:
    if not condition:
        raise ValueError(f"{name} must be {accepted}, got {value!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON's true is not a count


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _matches(value: Any, hint: Any) -> tuple[bool, str]:
    """Whether ``value`` is of the annotated type ``hint``, and how to name that type."""
    if hint is bool:
        return isinstance(value, bool), "true or false"
    if hint is int:
        return _is_int(value), "an integer"
    if hint is float:
        return _is_number(value), "a finite number"
    if hint is str:
        return isinstance(value, str), "a string"
    if dataclasses.is_dataclass(hint):
        article = "an" if hint.__name__[0] in "AEIOU" else "a"
        return isinstance(value, hint), f"{article} {hint.__name__} (an object of its fields in JSON)"
    args = typing.get_args(hint)
    if type(None) in args:  # X | None
        (inner,) = [a for a in args if a is not type(None)]
        ok, accepted = _matches(value, inner)
        return value is None or ok, f"None or {accepted}"
    if typing.get_origin(hint) is tuple:
        if args[-1] is Ellipsis:
            element = args[0]
            ok = isinstance(value, tuple) and all(_matches(v, element)[0] for v in value)
            return ok, f"a list of {_matches(None, element)[1].removeprefix('a ').removeprefix('an ')}s"
        ok = isinstance(value, tuple) and len(value) == len(args) and all(
            _matches(v, a)[0] for v, a in zip(value, args))
        return ok, f"a list of {len(args)} {_matches(None, args[0])[1].removeprefix('a ')}s"
    raise TypeError(f"no type check for {hint!r}")  # a new kind of field: teach _matches


def check_types(config: Any) -> None:
    """Refuse any field whose value is not of its annotated type, naming the field.

    Called first in every config's ``__post_init__``, so that the range checks after it
    compare numbers with numbers, and JSON's ``true`` never passes for 1 or a string for a
    rate. Integers are accepted where a float is expected; infinities and NaN are not.
    """
    hints = _hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        ok, accepted = _matches(value, hints[f.name])
        check(ok, f.name, accepted, value)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:  # the annotations are strings (postponed evaluation): resolve once
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def check_at_least(config: Any, low: int, *names: str) -> None:
    for name in names:
        check(getattr(config, name) >= low, name, f"an integer >= {low}", getattr(config, name))


def check_at_most(config: Any, high: int | float, *names: str) -> None:
    """Refuse a size past edge_rl's bound on it (a bound no run needs: it stops a config, from a
    command line or a checkpoint file, from allocating more than the machine has)."""
    for name in names:
        value = getattr(config, name)
        check(value <= high, name, f"at most {high:,} (edge_rl's bound on it)", value)


def check_positive(config: Any, *names: str) -> None:
    for name in names:
        check(getattr(config, name) > 0, name, "a finite number > 0", getattr(config, name))


def check_non_negative(config: Any, *names: str) -> None:
    for name in names:
        check(getattr(config, name) >= 0, name, "a finite number >= 0", getattr(config, name))


def check_fractions(config: Any, *names: str) -> None:
    for name in names:
        check(0 <= getattr(config, name) <= 1, name, "in [0, 1]", getattr(config, name))


def from_dict(cls: type, data: dict[str, Any], complete: bool = False) -> Any:
    """Rebuild the dataclass ``cls`` from nested dicts (JSON), refusing unknown keys.

    A missing key takes the field's default, unless ``complete``: then every field of every
    section must be there (a checkpoint's config is read so, so that a field it lacks is
    never silently replaced by today's default), but for the fields a class lists in its
    ``ADDED_FIELDS``: added later, their defaults keep the behaviour from before they existed.
    """
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__} must be given as a dict, got {type(data).__name__}")
    hints = _hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise TypeError(f"unknown {cls.__name__} field(s) {unknown}; accepted: {sorted(known)}")
    missing = sorted(known - set(data) - set(getattr(cls, "ADDED_FIELDS", ())))
    if complete and missing:
        raise TypeError(f"{cls.__name__} lacks field(s) {missing}")
    kwargs = {}
    for key, value in data.items():
        hint = hints[key]
        element = typing.get_args(hint)[0] if typing.get_origin(hint) is tuple and typing.get_args(hint) else None
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = from_dict(hint, value, complete)
        elif dataclasses.is_dataclass(element) and isinstance(value, list):  # a list of configs
            value = tuple(from_dict(element, v, complete) if isinstance(v, dict) else v for v in value)
        elif isinstance(value, list):  # JSON has no tuples
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (a thread count, say)."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return int(text)
