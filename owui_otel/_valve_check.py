# SPDX-License-Identifier: Apache-2.0
"""Valves checked before they reach a host, by the rules the filter itself applies (one source).

``owui-otel install ... --valve name=value`` checks its valves here before uploading anything, and the bridge's
``POST /{id}/valves/update`` refuses names no valve has. The rules are the filter's own: the names and types of
its ``Valves`` model (the Event function's for ``install event-function``), the problems
:func:`otel_filter.settings.resolve_settings` reports for a value (the filter would log them and fall back), and
:func:`collector.langfuse_base_url` for a Langfuse host.

    >>> from otel_filter import Valves
    >>> unknown_valves(Valves, {"otlp_endpont": "http://localhost:4318"})
    ['otlp_endpont (did you mean otlp_endpoint?)']
    >>> valve_problems(Valves, {"max_content_chars": 5})[0].startswith("valve max_content_chars: '5' must be")
    True
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from collector import UsageError, langfuse_base_url
from otel_filter.settings import resolve_settings

__all__ = ["check_valves", "unknown_valves", "valve_problems"]

_LANGFUSE_HOST_VALVE = "langfuse_host"


def unknown_valves(model: type[BaseModel], valves: Mapping[str, Any]) -> list[str]:
    """The names in ``valves`` that ``model`` has no field for, each with the closest valid name when one is close."""
    known = list(model.model_fields)
    phrases = []
    for name in valves:
        if name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1)
        phrases.append(f"{name} (did you mean {close[0]}?)" if close else name)
    return phrases


def valve_problems(model: type[BaseModel], valves: Mapping[str, Any]) -> list[str]:
    """One line per problem with ``valves`` (names, types, values), each naming the valve and the fix."""
    unknown = unknown_valves(model, valves)
    if unknown:
        known = ", ".join(model.model_fields)
        lines = []
        for phrase in unknown:
            name, _, hint = phrase.partition(" ")  # "otlp_endpont (did you mean otlp_endpoint?)"
            lines.append(f"valve {name}: no such valve{' ' + hint if hint else ''}. Fix: use one of {known}")
        return lines
    try:
        validated = model.model_validate(dict(valves)).model_dump()
    except ValidationError as error:
        # Field and problem only, never the input: it may be a secret (otlp_headers).
        return [_type_problem(model, e["loc"], e["msg"]) for e in error.errors(include_input=False)]
    # The environment is left out: only what the given valves themselves would get wrong counts here.
    _, problems = resolve_settings(validated, {})
    lines = [problem.problem_and_fix() for problem in problems if problem.setting in valves]
    host = valves.get(_LANGFUSE_HOST_VALVE)
    if isinstance(host, str) and host.strip():
        try:
            langfuse_base_url(host, setting=_LANGFUSE_HOST_VALVE)
        except UsageError as error:
            lines.append(f"valve {error}")
    return lines


def _type_problem(model: type[BaseModel], location: tuple[int | str, ...], reason: str) -> str:
    name = str(location[0])
    annotation = model.model_fields[name].annotation
    kind = getattr(annotation, "__name__", str(annotation))
    return (
        f"valve {'.'.join(str(part) for part in location)}: {reason}. Fix: give a value of type {kind} "
        "(numbers, true/false and lists are read as JSON, e.g. --valve pipelines='[\"*\"]'; anything else is text)"
    )


def check_valves(model: type[BaseModel], valves: Mapping[str, Any], what: str) -> None:
    """Raise :class:`UsageError` (one line, every problem) when ``valves`` would not work in ``what``.

    >>> from otel_filter import Valves
    >>> check_valves(Valves, {"otlp_endpoint": "http://localhost:4318"}, "the filter")   # fine: returns None
    """
    problems = valve_problems(model, valves)
    if problems:
        raise UsageError(f"--valve for {what}: {' | '.join(problems)}. Until then: nothing was uploaded")
