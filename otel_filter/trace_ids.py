# SPDX-License-Identifier: Apache-2.0
"""A turn's trace id and span id, derived from Open WebUI's own ids: the same in every process, at any time.

Whatever knows a turn's chat id and assistant message id can name its trace without asking anyone: the filter when
it opens the turn, a task call (title, tags, follow-ups) that arrives after the turn ended or in another process,
and a later rating of the answer (Open WebUI's feedback record carries ``meta.chat_id`` and ``meta.message_id``).

- The **seed** is ``"<chat id>:<assistant message id>"``: the chat id as Open WebUI sends it (the inlet's
  ``metadata.chat_id``, the feedback's ``meta.chat_id``; empty when there is none) and the id of the assistant
  message the turn generates (the inlet's ``metadata.message_id``, the outlet's ``body["id"]``, the feedback's
  ``meta.message_id``). A turn without a message id (an API call to Open WebUI 0.12 without a chat) has no seed:
  its trace id is random.
- The **trace id** is derived exactly as the Langfuse SDK's ``Langfuse.create_trace_id(seed=...)`` does (the first
  16 bytes of the seed's SHA-256, as 32 lowercase hex characters), so a Langfuse client can compute it too.
- The **span id** of the turn's span is derived as the Langfuse SDK derives an observation id from a seed (the
  first 8 bytes of the same SHA-256, 16 hex characters): a score can name the turn's observation as well.

    >>> trace_id_from_seed("external-system-123456")  # == Langfuse.create_trace_id(seed="external-system-123456")
    '740604b985af36ca62718022f25edd60'
    >>> turn_seed("5ebb5e33-e6c7-4f28-98ed-b870a4078d3f", "62b773af-0938-43b7-a6d2-b959b61cd457")
    '5ebb5e33-e6c7-4f28-98ed-b870a4078d3f:62b773af-0938-43b7-a6d2-b959b61cd457'
    >>> turn_trace_id("5ebb5e33-e6c7-4f28-98ed-b870a4078d3f", "62b773af-0938-43b7-a6d2-b959b61cd457")
    'a02785eeb0759cf9da69a07188fffe37'
    >>> turn_span_id("5ebb5e33-e6c7-4f28-98ed-b870a4078d3f", "62b773af-0938-43b7-a6d2-b959b61cd457")
    'a02785eeb0759cf9'
    >>> turn_trace_id("5ebb5e33-e6c7-4f28-98ed-b870a4078d3f", None) is None   # no message id: no derivation
    True

How it meets the rest of the trace context:

- **A caller's ``traceparent``** (the bridge server's, or Open WebUI's own request span in Functions mode) stays a
  span *link* on the turn span, as before: the derived id wins, because only a derived id lets task calls and
  ratings find the turn, and Open WebUI's request span ends long before the turn does. An explicit ``parent``
  context given to ``FilterCore.inlet`` (an embedding application) wins over derivation.
- **Sampling**: a ratio sampler (``OTEL_TRACES_SAMPLER=traceidratio`` or ``parentbased_traceidratio``) decides from
  the trace id alone, so every process and every later record of the turn gets the same decision for the same
  derived id. Task records ask the same sampler about the turn's trace id, so they are kept exactly when their
  turn is.
"""

from __future__ import annotations

import hashlib

__all__ = ["span_id_from_seed", "trace_id_from_seed", "turn_seed", "turn_span_id", "turn_trace_id"]


def turn_seed(chat_id: str | None, message_id: str | None) -> str | None:
    """The seed of a turn's ids: ``"<chat id>:<assistant message id>"``; None without a message id."""
    if not message_id:
        return None
    return f"{chat_id or ''}:{message_id}"


def _digest(seed: str) -> bytes:
    # "surrogatepass": a payload id may hold a lone surrogate, which plain UTF-8 (and so the SDK) cannot encode;
    # every other string encodes exactly as the SDK encodes it.
    return hashlib.sha256(seed.encode("utf-8", "surrogatepass")).digest()


def trace_id_from_seed(seed: str) -> str:
    """32 lowercase hex characters, equal to the Langfuse SDK's ``Langfuse.create_trace_id(seed=seed)`` for any
    non-empty seed (the SDK answers an empty seed with a random id)."""
    return _digest(seed)[:16].hex()


def span_id_from_seed(seed: str) -> str:
    """16 lowercase hex characters: how the Langfuse SDK derives an observation id from a seed."""
    return _digest(seed)[:8].hex()


def turn_trace_id(chat_id: str | None, message_id: str | None) -> str | None:
    """The trace id of the turn that generates assistant message ``message_id`` in chat ``chat_id`` (hex)."""
    seed = turn_seed(chat_id, message_id)
    return trace_id_from_seed(seed) if seed is not None else None


def turn_span_id(chat_id: str | None, message_id: str | None) -> str | None:
    """The span id of that turn's span (hex): its Langfuse observation id."""
    seed = turn_seed(chat_id, message_id)
    return span_id_from_seed(seed) if seed is not None else None
