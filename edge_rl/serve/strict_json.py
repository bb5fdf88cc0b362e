"""What JSON parsing alone lets through, refused with the field named (:func:`edge_rl.serve.http.parse`).

- :func:`check_media_type`: a body sent as another media type than JSON (``text/plain``, a
  form) gets 415; one sent with no ``Content-Type`` is read as JSON.
- :func:`duplicate_key`: an object that names a key twice (``{"model_type": "dqn",
  "model_type": "ppo"}``), where a parser keeps the last and the client may have meant the
  first; pydantic's parser (jiter) has no option to refuse them, so the body is parsed a second
  time by :func:`json.loads`, whose ``object_pairs_hook`` sees every key (about 20 µs for the
  card's request, after it validated).
- :func:`json_path`: where in the body an error is (a duplicated key, or the value nested
  past the parser's depth limit, which jiter reports with a line and column only), as the
  ``loc`` of a validation error: ``["network_state", "edges", 0]``.
"""

from __future__ import annotations

import json
import re
from typing import Any

JSON_MEDIA_TYPE = "application/json"


def is_json_media_type(content_type: str | None) -> bool:
    """``application/json`` or a ``+json`` type (``application/problem+json``), with any
    parameters (``; charset=utf-8``), in any case; no header at all counts as JSON."""
    if content_type is None:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == JSON_MEDIA_TYPE or (media.startswith("application/") and media.endswith("+json"))


class DuplicateKeyError(ValueError):
    """A JSON object that names ``key`` more than once."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique(pairs: list[tuple[str, Any]]) -> None:
    if len(pairs) != len({key for key, _ in pairs}):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    # The parsed values are not kept (pydantic already has them): nothing is built.


def duplicate_key(body: bytes) -> str | None:
    """The first key that an object of ``body`` (valid JSON) names twice, or None."""
    try:
        json.loads(body, object_pairs_hook=_unique)
    except DuplicateKeyError as error:
        return error.key
    return None


_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},]')


def json_path(body: bytes, offset: int | None = None, duplicated: str | None = None) -> list[str | int]:
    """The path of keys and indices to byte ``offset`` of ``body``, or to the first object
    that names the key ``duplicated`` twice (then ending in that key). Tokens are found by a
    regular expression, so this costs a pass over the body: it runs on errors only."""
    stack: list[list[Any]] = []  # per open container: [kind, current key or index, keys seen]
    wants_key = False
    for match in _TOKEN.finditer(body, 0, len(body) if offset is None else offset):
        token = match.group()
        if token == b"{":
            stack.append(["{", None, set()])
            wants_key = True
        elif token == b"[":
            stack.append(["[", 0, None])
        elif token in (b"}", b"]"):
            if stack:
                stack.pop()
            wants_key = False
        elif token == b",":
            if stack and stack[-1][0] == "[":
                stack[-1][1] += 1
            wants_key = bool(stack) and stack[-1][0] == "{"
        elif wants_key and stack and stack[-1][0] == "{":  # a key: the string before a colon
            key = json.loads(token)
            if key == duplicated and key in stack[-1][2]:
                return [entry[1] for entry in stack[:-1]] + [key]
            stack[-1][1] = key
            stack[-1][2].add(key)
            wants_key = False
    return [entry[1] for entry in stack if entry[1] is not None]


def offset_of(body: bytes, line: int, column: int) -> int:
    """The byte offset of a 1-based ``line`` and ``column``, as parsers report them."""
    start = 0
    for _ in range(line - 1):
        start = body.find(b"\n", start) + 1
        if start == 0:
            return len(body)
    return min(start + column - 1, len(body))


_POSITION = re.compile(r"line (\d+) column (\d+)")


def nesting_loc(body: bytes, message: str) -> list[str | int]:
    """The field a "recursion limit exceeded at line L column C" error is in: its path with a
    run of array indices shortened to two (``network_state.edges[0][0]``)."""
    position = _POSITION.search(message)
    path = json_path(body, offset_of(body, int(position[1]), int(position[2]))) if position else []
    first = next((i for i, part in enumerate(path) if isinstance(part, int)), len(path))
    return path[: first + 2]
