# SPDX-License-Identifier: Apache-2.0
"""Follow a JSON document's structure without trusting a parser with it, in small steps.

The bridge must hand Open WebUI's ``body`` back unchanged, and parsing then re-encoding cannot do that for every
body Open WebUI sends: a lone surrogate (``"\\ud800"``) or ``NaN`` fails Starlette's strict encoder, a
10,000-digit integer fails ``int()`` (Python's str-digits limit), ``1e400`` would come back as ``Infinity``, and
nesting deeper than the recursion limit fails the parser itself. This module finds where a value *ends* by
following only strings and brackets, with C-speed primitives (``find``, ``count``, regex ``match``) over windows
of at most :data:`WINDOW` characters, so the caller can echo the exact bytes it received.

Every function here is a *step generator*: it yields (``None``) between bounded steps and returns its result.
:func:`run_sync` drives one to the end; :func:`run_async` drives it on an event loop and gives the loop back every
``slice_s`` seconds, so no document, however large or adversarial, holds the loop for more than a few ms.

    >>> run_sync(skip_value(b'{"a": [1, "]"]} tail', 0))           # where the value ends
    15
    >>> import asyncio
    >>> asyncio.run(run_async(member_spans(b'{"body": {"a": 1}, "user": null}')))   # await run_async(...) in a server
    {'body': (9, 17), 'user': (27, 31)}

Works on ``bytes`` (or ``bytearray``) and on ``str`` alike (indices are in the unit of what it is given).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
S = TypeVar("S", str, bytes)
Steps = Generator[None, None, T]
Document = str | bytes | bytearray

WINDOW = 256 * 1024
"""Most characters one step looks at: ``count``/``find`` over 256 KiB take well under a millisecond."""
STEPS_PER_YIELD = 64
"""Loop turns between yields when each turn is small (one string): resuming costs more than a turn."""
MAX_KEY_CHARS = 4096
"""Member names longer than this are not decoded (no member this server reads has such a name)."""
_NAME_DECODER = json.JSONDecoder(strict=False)  # like the values: control characters are kept, not refused


class MalformedJSON(ValueError):
    """The document is not JSON (not: JSON that Python cannot represent). ``position`` is where it went wrong."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at position {position}")
        self.position = position


@dataclass(frozen=True)
class _Syntax(Generic[S]):
    quote: S
    backslash: S
    object_open: S
    array_open: S
    object_close: S
    array_close: S
    colon: S
    comma: S
    whitespace: re.Pattern[S]
    scalar_end: re.Pattern[S]


_BYTES = _Syntax(b'"', b"\\", b"{", b"[", b"}", b"]", b":", b",", re.compile(rb"[ \t\n\r]*"), re.compile(rb"[,\]}\s]"))
_TEXT = _Syntax('"', "\\", "{", "[", "}", "]", ":", ",", re.compile(r"[ \t\n\r]*"), re.compile(r"[,\]}\s]"))


def _syntax(document: Document) -> _Syntax[Any]:
    syntax = _TEXT if isinstance(document, str) else _BYTES  # bytes or bytearray
    return syntax


class _Running:
    """What :func:`_step` returns while the steps have not finished."""


_RUNNING = _Running()


def _step(steps: Steps[T]) -> T | _Running:
    """Run one step of ``steps``: their result once they have finished, else :data:`_RUNNING`."""
    try:
        next(steps)
    except StopIteration as done:
        result: T = done.value
        return result
    return _RUNNING


def run_sync(steps: Steps[T]) -> T:
    """Drive step generator ``steps`` to its end and return its result."""
    while isinstance(result := _step(steps), _Running):
        pass
    return result


async def run_async(steps: Steps[T], slice_s: float = 0.002) -> T:
    """Drive ``steps`` on the running event loop, giving the loop back at least every ``slice_s`` seconds."""
    clock = time.perf_counter
    deadline = clock() + slice_s
    while isinstance(result := _step(steps), _Running):
        if clock() >= deadline:
            await asyncio.sleep(0)
            deadline = clock() + slice_s
    return result


def skip_whitespace(document: Document, position: int) -> Steps[int]:
    """Position of the first non-whitespace character at or after ``position`` (or the document's length)."""
    syntax = _syntax(document)
    length = len(document)
    while True:
        window_end = min(position + WINDOW, length)
        match = syntax.whitespace.match(document, position, window_end)
        position = match.end() if match else position
        if position < window_end or window_end == length:
            return position
        yield


def skip_string(document: Document, position: int) -> Steps[int]:
    """End (exclusive) of the string whose opening quote is at ``position``."""
    syntax = _syntax(document)
    quote_char, backslash = syntax.quote, syntax.backslash
    length = len(document)
    start = position + 1
    search_from = start
    steps = 0
    while True:
        window_end = min(search_from + WINDOW, length)
        quote = document.find(quote_char, search_from, window_end)
        if quote < 0:
            if window_end == length:
                raise MalformedJSON("unterminated string", position)
            search_from = window_end
            yield
            continue
        if document[quote - 1 : quote] != backslash:
            return quote + 1
        if quote - 2 < start or document[quote - 2 : quote - 1] != backslash:
            escapes = 1  # the usual \" inside a string
        else:
            escapes = yield from _backslashes_before(document, quote, start)
        if escapes % 2 == 0:
            return quote + 1
        search_from = quote + 1
        steps += 1
        if steps % STEPS_PER_YIELD == 0:
            yield


def _backslashes_before(document: Document, end: int, floor: int) -> Steps[int]:
    """How many backslashes directly precede ``end`` (not looking before ``floor``)."""
    syntax = _syntax(document)
    if end <= floor or document[end - 1 : end] != syntax.backslash:
        return 0  # the usual case, without copying anything
    count = 0
    size = 64
    while end > floor:
        chunk = document[max(floor, end - size) : end]
        size = min(size * 4, WINDOW)
        run = len(chunk) - len(chunk.rstrip(syntax.backslash))
        count += run
        if run < len(chunk):
            return count
        end -= len(chunk)
        yield
    return count


def _bracket_balance(document: Document, start: int, stop: int, depth: int, syntax: _Syntax[Any]) -> tuple[int, int]:
    """Depth after ``document[start:stop]`` (a stretch with no string in it), or ``(0, i)`` if the depth
    reaches 0 at ``i``. Counting is C-speed; only the stretch where the value closes is walked, by halving."""
    closes = document.count(syntax.object_close, start, stop) + document.count(syntax.array_close, start, stop)
    opens = document.count(syntax.object_open, start, stop) + document.count(syntax.array_open, start, stop)
    if depth - closes > 0:  # cannot reach zero in this stretch
        return depth + opens - closes, -1
    if stop - start <= 32:
        for index in range(start, stop):
            char = document[index : index + 1]
            if char in (syntax.object_open, syntax.array_open):
                depth += 1
            elif char in (syntax.object_close, syntax.array_close):
                depth -= 1
                if depth == 0:
                    return 0, index
        return depth, -1
    middle = (start + stop) // 2
    depth, closed_at = _bracket_balance(document, start, middle, depth, syntax)
    if closed_at >= 0:
        return depth, closed_at
    return _bracket_balance(document, middle, stop, depth, syntax)


def skip_container(document: Document, position: int) -> Steps[int]:
    """End (exclusive) of the object or array opening at ``position``. Bracket kinds are not cross-checked:
    this finds where well-formed JSON ends, it does not validate it."""
    syntax = _syntax(document)
    quote_char, backslash = syntax.quote, syntax.backslash
    length = len(document)
    depth = 1
    cursor = position + 1
    steps = 0
    while True:
        window_end = min(cursor + WINDOW, length)
        quote = document.find(quote_char, cursor, window_end)
        stop = quote if quote >= 0 else window_end
        depth, closed_at = _bracket_balance(document, cursor, stop, depth, syntax)
        if closed_at >= 0:
            return closed_at + 1
        if quote >= 0:
            # The usual short string inline (this loop runs once per string of the document).
            end = document.find(quote_char, quote + 1, min(quote + 1 + WINDOW, length))
            if end > 0 and document[end - 1 : end] != backslash:
                cursor = end + 1
            else:
                cursor = yield from skip_string(document, quote)
        elif window_end == length:
            raise MalformedJSON("unterminated object or array", position)
        else:
            cursor = window_end
        steps += 1
        if steps % STEPS_PER_YIELD == 0:
            yield


def skip_scalar(document: Document, position: int) -> Steps[int]:
    """End of a number, ``true``/``false``/``null`` or ``NaN``/``Infinity`` starting at ``position``."""
    syntax = _syntax(document)
    length = len(document)
    cursor = position
    while True:
        window_end = min(cursor + WINDOW, length)
        match = syntax.scalar_end.search(document, cursor, window_end)
        if match:
            end = match.start()
            break
        if window_end == length:
            end = length
            break
        cursor = window_end
        yield
    if end == position:
        raise MalformedJSON("expected a value", position)
    return end


def skip_value(document: Document, position: int) -> Steps[int]:
    """End (exclusive) of the JSON value starting exactly at ``position``."""
    syntax = _syntax(document)
    first = document[position : position + 1]
    if first == syntax.quote:
        return (yield from skip_string(document, position))
    if first in (syntax.object_open, syntax.array_open):
        return (yield from skip_container(document, position))
    if not first:
        raise MalformedJSON("expected a value, found the end", position)
    return (yield from skip_scalar(document, position))


def expect(document: Document, position: int, token: str | bytes) -> int:
    """``position + 1`` if ``token`` is at ``position``, else :class:`MalformedJSON`."""
    if document[position : position + 1] != token:
        found = document[position : position + 1]
        raise MalformedJSON(f"expected {token!r}, found {found!r}" if found else f"expected {token!r}", position)
    return position + 1


def member_name(document: Document, start: int, end: int) -> str:
    """The decoded member name whose quotes are at ``start`` and ``end - 1`` (a short string: no parser limit
    applies). Undecodable bytes become lone surrogates (``surrogateescape``, as for the whole request); a bad
    escape is :class:`MalformedJSON` (a 422 for the caller, never an unexpected error, i.e. a 500)."""
    token = document[start:end]
    text = token if isinstance(token, str) else bytes(token).decode("utf-8", "surrogateescape")
    try:
        name = _NAME_DECODER.decode(text)
    except json.JSONDecodeError as error:
        raise MalformedJSON(f"invalid member name ({error.msg})", start) from None
    if not isinstance(name, str):  # cannot happen for a token skip_string delimited; keeps the type honest
        raise MalformedJSON("expected a member name", start)
    return name


MemberReader = Callable[[str | None, int], Steps[int]]
"""``read(name, start)`` -> end of the member's value; ``name`` is ``None`` for names too long to decode."""


def member_spans(document: Document, read: MemberReader | None = None) -> Steps[dict[str, tuple[int, int]]]:
    """``{name: (start, end)}`` of every member of the top-level object (the last one wins for a repeated
    name, as with ``json.loads``); the whole document must be that one object. ``read`` (default: skip) is
    called for each member's value and returns where it ends, e.g. to parse the members one wants."""
    syntax = _syntax(document)
    spans: dict[str, tuple[int, int]] = {}
    position = yield from skip_whitespace(document, 0)
    position = expect(document, position, syntax.object_open)
    position = yield from skip_whitespace(document, position)
    if document[position : position + 1] == syntax.object_close:
        position += 1
    else:
        while True:
            if document[position : position + 1] != syntax.quote:
                raise MalformedJSON("expected a member name", position)
            name_end = yield from skip_string(document, position)
            name: str | None = None
            if name_end - position <= MAX_KEY_CHARS:
                name = member_name(document, position, name_end)
            position = yield from skip_whitespace(document, name_end)
            position = expect(document, position, syntax.colon)
            value_start = yield from skip_whitespace(document, position)
            if read is None:
                value_end = yield from skip_value(document, value_start)
            else:
                value_end = yield from read(name, value_start)
            if name is not None:
                spans[name] = (value_start, value_end)
            position = yield from skip_whitespace(document, value_end)
            if document[position : position + 1] == syntax.comma:
                position = yield from skip_whitespace(document, position + 1)
                continue
            position = expect(document, position, syntax.object_close)
            break
    position = yield from skip_whitespace(document, position)
    if position != len(document):
        raise MalformedJSON("extra data after the top-level object", position)
    return spans
