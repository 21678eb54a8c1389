# SPDX-License-Identifier: Apache-2.0
"""Model id + token usage -> the turn's price in USD (pure apart from a lookup cache; no OTel).

Prices come from the ``genai-prices`` package (Pydantic's maintained price table), or from an admin's
overrides, which win. Model ids are normalised only where genai-prices' own matching does not reach:

- an Open WebUI connection prefix (``openai.gpt-4o-mini``: Open WebUI joins a connection's Prefix ID and the
  model id with a dot) -> ``gpt-4o-mini``, tried only after the id as given fails (``gpt-4.1`` has a dot too);
- ``vendor/model`` (OpenRouter, LiteLLM: ``anthropic/claude-sonnet-4.5``) -> ``claude-sonnet-4.5`` at that
  vendor; genai-prices itself matches dated ids (``gpt-4o-mini-2024-07-18``) and ``claude-sonnet-4.5``;
- a custom Open WebUI model is priced by its base model (``TurnRequest.request_model`` already is it);
- Ollama models are local: never looked up (``deepseek-r1:8b`` must not get DeepSeek's API price); price them
  with an override if they cost you something.

An unknown model gets no price (``None``), never a guessed one. Lookups are cached per (model id, provider),
so a turn costs one dictionary hit plus the arithmetic.

    >>> from otel_filter._usage import Usage
    >>> cost = turn_cost(Usage(input_tokens=1000, output_tokens=100), ("openai.gpt-4o-mini",), "openai")
    >>> cost.total, cost.priced_model, cost.source
    (0.00021, 'gpt-4o-mini', 'genai-prices')
    >>> turn_cost(Usage(input_tokens=1000, output_tokens=100), ("llama3.2:3b",), "ollama") is None
    True
    >>> overrides, error = parse_price_overrides('{"llama*": {"input": 0.1, "output": 0.2}}')
    >>> turn_cost(Usage(input_tokens=1000, output_tokens=100), ("llama3.2:3b",), "ollama", overrides).total
    0.00012
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from otel_filter._usage import Usage

SOURCE_GENAI_PRICES = "genai-prices"
SOURCE_OVERRIDE = "override"

# semconv ``gen_ai.provider.name`` values (see _extract.derive_provider) -> genai-prices provider ids.
_PROVIDER_IDS = {
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "azure.ai.openai": "azure",
    "aws.bedrock": "aws",
}
# Providers that say nothing about whose price applies: Open WebUI's own model kinds.
_NO_PROVIDER = {"openwebui", "openwebui.arena", "openwebui.pipeline"}
_LOCAL_PROVIDERS = {"ollama"}
_MAX_CACHED = 1024
_OVERRIDE_KEYS = {"input": "input_mtok", "output": "output_mtok", "cache_read": "cache_read_mtok",
                  "cache_write": "cache_write_mtok"}  # fmt: skip
MAX_OVERRIDES = 200


@dataclass(frozen=True, slots=True)
class Cost:
    """A turn's price in USD and its parts. ``input`` is the uncached input, ``output`` the output without the
    reasoning tokens; the parts that are ``None`` had no tokens. The parts add up to ``total``."""

    total: float
    input: float
    output: float
    cache_read: float | None
    cache_write: float | None
    reasoning: float | None
    priced_model: str
    source: str


@dataclass(frozen=True, slots=True)
class PriceOverride:
    """An admin's price: model ids matching ``pattern`` (glob, case-insensitive) cost these USD per million
    tokens. Cache reads and writes cost the input price unless given."""

    pattern: str
    input_mtok: Decimal
    output_mtok: Decimal
    cache_read_mtok: Decimal | None = None
    cache_write_mtok: Decimal | None = None

    def matches(self, model: str) -> bool:
        return fnmatch.fnmatchcase(model.lower(), self.pattern.lower())


OVERRIDES_EXAMPLE = '{"llama3*": {"input": 0, "output": 0}, "gpt-4o-mini": {"input": 0.12, "output": 0.48}}'


def parse_price_overrides(text: str) -> tuple[tuple[PriceOverride, ...], str | None]:
    """``price_overrides`` / ``OWUI_OTEL_PRICE_OVERRIDES`` -> (overrides, None), or ((), what is wrong).

    A JSON object: model pattern -> ``{"input": usd, "output": usd, "cache_read": usd, "cache_write": usd}``,
    USD per million tokens, ``input`` and ``output`` required. Patterns are globs (``*``, ``?``, ``[...]``),
    matched case-insensitively against the whole model id: linear-time, unlike a regular expression, and what
    an admin writes anyway (``llama*``, ``*/claude-*``). The first matching pattern wins.

        >>> parse_price_overrides('{"my-model": {"input": 1, "output": 2}}')[0][0].output_mtok
        Decimal('2')
        >>> parse_price_overrides('{"my-model": {"input": 1}}')[1]
        "pattern 'my-model' needs an 'output' price"
    """
    if not text.strip():
        return (), None
    try:
        loaded = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    except ValueError as error:
        return (), f"is not valid JSON ({error})"
    if not isinstance(loaded, dict):
        return (), "must be a JSON object of model pattern -> prices"
    if len(loaded) > MAX_OVERRIDES:
        return (), f"has {len(loaded)} patterns, more than {MAX_OVERRIDES}"
    overrides: list[PriceOverride] = []
    for pattern, prices in loaded.items():
        if not pattern.strip():
            return (), "has an empty model pattern"
        if not isinstance(prices, dict):
            return (), f'pattern {pattern!r} must map to an object like {{"input": 0.15, "output": 0.6}}'
        unknown = sorted(set(prices) - set(_OVERRIDE_KEYS))
        if unknown:
            return (
                (),
                f"pattern {pattern!r} has unknown key(s) {', '.join(unknown)} (known: {', '.join(_OVERRIDE_KEYS)})",
            )
        values: dict[str, Decimal] = {}
        for key, field_name in _OVERRIDE_KEYS.items():
            if key not in prices:
                if key in ("input", "output"):
                    return (), f"pattern {pattern!r} needs an {key!r} price"
                continue
            value = prices[key]
            try:
                valid = isinstance(value, Decimal) and value.is_finite() and value >= 0
            except InvalidOperation:
                valid = False
            if not valid:
                return (), f"pattern {pattern!r}: {key!r} must be a number of USD per million tokens, 0 or more"
            values[field_name] = value
        overrides.append(PriceOverride(pattern=pattern.strip(), **values))
    return tuple(overrides), None


# --- genai-prices, imported on first use --------------------------------------------------------------------

_lock = threading.Lock()
_resolved: dict[tuple[str, str | None], tuple[str, str | None] | None] = {}
_library: Any = None
_library_missing = False


class PricingUnavailable(Exception):
    """genai-prices cannot be imported in this host: turns get no cost."""


def _genai_prices() -> Any:
    """The genai_prices module, imported once on first use (its price table is large: not at filter import)."""
    global _library, _library_missing
    if _library is None and not _library_missing:
        try:
            _library = importlib.import_module("genai_prices")
        except Exception:  # ImportError, or a broken install (e.g. a pydantic it cannot use)
            _library_missing = True
    if _library is None:
        raise PricingUnavailable("genai-prices is not importable")
    return _library


UNPRICED_COUNTER = "unpriced_turns"
"""Counters ``unpriced_turns.<model>``: turns with usage whose model has no price."""
PRICING_UNAVAILABLE_COUNTER = "pricing_unavailable"
"""Counter: turns that got no cost because genai-prices cannot be imported."""
MAX_UNPRICED_MODELS = 50
_unpriced_models: set[str] = set()


def unpriced_counter(model: str | None) -> str:
    """The counter for a turn of ``model`` that got no price: ``unpriced_turns.<model>``, for the first
    :data:`MAX_UNPRICED_MODELS` models (``owui-otel doctor`` names them), then ``unpriced_turns.(other models)``.

        >>> unpriced_counter("llama3.2:3b")
        'unpriced_turns.llama3.2:3b'
    """
    name = (model or "(no model)")[:128]
    with _lock:
        if name not in _unpriced_models and len(_unpriced_models) >= MAX_UNPRICED_MODELS:
            name = "(other models)"
        else:
            _unpriced_models.add(name)
    return f"{UNPRICED_COUNTER}.{name}"


def _candidates(model: str) -> list[tuple[str, str | None]]:
    """(model ref, provider) pairs to try for a model id, as given first; see the module docstring."""
    found: list[tuple[str, str | None]] = [(model, None)]
    if "/" in model:
        vendor, rest = model.split("/", 1)
        found += [(rest, vendor), (rest, None)]
    prefix, dot, rest = model.partition(".")
    if dot and rest and "/" not in prefix and ":" not in prefix:
        found += _candidates(rest)
    return found


def _resolve(model: str, provider: str | None) -> tuple[str, str | None] | None:
    """The (model ref, provider id) genai-prices prices ``model`` as, or None. Cached, misses included."""
    key = (model, provider)
    with _lock:
        if key in _resolved:
            return _resolved[key]
    snapshot = _genai_prices().data_snapshot.get_snapshot()
    result: tuple[str, str | None] | None = None
    for ref, vendor in _candidates(model.strip().lower()):
        for provider_id in dict.fromkeys((vendor, provider, None) if vendor else (provider, None)):
            try:
                snapshot.find_provider_model(ref, None, provider_id, None)
            except LookupError:
                continue
            result = (ref, provider_id)
            break
        if result is not None:
            break
    with _lock:
        if len(_resolved) >= _MAX_CACHED:
            _resolved.clear()
        _resolved[key] = result
    return result


def priced_as(model: str, provider: str | None) -> tuple[str, str | None] | None:
    """The (model ref, provider id) to hand ``genai_prices.calc_price`` for ``model``; None if it has no price.

    Raises :class:`PricingUnavailable` when genai-prices is not installed."""
    if provider in _LOCAL_PROVIDERS:
        return None
    hint = None if provider in _NO_PROVIDER else _PROVIDER_IDS.get(provider or "", provider)
    return _resolve(model, hint)


def _to_usage(library: Any, usage: Usage, **only: int | None) -> Any:
    counts = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_creation_tokens,
        "output_reasoning_tokens": usage.reasoning_tokens,
    }
    if only:
        counts = only
    return library.Usage(**{k: v for k, v in counts.items() if v is not None})


_MILLION = Decimal(1_000_000)
# genai-prices price keys for each part, the specific one first (absent: the part costs the general price).
_CACHE_READ_PRICES = ("cache_read_mtok", "input_mtok")
_CACHE_WRITE_PRICES = ("cache_write_mtok", "input_mtok")
_REASONING_PRICES = ("output_reasoning_mtok", "output_mtok")


def _cost(library: Any, model_price: Any, usage: Usage, model: str, source: str, whole: Any = None) -> Cost:
    """Price ``usage`` with one genai-prices ``ModelPrice`` (``whole``: that price, when already calculated); the
    parts are priced with the same prices, and only when there are such tokens (each costs a calculation)."""
    if whole is None:
        whole = model_price.calc_price(_to_usage(library, usage))

    def part(tokens: int | None, price_keys: tuple[str, str], direction: str, **counts: int) -> Decimal | None:
        if not tokens:
            return None
        # A flat price per million tokens (the usual case): the same product genai-prices computes, without a
        # second calculation. Tiered prices (a TieredPrices object) go through genai-prices.
        for key in price_keys:
            unit = getattr(model_price, key, None)
            if unit is not None:
                if isinstance(unit, Decimal):
                    return tokens * unit / _MILLION
                break
        return Decimal(model_price.calc_price(_to_usage(library, usage, **counts))[f"{direction}_price"])

    cached = usage.cache_read_tokens or 0
    written = usage.cache_creation_tokens or 0
    reasoning = usage.reasoning_tokens or 0
    cache_read = part(cached, _CACHE_READ_PRICES, "input", input_tokens=cached, cache_read_tokens=cached)
    cache_write = part(written, _CACHE_WRITE_PRICES, "input", input_tokens=written, cache_write_tokens=written)
    reasoning_cost = part(
        reasoning, _REASONING_PRICES, "output", output_tokens=reasoning, output_reasoning_tokens=reasoning
    )
    input_cost = whole["input_price"] - (cache_read or 0) - (cache_write or 0)
    output_cost = whole["output_price"] - (reasoning_cost or 0)
    return Cost(
        total=float(whole["total_price"]),
        input=float(input_cost),
        output=float(output_cost),
        cache_read=None if cache_read is None else float(cache_read),
        cache_write=None if cache_write is None else float(cache_write),
        reasoning=None if reasoning_cost is None else float(reasoning_cost),
        priced_model=model,
        source=source,
    )


def turn_cost(
    usage: Usage,
    models: Sequence[str | None],
    provider: str | None,
    overrides: Sequence[PriceOverride] = (),
) -> Cost | None:
    """The price of ``usage``, or None when no model id has a price (or nothing was reported).

    ``models``: the ids to try in order (response model, request model, Open WebUI model id). The first
    override whose pattern matches any of them wins; else the first id genai-prices knows. Only the usage
    reported is priced: a turn that ended without its reply is billed for what the provider counted, if anything.
    Raises :class:`PricingUnavailable` when genai-prices is not installed, ``ValueError`` for usage it rejects
    (e.g. more cached tokens than input tokens)."""
    if usage.input_tokens is None and usage.output_tokens is None:
        return None
    ids = [m for m in dict.fromkeys(models) if m]
    library = _genai_prices()
    for override in overrides:
        for model in ids:
            if override.matches(model):
                price = library.types.ModelPrice(
                    input_mtok=override.input_mtok,
                    output_mtok=override.output_mtok,
                    cache_read_mtok=override.cache_read_mtok,
                    cache_write_mtok=override.cache_write_mtok,
                )
                return _cost(library, price, usage, model, SOURCE_OVERRIDE)
    for model in ids:
        found = priced_as(model, provider)
        if found is not None:
            ref, provider_id = found
            calculation = library.calc_price(_to_usage(library, usage), ref, provider_id=provider_id)
            whole = {
                "input_price": calculation.input_price,
                "output_price": calculation.output_price,
                "total_price": calculation.total_price,
            }
            return _cost(library, calculation.model_price, usage, calculation.model.id, SOURCE_GENAI_PRICES, whole)
    return None
