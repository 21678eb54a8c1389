# SPDX-License-Identifier: Apache-2.0
"""Split a batch of spans into OTLP requests that each stay under a byte cap.

Why a cap: the collector's receiver refuses bodies above ``max_request_body_size`` (8 MiB in our
configuration) and gRPC refuses messages above 4 MiB by default. The 8 MiB limit is what keeps one
request from crashing collectors before v0.165.0 with a deeply nested value
(open-telemetry/opentelemetry-collector#15301), so the filter must never need more: every request
it sends stays under :data:`MAX_REQUEST_BYTES`.

How the size is known without encoding twice: :func:`span_bytes` is an upper bound of a span's
protobuf encoding, computed from the UTF-8 length of its strings plus the largest header
protobuf can write for each field (a tag and a 5-byte length). It costs a pass over the span's
attributes (``str.isascii`` on the big ones), a fraction of what the exporter's own encoding
costs, and never underestimates (tests compare it with ``encode_spans(...).ByteSize()``).

    requests, too_large = split_by_size(spans, MAX_REQUEST_BYTES)
    for request in requests:
        exporter.export(request)      # each encodes to at most MAX_REQUEST_BYTES
    # too_large: spans that alone exceed the cap (cannot happen with the filter's own bounded
    # attributes; counted and logged by the caller)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from opentelemetry.sdk.trace import ReadableSpan

MAX_REQUEST_BYTES = 3 * 1024 * 1024
"""No OTLP request the filter sends is larger: below gRPC's 4 MiB default and the collector's 8 MiB body limit.

Also below the 4,000,000 bytes our collector's Langfuse exporter batches to (``sending_queue.batch.max_size``):
exporterhelper drops a span larger than that, with the rest of its request, after the receiver acknowledged it."""

# The largest header of a length-delimited field: a tag (field numbers < 2048 fit 2 bytes) and a length varint
# (5 bytes covers any 32-bit length).
_FIELD = 7
# Every fixed-size part of a Span: trace_id, span_id, parent_span_id (bytes fields), flags, kind, start and end
# times, the three dropped counts, the status code, and the headers of name, status and trace_state.
_SPAN_FIXED = 2 * _FIELD + 16 + 2 * (_FIELD + 8) + 6 + 3 + 2 * 10 + 3 * 6 + 3 + 3 * _FIELD
_EVENT_FIXED = _FIELD + 10 + _FIELD + 6
_LINK_FIXED = _FIELD + (_FIELD + 16) + (_FIELD + 8) + _FIELD + 6 + 6
# ResourceSpans and ScopeSpans headers, the Resource and Scope headers, schema URL headers, dropped counts.
_GROUP_FIXED = 8 * _FIELD + 2 * 6


def _text_bytes(text: str) -> int:
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def _value_bytes(value: object) -> int:
    """Upper bound of an encoded ``AnyValue`` (its content; the caller adds its header)."""
    kind = type(value)  # exact types first: this runs for every attribute of every span
    if kind is str:
        return _FIELD + _text_bytes(value)  # type: ignore[arg-type]
    if kind is bool:
        return 3
    if kind is int or kind is float:
        return 12  # tag + a 10-byte varint, or tag + 8-byte double
    if kind is tuple and all(type(item) is str for item in value):  # type: ignore[attr-defined]
        # A string array (finish reasons, stop sequences): each an AnyValue with its header.
        return _FIELD + 2 * _FIELD * len(value) + _text_bytes("".join(value))  # type: ignore[arg-type]
    if isinstance(value, str):
        return _FIELD + _text_bytes(value)
    if isinstance(value, bool):
        return 3
    if isinstance(value, int | float):
        return 12
    if isinstance(value, bytes):
        return _FIELD + len(value)
    if isinstance(value, tuple | list | Sequence):  # array_value: an ArrayValue of AnyValues
        return _FIELD + sum(_FIELD + _value_bytes(item) for item in value)
    if isinstance(value, Mapping):  # kvlist_value
        return _FIELD + _attributes_bytes(value)
    return _FIELD + _text_bytes(str(value))


def _plain(attributes: Mapping[str, object]) -> Mapping[str, object]:
    """A dict of ``attributes``: a span's are a read-only view of the SDK's ``BoundedAttributes``, whose items
    cost a Python call each (with a lock); its ``copy()`` is one C-level dict copy."""
    if type(attributes) is dict:
        return attributes
    copy = getattr(attributes, "copy", None)
    plain = copy() if callable(copy) else None
    return plain if type(plain) is dict else attributes


def _attributes_bytes(attributes: Mapping[str, object] | None) -> int:
    """Upper bound of a repeated ``KeyValue`` field (headers included)."""
    if not attributes:
        return 0
    plain = _plain(attributes)
    # Strings (most values) are measured together, joined: one isascii() pass in C instead of a call for each.
    # The UTF-8 length of a join is the sum of the parts' (only with surrogatepass, which encodes each surrogate
    # alone, as it does in the parts).
    texts = [value for value in plain.values() if type(value) is str]
    size = 3 * _FIELD * len(plain) + _text_bytes("".join(plain)) + _FIELD * len(texts) + _text_bytes("".join(texts))
    if len(texts) < len(plain):
        for value in plain.values():
            if type(value) is not str:
                size += _value_bytes(value)
    return size


def span_bytes(span: ReadableSpan) -> int:
    """Upper bound of ``span`` encoded as an OTLP ``Span`` inside a ``ScopeSpans`` (its header included)."""
    size = _SPAN_FIXED + _text_bytes(span.name) + _attributes_bytes(span.attributes)
    context = span.context
    if context is not None and context.trace_state:
        size += _text_bytes(context.trace_state.to_header())
    for event in span.events:
        size += _EVENT_FIXED + _text_bytes(event.name) + _attributes_bytes(event.attributes)
    for link in span.links:
        size += _LINK_FIXED + _attributes_bytes(link.attributes)
        if link.context.trace_state:
            size += _text_bytes(link.context.trace_state.to_header())
    description = span.status.description
    if description:
        size += _text_bytes(description)
    return size


def group_bytes(span: ReadableSpan) -> int:
    """Upper bound of the ``ResourceSpans``/``ScopeSpans`` wrapping that ``span``'s resource and scope add once
    per request."""
    size = _GROUP_FIXED + _attributes_bytes(span.resource.attributes) + _text_bytes(span.resource.schema_url or "")
    scope = span.instrumentation_scope
    if scope is not None:
        size += _text_bytes(scope.name) + _text_bytes(scope.version or "") + _text_bytes(scope.schema_url or "")
        size += _attributes_bytes(getattr(scope, "attributes", None))  # scope attributes: SDK 1.29+
    return size


def _group_key(span: ReadableSpan) -> tuple[int, object]:
    return id(span.resource), span.instrumentation_scope


def split_by_size(spans: Iterable[ReadableSpan], cap: int) -> tuple[list[list[ReadableSpan]], list[ReadableSpan]]:
    """(requests in the spans' order, each encoding to at most ``cap`` bytes; spans too large to send alone)."""
    requests: list[list[ReadableSpan]] = []
    too_large: list[ReadableSpan] = []
    current: list[ReadableSpan] = []
    current_size = 0
    current_groups: set[tuple[int, object]] = set()
    group_sizes: dict[tuple[int, object], int] = {}  # a batch has one or two resources: measure each once
    for span in spans:
        key = _group_key(span)
        group = group_sizes.get(key)
        if group is None:
            group = group_sizes[key] = group_bytes(span)
        size = span_bytes(span)
        if size + group > cap:
            too_large.append(span)
            continue
        added = size + (0 if key in current_groups else group)
        if current and current_size + added > cap:
            requests.append(current)
            current, current_size, current_groups = [], 0, set()
            added = size + group
        current.append(span)
        current_size += added
        current_groups.add(key)
    if current:
        requests.append(current)
    return requests, too_large
