# SPDX-License-Identifier: Apache-2.0
"""Redaction: admin patterns run with a time bound, off the GIL, failing closed. What counts as content.

**Content** is any text a user, a model, a tool or an API caller wrote. It is exported only when
content capture is on, and then only after every pattern ran over it (texts too slow to redact
are replaced by :data:`TIMEOUT_MARK`, never sent as they are). With capture off none of it
leaves: not in attributes, span names, the status description, events or log lines.

- message texts (string and list content, ``reasoning_content``, tool results), system prompts;
- tool calls: names, ids, arguments (strings, and every key and string value of argument objects);
- Responses-style ``output`` items (``reasoning`` summaries, ``function_call`` name/id/arguments);
- message ``name``, ``tool_call_id``, ``file_id``, image and file URLs, unknown part types;
- the reply's error text (``error`` as a string or ``{content|message}``): the span status
  description; with capture off the description is :data:`ERROR_WITHOUT_CONTENT` and only
  ``error.type`` says what failed;
- stop sequences (``gen_ai.request.stop_sequences``); ``tool_ids`` (with capture off only their
  count, ``openwebui.tool_ids.count``).

**Identifiers and metadata** are exported as they are, capture on or off: model ids and names,
provider, chat, message and user-message ids, user id and role, task name, response id and
model, finish reasons, token counts, sampling parameters, feature flags (only Open WebUI's
known feature names; other keys are counted in ``openwebui.features.unknown_count``, never
named), file count, end reason. ``user.email`` only with ``record_user_email``.

Patterns use the ``regex`` package (``re`` syntax with ``regex.V0``) because it takes a
``timeout`` and can release the GIL while matching (``concurrent=True``): an admin pattern
with catastrophic backtracking such as ``(\\w+\\s?)+$`` costs the worker at most the timeout and
never stalls the host's event loop, which ``re`` (holding the GIL, no timeout) did for seconds.

    >>> redactor = Redactor([compile_pattern(r"sk-[A-Za-z0-9]+")], "[REDACTED]")
    >>> redact = redactor.bounded(health=None)  # one per span: a time budget for all of its texts
    >>> redact("key sk-abc123")
    'key [REDACTED]'
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import regex

from otel_filter._counters import Counters

TIMEOUT_MARK = "[REDACTION TIMED OUT]"
ERROR_WITHOUT_CONTENT = "the provider returned an error; message content is not recorded (capture off)"
Redact = Callable[[str], str]
# One pattern on one text. A sane pattern needs well under a millisecond on a text cut to max_content_chars.
# Kept short because it is also the longest the host's event loop can wait for the GIL: with concurrent=True
# regex releases the GIL while matching but takes it back every 256 steps to check signals and its timeout,
# and CPython lets a thread that re-takes the GIL that often starve a waiting thread (no drop request is made
# while the GIL keeps changing hands, bpo-7946) until the call returns. Measured: 0.25 s here stalled the loop
# up to 209 ms, 0.02 s keeps it within the 50 ms bound. regex measures it in process CPU time (clock()).
TEXT_TIMEOUT_S = 0.02
# All texts of one span together; beyond it the remaining texts of that span are replaced by the mark.
SPAN_BUDGET_S = 0.5


def compile_pattern(pattern: str) -> regex.Pattern[str]:
    """``re``-compatible compilation (``regex.V0``); raises ``regex.error`` for a bad pattern."""
    return regex.compile(pattern, flags=regex.V0)


class BoundedRedact:
    """``redact(text)`` with a per-text timeout and a shared budget; fails closed (see module docstring)."""

    __slots__ = ("_patterns", "_template", "_health", "_deadline")

    def __init__(
        self, patterns: tuple[regex.Pattern[str], ...], template: str, health: Counters | None, budget_s: float
    ) -> None:
        self._patterns = patterns
        self._template = template
        self._health = health
        self._deadline = time.monotonic() + budget_s

    def __call__(self, text: str) -> str:
        if not self._patterns or not text:
            return text
        try:
            for pattern in self._patterns:
                remaining = self._deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                text = pattern.sub(self._template, text, timeout=min(TEXT_TIMEOUT_S, remaining), concurrent=True)
        except Exception:  # TimeoutError, or anything else the engine raises: never the unredacted text
            if self._health is not None:
                self._health.problem(
                    "redaction_timeouts",
                    "otel_filter: valve redact_patterns (or OWUI_OTEL_REDACT_PATTERNS): a pattern did not finish "
                    "within %ss on a message. Fix: simplify it (nested repeats such as (\\w+\\s?)+ backtrack). "
                    "Until then: such messages are recorded as %s",
                    f"{TEXT_TIMEOUT_S:g}",
                    TIMEOUT_MARK,
                )
            return TIMEOUT_MARK
        return text


class Redactor:
    """Replaces every match of the patterns with ``replacement`` (taken literally); a no-op without patterns."""

    __slots__ = ("_patterns", "_template")

    def __init__(self, patterns: Sequence[regex.Pattern[str]] = (), replacement: str = "[REDACTED]") -> None:
        self._patterns = tuple(patterns)
        # sub() expands backslashes in a template: escape them so the replacement is used as written.
        self._template = replacement.replace("\\", "\\\\")

    def __bool__(self) -> bool:
        return bool(self._patterns)

    def bounded(self, health: Counters | None = None, budget_s: float = SPAN_BUDGET_S) -> Redact:
        """A redacting callable for one span, sharing ``budget_s`` seconds across its texts. Without patterns
        (the default) it returns every text as it is: ``str``, a C call that returns a plain string unchanged."""
        if not self._patterns:
            return str
        return BoundedRedact(self._patterns, self._template, health, budget_s)

    def __call__(self, text: str) -> str:
        return self.bounded()(text)
