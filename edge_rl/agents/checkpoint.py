"""Checkpoints: weights in safetensors, everything else in a JSON file beside them.

``save(path, module, config, trained)`` writes ``<path>.safetensors`` and ``<path>.json``.
The JSON holds the format tag, the full training config, what the run did (steps, wall time,
threads), the package versions, and the SHA-256 of the weights file. Nothing is ever
unpickled: loading reads JSON, checks the checksum, rebuilds the network from the config, and
copies the tensors in. A foreign, truncated, corrupted or incompatible file gets a
:class:`CheckpointError` that says which.

The checksum detects corruption (a truncated copy, flipped bytes, weights from another save),
not tampering: no key signs it, so whoever can edit the weights can write their checksum into
the JSON too. What keeps an edited file harmless is the rest: no pickle is read, the JSON is
bounded in size and depth, every config size is bounded (:mod:`edge_rl.config`), the network a
config describes is counted before it is built (:func:`check_size`), and every failure while
building or loading it is a :class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_model
from safetensors.torch import save as serialize
from torch.overrides import TorchFunctionMode

from edge_rl.files import atomic_write
from edge_rl.versions import package_versions

FORMAT = "edge_rl.checkpoint"
FORMAT_VERSION = 2
"""Version 2 added ``config.encoder.root_path``; version 1 files, written before it, are read as
the plain stack they were (:func:`upgrade`)."""


MAX_DESCRIPTION_BYTES = 2**20
"""Largest checkpoint JSON read (ours are about 5 KB): a bigger file is refused unread."""

MAX_PARAMETERS = 2**28
"""Most values (parameters and buffers) a checkpoint's network may hold: 1 GiB of float32, some
thousand times the card's networks. A config describing more is refused before it is built."""


class CheckpointError(ValueError):
    """A file that is not a usable edge_rl checkpoint; the message says why."""


def paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """``(weights, config)`` paths for a checkpoint given by stem, ``.json`` or ``.safetensors``."""
    path = Path(path)
    if path.suffix in (".json", ".safetensors"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".safetensors"), path.with_name(path.name + ".json")


def _sha256(path: Path) -> str:
    with path.open("rb") as file:  # in chunks: a file of any size is hashed in constant memory
        return hashlib.file_digest(file, "sha256").hexdigest()


def _unshared(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each tensor once, under the first of its names in sorted order (SB3's PPO shares one
    encoder between ``pi_`` and ``vf_features_extractor``); safetensors' ``load_model`` puts it
    back under every name. Unlike ``save_model``, no alias table is written: its order varies
    from process to process, and the same weights must give the same bytes."""
    kept: dict[str, torch.Tensor] = {}
    seen: set[tuple] = set()
    for name in sorted(state):
        tensor = state[name]
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape), tensor.stride())
        if key not in seen:
            seen.add(key)
            kept[name] = tensor.contiguous()
    return kept


def _pending(description: Path) -> Path:
    """Where :func:`save` puts the new description until the new weights are in place."""
    return description.with_name(f".{description.name}.pending.tmp")


def save(
    path: str | os.PathLike, module: torch.nn.Module, config: dict[str, Any], trained: dict[str, Any]
) -> Path:
    """Save ``module``'s weights and its JSON description; return the JSON path.

    The two files are replaced as a pair, as far as two renames can be: the new description is
    written first, beside the old one (``.<stem>.json.pending.tmp``), then the weights replace
    the old weights, then the description replaces the old description. Killed before the
    weights are replaced, the old pair is intact; killed between the two renames, the new
    weights sit beside the old description, and a reader says so (naming the pending file, which
    completes the pair), rather than calling the weights corrupted.

    Args:
        path: the checkpoint's stem (``results/models/dqn-gnn-gcn-s0``).
        module: the network; tensors shared between submodules are stored once.
        config: the full config the network can be rebuilt from (``TrainConfig.to_dict()``).
        trained: what the run did: steps, wall time, threads, ...
    """
    weights, description = paths(path)
    data = serialize(_unshared(module.state_dict()))  # the bytes save_file writes
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config,
        "trained": trained,
        "versions": package_versions(),
        "weights": {"file": weights.name, "sha256": hashlib.sha256(data).hexdigest()},
    }
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    pending = _pending(description)
    atomic_write(pending, lambda tmp: Path(tmp).write_text(text), reported_as=description)
    atomic_write(weights, lambda tmp: Path(tmp).write_bytes(data))
    try:
        os.replace(pending, description)  # the rename that completes the pair
    except OSError as error:
        raise OSError(error.errno, f"cannot write {description}: {error.strerror}") from error
    return description


def _interrupted_save(weights: Path, description: Path, sha256: str | None) -> str | None:
    """What happened, if the weights (of checksum ``sha256``; None: no weights) come from a save
    interrupted before it replaced the description: :func:`save`'s pending description is
    there, and records these weights."""
    pending = _pending(description)
    try:
        if pending.stat().st_size > MAX_DESCRIPTION_BYTES:
            return None
        recorded = json.loads(pending.read_text())["weights"]["sha256"]
    except (OSError, ValueError, TypeError, KeyError, RecursionError):
        return None
    if sha256 is None:
        return f"a save of this checkpoint was interrupted before it wrote {weights.name} ({pending} is left from it); save again"
    if recorded != sha256:
        return None
    return (
        f"a save of this checkpoint was interrupted after it wrote {weights.name} and before it wrote "
        f"{description.name}; the new description is in {pending}. Rename that file to {description} to "
        "keep the new weights, or save again"
    )


def read_description(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's JSON, checked to be ours and of a version we read."""
    weights, description = paths(path)
    if not description.is_file():
        interrupted = _interrupted_save(weights, description, _sha256(weights) if weights.is_file() else None)
        raise CheckpointError(f"{description}: no such checkpoint description (expected <stem>.json)"
                              + (f": {interrupted}" if interrupted else ""))
    size = description.stat().st_size
    if size > MAX_DESCRIPTION_BYTES:
        raise CheckpointError(f"{description}: {size:,} bytes, more than the {MAX_DESCRIPTION_BYTES:,} a checkpoint "
                              "description may have (ours have a few KB); not an edge_rl checkpoint")
    try:
        document = json.loads(description.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{description}: not JSON ({error}); not an edge_rl checkpoint") from None
    except RecursionError:  # nesting deeper than Python's parser goes: not a file we wrote
        raise CheckpointError(f"{description}: JSON nested too deeply; not an edge_rl checkpoint") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CheckpointError(f"{description}: not an edge_rl checkpoint (no format '{FORMAT}')")
    version = document.get("format_version")
    if type(version) is not int or not 1 <= version <= FORMAT_VERSION:  # JSON's true equals 1 in Python
        raise CheckpointError(
            f"{description}: checkpoint format version {version!r}; this edge_rl reads versions 1 to "
            f"{FORMAT_VERSION}. Retrain, or use the edge_rl that wrote it."
        )
    for key in ("config", "trained", "weights"):
        if not isinstance(document.get(key), dict):
            raise CheckpointError(f"{description}: the field '{key}' is missing or not an object")
    return upgrade(document)


def upgrade(document: dict[str, Any]) -> dict[str, Any]:
    """A description of an older format version in today's: explicitly, field by field, never
    by filling in today's defaults. Version 1 predates encoder root paths: its encoders were
    the plain stack, ``root_path: "none"``."""
    if document["format_version"] == 1:
        encoder = document["config"].get("encoder")
        if isinstance(encoder, dict) and "root_path" not in encoder:
            encoder["root_path"] = "none"
        document["format_version"] = 2
    return document


def check_weights(path: str | os.PathLike, document: dict[str, Any]) -> Path:
    """The weights file, checked against the description's checksum (before a network is built
    from the description: a corrupted checkpoint is refused without building anything)."""
    weights, description = paths(path)
    expected = document["weights"].get("sha256")
    if not (isinstance(expected, str) and re.fullmatch("[0-9a-f]{64}", expected)):
        raise CheckpointError(
            f"{description}: records no checksum of its weights ('weights.sha256' is "
            f"{'missing' if expected is None else f'{expected!r}, not a SHA-256 hex digest'}); "
            "edge_rl writes one in every checkpoint, so this description was written or edited by something else"
        )
    if not weights.is_file():
        raise CheckpointError(f"{weights}: the weights file is missing")
    actual = _sha256(weights)
    if actual != expected:
        interrupted = _interrupted_save(weights, description, actual)
        if interrupted:
            raise CheckpointError(f"{weights}: the weights do not match the checksum in {description.name}: "
                                  f"{interrupted}")
        raise CheckpointError(
            f"{weights}: the weights do not match the checksum in the description: the file "
            "was modified or truncated after it was saved"
        )
    return weights


class _StayOnMeta(TorchFunctionMode):
    """Tensors on PyTorch's meta device stay there when a module is moved (SB3 moves its networks
    ``.to("cpu")``, which a tensor without data cannot do). Thread-local, as torch's modes are."""

    def __torch_function__(self, func: Callable, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        if func is torch.Tensor.to and isinstance(args[0], torch.Tensor) and args[0].is_meta:
            return args[0]
        return func(*args, **(kwargs or {}))


@contextmanager
def _shapes_only() -> Iterator[None]:
    with torch.device("meta"), _StayOnMeta():
        yield


def network_size(build: Callable[[], torch.nn.Module]) -> int:
    """How many values (parameters and buffers, each shared tensor once) the network ``build()``
    makes holds, found by building it on the meta device: shapes only, no memory allocated."""
    with _shapes_only():
        network = build()
    tensors = {id(t): t for t in (*network.parameters(), *network.buffers())}
    return sum(t.numel() for t in tensors.values())


def stored_size(weights: Path) -> int:
    """How many values the safetensors file ``weights`` holds, read from its header alone (the
    header is bounded by safetensors itself; the data is not read)."""
    try:
        with safe_open(weights, framework="pt") as file:
            return sum(math.prod(file.get_slice(name).get_shape()) for name in file.keys())  # noqa: SIM118
    except SafetensorError as error:
        raise CheckpointError(f"{weights}: not a readable safetensors file ({error})") from None


def check_size(path: str | os.PathLike, build: Callable[[], torch.nn.Module]) -> None:
    """Refuse, before anything is allocated, a network that ``build()`` would make too large:
    past :data:`MAX_PARAMETERS`, or larger than what the weights file holds (a strict load
    needs a stored value for every one)."""
    weights, description = paths(path)
    stored = stored_size(weights)
    count = network_size(build)
    if count > MAX_PARAMETERS:
        raise CheckpointError(f"{description}: its config describes a network of {count:,} values; edge_rl "
                              f"loads at most {MAX_PARAMETERS:,}")
    if count > stored:
        raise CheckpointError(
            f"{description}: its config describes a network of {count:,} values, but {weights.name} holds "
            f"{stored:,}: the weights do not fit the network described by its config"
        )


def load_weights(path: str | os.PathLike, module: torch.nn.Module, document: dict[str, Any]) -> None:
    """Copy the checkpoint's tensors into ``module`` (built from the same config), strictly,
    after checking them against the description's checksum."""
    weights = check_weights(path, document)
    try:
        load_model(module, str(weights), strict=True)
    except SafetensorError as error:
        raise CheckpointError(f"{weights}: not a readable safetensors file ({error})") from None
    except RuntimeError as error:
        raise CheckpointError(
            f"{weights}: the weights do not fit the network described by its config ({error})"
        ) from None
