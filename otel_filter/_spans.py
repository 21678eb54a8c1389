# SPDX-License-Identifier: Apache-2.0
"""Finished turns -> spans: a turn's end, its attributes, and the span itself.

The hook that ends a turn captures everything that needs the payload (the result record, a
snapshot of the reply) into a :class:`TurnEnd`; :func:`write_span` then builds the attributes
(content JSON included) and starts and ends the span with the recorded timestamps. That second
half needs nothing from the request, so it runs on the background worker (``_background.py``).

    end = TurnEnd(turn, end_ns=time.time_ns(), end_reason=END_OUTLET, result=result, reply=snapshot)
    write_span(end, tracer, host="pipelines", settings=settings, redact=redactor, health=health)

What the payload says about an error is content: with capture on the status description is that
text, redacted; with capture off it is :data:`ERROR_WITHOUT_CONTENT` and ``error.type`` tells what
failed. The filter's own descriptions (an abandoned turn's why) are not content.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from otel_filter._attributes import (
    Attributes,
    content_attributes,
    cost_attributes,
    end_attributes,
    request_attributes,
    response_attributes,
    span_name,
    status_description,
    task_attributes,
)
from otel_filter._content import ReplySnapshot, input_content, output_content
from otel_filter._counters import Counters
from otel_filter._extract import TurnResult
from otel_filter._pricing import (
    PRICING_UNAVAILABLE_COUNTER,
    Cost,
    PricingUnavailable,
    turn_cost,
    unpriced_counter,
)
from otel_filter._redact import ERROR_WITHOUT_CONTENT, Redact, Redactor
from otel_filter._settings import Settings
from otel_filter._turns import OpenTurn
from otel_filter._usage import Usage
from otel_filter.semconv import COST_SOURCE_UNAVAILABLE, ERROR_RESPONSE
from otel_filter.trace_ids import span_id_from_seed, trace_id_from_seed, turn_seed

# An explicit empty context: without it the SDK would parent our span to whatever span is
# current in the host (Open WebUI's own HTTP span when its OTel is on). We link instead.
_ROOT_CONTEXT = Context()


@dataclass(slots=True)
class TurnEnd:
    """How and when a turn ended, with what the payload said (captured while the hook ran)."""

    turn: OpenTurn
    end_ns: int
    end_reason: str
    result: TurnResult | None = None
    reply: ReplySnapshot | None = None  # snapshot for gen_ai.output.messages, when content is captured
    error: tuple[str, str] | None = None  # (error.type, status description)
    inlet_seen: bool = True


def _content_attributes(end: TurnEnd, finish_reason: str | None, settings: Settings, redact: Redact) -> Attributes:
    system_json, input_json, truncated = input_content(end.turn.input_messages, redact, settings.max_content_chars)
    output_json, output_cut = output_content(end.reply, finish_reason, redact, settings.max_content_chars)
    return content_attributes(system_json, input_json, output_json, truncated or output_cut)


def _turn_cost(turn: OpenTurn, usage: Usage, settings: Settings, health: Counters) -> Cost | str | None:
    """The turn's price, priced here on the worker (never in a hook). Only the usage the provider reported
    is priced, so an abandoned or failed turn is billed for what it was counted, never for a reply it did not
    get. No usage: no price and nothing counted (the doctor's usage check covers that). ``COST_SOURCE_UNAVAILABLE``
    when genai-prices cannot be imported here."""
    if usage.is_empty():
        return None
    request = turn.request
    models = (turn.response_model, request.request_model, request.model_id)
    try:
        cost = turn_cost(usage, models, request.provider, settings.price_overrides)
    except PricingUnavailable:
        health.problem(
            PRICING_UNAVAILABLE_COUNTER,
            "otel_filter: genai-prices: the package cannot be imported here. Fix: install it where the filter runs "
            "(pip install genai-prices). Until then: turns get no cost",
        )
        return COST_SOURCE_UNAVAILABLE
    except Exception:  # e.g. usage genai-prices rejects (more cached than input tokens): no price, never a wrong one
        health.problem("unpriceable_usage", "otel_filter: could not price a turn's usage", exc_info=True)
        return None
    if cost is None:
        health.count(unpriced_counter(request.request_model or turn.response_model or request.model_id))
    return cost


def span_attributes(
    end: TurnEnd, *, host: str, settings: Settings, redact: Redactor, health: Counters
) -> tuple[Attributes, tuple[str, str] | None]:
    """The span's attributes and its error, if any. Content that cannot be encoded is left out
    (counted as ``content_failed``): the span is still written with everything else."""
    turn, result = end.turn, end.result
    request = turn.request
    content_redact = redact.bounded(health) if settings.capture_content else None
    attributes: Attributes = (task_attributes if request.task is not None else request_attributes)(
        request, record_email=settings.record_user_email, redact=content_redact
    )
    usage = result.usage if result is not None and not result.usage.is_empty() else (turn.stream_usage or Usage())
    finish_reason = (result.finish_reason if result is not None else None) or turn.stream_finish_reason
    ttfc = (turn.first_chunk_ns - turn.start_ns) / 1e9 if turn.first_chunk_ns is not None else None
    attributes.update(
        response_attributes(
            usage,
            finish_reason=finish_reason,
            response_id=turn.response_id,
            response_model=turn.response_model,
            time_to_first_chunk_s=ttfc if ttfc is not None and ttfc >= 0 else None,
        )
    )
    attributes.update(cost_attributes(_turn_cost(turn, usage, settings, health)))
    if content_redact is not None and (turn.input_messages is not None or end.reply is not None):
        try:
            attributes.update(_content_attributes(end, finish_reason, settings, content_redact))
        except Exception:
            health.problem("content_failed", "otel_filter: could not record a turn's messages", exc_info=True)
    error = end.error
    if error is None and result is not None and result.error_message:
        if content_redact is not None:
            error = (ERROR_RESPONSE, content_redact(result.error_message))
        else:
            error = (ERROR_RESPONSE, ERROR_WITHOUT_CONTENT)
    attributes.update(
        end_attributes(
            host=host,
            end_reason=end.end_reason,
            inlet_seen=end.inlet_seen,
            outlet_message_id=result.message_id if request.message_id is None and result is not None else None,
            error_type=error[0] if error is not None else None,
        )
    )
    return attributes, error


# --- where the span goes: the turn's derived ids (trace_ids.py) --------------------------


class SeededIds(IdGenerator):
    """A tracer's id generator that hands the next span started after :meth:`expect` the ids given there (a
    turn's derived trace id, and span id); every other span gets the wrapped generator's (random) ids.

    The SDK has no other way to start a *root* span with a chosen trace id: a remote parent would make the turn
    span a child of a span nobody sends (no root in Langfuse, a "missing parent" in Jaeger)."""

    def __init__(self, inner: IdGenerator) -> None:
        self._inner = inner
        self._pending = threading.local()  # per thread: spans are written by the worker and, at times, by hooks

    def expect(self, ids: tuple[int, int | None] | None) -> None:
        """Give the next span on this thread these (trace id, span id); None: back to the wrapped generator."""
        self._pending.ids = ids

    def generate_trace_id(self) -> int:
        ids = getattr(self._pending, "ids", None)
        return ids[0] if ids is not None else self._inner.generate_trace_id()

    def generate_span_id(self) -> int:
        ids = getattr(self._pending, "ids", None)
        return ids[1] if ids is not None and ids[1] is not None else self._inner.generate_span_id()

    def is_trace_id_random(self) -> bool:
        # A derived id is not random in W3C Trace Context level 2's sense (the "random" trace flag).
        return getattr(self._pending, "ids", None) is None and self._inner.is_trace_id_random()


_SEEDING_LOCK = threading.Lock()


def seeded_ids(tracer: Tracer) -> SeededIds | None:
    """The tracer's :class:`SeededIds`, installed on first use; None for a tracer that is not the SDK's (no ids to
    choose: its spans keep random ids). Only this tracer object changes, never its provider."""
    with _SEEDING_LOCK:
        current = getattr(tracer, "id_generator", None)
        if isinstance(current, SeededIds):
            return current
        if not isinstance(current, IdGenerator):
            return None
        seeded = SeededIds(current)
        setattr(tracer, "id_generator", seeded)  # noqa: B010 (the API's Tracer type does not declare it)
        return seeded


def _sampled(tracer: Tracer, trace_id: int, name: str) -> trace.TraceFlags:
    """Whether the tracer's sampler keeps a root span of ``trace_id``: what it decided for the turn itself."""
    sampler = getattr(tracer, "sampler", None)
    if sampler is None:
        return trace.TraceFlags(trace.TraceFlags.SAMPLED)
    keep = sampler.should_sample(None, trace_id, name).decision.is_sampled()
    return trace.TraceFlags(trace.TraceFlags.SAMPLED if keep else trace.TraceFlags.DEFAULT)


def span_placement(
    turn: OpenTurn, inlet_seen: bool, tracer: Tracer, name: str
) -> tuple[Context, tuple[int, int | None] | None]:
    """The parent context of a turn's span, and the ids to give it (None: the tracer's own).

    - an explicit parent (an embedding application's) wins: no derivation;
    - a turn with a seed (``trace_ids.turn_seed``) is a root with the derived trace id and span id (an outlet
      whose inlet was not seen gets only the trace id: the turn's span may exist elsewhere);
    - a task call with a seed is a child of its turn's span, in the turn's trace, sampled as the turn is;
    - without a seed: a root with random ids.
    """
    if turn.parent is not None:
        return turn.parent, None
    request = turn.request
    seed = turn_seed(request.chat_id, request.message_id)
    if seed is None:
        return _ROOT_CONTEXT, None
    trace_id, span_id = int(trace_id_from_seed(seed), 16), int(span_id_from_seed(seed), 16)
    if request.task is not None:
        turn_span = trace.SpanContext(trace_id, span_id, is_remote=True, trace_flags=_sampled(tracer, trace_id, name))
        return trace.set_span_in_context(trace.NonRecordingSpan(turn_span), _ROOT_CONTEXT), None
    return _ROOT_CONTEXT, (trace_id, span_id if inlet_seen else None)


def write_span(
    end: TurnEnd, tracer: Tracer, *, host: str, settings: Settings, redact: Redactor, health: Counters
) -> None:
    """Start and end the turn's span (or a task call's record) with the recorded start and end times."""
    attributes, error = span_attributes(end, host=host, settings=settings, redact=redact, health=health)
    turn = end.turn
    name = span_name(turn.request)
    context, ids = span_placement(turn, end.inlet_seen, tracer, name)
    seeded = seeded_ids(tracer) if ids is not None else None
    if seeded is not None:
        seeded.expect(ids)
    try:
        span = tracer.start_span(
            name,
            context=context,
            # A task record times nothing (its reply is never seen): not a client call.
            kind=SpanKind.INTERNAL if turn.request.task is not None else SpanKind.CLIENT,
            attributes=attributes,
            links=turn.links,
            start_time=turn.start_ns,
        )
    finally:
        if seeded is not None:
            seeded.expect(None)
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, status_description(error[1])))
    span.end(end_time=max(end.end_ns, turn.start_ns))
