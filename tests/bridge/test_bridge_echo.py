# SPDX-License-Identifier: Apache-2.0
"""The bridge answers a filter call with the exact bytes of the ``body`` it was sent, whatever they hold.

Open WebUI fails a chat turn on any non-2xx from a filter, and a value it stored once (a lone surrogate in a
message) comes back in every later turn of that chat. Each request here is assembled from pieces, so the bytes
the answer must equal are known independently of the server's scanner.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from owui_otel._filter_form import MAX_WALK_DEPTH, NOT_PARSED, PARSE_WHOLE_BELOW_BYTES, read_filter_form
from owui_otel.server import ECHO_CHUNK_BYTES, ServerConfig, create_app
from tests.support.scenarios import FIXTURES, load

pytestmark = pytest.mark.unit

KEY = "bridge-echo-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
INLET = "/otel_bridge/filter/inlet"
OUTLET = "/otel_bridge/filter/outlet"
USER = b'{"id": "u-1", "email": "a@example.com", "name": "A", "role": "user"}'
DEEP = sys.getrecursionlimit()


@pytest.fixture
def client(tmp_path: Path, tracer_provider: TracerProvider) -> Iterator[TestClient]:
    app = create_app(ServerConfig(api_key=KEY, data_dir=tmp_path), tracer_provider=tracer_provider)
    with TestClient(app) as test_client:
        yield test_client


def inlet_body(message_id: str, content: bytes, extra: bytes = b"") -> bytes:
    """A main-chat inlet body (raw JSON) whose user message is ``content`` (a raw JSON value)."""
    return (
        b'{"model": "gpt-x", "stream": true, "messages": [{"role": "user", "content": ' + content + b"}]"
        b', "metadata": {"message_id": "' + message_id.encode() + b'", "chat_id": "c-1"}' + extra + b"}"
    )


def outlet_body(message_id: str, reply: bytes) -> bytes:
    return (
        b'{"model": "gpt-x", "id": "' + message_id.encode() + b'", "chat_id": "c-1", "messages": ['
        b'{"role": "user", "content": "hi"}, {"role": "assistant", "content": ' + reply + b"}]}"
    )


def post(client: TestClient, path: str, request: bytes) -> Any:
    return client.post(path, content=request, headers=AUTH)


def deeply_nested(levels: int) -> bytes:
    half = levels // 2
    return b'{"a": ' * half + b"[" * (levels - half) + b'"leaf"' + b"]" * (levels - half) + b"}" * half


# Values Python's json writes (Open WebUI writes its requests with json.dumps) but that do not survive a
# parse + strict re-encode, or a parse at all.
AWKWARD_VALUES = {
    "lone high surrogate": b'"a\\ud800b"',
    "lone low surrogate": b'"\\udfff"',
    "surrogates reversed": b'"\\udc00\\ud800"',
    "NaN": b"NaN",
    "Infinity": b"Infinity",
    "-Infinity": b"-Infinity",
    "1e400": b"1e400",
    "-1e400 and 1e-400": b"[-1e400, 1e-400, 1E+400]",
    "10,000-digit int": b"1" * 10_000,
    "negative 10,000-digit int": b"-" + b"9" * 10_000,
    "20,000-digit float": b"0." + b"3" * 20_000,
    f"nesting at the recursion limit ({DEEP})": deeply_nested(DEEP),
    f"nesting beyond it ({DEEP * 100})": deeply_nested(DEEP * 100),
    "control characters": b'"tab\tnew\nline\x01"',
    "raw unicode": '"héllo 你好 👋 \u2028"'.encode(),
    "escaped unicode": b'"h\\u00e9llo \\ud83d\\udc4b \\u0000"',
    "escaped quotes and backslashes": b'"\\"}]\\\\\\"{[\\\\"',
    "undecodable bytes": b'"\xff\xfe\xc0\xaf"',
    "empty containers": b'[{}, [], "", {"": []}]',
}


@pytest.mark.parametrize("name", list(AWKWARD_VALUES))
def test_awkward_values_come_back_byte_for_byte_at_inlet_and_outlet(
    client: TestClient, span_exporter: InMemorySpanExporter, name: str
) -> None:
    value = AWKWARD_VALUES[name]
    body_in = inlet_body("m-1", value)
    body_out = outlet_body("m-1", value)
    inlet = post(client, INLET, b'{"body": ' + body_in + b', "user": ' + USER + b"}")
    outlet = post(client, OUTLET, b'{"body": ' + body_out + b', "user": ' + USER + b"}")
    assert (inlet.status_code, outlet.status_code) == (200, 200), (inlet.text[:300], outlet.text[:300])
    assert inlet.content == body_in
    assert outlet.content == body_out
    assert inlet.headers["content-type"] == "application/json"
    (span,) = span_exporter.get_finished_spans()  # and the turn is still traced
    assert span.attributes["openwebui.turn.end_reason"] == "outlet"  # type: ignore[index]


def test_values_python_cannot_parse_are_traced_as_placeholders_and_counted(
    client: TestClient, span_exporter: InMemorySpanExporter
) -> None:
    body = inlet_body("m-2", deeply_nested(DEEP * 10), extra=b', "seed": ' + b"7" * 5000)
    response = post(client, INLET, b'{"user": ' + USER + b', "body": ' + body + b"}")
    assert response.content == body
    post(client, OUTLET, b'{"body": ' + outlet_body("m-2", b'"ok"') + b"}")
    (span,) = span_exporter.get_finished_spans()  # the turn is traced, with all that could be read
    assert span.attributes["gen_ai.request.model"] == "gpt-x"  # type: ignore[index]
    assert client.get("/health").json()["counters"]["body_values_not_parsed"] == 1  # one request, logged once


@pytest.mark.parametrize("size", ["small (parsed in one go)", "large (parsed value by value)"])
def test_what_the_tracer_sees_of_values_python_cannot_parse(size: str) -> None:
    padding = b'"' + b"p" * (PARSE_WHOLE_BELOW_BYTES if size.startswith("large") else 10) + b'"'
    body = (
        b'{"messages": [{"role": "user", "content": "hi", "deep": '
        + deeply_nested(DEEP * 10)
        + b'}], "seed": '
        + b"7" * 5000
        + b', "nan": NaN, "pad": '
        + padding
        + b', "s": "\\ud800"}'
    )
    form = asyncio.run(read_filter_form(b'{"body": ' + body + b"}", max_recorded_bytes=1 << 30))
    assert bytes(form.echo) == body
    assert form.body is not None and form.not_parsed == 2
    message = form.body["messages"][0]
    assert message["content"] == "hi"
    nested, depth = message["deep"], 3  # body 0, messages 1, the message 2, "deep" 3
    while isinstance(nested, dict):  # followed by hand as far as it goes, then a placeholder
        nested, depth = nested["a"], depth + 1
    assert (nested, depth) == (NOT_PARSED, MAX_WALK_DEPTH)
    assert form.body["seed"] == math.inf  # past the str-digits limit: a float
    assert math.isnan(form.body["nan"]) and form.body["s"] == "\ud800"


@pytest.mark.parametrize(
    "layout",
    ["body first", "body last", "body between", "extra members", "repeated body (last wins, as json)"],
)
def test_any_member_order_and_extra_members(client: TestClient, layout: str) -> None:
    body = inlet_body("m-3", b'"x"')
    other = inlet_body("m-other", b'"not this one"')
    request = {
        "body first": b'{"body": ' + body + b', "user": ' + USER + b"}",
        "body last": b'{"user": ' + USER + b', "body": ' + body + b"}",
        "body between": b'{"user": ' + USER + b', "body": ' + body + b', "model": "m"}',
        "extra members": b'{"a": [1, {"body": 2}], "body": ' + body + b', "z": {"body": ' + other + b"}}",
        "repeated body (last wins, as json)": b'{"body": ' + other + b', "user": null, "body": ' + body + b"}",
    }[layout]
    response = post(client, INLET, request)
    assert response.status_code == 200 and response.content == body


@pytest.mark.parametrize(
    ("name", "dumps"),
    [
        ("compact", {"separators": (",", ":")}),
        ("indented", {"indent": 2}),
        ("tabs", {"indent": "\t"}),
        ("raw unicode", {"ensure_ascii": False}),
        ("sorted keys", {"sort_keys": True}),
    ],
)
def test_whitespace_and_formatting_variants(client: TestClient, name: str, dumps: dict[str, Any]) -> None:
    body = {"model": "gpt-x", "messages": [{"role": "user", "content": 'héllo\n"quoted" 你好'}], "n": [1.5, -0.0]}
    body_bytes = json.dumps(body, **dumps).encode()
    user_bytes = json.dumps({"id": "u"}, **dumps).encode()
    for request in (
        b'{"user":' + user_bytes + b',"body":' + body_bytes + b"}",
        b' \r\n\t{ "body" \n:\t' + body_bytes + b' \r\n, "user" : ' + user_bytes + b" \n}\r\n ",
    ):
        response = post(client, INLET, request)
        assert response.status_code == 200 and response.content == body_bytes, name


def _fixture_requests() -> list[str]:
    names = []
    for path in sorted(FIXTURES.glob("pipelines_*.json")):
        recorded = json.loads(path.read_text())
        if isinstance(recorded, dict) and isinstance(recorded.get("body"), dict):
            names.append(path.name)
    return names


@pytest.mark.parametrize("name", _fixture_requests())
def test_every_recorded_open_webui_request_comes_back_exactly(client: TestClient, name: str) -> None:
    """The captured files, as stored and as Open WebUI's aiohttp client writes them (``json.dumps`` defaults)."""
    recorded = load(name)
    hook = OUTLET if "outlet" in name else INLET
    as_stored = (FIXTURES / name).read_bytes()
    response = post(client, hook, as_stored)
    assert response.status_code == 200
    assert json.loads(response.content) == recorded["body"]
    assert response.content in as_stored and response.content.startswith(b"{") and response.content.endswith(b"}")
    body_bytes = json.dumps(recorded["body"]).encode()
    as_sent = b'{"body": ' + body_bytes + b', "user": ' + json.dumps(recorded.get("user")).encode() + b"}"
    assert post(client, hook, as_sent).content == body_bytes


def test_bodies_above_the_recording_limit_are_echoed_untraced_and_counted(
    tmp_path: Path, tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    config = ServerConfig(api_key=KEY, data_dir=tmp_path, max_recorded_body_bytes=64 * 1024)
    big = b'"' + b'x\\"y' * 40_000 + b'"'  # 160 kB of escaped quotes: the slowest kind of string to scan
    body = inlet_body("m-big", big, extra=b', "deep": ' + deeply_nested(DEEP * 10) + b', "n": NaN')
    small = inlet_body("m-small", b'"fine"')
    with TestClient(create_app(config, tracer_provider=tracer_provider)) as client:
        response = post(client, INLET, b'{"user": ' + USER + b', "body": ' + body + b', "tail": "\\ud800"}')
        assert response.status_code == 200 and response.content == body
        assert post(client, INLET, b'{"body": ' + small + b"}").content == small  # below the limit: traced
        counters = client.get("/health").json()["counters"]
        assert counters["bodies_too_large"] == 1
        assert counters["turns_started"] == 1  # only the small one


@pytest.mark.parametrize(
    ("request_bytes", "detail"),
    [
        (b'{"user": null}', "no 'body'"),
        (b'{"body": [1, 2]}', "must be a JSON object"),
        (b'{"body": null}', "must be a JSON object"),
        (b'{"body": {"a": 1}', "not valid JSON"),
        (b'{"body": {"a": 1}} trailing', "not valid JSON"),
        (b'[{"body": {}}]', "not valid JSON"),
        (b"", "not valid JSON"),
    ],
)
def test_requests_that_are_not_filter_calls_get_a_clear_422(
    client: TestClient, request_bytes: bytes, detail: str
) -> None:
    response = post(client, INLET, request_bytes)
    assert response.status_code == 422 and detail in response.json()["detail"]


def test_traced_turns_with_awkward_content_still_encode_to_otlp(
    client: TestClient, span_exporter: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    """What the bridge passes to the filter must not make the OTLP encoder drop attributes (it logs
    ``Failed to encode key`` and leaves the attribute out): a lone surrogate is Python-only text."""
    content = b'"a\\ud800b NaN-free"'
    post(client, INLET, b'{"body": ' + inlet_body("m-enc", content) + b', "user": ' + USER + b"}")
    post(client, OUTLET, b'{"body": ' + outlet_body("m-enc", b'"reply \\udfff"') + b"}")
    spans = span_exporter.get_finished_spans()
    encoded = encode_spans(spans).SerializeToString()
    assert "Failed to encode" not in caplog.text
    assert b"gen_ai.input.messages" in encoded and b"gen_ai.output.messages" in encoded


def test_answers_larger_than_one_piece_come_back_whole(client: TestClient) -> None:
    """Answers above ECHO_CHUNK_BYTES are written in pieces, with the total Content-Length."""
    content = json.dumps("héllo \ud800 " * 300_000).encode()  # ~3.6 MB of JSON text
    body = inlet_body("m-pieces", content)
    response = post(client, INLET, b'{"body": ' + body + b', "user": ' + USER + b"}")
    assert len(body) > 3 * ECHO_CHUNK_BYTES
    assert response.status_code == 200 and response.content == body
    assert response.headers["content-length"] == str(len(body))
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("split", [False, True], ids=["parsed-whole", "parsed-in-steps"])
def test_member_names_with_control_characters_are_traced_and_echoed(client: TestClient, split: bool) -> None:
    """The names are read like the values (control characters kept): no 500 for a name ``json.loads`` refuses."""
    padding = b', "pad": "' + b"p" * (PARSE_WHOLE_BELOW_BYTES if split else 10) + b'"'
    body = inlet_body("m-names", b'"hi"', extra=b', "a\x01b": {"c\x02": 1}' + padding)
    response = post(client, INLET, b'{"x\x03": 1, "body": ' + body + b', "user": ' + USER + b"}")
    assert response.status_code == 200 and response.content == body


@pytest.mark.parametrize("recorded", [True, False], ids=["recorded", "above-the-recording-limit"])
@pytest.mark.parametrize(
    "name", [b'"b\\x"', b'"\\ud8"', b'"\xff\xfe"'], ids=["bad-escape", "short-unicode-escape", "not-utf-8"]
)
def test_odd_member_names_get_a_422_or_an_echo_never_a_500(
    tmp_path: Path, tracer_provider: TracerProvider, name: bytes, recorded: bool
) -> None:
    config = ServerConfig(api_key=KEY, data_dir=tmp_path, max_recorded_body_bytes=1024 * 1024 if recorded else 64)
    body = inlet_body("m-odd", b'"hi"')
    with TestClient(create_app(config, tracer_provider=tracer_provider)) as client:
        response = post(client, INLET, b"{" + name + b': 1, "body": ' + body + b"}")
    if name.startswith(b'"\xff'):  # undecodable bytes are kept as they are, like in values
        assert response.status_code == 200 and response.content == body
    else:
        assert response.status_code == 422 and "invalid member name" in response.json()["detail"]
