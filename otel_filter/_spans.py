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

from dataclasses import dataclass

from opentelemetry.context import Context
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
)
from otel_filter._content import ReplySnapshot, input_content, output_content
from otel_filter._counters import Counters
from otel_filter._extract import TurnResult
from otel_filter._pricing import PRICING_UNAVAILABLE_COUNTER, Cost, PricingUnavailable, turn_cost, unpriced_counter
from otel_filter._redact import ERROR_WITHOUT_CONTENT, Redact, Redactor
from otel_filter._settings import Settings
from otel_filter._turns import OpenTurn
from otel_filter._usage import Usage
from otel_filter.semconv import ERROR_RESPONSE

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


def _turn_cost(turn: OpenTurn, usage: Usage, settings: Settings, health: Counters) -> Cost | None:
    """The turn's price, priced here on the worker (never in a hook). Only the usage the provider reported
    is priced, so an abandoned or failed turn is billed for what it was counted, never for a reply it did not
    get. No usage: no price and nothing counted (the doctor's usage check covers that)."""
    if usage.is_empty():
        return None
    request = turn.request
    models = (turn.response_model, request.request_model, request.model_id)
    try:
        cost = turn_cost(usage, models, request.provider, settings.price_overrides)
    except PricingUnavailable:
        health.problem(
            PRICING_UNAVAILABLE_COUNTER,
            "otel_filter: the genai-prices package cannot be imported here, so turns get no cost; "
            "install it where the filter runs (pip install genai-prices)",
        )
        return None
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
    attributes: Attributes = request_attributes(request, record_email=settings.record_user_email, redact=content_redact)
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


def write_span(
    end: TurnEnd, tracer: Tracer, *, host: str, settings: Settings, redact: Redactor, health: Counters
) -> None:
    """Start and end the turn's span with the recorded start and end times."""
    attributes, error = span_attributes(end, host=host, settings=settings, redact=redact, health=health)
    turn = end.turn
    span = tracer.start_span(
        span_name(turn.request),
        context=turn.parent or _ROOT_CONTEXT,
        kind=SpanKind.CLIENT,
        attributes=attributes,
        links=turn.links,
        start_time=turn.start_ns,
    )
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, status_description(error[1])))
    span.end(end_time=max(end.end_ns, turn.start_ns))
