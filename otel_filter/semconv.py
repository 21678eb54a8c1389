# SPDX-License-Identifier: Apache-2.0
"""Every attribute, span and scope name the filter emits, defined once.

GenAI semantic conventions v1.41.0 (status: Development), the last text in
open-telemetry/semantic-conventions before the move to semantic-conventions-genai.
We keep plain strings instead of ``opentelemetry.semconv._incubating``: since 0.65b0 every
``gen_ai`` constant there is deprecated and the ``GenAi*Values`` enums warn when called.

No Langfuse-only key lives here on purpose: the filter emits vendor-neutral telemetry and
Langfuse's extras are added by the collector (see ``otel-collector.yaml``, ``transform/langfuse``).
"""

SCHEMA_URL = "https://opentelemetry.io/schemas/1.41.0"
INSTRUMENTATION_SCOPE = "openwebui.otel_bridge"
"""The filter's instrumentation scope (the tracer's name). Kept as it is although the filter is no "bridge" (see the
glossary in ARCHITECTURE.md): deployed collector configs select our spans by it (``filter/langfuse`` drops every
other scope), so a new name would silently cut Langfuse off until every collector config were re-rendered."""

# --- GenAI: operation, provider, request -------------------------------------------------
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_OPERATION_CHAT = "chat"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K = "gen_ai.request.top_k"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_SEED = "gen_ai.request.seed"
GEN_AI_REQUEST_FREQUENCY_PENALTY = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_STOP_SEQUENCES = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"

# --- GenAI: response and usage -----------------------------------------------------------
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
# Not in the conventions (they define no cost attribute): the de-facto name (OpenLIT; Langfuse reads it as the
# total cost). The turn's price in USD, set only when the model has a price (otel_filter/_pricing.py).
GEN_AI_USAGE_COST = "gen_ai.usage.cost"

# --- GenAI: content (opt-in; JSON strings in the shape of gen-ai-*-messages.json) --------
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"

# --- GenAI: evaluation results (event gen_ai.evaluation.result, semconv v1.38+) ----------
GEN_AI_EVALUATION_RESULT = "gen_ai.evaluation.result"
GEN_AI_EVALUATION_NAME = "gen_ai.evaluation.name"
GEN_AI_EVALUATION_SCORE_VALUE = "gen_ai.evaluation.score.value"
GEN_AI_EVALUATION_SCORE_LABEL = "gen_ai.evaluation.score.label"
GEN_AI_EVALUATION_EXPLANATION = "gen_ai.evaluation.explanation"
# The Open WebUI feedback record a score came from (otel_filter.feedback): its id, for updates and deletes.
OPENWEBUI_FEEDBACK_ID = "openwebui.feedback.id"
# The score delivery report (otel_filter.feedback_delivery): a span named OPENWEBUI_FEEDBACK_DELIVERY, sent by the
# Event function when scores failed to reach Langfuse (and once when delivery recovers); counts since the last one.
# `owui-otel doctor` reads them from Jaeger; the collector keeps them out of Langfuse.
OPENWEBUI_FEEDBACK_DELIVERY = "openwebui.feedback.delivery"
OPENWEBUI_FEEDBACK_DELIVERY_TARGET = "openwebui.feedback.delivery.target"
OPENWEBUI_FEEDBACK_DELIVERY_QUEUED = "openwebui.feedback.delivery.queued"
OPENWEBUI_FEEDBACK_DELIVERY_SENT = "openwebui.feedback.delivery.sent"
OPENWEBUI_FEEDBACK_DELIVERY_DELETED = "openwebui.feedback.delivery.deleted"
OPENWEBUI_FEEDBACK_DELIVERY_RETRIED = "openwebui.feedback.delivery.retried"
OPENWEBUI_FEEDBACK_DELIVERY_REJECTED = "openwebui.feedback.delivery.rejected"
OPENWEBUI_FEEDBACK_DELIVERY_DROPPED = "openwebui.feedback.delivery.dropped"
OPENWEBUI_FEEDBACK_DELIVERY_DROPPED_RATINGS = "openwebui.feedback.delivery.dropped_ratings"
OPENWEBUI_FEEDBACK_DELIVERY_PENDING = "openwebui.feedback.delivery.pending"
OPENWEBUI_FEEDBACK_DELIVERY_LAST_ERROR = "openwebui.feedback.delivery.last_error"
# On the report `owui-otel feedback sync` sends after a complete run: the feedbacks it compared with Langfuse's.
OPENWEBUI_FEEDBACK_DELIVERY_SYNCED = "openwebui.feedback.delivery.synced"

# --- General registry attributes ---------------------------------------------------------
ERROR_TYPE = "error.type"
USER_ID = "user.id"
USER_EMAIL = "user.email"
SESSION_ID = "session.id"
SERVICE_NAME = "service.name"
TELEMETRY_DISTRO_NAME = "telemetry.distro.name"
TELEMETRY_DISTRO_VERSION = "telemetry.distro.version"

# --- Open WebUI specifics (our own namespace) --------------------------------------------
OPENWEBUI_CHAT_ID = "openwebui.chat.id"
OPENWEBUI_CHAT_KIND = "openwebui.chat.kind"
OPENWEBUI_MESSAGE_ID = "openwebui.message.id"
OPENWEBUI_USER_MESSAGE_ID = "openwebui.user_message.id"
OPENWEBUI_MODEL_ID = "openwebui.model.id"
OPENWEBUI_MODEL_NAME = "openwebui.model.name"
OPENWEBUI_MODEL_OWNED_BY = "openwebui.model.owned_by"
OPENWEBUI_USER_ROLE = "openwebui.user.role"
OPENWEBUI_TASK = "openwebui.task"
OPENWEBUI_FEATURES = "openwebui.features"
OPENWEBUI_FEATURES_UNKNOWN_COUNT = "openwebui.features.unknown_count"
OPENWEBUI_TOOL_IDS = "openwebui.tool_ids"
OPENWEBUI_TOOL_IDS_COUNT = "openwebui.tool_ids.count"
OPENWEBUI_FILE_COUNT = "openwebui.file_count"
OPENWEBUI_TURN_END_REASON = "openwebui.turn.end_reason"
OPENWEBUI_TURN_INLET_SEEN = "openwebui.turn.inlet_seen"
OPENWEBUI_CONTENT_TRUNCATED = "openwebui.content.truncated"
OPENWEBUI_HOST = "openwebui.host"
OPENWEBUI_SYNTHETIC = "openwebui.synthetic"
"""Resource attribute of turns ``owui-otel doctor`` makes up to prove the chain (never user traffic)."""
# The parts of gen_ai.usage.cost, USD (they add up to it). Our namespace, not gen_ai.usage.*: Langfuse reads every
# other gen_ai.usage.* key as a token count. input = uncached input tokens; output = output without reasoning.
OPENWEBUI_COST_INPUT = "openwebui.cost.input"
OPENWEBUI_COST_OUTPUT = "openwebui.cost.output"
OPENWEBUI_COST_CACHE_READ = "openwebui.cost.cache_read"
OPENWEBUI_COST_CACHE_WRITE = "openwebui.cost.cache_write"
OPENWEBUI_COST_REASONING = "openwebui.cost.reasoning"
# Which price was used: the price table's model id ("gpt-4o-mini"), and "genai-prices" or "override".
OPENWEBUI_COST_MODEL = "openwebui.cost.model"
OPENWEBUI_COST_SOURCE = "openwebui.cost.source"
# Open WebUI's own version, where the filter can know it: only in-process (a Function), from the running
# ``open_webui.env.VERSION``. Neither the Pipelines server nor the bridge is told it by any payload.
OPENWEBUI_VERSION = "openwebui.version"
COST_SOURCE_UNAVAILABLE = "unavailable"
"""``openwebui.cost.source`` of a turn with usage but no cost because genai-prices cannot be imported where the
filter runs: recorded so that the doctor, reading spans from Jaeger, names that fix rather than a price override."""

# Values of ``openwebui.turn.end_reason``: why the span ended.
END_OUTLET = "outlet"
END_TIMEOUT = "timeout"
END_CAPACITY = "capacity"
END_SHUTDOWN = "shutdown"
END_OPERATOR = "ended_by_operator"
END_ORPHAN_OUTLET = "orphan_outlet"
END_TASK = "task"
# An API call on an Open WebUI that runs outlets only for its own web UI (<= 0.8: the browser triggers them via
# /api/chat/completed; langfuse/langfuse#6026): its outlet can never come, so the turn is not an error. Ended at
# once when nothing more can arrive (no stream hook, or not streamed), else at the last stream chunk seen.
END_NO_OUTLET_EXPECTED = "no_outlet_expected"

# ``error.type`` for a turn that never got its outlet (Stop, provider error, closed tab, or
# shed because too many turns were open, or still open at shutdown).
ERROR_ABANDONED = "abandoned"
# ``error.type`` when the outlet carries an error message instead of a reply.
ERROR_RESPONSE = "response_error"
