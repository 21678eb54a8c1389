# SPDX-License-Identifier: Apache-2.0
"""The ``Authorization: Basic`` value Langfuse expects, so nobody has to base64 keys by hand.

Langfuse authenticates OTLP requests with ``Basic base64("<public key>:<secret key>")``. The collector sends it
as ``Authorization: Basic ${env:LANGFUSE_AUTH_B64}``; this module computes ``LANGFUSE_AUTH_B64``.

Usage:

    >>> from collector import langfuse_basic_auth
    >>> langfuse_basic_auth("pk-lf-1", "sk-lf-2")
    'cGstbGYtMTpzay1sZi0y'

Shell::

    $ export LANGFUSE_AUTH_B64="$(python -m collector langfuse-auth)"   # reads LANGFUSE_PUBLIC_KEY/SECRET_KEY
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping

from otel_filter.environment_variables import LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY

from ._errors import UsageError

__all__ = ["LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "langfuse_basic_auth", "langfuse_basic_auth_from_env"]


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
            f"both Langfuse keys are required: set {LANGFUSE_PUBLIC_KEY} and {LANGFUSE_SECRET_KEY} "
            "(Langfuse UI: Project settings -> API keys)"
        )
    if ":" in public_key:
        raise UsageError(f"{LANGFUSE_PUBLIC_KEY} must not contain ':'; copy the pk-lf-... key exactly")
    return base64.b64encode(f"{public_key}:{secret_key}".encode()).decode("ascii")


def langfuse_basic_auth_from_env(env: Mapping[str, str] | None = None) -> str:
    """:func:`langfuse_basic_auth` with the keys read from ``LANGFUSE_PUBLIC_KEY`` and ``LANGFUSE_SECRET_KEY``."""
    environ = os.environ if env is None else env
    return langfuse_basic_auth(environ.get(LANGFUSE_PUBLIC_KEY, ""), environ.get(LANGFUSE_SECRET_KEY, ""))
