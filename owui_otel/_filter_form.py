# SPDX-License-Identifier: Apache-2.0
"""What Open WebUI POSTs to ``/{id}/filter/inlet|outlet`` (``{"body": {...}, "user": {...}}``), read so that
*every* body it accepted can be handed back exactly and traced as far as Python can represent it.

* ``echo``: the exact bytes of the ``body`` member, found by :mod:`owui_otel._raw_json`; the route answers with
  them, so surrogates, ``NaN``, huge numbers and deep nesting come back as they came (Open WebUI parses our answer
  with the same ``json`` module that wrote the request).
* ``body``/``user``: parsed for the tracer, up to ``max_recorded_bytes`` of request. Values Python's parser
  refuses (nested past the recursion limit) become a placeholder string; integers past the str-digits limit
  become floats. Larger requests are only scanned (``body`` is ``None``): parsing holds the GIL in one C call, so
  it is kept to what is safe on the event loop. Large requests are parsed member by member (and the items of
  their lists), yielding to the loop in between.

    form = await read_filter_form(raw, max_recorded_bytes=8 << 20)
    core.inlet(form.body, form.user) if form.body is not None else ...
    return Response(form.echo, media_type="application/json")
"""

from __future__ import annotations

import asyncio
import codecs
import json
from dataclasses import dataclass
from typing import Any

from owui_otel._raw_json import (
    MalformedJSON,
    Steps,
    expect,
    member_name,
    member_spans,
    run_async,
    skip_string,
    skip_value,
    skip_whitespace,
)

NOT_PARSED = "[owui-otel: not parsed: nested deeper than Python's JSON parser goes]"
"""What the tracer sees instead of a value nested too deeply to parse (the echo keeps the original)."""
PARSE_WHOLE_BELOW_BYTES = 256 * 1024
"""Requests up to this size are parsed in one C call (about a millisecond); larger ones value by value."""
SPLIT_DEPTH = 2
"""How deep large requests are split: the body's members, then their items (one message per step)."""
MAX_WALK_DEPTH = 24
"""How deep a value that the C parser refused is followed before it becomes :data:`NOT_PARSED`."""
_DECODE_CHUNK = 1024 * 1024
_DECODER = json.JSONDecoder(strict=False)  # control characters in strings: trace them rather than refuse


class InvalidForm(ValueError):
    """The request is not ``{"body": {...}, ...}`` JSON. The message says what is wrong (never the content)."""


@dataclass(frozen=True)
class FilterForm:
    echo: bytes | memoryview
    body: dict[str, Any] | None
    user: dict[str, Any] | None
    size: int
    not_parsed: int = 0


async def read_filter_form(raw: bytes | bytearray, *, max_recorded_bytes: int) -> FilterForm:
    """Read ``raw`` (see the module docstring). Raises :class:`InvalidForm`."""
    try:
        if len(raw) > max_recorded_bytes:
            spans = await run_async(member_spans(raw))
            start, end = _body_span(spans)
            if raw[start : start + 1] != b"{":
                raise InvalidForm("'body' must be a JSON object")
            return FilterForm(echo=memoryview(raw)[start:end], body=None, user=None, size=len(raw))
        text = await _decode(raw)
        parser = _Parser(text, split=len(raw) > PARSE_WHOLE_BELOW_BYTES)
        spans = await run_async(member_spans(text, parser.read_member))
    except MalformedJSON as error:
        raise InvalidForm(f"the request is not valid JSON: {error}") from None
    start, end = _body_span(spans)
    body = parser.values.get("body")
    if not isinstance(body, dict):
        raise InvalidForm("'body' must be a JSON object")
    user = parser.values.get("user")
    if len(text) != len(raw):  # multi-byte characters: text indices are not byte offsets
        start = len(text[:start].encode("utf-8", "surrogateescape"))
        end = len(raw) - len(text[end:].encode("utf-8", "surrogateescape"))
    return FilterForm(
        echo=memoryview(raw)[start:end],
        body=body,
        user=user if isinstance(user, dict) else None,
        size=len(raw),
        not_parsed=parser.not_parsed,
    )


def _body_span(spans: dict[str, tuple[int, int]]) -> tuple[int, int]:
    if "body" not in spans:
        raise InvalidForm('the request has no \'body\': send {"body": {...}, "user": {...}}')
    return spans["body"]


async def _decode(raw: bytes | bytearray) -> str:
    """UTF-8 text of ``raw``, undecodable bytes kept as lone surrogates (``surrogateescape``: encoding the text
    back gives ``raw`` exactly), in chunks with the loop given back in between."""
    if len(raw) <= _DECODE_CHUNK:
        return raw.decode("utf-8", "surrogateescape")
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    view = memoryview(raw)
    parts = []
    for start in range(0, len(raw), _DECODE_CHUNK):
        parts.append(decoder.decode(view[start : start + _DECODE_CHUNK], final=start + _DECODE_CHUNK >= len(raw)))
        await asyncio.sleep(0)
    return "".join(parts)


class _Parser:
    """Parses the ``body`` and ``user`` members of the top-level object; skips the others."""

    def __init__(self, text: str, *, split: bool) -> None:
        self.text = text
        self.split = split
        self.values: dict[str, Any] = {}
        self.not_parsed = 0

    def read_member(self, name: str | None, start: int) -> Steps[int]:
        if name not in ("body", "user"):
            return (yield from skip_value(self.text, start))
        value, end = yield from self.value(start, 0)
        self.values[name] = value
        return end

    def value(self, position: int, depth: int) -> Steps[tuple[Any, int]]:
        text = self.text
        container = text[position : position + 1] in ("{", "[")
        if not (container and self.split and depth < SPLIT_DEPTH):
            try:
                parsed: tuple[Any, int] = _DECODER.raw_decode(text, position)
                return parsed
            except RecursionError:
                pass  # nested past the recursion limit: follow it by hand below
            except json.JSONDecodeError as error:
                raise MalformedJSON(error.msg, error.pos) from None
            except ValueError:  # an integer past sys.get_int_max_str_digits()
                pass
            yield
            if not container:
                end = yield from skip_value(text, position)
                return self._number(text[position:end]), end
            if depth >= MAX_WALK_DEPTH:
                end = yield from skip_value(text, position)
                self.not_parsed += 1
                return NOT_PARSED, end
        return (yield from self._container(position, depth))

    def _number(self, token: str) -> Any:
        self.not_parsed += 1
        try:
            return float(token)  # no digit limit for floats; the tracer only needs a magnitude
        except ValueError:
            return NOT_PARSED

    def _container(self, position: int, depth: int) -> Steps[tuple[Any, int]]:
        text = self.text
        is_object = text[position] == "{"
        close = "}" if is_object else "]"
        members: dict[str, Any] = {}
        items: list[Any] = []
        position = yield from skip_whitespace(text, position + 1)
        if text[position : position + 1] == close:
            return (members if is_object else items), position + 1
        while True:
            if is_object:
                if text[position : position + 1] != '"':
                    raise MalformedJSON("expected a member name", position)
                name_end = yield from skip_string(text, position)
                name = member_name(text, position, name_end)
                position = yield from skip_whitespace(text, name_end)
                position = expect(text, position, ":")
                position = yield from skip_whitespace(text, position)
            value, position = yield from self.value(position, depth + 1)
            if is_object:
                members[name] = value
            else:
                items.append(value)
            position = yield from skip_whitespace(text, position)
            if text[position : position + 1] == ",":
                position = yield from skip_whitespace(text, position + 1)
                yield
                continue
            position = expect(text, position, close)
            return (members if is_object else items), position
