# SPDX-License-Identifier: Apache-2.0
"""Langfuse's OTLP -> observation mapping, as implemented in langfuse/langfuse at commit 6275144.

Langfuse itself cannot run here (its self-hosted stack needs Docker with ClickHouse, Postgres, Redis and MinIO), so
its mapping rules (``packages/shared/src/server/otel/OtelIngestionProcessor.ts`` / ``ObservationTypeMapper.ts``)
are encoded here and our spans are checked against them. Only the rules our spans can reach are modelled;
each function names the upstream function or file it follows.

    observation = to_observation(span_attributes, span_name="chat gpt-4o")
    observation.type == "GENERATION"
    langfuse_costs(observation).total_cost      # our gen_ai.usage.cost, or None when Langfuse would price it
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

_OBSERVATION_TYPES = {
    "span",
    "generation",
    "event",
    "embedding",
    "agent",
    "tool",
    "chain",
    "retriever",
    "guardrail",
    "evaluator",
}
_GENERATION_OPERATIONS = {"chat", "completion", "text_completion", "generate_content", "generate"}
_MODEL_KEYS = (
    "langfuse.observation.model.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "llm.model_name",
    "model",
)


@dataclass
class Observation:
    type: str
    name: str
    model: str | None
    model_parameters: dict[str, Any]
    usage_details: dict[str, int]
    input: Any
    output: Any
    session_id: str | None
    user_id: str | None
    trace_name: str | None
    completion_start_time: datetime | None
    level: str
    metadata_attributes: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)  # the top-level (filterable) keys
    release: str | None = None
    version: str | None = None
    provided_cost_details: dict[str, float] = field(default_factory=dict)


def cost_details(attributes: dict[str, Any]) -> dict[str, float]:
    """``OtelIngestionProcessor.ts`` ``extractCostDetails``: ``langfuse.observation.cost_details`` (a JSON object
    string; a non-string gives ``{}``) > ``gen_ai.usage.cost`` (-> ``total``) > ``llm.cost.total``. The ingestion
    schema (``packages/shared/src/server/ingestion/types.ts`` ``CostDetails``) keeps non-negative numbers only."""
    raw = attributes.get("langfuse.observation.cost_details")
    details: Any
    if raw:
        if not isinstance(raw, str):
            return {}
        details = json.loads(raw)
        if not isinstance(details, dict):
            return {}
    elif attributes.get("gen_ai.usage.cost") not in (None, ""):
        details = {"total": attributes["gen_ai.usage.cost"]}
    elif attributes.get("llm.cost.total") not in (None, ""):
        details = {"total": attributes["llm.cost.total"]}
    else:
        return {}
    return {
        k: float(v) for k, v in details.items() if isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
    }


@dataclass
class Costs:
    """What Langfuse stores for an observation's usage and cost (``IngestionService``)."""

    usage_details: dict[str, int]
    cost_details: dict[str, float]
    total_cost: float | None
    tokenised: bool  # Langfuse counted tokens itself from the input/output strings


def langfuse_costs(observation: Observation, *, model_has_tokenizer: bool = True) -> Costs:
    """``worker/src/services/IngestionService/index.ts``: ``getUsageUnits`` tokenises the input/output strings when
    a model matched (and has a tokenizer), no usage and no cost was provided and the level is not ERROR;
    ``calculateUsageCosts`` takes any provided cost as final (total = provided total, else input + output when
    those are the only keys, else unset) and only otherwise prices the usage (not modelled: prices are Langfuse's
    table; ``total_cost`` is then None here)."""
    provided_cost = {k: v for k, v in observation.provided_cost_details.items() if v is not None}
    usage = observation.usage_details
    tokenised = (
        model_has_tokenizer
        and observation.model is not None
        and not usage
        and not provided_cost
        and observation.level != "ERROR"
    )
    if tokenised:
        usage = {"input": -1, "output": -1}  # counted by Langfuse's tokenizer from the strings
    if not provided_cost:
        return Costs(usage_details=usage, cost_details={}, total_cost=None, tokenised=tokenised)
    total = provided_cost.get("total")
    if total is None and set(provided_cost) <= {"input", "output"}:
        total = provided_cost.get("input", 0.0) + provided_cost.get("output", 0.0)
    details = dict(provided_cost)
    if total is not None:
        details.setdefault("total", total)
    return Costs(usage_details=usage, cost_details=details, total_cost=total, tokenised=False)


def observation_type(attributes: dict[str, Any]) -> str:
    """``ObservationTypeMapper.ts``, the rules our spans can reach, in its order (first match wins, default SPAN):
    ``langfuse.observation.type``, ``gen_ai.operation.name``, a ``gen_ai.tool.*`` attribute, any model attribute.
    Its other rules read scopes or attributes we never send (``openinference.span.kind``, Genkit, Vercel AI, Flue,
    LiveKit)."""
    declared = attributes.get("langfuse.observation.type")
    if isinstance(declared, str) and declared.lower() in _OBSERVATION_TYPES:
        return declared.upper()
    operation = attributes.get("gen_ai.operation.name")
    if operation in _GENERATION_OPERATIONS:
        return "GENERATION"
    if operation == "embeddings":
        return "EMBEDDING"
    if operation in ("invoke_agent", "create_agent"):
        return "AGENT"
    if operation == "execute_tool" or "gen_ai.tool.name" in attributes or "gen_ai.tool.call.id" in attributes:
        return "TOOL"
    if any(attributes.get(key) for key in _MODEL_KEYS):
        return "GENERATION"
    return "SPAN"


def model_name(attributes: dict[str, Any]) -> str | None:
    """``OtelIngestionProcessor.ts`` (model): the response model beats the request model."""
    for key in (
        "langfuse.observation.model.name",
        "gen_ai.response.model",
        "ai.model.id",
        "gen_ai.request.model",
        "llm.response.model",
        "llm.model_name",
        "model",
    ):
        value = attributes.get(key)
        if value:
            return str(value)
    return None


def model_parameters(attributes: dict[str, Any]) -> dict[str, Any]:
    """``OtelIngestionProcessor.ts`` (model parameters): every ``gen_ai.request.*`` but the model, prefix stripped."""
    return {
        key.removeprefix("gen_ai.request."): value
        for key, value in attributes.items()
        if key.startswith("gen_ai.request.") and key != "gen_ai.request.model"
    }


def usage_details(attributes: dict[str, Any]) -> dict[str, int]:
    """``extractUsageDetails``, generic branch: ``gen_ai.usage.*`` -> Langfuse usage keys (cache/reasoning
    subtracted)."""
    raw = {
        k.removeprefix("gen_ai.usage."): v
        for k, v in attributes.items()
        if k.startswith("gen_ai.usage.") and k != "gen_ai.usage.cost"
    }
    if "langfuse.observation.usage_details" in attributes:
        return dict(json.loads(attributes["langfuse.observation.usage_details"]))
    usage: dict[str, int] = {}
    consumed = set()

    def first(*keys: str) -> int | None:
        for key in keys:
            if key in raw:
                consumed.add(key)
                return int(raw[key])
        return None

    input_tokens = first("prompt_tokens", "input_tokens", "prompt")
    output_tokens = first("completion_tokens", "output_tokens", "completion")
    total = first("total_tokens", "total")
    cache_read = first("cache_read.input_tokens", "cache_read_input_tokens", "input_cached_tokens")
    cache_creation = first("cache_creation.input_tokens", "cache_creation_input_tokens")
    reasoning = first("reasoning.output_tokens", "completion_details.reasoning")
    if cache_read is not None:
        usage["input_cached_tokens"] = cache_read
        input_tokens = (input_tokens or 0) - cache_read
    if cache_creation is not None:
        usage["input_cache_creation"] = cache_creation
        input_tokens = (input_tokens or 0) - cache_creation
    if reasoning is not None:
        usage["output_reasoning_tokens"] = reasoning
        output_tokens = (output_tokens or 0) - reasoning
    if input_tokens is not None:
        usage["input"] = input_tokens
    if output_tokens is not None:
        usage["output"] = output_tokens
    for key, value in raw.items():
        if key not in consumed:
            usage[key.removeprefix("details.")] = int(value)  # langfuse/langfuse#16489: counts toward total
    if total is not None or usage:  # no usage at all stays {} (the OTel processor sets total only when given)
        usage["total"] = total if total is not None else sum(usage.values())
    return {k: v for k, v in usage.items() if v >= 0}


def input_output(attributes: dict[str, Any]) -> tuple[Any, Any]:
    """``extractInputAndOutput``: the first source yielding input *or* output wins; both come from it."""
    if "langfuse.observation.input" in attributes or "langfuse.observation.output" in attributes:
        return attributes.get("langfuse.observation.input"), attributes.get("langfuse.observation.output")
    if any(k.startswith("gen_ai.prompt") or k.startswith("gen_ai.completion") for k in attributes):
        return attributes.get("gen_ai.prompt"), attributes.get("gen_ai.completion")
    if "gen_ai.input.messages" in attributes or "gen_ai.output.messages" in attributes:
        inputs = attributes.get("gen_ai.input.messages")
        system = attributes.get("gen_ai.system_instructions")
        if system is not None and inputs is not None:
            parsed = json.loads(inputs)
            if not any(m.get("role") == "system" for m in parsed):
                inputs = json.dumps([{"role": "system", "parts": json.loads(system)}, *parsed])
        return inputs, attributes.get("gen_ai.output.messages")
    return None, None


def _first(attributes: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = attributes.get(key)
        if value not in (None, ""):
            return str(value)
    return None


def completion_start_time(attributes: dict[str, Any]) -> datetime | None:
    """``OtelIngestionProcessor.ts``: ``langfuse.observation.completion_start_time`` as ISO (double JSON accepted);
    else null."""
    value = attributes.get("langfuse.observation.completion_start_time")
    if not isinstance(value, str):
        return None
    if value.startswith('"'):
        value = json.loads(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def trace_tags(attributes: dict[str, Any]) -> list[str]:
    """``OtelIngestionProcessor.ts`` ``extractTags``: the first non-empty source; an array as is, a string starting
    with ``[`` parsed as JSON, a string with commas split, any other string one tag."""
    value = next(
        (
            attributes[key]
            for key in (
                "langfuse.trace.tags",
                "langfuse.tags",
                "langfuse.observation.metadata.langfuse_tags",
                "langfuse.trace.metadata.langfuse_tags",
                "ai.telemetry.metadata.tags",
                "tag.tags",
            )
            if attributes.get(key)
        ),
        None,
    )
    if isinstance(value, list | tuple):
        return [str(tag) for tag in value]
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            return [str(tag) for tag in json.loads(value)]
        except ValueError:
            pass
    if isinstance(value, str):
        return [tag.strip() for tag in value.split(",")] if "," in value else [value]
    return []


def top_level_metadata(attributes: dict[str, Any]) -> dict[str, Any]:
    """``extractMetadata`` (prefixed part, ``extractPrefixedMetadataAttributes``) for the observation and trace
    domains, merged the way ``processToEvent`` merges them into one row's metadata (trace keys last)."""
    metadata: dict[str, Any] = {}
    for prefix in ("langfuse.observation.metadata.", "langfuse.trace.metadata."):
        for key, value in attributes.items():
            if key.startswith(prefix) and key != prefix:
                metadata[key[len(prefix) :]] = value
    return metadata


def release_and_version(attributes: dict[str, Any], resource: dict[str, Any]) -> tuple[str | None, str | None]:
    """``processToEvent``: release = span ``langfuse.release`` ?? resource ``langfuse.release``; version = span
    ``langfuse.version`` ?? resource ``service.version``."""
    release = attributes.get("langfuse.release") or resource.get("langfuse.release")
    version = attributes.get("langfuse.version") or resource.get("service.version")
    return (str(release) if release else None), (str(version) if version else None)


def to_observation(
    attributes: dict[str, Any],
    *,
    span_name: str,
    status_error: bool = False,
    resource: dict[str, Any] | None = None,
) -> Observation:
    observation_kind = observation_type(attributes)
    is_generation = observation_kind == "GENERATION"
    inputs, outputs = input_output(attributes)
    level = _first(attributes, "langfuse.observation.level") or ("ERROR" if status_error else "DEFAULT")
    io_keys = {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"}
    release, version = release_and_version(attributes, resource or {})
    return Observation(
        type=observation_kind,
        name=_first(attributes, "gen_ai.tool.name") or span_name,
        model=model_name(attributes),
        model_parameters=model_parameters(attributes),
        # Legacy path: SPAN bodies have no usage fields (zod strips them; ``ObservationTypeMapper.ts``).
        usage_details=usage_details(attributes) if is_generation else {},
        input=inputs,
        output=outputs,
        session_id=_first(attributes, "langfuse.session.id", "session.id", "gen_ai.conversation.id"),
        user_id=_first(attributes, "langfuse.user.id", "user.id"),
        trace_name=_first(attributes, "langfuse.trace.name"),  # v4 direct path: only this attribute
        completion_start_time=completion_start_time(attributes),
        level=level,
        metadata_attributes={k: v for k, v in attributes.items() if k not in io_keys},
        tags=trace_tags(attributes),
        metadata=top_level_metadata(attributes),
        release=release,
        version=version,
        provided_cost_details=cost_details(attributes),
    )
