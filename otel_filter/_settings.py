# SPDX-License-Identifier: Apache-2.0
"""Valves + environment -> validated :class:`Settings`, with a fix for every bad value.

The one resolver of every setting: the valve when it is set, else its environment variable
(:mod:`otel_filter.environment_variables`), else the default. A valve is unset when it holds its empty value:
``""`` for text and for the true/false valves, ``0`` for numbers, ``[]`` for lists (what a fresh install shows).
Nothing reads the environment anywhere else: ``FilterCore(environ=...)`` decides every setting.

A bad value never stops chats: it is reported as a :class:`Problem` naming the valve, what is
wrong and how to fix it, and the setting falls back to a safe value (for a bad redaction pattern
that means *no content at all*, never unredacted content).

    >>> settings, problems = resolve_settings({"otlp_protocol": "grcp"}, environ={})   # os.environ in the filter
    >>> settings.export.protocol
    'http/protobuf'
    >>> print(problems[0].message())  # doctest: +NORMALIZE_WHITESPACE
    valve otlp_protocol: 'grcp' is not a supported protocol. Fix: set it to 'http/protobuf' or 'grpc'
    (or empty the valve to use OTEL_EXPORTER_OTLP_PROTOCOL). Until then: using 'http/protobuf'.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

import regex

from otel_filter._counters import logger
from otel_filter._pricing import OVERRIDES_EXAMPLE, PriceOverride, parse_price_overrides
from otel_filter._redact import compile_pattern
from otel_filter.environment_variables import (
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_HEADERS,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_HEADERS,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
    OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT,
    OTEL_RESOURCE_ATTRIBUTES,
    OTEL_SERVICE_NAME,
    OWUI_OTEL_MAX_CONTENT_CHARS,
    OWUI_OTEL_MAX_OPEN_TURNS,
    OWUI_OTEL_PRICE_OVERRIDES,
    OWUI_OTEL_RECORD_TASKS,
    OWUI_OTEL_RECORD_USER_EMAIL,
    OWUI_OTEL_REDACT_PATTERNS,
    OWUI_OTEL_TURN_TIMEOUT_SECONDS,
    OWUI_OTEL_USER_IDENTITY,
)

PROTOCOL_HTTP = "http/protobuf"
PROTOCOL_GRPC = "grpc"
DEFAULT_HTTP_ENDPOINT = "http://localhost:4318"
DEFAULT_GRPC_ENDPOINT = "http://localhost:4317"
DEFAULT_SERVICE_NAME = "open-webui"
DEFAULT_MAX_CONTENT_CHARS = 20_000
MIN_MAX_CONTENT_CHARS = 256
# 3 content attributes x 200,000 characters x at most 4 UTF-8 bytes = 2.4 MB (2.29 MiB): with the span's other,
# bounded attributes (_attributes.py) one span always fits in one OTLP request (_request_size.MAX_REQUEST_BYTES).
MAX_MAX_CONTENT_CHARS = 200_000
DEFAULT_TURN_TIMEOUT_S = 600
MAX_TURN_TIMEOUT_S = 86_400  # a day: no reply takes longer, and a bigger one only keeps dead turns in memory
DEFAULT_MAX_OPEN_TURNS = 10_000
MAX_MAX_OPEN_TURNS = 1_000_000
USER_IDENTITY_ID = "id"
USER_IDENTITY_EMAIL = "email"
USER_IDENTITY_USERNAME = "username"
USER_IDENTITIES = (USER_IDENTITY_ID, USER_IDENTITY_EMAIL, USER_IDENTITY_USERNAME)
"""What may identify a user in ``user.id`` (the ``user_identity`` valve, ``OWUI_OTEL_USER_IDENTITY``)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One bad setting: which valve or environment variable, what was wrong, how to fix it, what is
    used instead. Valve names are lower case, environment variables upper case: the message says which."""

    setting: str
    value: str
    reason: str
    fix: str
    fallback: str

    @property
    def label(self) -> str:
        """How the message names the setting: the environment variable as is, a valve as ``valve <name>``."""
        return self.setting if self.setting.isupper() else f"valve {self.setting}"

    def problem_and_fix(self) -> str:
        """``<setting>: <value> <what is wrong>. Fix: <fix>``: where the fallback does not apply (a check before
        anything runs, such as ``owui-otel install --valve``)."""
        return f"{self.label}: {self.value!r} {self.reason}. Fix: {self.fix}"

    def message(self) -> str:
        """``<setting>: <value> <what is wrong>. Fix: <fix>. Until then: <fallback>.`` (the project's voice)."""
        fallback = self.fallback[:1].lower() + self.fallback[1:]
        return f"{self.problem_and_fix()}. Until then: {fallback}."


@dataclass(frozen=True, slots=True)
class ExportSettings:
    """Where spans go. ``endpoint`` is the full traces URL for HTTP, ``scheme://host:port`` for gRPC."""

    endpoint: str
    protocol: str
    headers: tuple[tuple[str, str], ...]
    insecure: bool
    endpoint_setting: str = field(default="OTEL_EXPORTER_OTLP_ENDPOINT", compare=False)
    """Where ``endpoint`` came from, as problem lines name it: ``valve otlp_endpoint``, or the variable's name."""


@dataclass(frozen=True, slots=True)
class Settings:
    export: ExportSettings
    service_name: str
    resource_attributes: tuple[tuple[str, str], ...]
    capture_content: bool
    redact_patterns: tuple[regex.Pattern[str], ...]
    redact_replacement: str
    max_content_chars: int
    turn_timeout_s: float
    max_open_turns: int
    record_tasks: bool
    record_user_email: bool
    user_identity: str = USER_IDENTITY_ID
    price_overrides: tuple[PriceOverride, ...] = ()


# --- environment defaults (log-and-default, like the OTel SDK) ---------------------------

_CAPTURE_ON = {"true", "1", "span_only", "event_only", "span_and_event"}
_CAPTURE_OFF = {"false", "0", "no_content"}


def parse_capture_mode(value: str | None) -> bool | None:
    """``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` -> on/off; ``None`` if unrecognised.

    Both vocabularies are accepted: ``true/false/1/0`` (openai-v2) and util-genai's
    ``NO_CONTENT/SPAN_ONLY/EVENT_ONLY/SPAN_AND_EVENT``. The filter records content on the span
    only, so every mode that asks for content turns span content on.
    """
    if value is None:
        return None
    normalized = value.strip().lower()
    if normalized in _CAPTURE_ON:
        return True
    if normalized in _CAPTURE_OFF:
        return False
    return None


def parse_bool(text: str) -> bool | None:
    """``true/1/yes/on`` -> True, ``false/0/no/off`` -> False (any case, surrounding blanks ignored); else None.

    The one boolean vocabulary of every setting (environment, CLI fields); callers decide what blank and unknown
    mean (a default, an error).
    """
    normalized = text.strip().lower()
    if normalized in ("true", "1", "yes", "on"):
        return True
    if normalized in ("false", "0", "no", "off"):
        return False
    return None


def _env_flag(environ: Mapping[str, str], variable: str, default: bool, problems: list[Problem]) -> bool:
    """The true/false environment variable ``variable``; unset: ``default``; unreadable: a Problem, and ``default``
    (for the content capture variable: no content, the safe side)."""
    raw = environ.get(variable)
    if raw is None or not raw.strip():
        return default
    capture = variable == OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT
    parsed = parse_capture_mode(raw) if capture else parse_bool(raw)
    if parsed is not None:
        return parsed
    used = False if capture else default
    problems.append(
        Problem(
            setting=variable,
            value=_shown(raw),
            reason="is not true or false" + (" nor a content capture mode" if capture else ""),
            fix="set it to true or false"
            + (" (or NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT)" if capture else ""),
            fallback="recording no message content" if capture else f"using {str(used).lower()}",
        )
    )
    return used


def env_patterns(environ: Mapping[str, str]) -> list[str]:
    """``OWUI_OTEL_REDACT_PATTERNS``: a JSON array of strings, or one pattern per line."""
    raw = environ.get(OWUI_OTEL_REDACT_PATTERNS, "")
    if not raw.strip():
        return []
    if raw.lstrip().startswith("["):
        try:
            loaded = json.loads(raw)
        except ValueError:
            loaded = None
        if isinstance(loaded, list) and all(isinstance(p, str) for p in loaded):
            return loaded
    return [line for line in raw.splitlines() if line.strip()]


# --- parsing helpers --------------------------------------------------------------------


def parse_key_values(text: str) -> tuple[tuple[tuple[str, str], ...], list[str]]:
    """``k1=v1,k2=v2`` (values URL-decoded, as in ``OTEL_EXPORTER_OTLP_HEADERS``) -> (pairs, bad items)."""
    pairs: list[tuple[str, str]] = []
    bad: list[str] = []
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key = unquote(key.strip())
        if not sep or not key:
            bad.append(item.strip())
            continue
        pairs.append((key, unquote(value.strip())))
    return tuple(pairs), bad


def _key_values(
    text: str, setting: str, shown: str, example: str, problems: list[Problem]
) -> tuple[tuple[str, str], ...]:
    """The pairs of ``text`` (:func:`parse_key_values`); the items without ``key=value`` are left out and reported
    as one Problem of ``setting``, whose value it shows as ``shown``."""
    pairs, bad = parse_key_values(text)
    if bad:
        problems.append(
            Problem(
                setting=setting,
                value=shown,
                reason=f"has {len(bad)} item(s) without 'key=value'",
                fix=f"write key=value pairs separated by commas, e.g. {example}",
                fallback="those items are left out",
            )
        )
    return pairs


def _valid_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a non-numeric port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def display_url(url: str) -> str:
    """``url`` fit for a log line: a ``user:password@`` part, the query and the fragment (where
    credentials such as ``?api_key=`` live) are masked.

        display_url("https://u:pw@c.example/v1/traces?token=x")  # "https://***@c.example/v1/traces?***"
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "***" if parts.query else ""
    fragment = "***" if parts.fragment else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def http_traces_url(base: str) -> str:
    """The OTLP/HTTP traces URL for ``base``: ``/v1/traces`` added to the path (kept if it has it),
    before any query string.

        http_traces_url("http://c:4318")            # "http://c:4318/v1/traces"
        http_traces_url("https://c.example/otel?k=v")  # "https://c.example/otel/v1/traces?k=v"
    """
    try:
        parts = urlsplit(base)
    except ValueError:
        return base
    path = parts.path.rstrip("/")
    if not path.endswith("/v1/traces"):
        path = f"{path}/v1/traces"
    return urlunsplit(parts._replace(path=path))


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of ``url``, with the scheme's default port: what "the same endpoint" means for secrets."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ("", url, None)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


# --- resolution -------------------------------------------------------------------------


def _text(valves: Mapping[str, object], name: str) -> str:
    value = valves.get(name)
    return value.strip() if isinstance(value, str) else ""


def _resolve_export(
    valves: Mapping[str, object], environ: Mapping[str, str], problems: list[Problem]
) -> ExportSettings:
    protocol = _text(valves, "otlp_protocol").lower()
    protocol_setting = "otlp_protocol"
    if not protocol:
        protocol_setting = next(
            (name for name in (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL) if environ.get(name)),
            OTEL_EXPORTER_OTLP_PROTOCOL,
        )
        protocol = (environ.get(protocol_setting) or PROTOCOL_HTTP).strip().lower()
    if protocol not in (PROTOCOL_HTTP, PROTOCOL_GRPC):
        reason = (
            "is not supported by the Python OTLP exporter" if protocol == "http/json" else "is not a supported protocol"
        )
        problems.append(
            Problem(
                setting=protocol_setting,
                value=protocol,
                reason=reason,
                fix="set it to 'http/protobuf' or 'grpc'"
                + (f" (or empty the valve to use {OTEL_EXPORTER_OTLP_PROTOCOL})" if protocol_setting.islower() else ""),
                fallback=f"using {PROTOCOL_HTTP!r}",
            )
        )
        protocol = PROTOCOL_HTTP

    default_endpoint = DEFAULT_HTTP_ENDPOINT if protocol == PROTOCOL_HTTP else DEFAULT_GRPC_ENDPOINT
    traces_endpoint = environ.get(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, "").strip()
    env_endpoint = traces_endpoint or environ.get(OTEL_EXPORTER_OTLP_ENDPOINT, "").strip() or default_endpoint
    endpoint = _text(valves, "otlp_endpoint")
    endpoint_name = "otlp_endpoint"
    full_url = False
    if not endpoint:
        if traces_endpoint:
            endpoint, endpoint_name, full_url = traces_endpoint, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, True
        else:
            endpoint = env_endpoint
            endpoint_name = OTEL_EXPORTER_OTLP_ENDPOINT
    if not _valid_url(endpoint):
        problems.append(
            Problem(
                setting=endpoint_name,
                value=display_url(endpoint),
                reason="is not a URL (it needs http:// or https:// and a host)",
                fix=f"use a URL such as {default_endpoint!r} (the collector's OTLP receiver)",
                fallback=f"using {default_endpoint!r}",
            )
        )
        endpoint, full_url = default_endpoint, False
    if protocol == PROTOCOL_HTTP and not full_url:
        endpoint = http_traces_url(endpoint)

    header_text = _text(valves, "otlp_headers")
    header_name = "otlp_headers"
    if not header_text:
        header_name = OTEL_EXPORTER_OTLP_HEADERS
        if environ.get(OTEL_EXPORTER_OTLP_TRACES_HEADERS):
            header_name = OTEL_EXPORTER_OTLP_TRACES_HEADERS
        header_text = environ.get(header_name) or ""
        if header_text.strip() and endpoint_name == "otlp_endpoint" and origin(endpoint) != origin(env_endpoint):
            # The environment's headers (the collector's token) belong to the environment's endpoint: a valve
            # pointing elsewhere must not receive them (whoever can change valves could otherwise collect them).
            problems.append(
                Problem(
                    setting="otlp_endpoint",
                    value=display_url(_text(valves, "otlp_endpoint") or endpoint),
                    reason=f"is not the endpoint of the environment ({display_url(env_endpoint)}), so the headers "
                    f"of {header_name} (they may hold its token) are not sent to it",
                    fix="set the otlp_headers valve to the headers this endpoint needs, or leave otlp_endpoint "
                    "empty to use the environment's endpoint",
                    fallback="no headers are sent",
                )
            )
            header_text = ""
    headers = _key_values(
        header_text, header_name, "<hidden: may hold a secret>", "authorization=Bearer%20<token>", problems
    )
    if protocol == PROTOCOL_GRPC:
        # gRPC metadata keys must be lower-case; an upper-case key would fail every export.
        headers = tuple((key.lower(), value) for key, value in headers)
    return ExportSettings(
        endpoint=endpoint,
        protocol=protocol,
        headers=headers,
        insecure=urlsplit(endpoint).scheme == "http",
        endpoint_setting=f"valve {endpoint_name}" if endpoint_name.islower() else endpoint_name,
    )


def _compile_patterns(
    raw: object, problems: list[Problem], setting: str = "redact_patterns"
) -> tuple[tuple[regex.Pattern[str], ...], bool]:
    """-> (patterns, ok). A pattern that does not compile makes ``ok`` false: content is then dropped.

    Patterns are compiled by the ``regex`` package in its ``re``-compatible mode, which can bound
    each match in time (see ``_redact.py``)."""
    if isinstance(raw, str):
        raw = [raw] if raw.strip() else []
    if not isinstance(raw, list | tuple):
        return (), True
    compiled: list[regex.Pattern[str]] = []
    ok = True
    for pattern in raw:
        if not isinstance(pattern, str) or not pattern:
            continue
        try:
            compiled.append(compile_pattern(pattern))
        except (regex.error, ValueError, OverflowError) as error:
            ok = False
            problems.append(
                Problem(
                    setting=setting,
                    value=pattern,
                    reason=f"is not a valid regular expression ({error})",
                    fix="correct the pattern (Python re syntax) or remove it",
                    fallback="no message content is recorded (fail closed)",
                )
            )
    return tuple(compiled), ok


def _whole_number(value: object) -> int | None:
    """``value`` as an int if it is one (also ``600.0`` and ``"600"``); None for anything else: NaN,
    infinities, fractions, booleans, text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str) and len(value.strip()) <= 30:  # longer: no sane setting, and int() of it is slow
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _shown(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else f"{text[:20]}... ({len(text)} characters)"


def _unset(value: object) -> bool:
    """A valve left at its empty value (``None``, ``""``, ``0``, ``[]``): the environment, then the default, decide."""
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        return not value.strip() or _whole_number(value) == 0
    return value is None or value == 0 or (isinstance(value, list | tuple) and not value)


def _bounded_int(
    valves: Mapping[str, object],
    names: tuple[str, str],
    default: int,
    bounds: tuple[int, int],
    problems: list[Problem],
    unit: str,
    environ: Mapping[str, str],
) -> int:
    """The valve (``names[0]``), else the environment variable (``names[1]``), as a whole number within ``bounds``;
    else a Problem and the default (or the maximum when too big)."""
    minimum, maximum = bounds
    name, variable = names
    raw = valves.get(name)
    if _unset(raw):
        name, raw = variable, environ.get(variable, "")
        if not raw.strip():
            return default
    value = _whole_number(raw)
    if value is not None and minimum <= value <= maximum:
        return value
    if value is not None and value > maximum:
        used = maximum
        reason = f"is more than {maximum} {unit}, the most this setting allows"
        fix = f"set it to a whole number from {minimum} to {maximum} (default {default})"
    else:
        used = default
        reason = f"must be a whole number of {unit} from {minimum} to {maximum}"
        fix = f"set it to {default} (the default) or another whole number from {minimum} to {maximum}"
    problems.append(Problem(setting=name, value=_shown(raw), reason=reason, fix=fix, fallback=f"using {used}"))
    return used


def _flag(
    valves: Mapping[str, object],
    names: tuple[str, str],
    default: bool,
    environ: Mapping[str, str],
    problems: list[Problem],
) -> bool:
    """A true/false valve (``names[0]``: a bool, or ``"true"``/``"false"``; ``""`` is unset), else the environment
    variable (``names[1]``), else ``default``."""
    name, variable = names
    value = valves.get(name)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip():
        parsed = parse_bool(value)
        if parsed is not None:
            return parsed
        problems.append(
            Problem(
                setting=name,
                value=_shown(value),
                reason="is not true or false",
                fix=f"set it to 'true' or 'false', or leave it empty to use {variable}",
                fallback=f"using {variable} (else {str(default).lower()})",
            )
        )
    # Content capture is on by default: Langfuse session replay needs the messages (see README, Privacy).
    return _env_flag(environ, variable, default, problems)


def _user_identity(valves: Mapping[str, object], environ: Mapping[str, str], problems: list[Problem]) -> str:
    name, raw = "user_identity", valves.get("user_identity")
    if not isinstance(raw, str) or not raw.strip():
        name, raw = OWUI_OTEL_USER_IDENTITY, environ.get(OWUI_OTEL_USER_IDENTITY, "")
    choice = raw.strip().lower()
    if not choice:
        return USER_IDENTITY_ID
    if choice in USER_IDENTITIES:
        return choice
    problems.append(
        Problem(
            setting=name,
            value=_shown(raw),
            reason="is not a way to identify users",
            fix="set it to 'id' (Open WebUI's user id, the default), 'email' or 'username'",
            fallback="users are identified by their id",
        )
    )
    return USER_IDENTITY_ID


def _price_overrides(
    valves: Mapping[str, object], environ: Mapping[str, str], problems: list[Problem]
) -> tuple[PriceOverride, ...]:
    """The ``price_overrides`` valve, else ``OWUI_OTEL_PRICE_OVERRIDES``; parsed and checked in ``_pricing.py``."""
    name, text = "price_overrides", _text(valves, "price_overrides")
    if not text:
        name, text = OWUI_OTEL_PRICE_OVERRIDES, environ.get(OWUI_OTEL_PRICE_OVERRIDES, "").strip()
    overrides, error = parse_price_overrides(text)
    if error is not None:
        problems.append(
            Problem(
                setting=name,
                value=_shown(text),
                reason=error,
                fix=f"write a JSON object of model pattern -> USD per million tokens, e.g. {OVERRIDES_EXAMPLE}",
                fallback="prices come from the genai-prices table only (no override)",
            )
        )
    return overrides


def resolve_settings(valves: Mapping[str, object], environ: Mapping[str, str]) -> tuple[Settings, list[Problem]]:
    """Build the effective settings: valve if set, else the environment, else the default."""
    problems: list[Problem] = []
    export = _resolve_export(valves, environ, problems)
    env_resource, _ = parse_key_values(environ.get(OTEL_RESOURCE_ATTRIBUTES, ""))
    service_name = (
        _text(valves, "service_name")
        or environ.get(OTEL_SERVICE_NAME, "").strip()
        or dict(env_resource).get("service.name", "").strip()
    )
    resource_text = _text(valves, "resource_attributes")
    valve_resource = _key_values(
        resource_text, "resource_attributes", resource_text, "deployment.environment.name=prod", problems
    )
    # The valve's attributes are added to the environment's (and win): both from here, not from the SDK's own
    # read of os.environ, so that the given environ decides.
    resource_attributes = tuple({**dict(env_resource), **dict(valve_resource)}.items())
    raw_patterns: object = valves.get("redact_patterns")
    patterns_setting = "redact_patterns"
    if _unset(raw_patterns):
        raw_patterns, patterns_setting = env_patterns(environ), OWUI_OTEL_REDACT_PATTERNS
    patterns, patterns_ok = _compile_patterns(raw_patterns, problems, patterns_setting)
    replacement = valves.get("redact_replacement")
    return (
        Settings(
            export=export,
            service_name=service_name or DEFAULT_SERVICE_NAME,
            resource_attributes=resource_attributes,
            capture_content=_flag(
                valves,
                ("capture_message_content", OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT),
                True,
                environ,
                problems,
            )
            and patterns_ok,
            redact_patterns=patterns,
            redact_replacement=replacement if isinstance(replacement, str) else "[REDACTED]",
            max_content_chars=_bounded_int(
                valves,
                ("max_content_chars", OWUI_OTEL_MAX_CONTENT_CHARS),
                DEFAULT_MAX_CONTENT_CHARS,
                (MIN_MAX_CONTENT_CHARS, MAX_MAX_CONTENT_CHARS),
                problems,
                "characters",
                environ,
            ),
            turn_timeout_s=float(
                _bounded_int(
                    valves,
                    ("turn_timeout_seconds", OWUI_OTEL_TURN_TIMEOUT_SECONDS),
                    DEFAULT_TURN_TIMEOUT_S,
                    (1, MAX_TURN_TIMEOUT_S),
                    problems,
                    "seconds",
                    environ,
                )
            ),
            max_open_turns=_bounded_int(
                valves,
                ("max_open_turns", OWUI_OTEL_MAX_OPEN_TURNS),
                DEFAULT_MAX_OPEN_TURNS,
                (1, MAX_MAX_OPEN_TURNS),
                problems,
                "turns",
                environ,
            ),
            record_tasks=_flag(valves, ("record_tasks", OWUI_OTEL_RECORD_TASKS), True, environ, problems),
            record_user_email=_flag(
                valves, ("record_user_email", OWUI_OTEL_RECORD_USER_EMAIL), False, environ, problems
            ),
            user_identity=_user_identity(valves, environ, problems),
            price_overrides=_price_overrides(valves, environ, problems),
        ),
        problems,
    )


def log_problems(problems: list[Problem]) -> None:
    for problem in problems:
        logger.log(logging.ERROR, "otel_filter: %s", problem.message())
