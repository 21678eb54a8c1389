# SPDX-License-Identifier: Apache-2.0
"""Every size bound on what a turn's span carries, defined once.

A span must always fit in one export request (``_request_size.MAX_REQUEST_BYTES``) whatever a payload holds, and an
open turn must keep little memory. Values read from a payload are cut twice on purpose: when the turn is recorded,
with :data:`REDACTION_MARGIN_CHARS` to spare, then to the attribute bound after redaction ran, so a secret that
crosses the bound is still whole when the patterns see it and never leaves half-redacted.

Usage:

    >>> from otel_filter._limits import MAX_ITEM_CHARS, MAX_LIST_ITEMS
    >>> stop_sequences = ["x" * 1000] * 100
    >>> [s[:MAX_ITEM_CHARS] for s in stop_sequences[:MAX_LIST_ITEMS]] == ["x" * 256] * 32
    True
"""

from __future__ import annotations

MAX_TEXT_CHARS = 1024
"""A string attribute (ids, names, e-mails are far shorter) and the span name."""
MAX_LIST_ITEMS = 32
"""A list attribute (stop sequences, feature keys, tool ids: few and short) keeps its first items."""
MAX_ITEM_CHARS = 256
"""Each item of a list attribute."""
ERROR_TEXT_CHARS = 500
"""The span status description (a reply's error text, redacted); a longer one ends in "…"."""
REDACTION_MARGIN_CHARS = 4096
"""Characters kept beyond a bound until redaction ran (message snapshots, error text): any secret shorter than this
that crosses the bound is redacted whole before the cut."""
LIST_ITEM_KEEP_CHARS = MAX_ITEM_CHARS * 4
"""Each list item as recorded: :data:`MAX_ITEM_CHARS` and three times as much to spare for redaction (list items
are short, and an open turn holds up to two such lists)."""
