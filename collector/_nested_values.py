# SPDX-License-Identifier: Apache-2.0
"""Attribute values our filter never writes and no byte-batched exporter can split: maps, nested or huge lists.

Why: the exporters batch by bytes; a span larger than a batch is dropped together with every span after it in that
batch ("Failed to split request ... one span size is greater than max size, dropping items";
go.opentelemetry.io/collector/exporter/exporterhelper v0.161.0 internal/queuebatch/traces_batch.go ``split``). A
string can be cut (``truncate_all``); a list or map value cannot be measured cheaply in OTTL (``String()`` of a
deeply nested value takes seconds: a request could stall the pipeline), so such values go.

The policy (``transform/nested_values``, in each byte-batched pipeline), per span: at most
:data:`MAX_ATTRIBUTES` attributes (message content kept first), and an attribute is deleted when its value is a
map, a list of more than :data:`MAX_LIST_ITEMS` items, or a list whose first item is a list or a map. Attributes in
the filter's own namespaces (:data:`OWN_NAMESPACES`) are not looked at. Not caught: a list that hides a nested value
after its first item, a nested value under one of our attribute names.

    >>> from collector._nested_values import TRANSFORM_NESTED_VALUES, nested_values_processor
    >>> nested_values_processor()["trace_statements"][0]["context"]
    'span'
"""

from __future__ import annotations

from typing import Any

from collector._components import CONTENT_ATTRIBUTES

__all__ = [
    "MAX_ATTRIBUTES",
    "MAX_LIST_ITEMS",
    "NESTED_VALUES_STATEMENTS",
    "OWN_NAMESPACES",
    "PER_KEY_STATEMENTS",
    "TRANSFORM_NESTED_VALUES",
]

TRANSFORM_NESTED_VALUES = "transform/nested_values"
MAX_ATTRIBUTES = 128
"""Attributes kept per span (the filter writes about 50); every one of them is looked at."""
MAX_LIST_ITEMS = 128
"""Longest list value kept (the filter's own lists hold at most 32 items)."""

OWN_NAMESPACES = ("gen_ai", "openwebui", "session", "user", "error")
"""Attribute namespaces the filter writes (otel_filter/semconv.py), flat and bounded there: not looked at, which keeps
the cost per span low (each key looked at costs about 2 us; a filter span has about 50 keys)."""

_FOREIGN = 'span.cache["foreign"]'
_KEYS = 'span.attributes["openwebui.collector.keys_to_check"]'
"""Scratch, deleted again at the end: an attribute, since the span's cache does not reach the second group."""


def _delete_if_not_flat(index: int) -> str:
    value = f"span.attributes[{_KEYS}[{index}]]"
    first = f"{value}[0]"
    not_flat = (
        f"IsMap({value}) or (IsList({value}) and (Len({value}) > {MAX_LIST_ITEMS} "
        f"or (Len({value}) > 0 and (IsList({first}) or IsMap({first})))))"
    )
    # "and" stops at the first false term: no index beyond the keys is ever read.
    return f"delete_key(span.attributes, {_KEYS}[{index}]) where Len({_KEYS}) > {index} and ({not_flat})"


NESTED_VALUES_STATEMENTS = (
    "limit(span.attributes, {}, [{}])".format(MAX_ATTRIBUTES, ", ".join(f'"{key}"' for key in CONTENT_ATTRIBUTES)),
    f"set({_FOREIGN}, span.attributes)",
    'delete_matching_keys({}, "^({})[.]")'.format(_FOREIGN, "|".join(OWN_NAMESPACES)),  # [.]: no escape to quote
    f"set({_KEYS}, Keys({_FOREIGN})) where Len({_FOREIGN}) > 0",
)
PER_KEY_STATEMENTS = (
    *(_delete_if_not_flat(index) for index in range(MAX_ATTRIBUTES)),
    'delete_key(span.attributes, "openwebui.collector.keys_to_check")',
)
"""Run only for a span with foreign keys (the group's condition, evaluated once): a filter span skips them all."""


def nested_values_processor() -> dict[str, Any]:
    """Deletes map, nested and huge list attribute values (see the module docstring)."""
    return {
        "error_mode": "ignore",
        "trace_statements": [
            {"context": "span", "statements": list(NESTED_VALUES_STATEMENTS)},
            {"context": "span", "conditions": [f"{_KEYS} != nil"], "statements": list(PER_KEY_STATEMENTS)},
        ],
    }
