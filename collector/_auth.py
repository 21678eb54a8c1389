# SPDX-License-Identifier: Apache-2.0
"""Langfuse's settings checked once: the ``Authorization: Basic`` value it expects, and its base URL.

Langfuse authenticates OTLP requests with ``Basic base64("<public key>:<secret key>")``. The collector sends it
as ``Authorization: Basic ${env:LANGFUSE_AUTH_B64}``; this module computes ``LANGFUSE_AUTH_B64``.

Usage:

    >>> from collector import langfuse_basic_auth
    >>> langfuse_basic_auth("pk-lf-1", "sk-lf-2")
    'cGstbGYtMTpzay1sZi0y'

``LANGFUSE_HOST`` is a base URL; the collector adds ``/api/public/otel``, so a host that already carries an API
path would be sent to ``.../api/public/otel/api/public/otel/v1/traces`` (retried forever). ``up``, ``collector config``
and the doctor reject it with one check:

    >>> from collector import langfuse_base_url
    >>> langfuse_base_url("https://cloud.langfuse.com/")
    'https://cloud.langfuse.com'

Shell::

    $ export LANGFUSE_AUTH_B64="$(python -m collector langfuse-auth)"   # reads LANGFUSE_PUBLIC_KEY/SECRET_KEY
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from otel_filter.environment_variables import LANGFUSE_HOST, LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY

from ._errors import UsageError

__all__ = [
    "LANGFUSE_PUBLIC_KEY",
    "LANGFUSE_SECRET_KEY",
    "langfuse_base_url",
    "langfuse_basic_auth",
    "langfuse_basic_auth_from_env",
]

_BASE_URL_FIX = (
    "Fix: set it to the base URL only, e.g. https://cloud.langfuse.com (the collector adds /api/public/otel)"
)


def langfuse_base_url(host: str, *, setting: str = LANGFUSE_HOST) -> str:
    """``host`` without its trailing ``/``, if it is an http(s) base URL Langfuse's OTLP path can be added to.

    A path of its own is kept (a self-hosted Langfuse behind a reverse-proxy prefix, ``https://example.com/langfuse``);
    one that reaches into Langfuse's API (``/api/...``, ``.../v1/traces``) is what the collector adds itself.

    Raises:
        UsageError: one line naming ``setting`` (default ``LANGFUSE_HOST``), what is wrong and the fix.
    """
    value = host.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{setting}: {host!r} is not a URL (it needs http:// or https:// and a host). {_BASE_URL_FIX}")
    segments = parts.path.split("/")
    if "api" in segments or parts.path.endswith("/v1/traces"):
        raise UsageError(f"{setting}: {host} includes an API path ({parts.path}). {_BASE_URL_FIX}")
    if parts.query or parts.fragment:
        raise UsageError(f"{setting}: {host} has a query or fragment. {_BASE_URL_FIX}")
    return value


def langfuse_basic_auth(public_key: str, secret_key: str) -> str:
    """Return ``base64("<public_key>:<secret_key>")`` (standard alphabet, no line breaks).

    Raises:
        UsageError: a key is empty, or the public key contains ``:`` (Basic auth splits at the first colon,
            so such a key can never authenticate).
    """
    public_key = public_key.strip()
    secret_key = secret_key.strip()
    if not public_key or not secret_key:
        raise UsageError(
            f"{LANGFUSE_PUBLIC_KEY} / {LANGFUSE_SECRET_KEY}: both are required. Fix: set {LANGFUSE_PUBLIC_KEY} and "
            f"{LANGFUSE_SECRET_KEY} (Langfuse UI: Project settings -> API keys)"
        )
    if ":" in public_key:
        raise UsageError(f"{LANGFUSE_PUBLIC_KEY}: must not contain ':'. Fix: copy the pk-lf-... key exactly")
    return base64.b64encode(f"{public_key}:{secret_key}".encode()).decode("ascii")


def langfuse_basic_auth_from_env(env: Mapping[str, str] | None = None) -> str:
    """:func:`langfuse_basic_auth` with the keys read from ``LANGFUSE_PUBLIC_KEY`` and ``LANGFUSE_SECRET_KEY``."""
    environ = os.environ if env is None else env
    return langfuse_basic_auth(environ.get(LANGFUSE_PUBLIC_KEY, ""), environ.get(LANGFUSE_SECRET_KEY, ""))
