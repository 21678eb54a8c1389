# SPDX-License-Identifier: Apache-2.0
"""The structure scanner behind the bridge's exact echo: on any JSON document Python's ``json`` can write, the
member spans it finds are exactly where each member's value is, whatever the window size (tiny windows force
every string, bracket run and whitespace run across window boundaries)."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from owui_otel import _raw_json
from owui_otel._filter_form import read_filter_form
from owui_otel._raw_json import MalformedJSON, member_spans, run_sync, skip_value

pytestmark = pytest.mark.unit

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(codec=None, exclude_categories=())),  # lone surrogates included
    st.sampled_from(['"', "\\", '\\"', "]", "}", "{", "[", '"]}', "\\\\", ""]),
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=25,
)
formats = st.sampled_from(
    [
        {},
        {"separators": (",", ":")},
        {"indent": 1},
        {"indent": "\t"},
        {"ensure_ascii": False},
    ]
)


def _dumps(value: Any, options: dict[str, Any]) -> str:
    return json.dumps(value, **options)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=values, user=values, extra=values, fmt=formats, window=st.sampled_from([1, 2, 5, 64, 1 << 18]))
def test_member_spans_are_exact_on_bytes_and_text(
    body: Any, user: Any, extra: Any, fmt: dict[str, Any], window: int
) -> None:
    pieces = {name: _dumps(value, fmt) for name, value in (("body", body), ("user", user), ("extra", extra))}
    document = "{" + ", ".join(f'"{name}": {text}' for name, text in pieces.items()) + "}"
    saved = _raw_json.WINDOW
    _raw_json.WINDOW = window
    try:
        text_spans = run_sync(member_spans(document))
        raw = document.encode("utf-8", "surrogatepass")
        byte_spans = run_sync(member_spans(raw))
    finally:
        _raw_json.WINDOW = saved
    assert {name: document[a:b] for name, (a, b) in text_spans.items()} == pieces
    assert {name: raw[a:b] for name, (a, b) in byte_spans.items()} == {
        name: text.encode("utf-8", "surrogatepass") for name, text in pieces.items()
    }


@settings(max_examples=150, deadline=None)
@given(body=st.dictionaries(st.text(max_size=5), values, max_size=5), fmt=formats)
def test_the_echo_is_exact_and_the_parse_equals_json_loads(body: dict[str, Any], fmt: dict[str, Any]) -> None:
    body_text = _dumps(body, fmt)
    raw = ('{"user": null, "body": ' + body_text + "}").encode("utf-8", "surrogatepass")
    for limit in (1 << 30, 1):  # parsed and traced / only scanned
        form = asyncio.run(read_filter_form(raw, max_recorded_bytes=limit))
        assert bytes(form.echo) == body_text.encode("utf-8", "surrogatepass")
    parsed = asyncio.run(read_filter_form(raw, max_recorded_bytes=1 << 30)).body
    # What json.loads makes of the same bytes (undecodable ones, e.g. a raw surrogate, kept as escapes).
    assert _same(parsed, json.loads(raw.decode("utf-8", "surrogateescape"))["body"])


def _same(a: Any, b: Any) -> bool:
    """Equality with NaN equal to itself."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@pytest.mark.parametrize(
    "document",
    ['{"a": 1', '{"a" 1}', '{"a": 1,}x', '{"a": "unterminated}', "[1, 2", '{"a": [1, 2}', "{1: 2}", '"just a string"'],
)
def test_what_is_not_json_is_said_so(document: str) -> None:
    with pytest.raises(MalformedJSON):
        run_sync(member_spans(document))


def test_skip_value_stops_exactly_after_each_kind_of_value() -> None:
    for value in ['"a\\"b"', "[1, [2], {}]", '{"k": "}"}', "-12.5e3", "true", "NaN", "-Infinity", "null"]:
        document = value + ', "next"'
        assert run_sync(skip_value(document, 0)) == len(value)
