# SPDX-License-Identifier: Apache-2.0
"""otel_filter: every Open WebUI chat turn as an OpenTelemetry GenAI span.

Usage
-----
As an Open WebUI **Pipelines** filter: install ``pipelines/otel_filter_pipeline.py`` (generated
from this package) from its GitHub URL. As an Open WebUI **Function**: paste the same file as a
Filter function and make it global. As a **library** (our bridge server does this)::

    from otel_filter import Pipeline

    pipeline = Pipeline()
    pipeline.valves = pipeline.Valves(otlp_endpoint="http://localhost:4318")
    await pipeline.on_startup()
    body = await pipeline.inlet(body, user)     # returns the same body, untouched
    body = await pipeline.outlet(body, user)
    await pipeline.on_shutdown()                # ends open turns, flushes

Each main chat turn becomes one span ``chat {model}`` (kind CLIENT) from inlet to outlet, with
``gen_ai.*`` request, usage and (opt-out) content attributes, ``gen_ai.conversation.id`` = chat
id and ``user.id``. Title/tags/follow-up calls become records named after the task, inside their turn's trace:
a turn's trace id is derived from Open WebUI's chat and message ids (:mod:`otel_filter.trace_ids`).

Configuration
-------------
Valves (see :class:`Valves`) override the standard environment variables
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_PROTOCOL``, ``OTEL_EXPORTER_OTLP_HEADERS``,
``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``) and ours (``OWUI_OTEL_*``, listed in
:mod:`otel_filter.environment_variables`). A valve left empty (``""``, ``0``, ``[]``) defers to its
variable, then to the default, all resolved in one place from the valves and the ``environ`` mapping
``FilterCore`` is given (``os.environ`` unless told otherwise). A bad value is logged with the setting's name and
the fix; chats keep flowing.

API
---
``Pipeline``, ``Filter``, ``Valves``, ``FilterCore`` (the host-independent core; ``HostParams`` carries what a
Functions host passes to its inlet beside body and user), ``__version__``.
"""

from otel_filter._core import FilterCore
from otel_filter._counters import Counters
from otel_filter._extract import HostParams
from otel_filter.hosts import Filter, Pipeline, Valves
from otel_filter.version import __version__

__all__ = ["Counters", "Filter", "FilterCore", "HostParams", "Pipeline", "Valves", "__version__"]
