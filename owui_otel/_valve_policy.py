# SPDX-License-Identifier: Apache-2.0
"""Who may change which valve over the bridge's API, and what the API shows of them.

The bridge key is held by Open WebUI (and its admins); it must not be enough to send the conversations, or the
exporter credentials that live only in the bridge's environment, somewhere else. So:

* **secrets are write-only**: ``GET /{id}/valves`` shows ``otlp_headers`` as :data:`SECRET_MASK`, and
  ``otlp_endpoint`` as :func:`otel_filter._settings.display_url` shows it in logs (a ``user:password@`` part, the
  query and the fragment masked: credentials such as ``?api_key=`` live there); an update that sends the mask back,
  or leaves the key out, keeps the stored value (Open WebUI's admin page posts every valve back, masked ones
  included);
* **widening needs the operator**: a change that sends more, or to elsewhere, is refused (403) unless the server
  was started with ``--allow-widening-valves`` (``OWUI_OTEL_ALLOW_WIDENING_VALVES=true``). Widening: a new
  export origin (scheme, host or port of the effective endpoint), content capture off -> on, a redaction pattern
  removed, ``record_user_email`` or ``record_tasks`` off -> on, ``user_identity`` turned to ``email``,
  ``max_content_chars`` raised (each compared as the filter resolves it: an empty valve is the environment's value),
  ``pipelines`` tracing more models (``["*"]`` is every model). Narrowing changes are
  always accepted. Whoever can edit ``valves.json`` or the environment (the operator) can do anything.

    >>> stored = {"otlp_endpoint": "http://collector:4318", "otlp_headers": "authorization=Bearer x"}
    >>> view = public_view(stored)                                   # for GET: secrets masked
    >>> view
    {'otlp_endpoint': 'http://collector:4318', 'otlp_headers': '********'}
    >>> merged = merge_update(stored, view | {"otlp_endpoint": "http://elsewhere:4318"})  # masks -> stored values
    >>> merged["otlp_headers"]
    'authorization=Bearer x'
    >>> widening_changes(stored, merged, environ={})                 # [] or what makes it wider
    ['otlp_endpoint: spans would go to http://elsewhere:4318 instead of http://collector:4318']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from otel_filter.settings import display_url, resolve_settings

SECRET_MASK = "********"
"""Shown instead of a secret valve's value, and understood as "keep the stored value" in an update."""
SECRET_VALVES = ("otlp_headers",)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def public_view(valves: Mapping[str, Any]) -> dict[str, Any]:
    """The valves as the API shows them: secrets masked."""
    view = dict(valves)
    for name in SECRET_VALVES:
        if view.get(name):
            view[name] = SECRET_MASK
    endpoint = view.get("otlp_endpoint")
    if isinstance(endpoint, str):
        view["otlp_endpoint"] = display_url(endpoint)
    return view


def merge_update(stored: Mapping[str, Any], submitted: Mapping[str, Any]) -> dict[str, Any]:
    """``submitted`` over ``stored``, where a masked value (as :func:`public_view` showed it) keeps the stored one."""
    merged = {**stored, **submitted}
    for name in SECRET_VALVES:
        if submitted.get(name) == SECRET_MASK:
            merged[name] = stored.get(name, "")
    endpoint = stored.get("otlp_endpoint")
    if isinstance(endpoint, str) and submitted.get("otlp_endpoint") == display_url(endpoint):
        merged["otlp_endpoint"] = endpoint
    return merged


def widening_changes(stored: Mapping[str, Any], proposed: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    """What in ``proposed`` (vs ``stored``) widens what leaves the machine, one phrase per valve; never a secret."""
    reasons = []
    old_origin, new_origin = (_origin(_effective_endpoint(v, environ)) for v in (stored, proposed))
    if new_origin != old_origin:
        reasons.append(f"otlp_endpoint: spans would go to {new_origin} instead of {old_origin}")
    # Compared as the filter resolves them (an empty valve means the environment's value), never as raw valves.
    old, new = (resolve_settings(v, environ)[0] for v in (stored, proposed))
    for name, was_on, is_on, what in (
        ("capture_message_content", old.capture_content, new.capture_content, "prompts and replies would be exported"),
        ("record_user_email", old.record_user_email, new.record_user_email, "users' email addresses would be exported"),
        ("record_tasks", old.record_tasks, new.record_tasks, "task calls (which quote the chat) would be exported"),
    ):
        if is_on and not was_on:
            reasons.append(f"{name}: off -> on ({what})")
    if new.user_identity == "email" != old.user_identity:
        reasons.append("user_identity: -> email (users' email addresses would be exported as user.id)")
    old_models, new_models = _models(stored), _models(proposed)
    if old_models is not None and (new_models is None or new_models - old_models):
        more = "every model" if new_models is None else ", ".join(sorted(new_models - old_models))
        reasons.append(f"pipelines: chats with {more} would be traced too")
    removed = set(_patterns(stored)) - set(_patterns(proposed))
    if removed:
        reasons.append(f"redact_patterns: {len(removed)} pattern(s) removed (less would be redacted)")
    if new.max_content_chars > old.max_content_chars:
        reasons.append(f"max_content_chars: raised from {old.max_content_chars} to {new.max_content_chars}")
    return reasons


def _models(valves: Mapping[str, Any]) -> set[str] | None:
    """The model ids the ``pipelines`` valve traces; None for every model (``["*"]``, the default)."""
    models = valves.get("pipelines", ["*"])
    if not isinstance(models, list) or "*" in models:
        return None
    return {m for m in models if isinstance(m, str)}


def _patterns(valves: Mapping[str, Any]) -> list[str]:
    patterns = valves.get("redact_patterns")
    return [p for p in patterns if isinstance(p, str)] if isinstance(patterns, list) else []


def _effective_endpoint(valves: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """The endpoint the filter would export to with these valves (the valve, else the environment)."""
    export_only = {key: valves.get(key, "") for key in ("otlp_endpoint", "otlp_protocol")}
    settings, _ = resolve_settings(export_only, environ)
    return settings.export.endpoint


def _origin(url: str) -> str:
    """``scheme://host:port`` (no credentials, path or query: the message may be shown and logged)."""
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
        host = (parts.hostname or "").lower()
    except ValueError:
        return "an invalid URL"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme.lower()}://{host}:{port}"
