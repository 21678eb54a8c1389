# SPDX-License-Identifier: Apache-2.0
"""Pure extraction: Open WebUI inlet/outlet/stream payloads -> small frozen records. No OTel here.

Everything is read defensively: a payload from any Open WebUI version (0.5 to 0.12), any
provider, or a broken client must give a record, never an exception and never a mutation of
the payload. Field sources: the inlet body is built in open-webui ``backend/open_webui/main.py``
(``chat_completion``), the outlet body in ``utils/middleware.py`` (0.12.x; ``utils/chat.py`` via the
browser's ``/api/chat/completed`` in 0.6.x), usage in ``utils/response.py``; the captures in
``tests/fixtures/openwebui/`` show each shape.

    >>> body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}],
    ...         "metadata": {"chat_id": "c1", "message_id": "m1"}}
    >>> request = extract_request(body, {"id": "u1"})                            # at inlet
    >>> request.model_id, request.chat_id, request.message_id, request.user_id
    ('gpt-4o', 'c1', 'm1', 'u1')
    >>> reply = {"role": "assistant", "content": "Hello", "usage": {"prompt_tokens": 3, "completion_tokens": 1}}
    >>> result = extract_result({"id": "m1", "chat_id": "c1", "model": "gpt-4o", "messages": [reply]})  # at outlet
    >>> result.message_id, result.usage.input_tokens, result.usage.output_tokens
    ('m1', 3, 1)
    >>> extract_chunk({"choices": [{"delta": {"content": "He"}}]}).has_output   # per stream event (Functions only)
    True
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from otel_filter._limits import ERROR_TEXT_CHARS, LIST_ITEM_KEEP_CHARS, MAX_LIST_ITEMS, REDACTION_MARGIN_CHARS
from otel_filter._settings import USER_IDENTITY_EMAIL, USER_IDENTITY_ID, USER_IDENTITY_USERNAME
from otel_filter._usage import Usage, extract_usage, reply_usage
from otel_filter._values import as_count, as_dict, as_float, as_int, as_str, dig

# --- records ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HostParams:
    """What a host passes to an inlet beside the body and the user: Open WebUI Functions' ``__metadata__``,
    ``__model__``, ``__message_id__`` and ``__chat_id__`` (the Pipelines server passes none). Read as they come."""

    metadata: object = None
    model: object = None
    message_id: object = None
    chat_id: object = None


NO_HOST_PARAMS = HostParams()


@dataclass(frozen=True, slots=True)
class TurnRequest:
    """What the inlet tells us about a turn (or a task call)."""

    message_id: str | None
    chat_id: str | None
    conversation_id: str | None
    chat_kind: str
    task: str | None
    user_id: str | None
    user_email: str | None
    user_role: str | None
    model_id: str | None
    model_name: str | None
    request_model: str | None
    provider: str
    owned_by: str | None
    user_message_id: str | None
    temperature: float | None
    top_p: float | None
    top_k: float | None
    max_tokens: int | None
    seed: int | None
    frequency_penalty: float | None
    presence_penalty: float | None
    stop_sequences: tuple[str, ...]  # content: exported redacted, and only with capture on
    choice_count: int | None
    stream: bool | None
    features: tuple[str, ...]  # only Open WebUI's own feature names (KNOWN_FEATURES)
    unknown_features: int  # how many other keys were switched on: counted, never named
    tool_ids: tuple[str, ...]  # content (API callers choose them): redacted with capture on, else counted
    tool_count: int | None
    file_count: int | None
    conversation_fingerprint: int | None
    last_user_fingerprint: int | None
    openwebui_version: str | None = None  # only in-process (a Function); see running_openwebui_version
    outlet_expected: bool = True  # False: an API call on an Open WebUI that never runs its outlet (<= 0.8)
    user_identity: str | None = None  # what identifies the user (the user_identity setting); None: not in the payload


@dataclass(frozen=True, slots=True)
class TurnResult:
    """What the outlet tells us about the reply."""

    message_id: str | None
    chat_id: str | None
    model_id: str | None
    user_id: str | None
    usage: Usage
    finish_reason: str | None
    error_message: str | None
    # References into the outlet body, read only while the hook runs: the assistant reply, and the
    # messages around it. Hashed only when an outlet must be matched by its conversation: most turns
    # carry their id, so the copy and the hashing are skipped for them.
    reply: dict[str, Any] | None = None
    messages: object = None

    def fingerprints(self) -> tuple[int | None, int | None]:
        """(conversation, last user message) fingerprints of the messages before the reply."""
        before_reply = self.messages
        if isinstance(before_reply, list) and self.reply is not None:
            # The reply is the last assistant message: search from the end, not through the whole body.
            index = next((i for i in range(len(before_reply) - 1, -1, -1) if before_reply[i] is self.reply), None)
            if index is not None:
                before_reply = before_reply[max(index - FINGERPRINT_MESSAGES * 4, 0) : index]
        return conversation_fingerprints(before_reply)


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """What one OpenAI ``chat.completion.chunk`` tells us (Functions ``stream`` hook)."""

    has_output: bool
    response_id: str | None
    response_model: str | None
    finish_reason: str | None
    usage: Usage | None


# --- chat ids ---------------------------------------------------------------------------

CHAT_SAVED = "saved"
CHAT_TEMPORARY = "temporary"
CHAT_CHANNEL = "channel"
CHAT_NONE = "none"


def normalize_chat_id(chat_id: str | None, session_id: str | None = None) -> tuple[str | None, str]:
    """Open WebUI chat id forms -> (conversation id, kind).

    ``temporary:<id>`` (0.12), ``local:<socket id>`` (0.6) and ``local`` (older) are temporary
    chats; ``channel:<id>`` is a channel; ``''``/``None`` is an API call with no chat.

    >>> normalize_chat_id("temporary:abc")
    ('abc', 'temporary')
    >>> normalize_chat_id("local", session_id="sid1")
    ('sid1', 'temporary')
    """
    if not chat_id:
        return None, CHAT_NONE
    for prefix, kind in (("temporary:", CHAT_TEMPORARY), ("local:", CHAT_TEMPORARY), ("channel:", CHAT_CHANNEL)):
        if chat_id.startswith(prefix):
            rest = chat_id[len(prefix) :]
            return (rest or session_id), kind
    if chat_id == "local":
        # Oldest temporary form: the chat has no id of its own; the socket session is the closest.
        return session_id, CHAT_TEMPORARY
    return chat_id, CHAT_SAVED


# --- provider ---------------------------------------------------------------------------

# Vendor names as /models ``owned_by`` values or OpenRouter-style ``vendor/model`` prefixes,
# mapped to semconv ``gen_ai.provider.name`` values.
_KNOWN_PROVIDERS = {
    "openai": "openai",
    "system": "openai",
    "openai-internal": "openai",
    "anthropic": "anthropic",
    "google": "gcp.gemini",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "mistral": "mistral_ai",
    "mistralai": "mistral_ai",
    "deepseek": "deepseek",
    "x-ai": "x_ai",
    "xai": "x_ai",
    "cohere": "cohere",
    "groq": "groq",
    "perplexity": "perplexity",
    "azure": "azure.ai.openai",
    "bedrock": "aws.bedrock",
    "ollama": "ollama",
}


def derive_provider(model_info: Mapping[str, Any] | None, model_id: str | None) -> tuple[str, str | None]:
    """(``gen_ai.provider.name``, raw ``owned_by``) from Open WebUI's model entry.

    Open WebUI's ``owned_by`` is ``openai`` for *any* OpenAI-compatible connection, so the
    vendor comes from the raw ``/models`` entry (``model.openai.owned_by``) or a ``vendor/``
    model-id prefix when either names a known vendor; otherwise the connection type stands.
    """
    owned_by = as_str(dig(model_info, "owned_by"))
    raw_owned_by = as_str(dig(model_info, "openai", "owned_by"))
    if owned_by == "ollama" or as_dict(dig(model_info, "ollama")) is not None:
        return "ollama", owned_by
    if owned_by == "arena":
        return "openwebui.arena", owned_by
    if as_dict(dig(model_info, "pipeline")) is not None or as_dict(dig(model_info, "pipe")) is not None:
        return "openwebui.pipeline", owned_by
    for candidate in (raw_owned_by, model_id.split("/", 1)[0] if model_id and "/" in model_id else None):
        if candidate and candidate.lower() in _KNOWN_PROVIDERS:
            return _KNOWN_PROVIDERS[candidate.lower()], raw_owned_by or owned_by
    if owned_by:
        return _KNOWN_PROVIDERS.get(owned_by.lower(), owned_by.lower()), raw_owned_by or owned_by
    return "openai" if raw_owned_by else "openwebui", raw_owned_by


# --- message fingerprints (correlating outlets that carry no inlet id) ------------------


def message_text(message: Mapping[str, Any]) -> str:
    """The text of an OpenAI-style message whether ``content`` is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return "\n".join(t for t in texts if t)
    return ""


# Fingerprints run on the hook thread, so their cost must not grow with the body: each text counts
# by its length and its first and last characters, and only the newest messages count.
FINGERPRINT_TEXT_EDGE = 2048
FINGERPRINT_MESSAGES = 256
_FINGERPRINT_PARTS = 64


def _bounded_text(message: Mapping[str, Any]) -> str:
    """Length, head and tail of the message text: as telling as the whole text for matching an
    outlet to its inlet, at a cost that does not depend on the text's size."""
    content = message.get("content")
    if isinstance(content, list) and len(content) > _FINGERPRINT_PARTS:
        half = _FINGERPRINT_PARTS // 2
        content = [*content[:half], {"text": f"[{len(content)} parts]"}, *content[-half:]]
        text = message_text({"content": content})
    else:
        text = message_text(message)
    if len(text) <= 2 * FINGERPRINT_TEXT_EDGE:
        return text
    return f"{text[:FINGERPRINT_TEXT_EDGE]}\x02{len(text)}\x02{text[-FINGERPRINT_TEXT_EDGE:]}"


def _fingerprint(items: list[tuple[str, str]]) -> int | None:
    if not items:
        return None
    digest = hashlib.blake2b(digest_size=8)
    for role, text in items:
        digest.update(role.encode("utf-8", "replace"))
        digest.update(b"\x00")
        digest.update(text.encode("utf-8", "replace"))
        digest.update(b"\x01")
    return int.from_bytes(digest.digest(), "big")


def conversation_fingerprints(messages: object) -> tuple[int | None, int | None]:
    """(fingerprint of the user/assistant exchange, fingerprint of the last user message).

    System messages are left out: Open WebUI may inject one after our inlet ran, and the
    outlet of an API call repeats the request messages after that processing. Bounded work:
    the newest ``FINGERPRINT_MESSAGES`` user/assistant messages, each by :func:`_bounded_text`.
    """
    if not isinstance(messages, list):
        return None, None
    exchange: list[tuple[str, str]] = []
    last_user: str | None = None
    scanned = 0
    for index in range(len(messages) - 1, -1, -1):
        scanned += 1
        if len(exchange) >= FINGERPRINT_MESSAGES or scanned > FINGERPRINT_MESSAGES * 4:
            break
        message = messages[index]
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role != "user" and role != "assistant":
            continue
        text = _bounded_text(message)
        exchange.append((role, text))
        if role == "user" and last_user is None:
            last_user = text
    exchange.reverse()
    return _fingerprint(exchange), (_fingerprint([("user", last_user)]) if last_user is not None else None)


# --- Open WebUI version and whether an outlet will come ------------------------------------


UNKNOWN_OPENWEBUI_VERSION = "0.0.0"


def running_openwebui_version() -> str | None:
    """Open WebUI's version when the filter runs inside it (a Function): ``VERSION`` of the already imported
    ``open_webui.env``. Never imported here, so outside Open WebUI (Pipelines, the bridge) the answer is None.

    >>> running_openwebui_version() is None   # not inside Open WebUI
    True
    """
    module = sys.modules.get("open_webui.env")
    version = as_str(getattr(module, "VERSION", None)) if module is not None else None
    # "0.0.0" is Open WebUI's own "unknown": env.py falls back to it when neither package.json nor (started by
    # `open-webui serve`) the installed package's metadata gave a version.
    return None if version == UNKNOWN_OPENWEBUI_VERSION else version


# Since 0.9.0 the backend runs outlets itself, API calls included (Open WebUI CHANGELOG 0.9.0, #3237). Before, only
# the browser triggered them (POST /api/chat/completed), so an API call never got one (langfuse/langfuse#6026).
BACKEND_OUTLETS_SINCE = (0, 9)


def _major_minor(version: str) -> tuple[int, int] | None:
    parts = version.lstrip("v").split(".")
    if len(parts) < 2 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    return int(parts[0]), int(parts[1])


def outlet_expected(meta: Mapping[str, Any], message_id: str | None, chat_id: str | None, version: str | None) -> bool:
    """Will this main-chat inlet ever get an outlet? False only for an API call (no message id, no chat) on an Open
    WebUI whose outlets come from the browser (<= 0.8). The version decides when it is known (in-process); otherwise
    the inlet's metadata shape does: Open WebUI 0.5-0.6 build it with ``parent_message_id`` (from the body's
    ``parent_id``) and no ``user_message_id``; 0.12 the other way round. Anything else counts as expecting an outlet,
    so a real failure is never hidden.

    >>> outlet_expected({"parent_message_id": None, "chat_id": None}, None, None, None)   # 0.6 API call
    False
    >>> outlet_expected({"user_message_id": None, "chat_id": ""}, None, "", None)          # 0.12 API call
    True
    >>> outlet_expected({}, None, None, "0.6.43"), outlet_expected({}, None, None, "0.12.4")
    (False, True)
    """
    if message_id is not None or chat_id:
        return True  # a web UI turn: its browser (<= 0.8) or the backend (>= 0.9) runs the outlet
    era = _major_minor(version) if version else None
    if era is not None:
        return era >= BACKEND_OUTLETS_SINCE
    return not ("parent_message_id" in meta and "user_message_id" not in meta)


# --- request ----------------------------------------------------------------------------


_EMPTY: dict[str, Any] = {}
# Open WebUI's own feature switches (body.features, 0.5-0.12). Any other key is the caller's text.
KNOWN_FEATURES = frozenset({"web_search", "image_generation", "code_interpreter", "voice", "memory"})
# An open turn keeps what its inlet said for up to turn_timeout_seconds: lists and strings that
# are content are kept short (the attribute needs no more).
# Error text keeps a margin beyond what the status shows, so redaction sees a secret at the cut whole.
_ERROR_KEEP_CHARS = ERROR_TEXT_CHARS + REDACTION_MARGIN_CHARS
_MANY_FEATURES = 256
"""A features dict with more keys than this is not scanned key by key (only its size counts)."""


_SORTED_FEATURES = tuple(sorted(KNOWN_FEATURES))


def _unknown_features(features: dict[str, Any]) -> int:
    """How many other keys are switched on (for a huge dict: how many other keys there are at all)."""
    if len(features) > _MANY_FEATURES:
        return len(features) - sum(1 for name in KNOWN_FEATURES if name in features)
    return sum(1 for key, value in features.items() if value is True and key not in KNOWN_FEATURES)


def _bounded_strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    strings = (item for item in value[:MAX_LIST_ITEMS] if isinstance(item, str))
    return tuple(item[:LIST_ITEM_KEEP_CHARS] for item in strings)


def _request_params(body: dict[str, Any]) -> dict[str, Any]:
    """Sampling parameters from the top level, or Ollama's ``options`` when the top level has none."""
    options = as_dict(body.get("options"))
    sources = (body, options) if options else (body,)

    def pick(*keys: str) -> object:
        for source in sources:
            for key in keys:
                value = source.get(key)
                if value is not None:
                    return value
        return None

    stop = pick("stop")
    if isinstance(stop, str):
        stop = [stop]
    stop_sequences = _bounded_strings(stop)
    choice_count = as_int(pick("n"))
    return {
        "temperature": as_float(pick("temperature")),
        "top_p": as_float(pick("top_p")),
        "top_k": as_float(pick("top_k")),
        "max_tokens": as_count(pick("max_tokens", "max_completion_tokens", "num_predict")),
        "seed": as_int(pick("seed")),
        "frequency_penalty": as_float(pick("frequency_penalty")),
        "presence_penalty": as_float(pick("presence_penalty")),
        "stop_sequences": stop_sequences,
        "choice_count": choice_count if choice_count is not None and choice_count != 1 else None,
    }


def task_turn_message_id(meta: Mapping[str, Any]) -> str | None:
    """The assistant message id of the turn a task call serves, from its ``metadata.task_body``.

    Open WebUI 0.12 sends task inlets without ``metadata.message_id``: follow-ups name the message in
    ``task_body.message_id``; title and tags calls carry the chat so far in ``task_body.messages``, whose last
    assistant message is the turn's (0.6 task inlets repeat the turn's ``metadata.message_id`` instead). A task sent
    straight to ``/api/v1/tasks/...`` has no ids: it belongs to no turn.

        >>> task_turn_message_id({"task_body": {"messages": [{"id": "u1", "role": "user"},
        ...                                                  {"id": "a1", "role": "assistant"}]}})
        'a1'
    """
    named = as_str(dig(meta, "task_body", "message_id"))
    if named is not None:
        return named
    messages = dig(meta, "task_body", "messages")
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "assistant":
                return as_str(message.get("id"))
    return None


def extract_request(
    body: object,
    user: object = None,
    *,
    params: HostParams = NO_HOST_PARAMS,
    identity: str = USER_IDENTITY_ID,
) -> TurnRequest:
    """Read an inlet body (and the Functions dunder params when given) into a :class:`TurnRequest`.

    ``identity`` (``id``, ``email`` or ``username``) picks the user field that becomes ``user_identity``.

    ``body["metadata"]`` wins over ``params`` (:class:`HostParams`) when both are present, because it is what the
    Pipelines server also sees.
    """
    body_map = as_dict(body) or _EMPTY
    meta = as_dict(body_map.get("metadata")) or as_dict(params.metadata) or _EMPTY
    user_map = as_dict(user) or _EMPTY
    model_info = as_dict(meta.get("model")) or as_dict(params.model)
    model_map = model_info or _EMPTY

    raw_chat_id = as_str(meta.get("chat_id")) or as_str(params.chat_id)
    conversation_id, chat_kind = normalize_chat_id(raw_chat_id, as_str(meta.get("session_id")))
    task = as_str(meta.get("task"))
    msg_id = (
        as_str(meta.get("message_id"))
        or as_str(params.message_id)
        or (task_turn_message_id(meta) if task else as_str(body_map.get("id")))
    )
    model_id = as_str(body_map.get("model")) or as_str(model_map.get("id"))
    base_model = as_str(dig(model_map, "info", "base_model_id"))
    provider, owned_by = derive_provider(model_info, base_model or model_id)
    features = as_dict(body_map.get("features")) or as_dict(meta.get("features")) or _EMPTY
    known_features = tuple(name for name in _SORTED_FEATURES if features.get(name) is True)
    tool_ids = body_map.get("tool_ids") or meta.get("tool_ids")
    files = body_map.get("files") or meta.get("files")
    stream = body_map.get("stream")
    # Only an inlet without a message id (an API call) is later matched by its conversation.
    conversation_fp, last_user_fp = (
        conversation_fingerprints(body_map.get("messages")) if msg_id is None else (None, None)
    )
    openwebui_version = running_openwebui_version()
    user_id = as_str(user_map.get("id")) or as_str(meta.get("user_id"))
    return TurnRequest(
        message_id=msg_id,
        chat_id=raw_chat_id,
        conversation_id=conversation_id,
        chat_kind=chat_kind,
        task=task,
        user_id=user_id,
        user_email=as_str(user_map.get("email")),
        user_role=as_str(user_map.get("role")),
        model_id=model_id,
        model_name=as_str(model_map.get("name")),
        request_model=base_model or model_id,
        provider=provider,
        owned_by=owned_by,
        user_message_id=as_str(meta.get("user_message_id")),
        stream=stream if isinstance(stream, bool) else None,
        features=known_features,
        unknown_features=_unknown_features(features),
        tool_ids=_bounded_strings(tool_ids),
        tool_count=len(tool_ids) if isinstance(tool_ids, list) and tool_ids else None,
        file_count=len(files) if isinstance(files, list) else None,
        conversation_fingerprint=conversation_fp,
        last_user_fingerprint=last_user_fp,
        openwebui_version=openwebui_version,
        outlet_expected=task is not None or outlet_expected(meta, msg_id, raw_chat_id, openwebui_version),
        user_identity=user_id if identity == USER_IDENTITY_ID else _user_field(user_map, identity),
        **_request_params(body_map),
    )


def _user_field(user_map: Mapping[str, object], identity: str) -> str | None:
    """The user's email, or their username (when Open WebUI has one; else the display name ``name``)."""
    if identity == USER_IDENTITY_EMAIL:
        return as_str(user_map.get("email"))
    if identity == USER_IDENTITY_USERNAME:
        return as_str(user_map.get("username")) or as_str(user_map.get("name"))
    return None


# --- result -----------------------------------------------------------------------------

_FINISH_REASONS = {
    "tool_calls": "tool_call",
    "function_call": "tool_call",
    "tool_use": "tool_call",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
}


def normalize_finish_reason(value: object) -> str | None:
    """OpenAI/Anthropic/Ollama finish reasons -> semconv (``tool_calls`` -> ``tool_call``)."""
    text = as_str(value)
    if text is None:
        return None
    text = text.strip().lower()
    return _FINISH_REASONS.get(text, text) or None


def last_assistant(messages: object) -> dict[str, Any] | None:
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "assistant":
            return message
    return None


def _error_message(reply: Mapping[str, Any]) -> str | None:
    """The reply's error text (content: the span status shows it redacted, and only with capture on)."""
    error = reply.get("error")
    if isinstance(error, str):
        return error[:_ERROR_KEEP_CHARS] or None
    if isinstance(error, dict):
        text = error.get("content") or error.get("message")
        return text[:_ERROR_KEEP_CHARS] if isinstance(text, str) and text else "error"
    return "error" if error is True else None


def extract_result(body: object, user: object = None) -> TurnResult:
    """Read an outlet body into a :class:`TurnResult`."""
    body_map = as_dict(body) or {}
    messages = body_map.get("messages")
    reply = last_assistant(messages)
    user_id = as_str(dig(as_dict(user), "id"))
    return TurnResult(
        message_id=as_str(body_map.get("id")) or (as_str(reply.get("id")) if reply else None),
        chat_id=as_str(body_map.get("chat_id")),
        model_id=as_str(body_map.get("model")) or (as_str(reply.get("model")) if reply else None),
        user_id=user_id,
        usage=reply_usage(reply) if reply else extract_usage(body_map.get("usage")),
        finish_reason=normalize_finish_reason(reply.get("finish_reason")) if reply else None,
        error_message=_error_message(reply) if reply else None,
        reply=reply,
        messages=messages,
    )


# --- stream chunks ----------------------------------------------------------------------

_OUTPUT_DELTA_KEYS = ("content", "reasoning_content", "reasoning", "tool_calls", "refusal", "function_call")


def extract_chunk(event: object) -> StreamChunk | None:
    """Read one ``chat.completion.chunk`` dict; ``None`` when the event is not one."""
    chunk = as_dict(event)
    if chunk is None:
        return None
    has_output = False
    finish_reason = None
    choices = chunk.get("choices")
    if isinstance(choices, list):
        for choice in choices:
            choice_map = as_dict(choice)
            if choice_map is None:
                continue
            delta = as_dict(choice_map.get("delta")) or as_dict(choice_map.get("message")) or {}
            if any(delta.get(key) for key in _OUTPUT_DELTA_KEYS):
                has_output = True
            finish_reason = normalize_finish_reason(choice_map.get("finish_reason")) or finish_reason
    usage_map = as_dict(chunk.get("usage"))
    return StreamChunk(
        has_output=has_output,
        response_id=as_str(chunk.get("id")),
        response_model=as_str(chunk.get("model")),
        finish_reason=finish_reason,
        usage=extract_usage(usage_map) if usage_map else None,
    )
