# SPDX-License-Identifier: Apache-2.0
"""Environment variables the filter reads; each is a default that a valve can override.

Every setting resolves the same way, in one place (``_settings.resolve_settings``): the valve when it is set, else
the environment variable, else the default. A valve is *unset* when it holds its empty value (``""``, ``0``, ``[]``),
which is what a fresh install shows.

The standard OpenTelemetry variables (``OTEL_EXPORTER_OTLP_*``, ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``) are read as the SDK documents them. The ``OWUI_OTEL_*``
variables are ours.
"""

OTEL_EXPORTER_OTLP_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
"""Base OTLP endpoint; ``/v1/traces`` is appended for HTTP. Default ``http://localhost:4318``."""

OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
"""Full traces URL, used as is; wins over ``OTEL_EXPORTER_OTLP_ENDPOINT``."""

OTEL_EXPORTER_OTLP_PROTOCOL = "OTEL_EXPORTER_OTLP_PROTOCOL"
"""``http/protobuf`` (default) or ``grpc``."""

OTEL_EXPORTER_OTLP_TRACES_PROTOCOL = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
"""Traces-only protocol; wins over ``OTEL_EXPORTER_OTLP_PROTOCOL``."""

OTEL_EXPORTER_OTLP_HEADERS = "OTEL_EXPORTER_OTLP_HEADERS"
"""``key=value`` pairs separated by commas, values URL-encoded (``authorization=Bearer%20abc``)."""

OTEL_EXPORTER_OTLP_TRACES_HEADERS = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
"""Traces-only headers; win over ``OTEL_EXPORTER_OTLP_HEADERS``."""

OTEL_SERVICE_NAME = "OTEL_SERVICE_NAME"
"""``service.name`` of the spans. Default ``open-webui``."""

OTEL_RESOURCE_ATTRIBUTES = "OTEL_RESOURCE_ATTRIBUTES"
"""Extra resource attributes, ``key=value`` pairs separated by commas."""

OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""Content capture: ``true``/``false``/``1``/``0`` or ``NO_CONTENT``/``SPAN_ONLY``/``EVENT_ONLY``/
``SPAN_AND_EVENT``. Unset means **on** here (Langfuse session replay needs content); an
unknown value means off, with one warning."""

OWUI_OTEL_REDACT_PATTERNS = "OWUI_OTEL_REDACT_PATTERNS"
"""Regular expressions applied to message content before it is recorded: a JSON array of
strings, or one pattern per line."""

OWUI_OTEL_MAX_CONTENT_CHARS = "OWUI_OTEL_MAX_CONTENT_CHARS"
"""Size limit of each content attribute, in characters of JSON. Default 20000."""

OWUI_OTEL_TURN_TIMEOUT_SECONDS = "OWUI_OTEL_TURN_TIMEOUT_SECONDS"
"""A turn with no outlet after this many seconds is ended as abandoned. Default 600."""

OWUI_OTEL_MAX_OPEN_TURNS = "OWUI_OTEL_MAX_OPEN_TURNS"
"""Most turns awaiting an outlet; the oldest is ended as abandoned beyond it. Default 10000."""

OWUI_OTEL_RECORD_TASKS = "OWUI_OTEL_RECORD_TASKS"
"""``true`` (default): title/tags/follow-up/... calls become their own spans; ``false`` skips them."""

OWUI_OTEL_RECORD_USER_EMAIL = "OWUI_OTEL_RECORD_USER_EMAIL"
"""``true`` adds ``user.email``; default ``false``. Independent of ``OWUI_OTEL_USER_IDENTITY``."""

OWUI_OTEL_USER_IDENTITY = "OWUI_OTEL_USER_IDENTITY"
"""What identifies a user in every backend (``user.id``, Langfuse's user): ``id`` (default, Open WebUI's user id),
``email`` or ``username`` (the Open WebUI username, else the display name). A user without the chosen field is
identified by their id (counted as ``user_identity_fallbacks``)."""

OWUI_OTEL_PRICE_OVERRIDES = "OWUI_OTEL_PRICE_OVERRIDES"
"""Prices that win over the genai-prices table: a JSON object of model pattern (glob, case-insensitive) ->
``{"input": usd, "output": usd, "cache_read": usd, "cache_write": usd}`` per million tokens."""

LANGFUSE_HOST = "LANGFUSE_HOST"
"""Langfuse's base URL, e.g. ``https://cloud.langfuse.com`` (the Event function's scores; the Langfuse SDKs read
the same variable). No default: without it, no scores go to Langfuse."""

LANGFUSE_PUBLIC_KEY = "LANGFUSE_PUBLIC_KEY"
"""Project public key (``pk-lf-...``), the same variable the Langfuse SDKs read."""

LANGFUSE_SECRET_KEY = "LANGFUSE_SECRET_KEY"
"""Project secret key (``sk-lf-...``). Never logged."""
