# SPDX-License-Identifier: Apache-2.0
"""Records -> span names and attribute dicts (pure; unset values are dropped). Every attribute a turn's span
carries is built here, and only here (``_spans.py`` composes these dicts):

    attrs = request_attributes(request, record_email=False, redact=None)   # redact=None: capture off
    attrs |= response_attributes(usage, finish_reason="stop", response_id=None, response_model=None,
                                 time_to_first_chunk_s=None)
    attrs |= end_attributes(host="pipelines", end_reason="outlet", inlet_seen=True, outlet_message_id=None,
                            error_type=None)
    attrs |= cost_attributes(turn_cost(usage, ("gpt-4o",), "openai"))   # gen_ai.usage.cost and its parts
    attrs |= content_attributes(system_json, input_json, output_json, truncated=False)   # capture on only
    name = span_name(request)          # "chat gpt-4o", or "title_generation" for a task
    attrs = task_attributes(request, record_email=False, redact=None)       # a task call's record instead

Why Langfuse needs nothing extra from here: its OTLP mapping turns ``gen_ai.operation.name=chat``
into a GENERATION, reads the model from ``gen_ai.request.model``/``gen_ai.response.model``, usage
from ``gen_ai.usage.*``, input/output from ``gen_ai.input.messages``/``gen_ai.output.messages``,
the session from ``session.id``/``gen_ai.conversation.id`` and the user from ``user.id``, all
standard. What only Langfuse reads (trace name, ``completion_start_time`` derived from
``gen_ai.response.time_to_first_chunk``, trace tags, filterable metadata, release and version, derived from the
``openwebui.*`` attributes) is added by the collector's ``transform/langfuse``, so Jaeger and every other backend
get clean semconv and a new backend is a config change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from otel_filter._content import clean_text
from otel_filter._extract import TurnRequest
from otel_filter._limits import ERROR_TEXT_CHARS, MAX_ITEM_CHARS, MAX_LIST_ITEMS, MAX_TEXT_CHARS
from otel_filter._pricing import Cost
from otel_filter._usage import Usage
from otel_filter.semconv import (
    ERROR_TYPE,
    GEN_AI_CONVERSATION_ID,
    GEN_AI_INPUT_MESSAGES,
    GEN_AI_OPERATION_CHAT,
    GEN_AI_OPERATION_NAME,
    GEN_AI_OUTPUT_MESSAGES,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_CHOICE_COUNT,
    GEN_AI_REQUEST_FREQUENCY_PENALTY,
    GEN_AI_REQUEST_MAX_TOKENS,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_REQUEST_PRESENCE_PENALTY,
    GEN_AI_REQUEST_SEED,
    GEN_AI_REQUEST_STOP_SEQUENCES,
    GEN_AI_REQUEST_STREAM,
    GEN_AI_REQUEST_TEMPERATURE,
    GEN_AI_REQUEST_TOP_K,
    GEN_AI_REQUEST_TOP_P,
    GEN_AI_RESPONSE_FINISH_REASONS,
    GEN_AI_RESPONSE_ID,
    GEN_AI_RESPONSE_MODEL,
    GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
    GEN_AI_SYSTEM_INSTRUCTIONS,
    GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    GEN_AI_USAGE_COST,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
    GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
    OPENWEBUI_CHAT_ID,
    OPENWEBUI_CHAT_KIND,
    OPENWEBUI_CONTENT_TRUNCATED,
    OPENWEBUI_COST_CACHE_READ,
    OPENWEBUI_COST_CACHE_WRITE,
    OPENWEBUI_COST_INPUT,
    OPENWEBUI_COST_MODEL,
    OPENWEBUI_COST_OUTPUT,
    OPENWEBUI_COST_REASONING,
    OPENWEBUI_COST_SOURCE,
    OPENWEBUI_FEATURES,
    OPENWEBUI_FEATURES_UNKNOWN_COUNT,
    OPENWEBUI_FILE_COUNT,
    OPENWEBUI_HOST,
    OPENWEBUI_MESSAGE_ID,
    OPENWEBUI_MODEL_ID,
    OPENWEBUI_MODEL_NAME,
    OPENWEBUI_MODEL_OWNED_BY,
    OPENWEBUI_TASK,
    OPENWEBUI_TOOL_IDS,
    OPENWEBUI_TOOL_IDS_COUNT,
    OPENWEBUI_TURN_END_REASON,
    OPENWEBUI_TURN_INLET_SEEN,
    OPENWEBUI_USER_MESSAGE_ID,
    OPENWEBUI_USER_ROLE,
    OPENWEBUI_VERSION,
    SESSION_ID,
    USER_EMAIL,
    USER_ID,
)

AttributeValue = str | bool | int | float | tuple[str, ...]
Attributes = dict[str, AttributeValue]

# Every attribute but the three content ones (bounded by max_content_chars) is bounded here (the bounds: _limits.py),
# so that one span always fits in one export request whatever a payload holds.


def span_name(request: TurnRequest) -> str:
    """``chat {model}`` per semconv; a task call's record is named after its task (``title_generation``)."""
    if request.task is not None:
        return clean_text(request.task[:MAX_TEXT_CHARS])
    operation = GEN_AI_OPERATION_CHAT
    name = f"{operation} {request.request_model}" if request.request_model else operation
    # Always cleaned, short or not: a lone surrogate in a model id fails the encoding of the whole export batch.
    return clean_text(name[:MAX_TEXT_CHARS])


def status_description(error_text: str) -> str:
    """A span status description: at most ``ERROR_TEXT_CHARS`` (then "…"), valid UTF-8."""
    text = error_text if len(error_text) <= ERROR_TEXT_CHARS else error_text[:ERROR_TEXT_CHARS] + "…"
    return clean_text(text)


def clean(attributes: Mapping[str, object]) -> Attributes:
    """Drop unset values, bound sizes (see MAX_TEXT_CHARS) and make every string valid UTF-8 (payload strings may
    hold lone surrogates)."""
    result: Attributes = {}
    for key, value in attributes.items():
        # Exact type checks, cheapest first: this runs ~40 times per turn.
        if type(value) is str:
            if len(value) > MAX_TEXT_CHARS:
                value = value[:MAX_TEXT_CHARS]
            result[key] = value if value.isascii() else clean_text(value)
        elif type(value) is int or type(value) is float or type(value) is bool:
            result[key] = value
        elif type(value) is tuple and value:
            result[key] = tuple(clean_text(str(v)[:MAX_ITEM_CHARS]) for v in value[:MAX_LIST_ITEMS])
    return result


def request_attributes(request: TurnRequest, *, record_email: bool, redact: Callable[[str], str] | None) -> Attributes:
    """Attributes known at inlet: operation, provider, model, parameters, conversation, user.

    ``redact`` is the content redactor when content is captured, ``None`` when it is not: stop
    sequences and tool ids are content (see ``_redact.py``), so without capture they are left out
    (tool ids leave only their count)."""
    stop_sequences = tuple(redact(s) for s in request.stop_sequences) if redact is not None else None
    tool_ids = tuple(redact(t) for t in request.tool_ids) if redact is not None else None
    return clean(
        {
            GEN_AI_OPERATION_NAME: GEN_AI_OPERATION_CHAT,
            GEN_AI_PROVIDER_NAME: request.provider,
            GEN_AI_REQUEST_MODEL: request.request_model,
            GEN_AI_REQUEST_TEMPERATURE: request.temperature,
            GEN_AI_REQUEST_TOP_P: request.top_p,
            GEN_AI_REQUEST_TOP_K: request.top_k,
            GEN_AI_REQUEST_MAX_TOKENS: request.max_tokens,
            GEN_AI_REQUEST_SEED: request.seed,
            GEN_AI_REQUEST_FREQUENCY_PENALTY: request.frequency_penalty,
            GEN_AI_REQUEST_PRESENCE_PENALTY: request.presence_penalty,
            GEN_AI_REQUEST_STOP_SEQUENCES: stop_sequences,
            GEN_AI_REQUEST_CHOICE_COUNT: request.choice_count,
            # Conditionally required "if and only if streaming": absent means not streamed.
            GEN_AI_REQUEST_STREAM: True if request.stream else None,
            GEN_AI_CONVERSATION_ID: request.conversation_id,
            SESSION_ID: request.conversation_id,
            USER_ID: request.user_identity or request.user_id,  # the user_identity setting; the id if missing
            USER_EMAIL: request.user_email if record_email else None,
            OPENWEBUI_USER_ROLE: request.user_role,
            OPENWEBUI_CHAT_ID: request.chat_id,
            OPENWEBUI_CHAT_KIND: request.chat_kind,
            OPENWEBUI_MESSAGE_ID: request.message_id,
            OPENWEBUI_USER_MESSAGE_ID: request.user_message_id,
            OPENWEBUI_MODEL_ID: request.model_id,
            OPENWEBUI_MODEL_NAME: request.model_name,
            OPENWEBUI_MODEL_OWNED_BY: request.owned_by,
            OPENWEBUI_TASK: request.task,
            OPENWEBUI_FEATURES: request.features,
            OPENWEBUI_FEATURES_UNKNOWN_COUNT: request.unknown_features or None,
            OPENWEBUI_TOOL_IDS: tool_ids,
            OPENWEBUI_TOOL_IDS_COUNT: request.tool_count,
            OPENWEBUI_FILE_COUNT: request.file_count,
            OPENWEBUI_VERSION: request.openwebui_version,
        }
    )


# What makes a span an inference in semconv (and in backends: Langfuse bills any span naming a model, estimating the
# tokens itself when no usage is given). A task record lacks both: its model stays in openwebui.model.id.
_INFERENCE_ONLY = (GEN_AI_OPERATION_NAME, GEN_AI_REQUEST_MODEL)


def task_attributes(request: TurnRequest, *, record_email: bool, redact: Callable[[str], str] | None) -> Attributes:
    """A task call's record (title, tags, follow-ups...): the request's attributes, but not those of an inference.

    Open WebUI never sends a task call's outlet, so its reply, duration and usage are never known: the record says
    that the call was made, when, for which turn, with which model (``openwebui.model.id``) and prompt, and is not
    an inference span that a backend could price on an estimate (``gen_ai.operation.name`` and
    ``gen_ai.request.model`` are left out)."""
    attributes = request_attributes(request, record_email=record_email, redact=redact)
    for key in _INFERENCE_ONLY:
        attributes.pop(key, None)
    return attributes


def usage_attributes(usage: Usage) -> Attributes:
    return clean(
        {
            GEN_AI_USAGE_INPUT_TOKENS: usage.input_tokens,
            GEN_AI_USAGE_OUTPUT_TOKENS: usage.output_tokens,
            GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: usage.cache_read_tokens,
            GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: usage.cache_creation_tokens,
            GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: usage.reasoning_tokens,
        }
    )


def response_attributes(
    usage: Usage,
    *,
    finish_reason: str | None,
    response_id: str | None,
    response_model: str | None,
    time_to_first_chunk_s: float | None,
) -> Attributes:
    """Attributes known when the turn ends."""
    attributes = usage_attributes(usage)
    attributes.update(
        clean(
            {
                GEN_AI_RESPONSE_FINISH_REASONS: (finish_reason,) if finish_reason else None,
                GEN_AI_RESPONSE_ID: response_id,
                GEN_AI_RESPONSE_MODEL: response_model,
                GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: time_to_first_chunk_s,
            }
        )
    )
    return attributes


def cost_attributes(cost: Cost | str | None) -> Attributes:
    """The turn's price (``gen_ai.usage.cost``, USD) and its parts; nothing when it has none; only
    ``openwebui.cost.source`` when a reason it has none is given (``COST_SOURCE_UNAVAILABLE``)."""
    if cost is None:
        return {}
    if isinstance(cost, str):
        return {OPENWEBUI_COST_SOURCE: cost}
    return clean(
        {
            GEN_AI_USAGE_COST: cost.total,
            OPENWEBUI_COST_INPUT: cost.input,
            OPENWEBUI_COST_OUTPUT: cost.output,
            OPENWEBUI_COST_CACHE_READ: cost.cache_read,
            OPENWEBUI_COST_CACHE_WRITE: cost.cache_write,
            OPENWEBUI_COST_REASONING: cost.reasoning,
            OPENWEBUI_COST_MODEL: cost.priced_model,
            OPENWEBUI_COST_SOURCE: cost.source,
        }
    )


def end_attributes(
    *, host: str, end_reason: str, inlet_seen: bool, outlet_message_id: str | None, error_type: str | None
) -> Attributes:
    """How the turn ended: the host, why it ended, whether its inlet was seen, the outlet's message id (API calls:
    the id the outlet made; None when the inlet had one) and the error type, if any."""
    return clean(
        {
            OPENWEBUI_MESSAGE_ID: outlet_message_id,
            OPENWEBUI_HOST: host,
            OPENWEBUI_TURN_END_REASON: end_reason,
            OPENWEBUI_TURN_INLET_SEEN: None if inlet_seen else False,
            ERROR_TYPE: error_type,
        }
    )


def content_attributes(
    system_json: str | None, input_json: str | None, output_json: str | None, truncated: bool
) -> Attributes:
    """The content attributes (semconv JSON, already redacted and bounded by ``max_content_chars``: not cut again)."""
    attributes: Attributes = {}
    if system_json:
        attributes[GEN_AI_SYSTEM_INSTRUCTIONS] = system_json
    if input_json:
        attributes[GEN_AI_INPUT_MESSAGES] = input_json
    if output_json:
        attributes[GEN_AI_OUTPUT_MESSAGES] = output_json
    if truncated:
        attributes[OPENWEBUI_CONTENT_TRUNCATED] = True
    return attributes
