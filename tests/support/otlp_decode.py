# SPDX-License-Identifier: Apache-2.0
"""Decode OTLP/HTTP trace payloads (protobuf or JSON) into plain, JSON-serialisable span records.

Both encodings produce the same record shape, with ids as lower-case hex (what Langfuse stores)::

    {"trace_id": "5b8e...", "span_id": "aa01...", "parent_span_id": "", "name": "chat mock-gpt", "kind": 1,
     "start_time_unix_nano": 1795901825000000000, "end_time_unix_nano": ...,
     "attributes": {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 12},
     "resource": {"service.name": "open-webui"}, "scope": {"name": "openwebui.otel_bridge", "version": "0.1.0"},
     "status": {"code": 0, "message": ""}, "events": [{"name": "...", "attributes": {...}}]}

Array values decode to tuples (how the OpenTelemetry SDK holds sequence attributes, so a decoded span compares
equal to the SDK's), byte values to lower-case hex. :func:`decode_attributes` is the one protobuf value decoder:
the Langfuse-contract endpoint (:mod:`tests.support.langfuse_contract`) and the recording sink
(:mod:`tests.support.otlp_sink`) both use it.

Usage::

    spans = decode_protobuf(body)       # ExportTraceServiceRequest bytes
    spans = decode_json(body)           # OTLP/JSON bytes
    attributes = decode_attributes(span.attributes)   # repeated KeyValue -> {"key": value}
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import Any

# No stubs for protobuf's runtime unless types-protobuf is installed; DecodeError is only caught here.
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

__all__ = ["PayloadError", "decode_attributes", "decode_json", "decode_protobuf", "decode_value"]

_HEX_RE = re.compile(r"^[0-9a-fA-F]*$")


class PayloadError(ValueError):
    """The body is not a valid OTLP trace export (maps to HTTP 400, as in Langfuse)."""


# --- protobuf ---------------------------------------------------------------------------------


def decode_value(value: AnyValue) -> Any:
    """One protobuf ``AnyValue`` as a plain value: str, bool, int, float, tuple, dict, hex str or None (unset)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return tuple(decode_value(item) for item in value.array_value.values)
    if kind == "kvlist_value":
        return decode_attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def decode_attributes(items: Iterable[KeyValue]) -> dict[str, Any]:
    """Protobuf ``repeated KeyValue`` (attributes of a span, event, resource or kvlist) as a dict."""
    return {pair.key: decode_value(pair.value) for pair in items}


def decode_protobuf(body: bytes) -> list[dict[str, Any]]:
    """Decode a binary ``ExportTraceServiceRequest``.

    Raises:
        PayloadError: not parseable, or a span without trace/span id.
    """
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise PayloadError(f"Failed to parse OTel Protobuf Trace: {exc}") from exc
    spans: list[dict[str, Any]] = []
    for resource_spans in request.resource_spans:
        resource = decode_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = {"name": scope_spans.scope.name, "version": scope_spans.scope.version}
            for span in scope_spans.spans:
                if not span.trace_id or not span.span_id:
                    raise PayloadError("span without traceId/spanId")
                spans.append(
                    {
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "name": span.name,
                        "kind": int(span.kind),
                        "start_time_unix_nano": int(span.start_time_unix_nano),
                        "end_time_unix_nano": int(span.end_time_unix_nano),
                        "attributes": decode_attributes(span.attributes),
                        "resource": resource,
                        "scope": scope,
                        "status": {"code": int(span.status.code), "message": span.status.message},
                        "events": [
                            {"name": event.name, "attributes": decode_attributes(event.attributes)}
                            for event in span.events
                        ],
                    }
                )
    return spans


# --- JSON -------------------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    if not isinstance(value, dict) or not value:
        return None
    if "stringValue" in value:
        return str(value["stringValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        # OTLP/JSON allows int64 as a number or a decimal string.
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "arrayValue" in value:
        return tuple(_json_value(item) for item in (value["arrayValue"] or {}).get("values", []))
    if "kvlistValue" in value:
        return _json_attributes((value["kvlistValue"] or {}).get("values", []))
    if "bytesValue" in value:
        return base64.b64decode(value["bytesValue"]).hex()
    return None


def _json_attributes(items: Any) -> dict[str, Any]:
    if items is None:
        return {}
    if not isinstance(items, list):
        # Langfuse rejects the whole batch when attributes is not an array (validateOtelSpanIds).
        raise PayloadError("attributes must be an array of {key, value}")
    return {str(item.get("key")): _json_value(item.get("value")) for item in items if isinstance(item, dict)}


def _json_id(value: Any, *, required: bool) -> str:
    if value is None or value == "":
        if required:
            raise PayloadError("span without traceId/spanId")
        return ""
    if not isinstance(value, str) or not _HEX_RE.match(value):
        raise PayloadError(f"span id {value!r} is not hex (OTLP/JSON ids are hex strings)")
    return value.lower()


def _json_kind(value: Any) -> int:
    # The spec writes enums as integers; tolerate names ("SPAN_KIND_CLIENT") like Langfuse's JSON.parse does.
    if isinstance(value, int):
        return value
    names = {
        "SPAN_KIND_INTERNAL": 1,
        "SPAN_KIND_SERVER": 2,
        "SPAN_KIND_CLIENT": 3,
        "SPAN_KIND_PRODUCER": 4,
        "SPAN_KIND_CONSUMER": 5,
    }
    return names.get(str(value), 0)


def _json_list(container: dict[str, Any], key: str) -> list[Any]:
    value = container.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(f"{key} must be an array")
    return value


def decode_json(body: bytes) -> list[dict[str, Any]]:
    """Decode an OTLP/JSON ``ExportTraceServiceRequest``.

    Raises:
        PayloadError: invalid JSON, wrong structure, or a span without hex trace/span id.
    """
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"Failed to parse OTel JSON Trace: {exc}") from exc
    if not isinstance(document, dict):
        raise PayloadError("OTLP/JSON body must be an object with resourceSpans")
    spans: list[dict[str, Any]] = []
    try:
        for resource_spans in _json_list(document, "resourceSpans"):
            resource = _json_attributes((resource_spans.get("resource") or {}).get("attributes"))
            for scope_spans in _json_list(resource_spans, "scopeSpans"):
                raw_scope = scope_spans.get("scope") or {}
                scope = {"name": str(raw_scope.get("name", "")), "version": str(raw_scope.get("version", ""))}
                for span in _json_list(scope_spans, "spans"):
                    status = span.get("status") or {}
                    spans.append(
                        {
                            "trace_id": _json_id(span.get("traceId"), required=True),
                            "span_id": _json_id(span.get("spanId"), required=True),
                            "parent_span_id": _json_id(span.get("parentSpanId"), required=False),
                            "name": str(span.get("name", "")),
                            "kind": _json_kind(span.get("kind")),
                            "start_time_unix_nano": int(span.get("startTimeUnixNano", 0)),
                            "end_time_unix_nano": int(span.get("endTimeUnixNano", 0)),
                            "attributes": _json_attributes(span.get("attributes")),
                            "resource": resource,
                            "scope": scope,
                            "status": {"code": int(status.get("code", 0)), "message": str(status.get("message", ""))},
                            "events": [
                                {
                                    "name": str(event.get("name", "")),
                                    "attributes": _json_attributes(event.get("attributes")),
                                }
                                for event in _json_list(span, "events")
                            ],
                        }
                    )
    except (AttributeError, TypeError, ValueError) as exc:
        if isinstance(exc, PayloadError):
            raise
        raise PayloadError(f"malformed OTLP/JSON: {exc}") from exc
    return spans
