# SPDX-License-Identifier: Apache-2.0
"""Turn prices: the recorded Open WebUI scenario replayed with real model ids and usage; the cost on the span must
equal what ``genai_prices.calc_price`` says for the same usage and the normalised model, unknown models get no
cost (and are counted), admin overrides win, and a turn is never billed for usage nobody reported."""

from __future__ import annotations

import asyncio
import copy
import importlib
from decimal import Decimal
from typing import Any

import genai_prices
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_filter import _pricing, semconv
from otel_filter._core import FilterCore
from otel_filter._pricing import parse_price_overrides, priced_as, turn_cost
from otel_filter._settings import resolve_settings
from otel_filter._usage import Usage
from tests.support.langfuse_mapping import langfuse_costs, to_observation
from tests.support.owui_hosts import FunctionHost, load_as_function
from tests.support.scenarios import function_files, load

pytestmark = pytest.mark.unit

SCENARIO = "api_stream_include_usage"


def _model_entry(
    model_id: str, *, owned_by: str = "openai", raw_owned_by: str | None = None, **extra: Any
) -> dict[str, Any]:
    """An Open WebUI /models entry as Functions get it in ``__model__`` / ``metadata.model``."""
    entry: dict[str, Any] = {"id": model_id, "name": extra.pop("name", model_id), "owned_by": owned_by}
    if owned_by == "ollama":
        entry["ollama"] = {"name": model_id, "model": model_id}
    elif raw_owned_by is not None:
        entry["openai"] = {"id": model_id, "owned_by": raw_owned_by}
    return entry | extra


def _replay(
    model: dict[str, Any],
    usage: dict[str, Any] | None,
    *,
    response_model: str | None = None,
    outlet: bool = True,
    chunks: int | None = None,
    valves: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, int]]:
    """The recorded streamed API call with ``model`` as the model, ``usage`` as what the provider reported (None:
    nothing; in the last chunk and the reply) and ``response_model`` in the chunks; only the first ``chunks``
    chunks when given; without ``outlet`` the turn is abandoned (ended at shutdown).
    Returns the span's attributes and the filter's counters."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instance, _ = load_as_function(tracer_provider=provider)
    host = FunctionHost(instance, valves=valves)
    files = function_files(SCENARIO)
    inlet = copy.deepcopy(load(files["inlet"]))
    inlet["body"]["model"] = model["id"]
    inlet["body"]["metadata"]["model"] = model
    inlet["__model__"] = model
    events = copy.deepcopy(load(files["stream"])["events"])
    for event in events:
        event["model"] = response_model or model["id"]
        event.pop("usage", None)
    if usage is not None:
        events[-1]["usage"] = usage
    recorded = copy.deepcopy(load(files["outlet"]))
    recorded["body"]["model"] = model["id"]
    reply = recorded["body"]["messages"][-1]
    reply.pop("usage", None)
    if usage is not None:
        reply["usage"] = usage

    async def run() -> None:
        metadata = inlet["__metadata__"]
        extra = {"__user__": inlet["__user__"], "__model__": model, "__metadata__": metadata}
        await host.call("inlet", inlet["body"], extra)
        for event in events[:chunks]:
            await host.call("stream", event, extra)
        if outlet:
            await host.call("outlet", recorded["body"], extra | {"__user__": recorded["__user__"]})

    asyncio.run(run())
    core = instance._core()
    counters = core.health.snapshot()
    core.shutdown()  # an open (abandoned) turn is ended here
    (span,) = exporter.get_finished_spans()
    return dict(span.attributes or {}), counters


def _expected(usage: Usage, model_ref: str, provider_id: str | None = None) -> Decimal:
    return genai_prices.calc_price(
        genai_prices.Usage(
            **{
                k: v
                for k, v in {
                    "input_tokens": usage.input_tokens,
                    "output_tokens": usage.output_tokens,
                    "cache_read_tokens": usage.cache_read_tokens,
                    "cache_write_tokens": usage.cache_creation_tokens,
                }.items()
                if v is not None
            }
        ),
        model_ref,
        provider_id=provider_id,
    ).total_price


OPENAI_USAGE = {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500}


@pytest.mark.parametrize(
    ("model", "response_model", "priced_ref", "provider_id"),
    [
        # An Open WebUI connection with Prefix ID "openai": the model id arrives as "openai.gpt-4o-mini".
        (_model_entry("openai.gpt-4o-mini", raw_owned_by="openai"), "gpt-4o-mini", "gpt-4o-mini", None),
        (_model_entry("openai.gpt-4o-mini", raw_owned_by="openai"), "openai.gpt-4o-mini", "gpt-4o-mini", None),
        # OpenRouter style, through an OpenAI-compatible connection.
        (_model_entry("anthropic/claude-sonnet-4.5"), None, "claude-sonnet-4.5", "anthropic"),
        (_model_entry("deepseek-chat", raw_owned_by="deepseek"), None, "deepseek-chat", "deepseek"),
        # A dated response model.
        (_model_entry("gpt-4o-mini"), "gpt-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18", "openai"),
        # An Open WebUI custom model on gpt-4o-mini: priced by its base model.
        (
            _model_entry("support-bot", name="Support Bot", info={"base_model_id": "gpt-4o-mini"}),
            "support-bot",
            "gpt-4o-mini",
            "openai",
        ),
    ],
    ids=["prefixed-response", "prefixed-only", "openrouter-style", "deepseek", "dated-response", "custom-model"],
)
def test_cost_equals_genai_prices_for_the_normalised_model(
    model: dict[str, Any], response_model: str | None, priced_ref: str, provider_id: str | None
) -> None:
    attributes, counters = _replay(model, OPENAI_USAGE, response_model=response_model)
    expected = _expected(Usage(input_tokens=1200, output_tokens=300), priced_ref, provider_id)
    assert expected > 0
    assert attributes[semconv.GEN_AI_USAGE_COST] == pytest.approx(float(expected), rel=1e-12)
    assert attributes[semconv.OPENWEBUI_COST_SOURCE] == "genai-prices"
    assert attributes[semconv.OPENWEBUI_COST_INPUT] + attributes[semconv.OPENWEBUI_COST_OUTPUT] == pytest.approx(
        attributes[semconv.GEN_AI_USAGE_COST]
    )
    assert not any(key.startswith("unpriced_turns") for key in counters)


def test_o4_mini_with_cache_and_reasoning_tokens_is_priced_per_part() -> None:
    usage = {
        "prompt_tokens": 1212,
        "completion_tokens": 300,
        "total_tokens": 1512,
        "prompt_tokens_details": {"cached_tokens": 1000},
        "completion_tokens_details": {"reasoning_tokens": 200},
    }
    attributes, _ = _replay(_model_entry("o4-mini", raw_owned_by="openai"), usage)
    expected = _expected(Usage(input_tokens=1212, output_tokens=300, cache_read_tokens=1000), "o4-mini", "openai")
    assert attributes[semconv.GEN_AI_USAGE_COST] == pytest.approx(float(expected), rel=1e-12)
    # o4-mini list prices per million tokens: input 1.10, cached input 0.275, output 4.40 (reasoning is output).
    assert attributes[semconv.OPENWEBUI_COST_INPUT] == pytest.approx(212 * 1.10e-6)
    assert attributes[semconv.OPENWEBUI_COST_CACHE_READ] == pytest.approx(1000 * 0.275e-6)
    assert attributes[semconv.OPENWEBUI_COST_OUTPUT] == pytest.approx(100 * 4.40e-6)
    assert attributes[semconv.OPENWEBUI_COST_REASONING] == pytest.approx(200 * 4.40e-6)
    assert semconv.OPENWEBUI_COST_CACHE_WRITE not in attributes
    assert attributes[semconv.OPENWEBUI_COST_MODEL] == "o4-mini"


def test_anthropic_cache_writes_are_priced_at_the_write_price() -> None:
    usage = {
        "input_tokens": 100,
        "output_tokens": 50,
        "cache_creation_input_tokens": 2000,
        "cache_read_input_tokens": 0,
    }
    attributes, _ = _replay(_model_entry("claude-sonnet-4-5", raw_owned_by="anthropic"), usage)
    expected = _expected(
        Usage(input_tokens=2100, output_tokens=50, cache_read_tokens=0, cache_creation_tokens=2000), "claude-sonnet-4-5"
    )
    assert attributes[semconv.GEN_AI_USAGE_COST] == pytest.approx(float(expected), rel=1e-12)
    assert attributes[semconv.OPENWEBUI_COST_CACHE_WRITE] == pytest.approx(2000 * 3.75e-6)


def test_ollama_and_unknown_models_get_no_cost_and_are_counted_by_model() -> None:
    ollama = {"prompt_eval_count": 30, "eval_count": 12}
    attributes, counters = _replay(_model_entry("llama3.2:3b", owned_by="ollama"), ollama)
    assert semconv.GEN_AI_USAGE_COST not in attributes and semconv.OPENWEBUI_COST_SOURCE not in attributes
    assert attributes["gen_ai.usage.output_tokens"] == 12  # the usage is still there
    assert counters["unpriced_turns.llama3.2:3b"] == 1
    # A local model whose name is also a paid API model is not given the API's price.
    attributes, counters = _replay(_model_entry("deepseek-r1:8b", owned_by="ollama"), ollama)
    assert semconv.GEN_AI_USAGE_COST not in attributes
    attributes, counters = _replay(_model_entry("mock-gpt"), OPENAI_USAGE)
    assert semconv.GEN_AI_USAGE_COST not in attributes
    assert counters["unpriced_turns.mock-gpt"] == 1


def test_admin_overrides_win_and_price_local_models() -> None:
    overrides = '{"llama3*": {"input": 0.5, "output": 1.5}, "gpt-4o-mini": {"input": 0.1, "output": 0.2}}'
    attributes, counters = _replay(
        _model_entry("llama3.2:3b", owned_by="ollama"),
        {"prompt_eval_count": 30, "eval_count": 12},
        valves={"price_overrides": overrides},
    )
    assert attributes[semconv.GEN_AI_USAGE_COST] == pytest.approx(30 * 0.5e-6 + 12 * 1.5e-6)
    assert attributes[semconv.OPENWEBUI_COST_SOURCE] == "override"
    assert not any(key.startswith("unpriced_turns") for key in counters)
    # A negotiated price for a model genai-prices knows; the custom model matches through its base model.
    custom = _model_entry("support-bot", info={"base_model_id": "gpt-4o-mini"})
    attributes, _ = _replay(custom, OPENAI_USAGE, valves={"price_overrides": overrides})
    assert attributes[semconv.GEN_AI_USAGE_COST] == pytest.approx(1200 * 0.1e-6 + 300 * 0.2e-6)


def test_cached_tokens_default_to_the_input_price_in_an_override() -> None:
    (override,), error = parse_price_overrides('{"My-Model": {"input": 2, "output": 4, "cache_read": 0.5}}')
    assert error is None
    cost = turn_cost(Usage(input_tokens=1000, output_tokens=10, cache_read_tokens=600), ("my-model",), None, [override])
    assert cost is not None
    assert cost.total == pytest.approx(400 * 2e-6 + 600 * 0.5e-6 + 10 * 4e-6)
    assert turn_cost(Usage(input_tokens=1000, output_tokens=10), ("other",), None, [override]) is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "is not valid JSON"),
        ('["gpt-4o"]', "must be a JSON object"),
        ('{"gpt-4o": {"input": 1}}', "needs an 'output' price"),
        ('{"gpt-4o": {"input": -1, "output": 1}}', "must be a number of USD per million tokens"),
        ('{"gpt-4o": {"input": "1", "output": 1}}', "must be a number of USD per million tokens"),
        ('{"gpt-4o": {"input": 1, "output": 1, "cached": 1}}', "unknown key(s) cached"),
        ('{"gpt-4o": 3}', "must map to an object"),
    ],
)
def test_bad_overrides_are_a_problem_naming_the_setting_and_the_fix(text: str, reason: str) -> None:
    fix = "Fix: write a JSON object of model pattern -> USD per million tokens"
    settings, problems = resolve_settings({"price_overrides": text}, {})
    assert settings.price_overrides == ()
    (problem,) = [p for p in problems if p.setting == "price_overrides"]
    message = problem.message()
    assert message.startswith("valve price_overrides: ") and reason in message and fix in message
    # From the environment (the valve empty), the problem names the variable.
    settings, problems = resolve_settings({"price_overrides": ""}, {"OWUI_OTEL_PRICE_OVERRIDES": text})
    assert settings.price_overrides == ()
    (problem,) = [p for p in problems if p.setting == "OWUI_OTEL_PRICE_OVERRIDES"]
    assert problem.message().startswith("OWUI_OTEL_PRICE_OVERRIDES: ") and fix in problem.message()


def test_overrides_come_from_the_environment_when_the_valve_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OWUI_OTEL_PRICE_OVERRIDES", '{"mock-gpt": {"input": 1, "output": 2}}')
    attributes, _ = _replay(_model_entry("mock-gpt"), OPENAI_USAGE)
    assert attributes[semconv.GEN_AI_USAGE_COST] == pytest.approx(1200 * 1e-6 + 300 * 2e-6)


def test_no_usage_means_no_cost_and_no_unpriced_count() -> None:
    attributes, counters = _replay(_model_entry("gpt-4o-mini"), None)
    assert semconv.GEN_AI_USAGE_COST not in attributes and "gen_ai.usage.output_tokens" not in attributes
    assert not any(key.startswith("unpriced_turns") for key in counters)


def test_an_abandoned_turn_is_billed_only_for_the_usage_reported() -> None:
    attributes, _ = _replay(_model_entry("gpt-4o-mini"), OPENAI_USAGE, outlet=False, chunks=2)
    assert attributes["error.type"] == "abandoned"
    assert semconv.GEN_AI_USAGE_COST not in attributes  # the usage chunk never came: nothing billed, nothing estimated
    # The stream ran to its usage chunk, then the outlet never came: exactly that usage is billed.
    reported = {"prompt_tokens": 500, "completion_tokens": 20, "total_tokens": 520}
    attributes, _ = _replay(_model_entry("gpt-4o-mini"), reported, outlet=False)
    assert attributes["error.type"] == "abandoned"
    expected = _expected(Usage(input_tokens=500, output_tokens=20), "gpt-4o-mini")
    assert attributes[semconv.GEN_AI_USAGE_COST] == pytest.approx(float(expected), rel=1e-12)


def test_langfuse_takes_our_figure_even_without_the_collector() -> None:
    """Direct export (no collector pipeline): Langfuse reads gen_ai.usage.cost as the total and computes nothing."""
    attributes, _ = _replay(_model_entry("deepseek-chat", raw_owned_by="deepseek"), OPENAI_USAGE)
    costs = langfuse_costs(to_observation(attributes, span_name="chat deepseek-chat"))
    assert costs.total_cost == attributes[semconv.GEN_AI_USAGE_COST] and not costs.tokenised
    assert costs.usage_details == {"input": 1200, "output": 300, "total": 1500}


def test_a_failed_turn_is_billed_for_its_reported_input_only() -> None:
    cost = turn_cost(Usage(input_tokens=500), ("gpt-4o-mini",), "openai")
    assert cost is not None
    assert cost.total == pytest.approx(float(_expected(Usage(input_tokens=500), "gpt-4o-mini")))
    assert cost.output == 0


def test_usage_genai_prices_rejects_is_counted_not_priced() -> None:
    bad = {"prompt_tokens": 10, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 50}}
    attributes, counters = _replay(_model_entry("gpt-4o-mini"), bad)
    assert semconv.GEN_AI_USAGE_COST not in attributes
    assert counters["unpriceable_usage"] == 1


def test_without_genai_prices_the_filter_still_traces_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> Any:
        raise ImportError(name)

    monkeypatch.setattr(_pricing, "_library", None)
    monkeypatch.setattr(_pricing, "_library_missing", False)
    monkeypatch.setattr(importlib, "import_module", missing)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    core = FilterCore({}, host="function", tracer_provider=provider)
    body: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"chat_id": "c1", "message_id": "m1"},
    }
    core.inlet(body, {"id": "u1"})
    reply = {"role": "assistant", "content": "hello", "usage": OPENAI_USAGE}
    core.outlet(
        {"id": "m1", "chat_id": "c1", "model": "gpt-4o-mini", "messages": [body["messages"][0], reply]}, {"id": "u1"}
    )
    core.shutdown()
    (span,) = exporter.get_finished_spans()
    assert "gen_ai.usage.input_tokens" in (span.attributes or {})
    assert semconv.GEN_AI_USAGE_COST not in (span.attributes or {})
    # The reason is on the span, so a doctor reading Jaeger can name the fix (install genai-prices).
    assert (span.attributes or {})[semconv.OPENWEBUI_COST_SOURCE] == semconv.COST_SOURCE_UNAVAILABLE
    assert core.health.get("pricing_unavailable") == 1


def test_lookups_are_cached_per_model() -> None:
    _pricing._resolved.clear()
    assert priced_as("openai.gpt-4o-mini", "openai") == ("gpt-4o-mini", "openai")
    calls: list[str] = []
    snapshot = genai_prices.data_snapshot.get_snapshot()
    original = snapshot.find_provider_model

    def counting(*args: Any) -> Any:
        calls.append(args[0])
        return original(*args)

    snapshot.find_provider_model = counting  # type: ignore[method-assign,assignment]
    try:
        for _ in range(100):
            priced_as("openai.gpt-4o-mini", "openai")
            priced_as("llama-unknown", "openai")
    finally:
        del snapshot.find_provider_model
    assert calls.count("openai.gpt-4o-mini") == 0
    assert 0 < len(calls) <= 4  # the unknown model's candidates once, then cached as "no price"
