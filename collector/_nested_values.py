# SPDX-License-Identifier: Apache-2.0
"""Attribute values our filter never writes and no byte-batched exporter can split: maps, nested or huge lists.

Why: the exporters batch by bytes; a span larger than a batch is dropped together with every span after it in that
batch ("Failed to split request ... one span size is greater than max size, dropping items";
go.opentelemetry.io/collector/exporter/exporterhelper v0.161.0 internal/queuebatch/traces_batch.go ``split``). A
string can be cut (``truncate_all``); a list or map value cannot be measured cheaply in OTTL (``String()`` of a
deeply nested value takes seconds: a request could stall the pipeline), so such values go.

The policy (``transform/nested_values``, in each byte-batched pipeline), per span: at most
:data:`MAX_ATTRIBUTES` attributes (message content kept first), and an attribute is deleted when its value is a
map, a list of more than :data:`MAX_LIST_ITEMS` items, or a list whose first item is a list or a map. The filter's
own list attributes (stop sequences, finish reasons, tool ids: at most 32 short strings) are untouched. A list of
scalars that hides a nested value after its first item is not caught.

    >>> from collector._nested_values import TRANSFORM_NESTED_VALUES, nested_values_processor
    >>> nested_values_processor()["trace_statements"][0]["context"]
    'span'
"""

from __future__ import annotations

from typing import Any

from collector._components import CONTENT_ATTRIBUTES

__all__ = ["MAX_ATTRIBUTES", "MAX_LIST_ITEMS", "NESTED_VALUES_STATEMENTS", "TRANSFORM_NESTED_VALUES"]

TRANSFORM_NESTED_VALUES = "transform/nested_values"
MAX_ATTRIBUTES = 128
"""Attributes kept per span (the filter writes about 50); every one of them is looked at."""
MAX_LIST_ITEMS = 128
"""Longest list value kept (the filter's own lists hold at most 32 items)."""

_KEYS = 'span.cache["keys"]'


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
    f"set({_KEYS}, Keys(span.attributes))",
    *(_delete_if_not_flat(index) for index in range(MAX_ATTRIBUTES)),
)


def nested_values_processor() -> dict[str, Any]:
    """Deletes map, nested and huge list attribute values (see the module docstring)."""
    return {
        "error_mode": "ignore",
        "trace_statements": [{"context": "span", "statements": list(NESTED_VALUES_STATEMENTS)}],
    }
