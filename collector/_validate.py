# SPDX-License-Identifier: Apache-2.0
"""Run ``<binary> validate --config=...`` on one or more (layered) config files.

``validate`` loads the config, expands env vars and checks every component's settings and OTTL without starting
anything; it is what CI runs on every config we ship or render.

Usage::

    from collector import build_collector, validate_config
    validate_config(build_collector(), [Path("otel-collector.yaml")])          # raises ValidationError
    validate_config(binary, [base, Path("collector/overlays/receiver-auth.yaml")], env={"OTEL_INGEST_TOKEN": "t"})
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from ._command import collector_command
from ._errors import UsageError, ValidationError

__all__ = ["validate_config"]


def validate_config(
    binary: Path, configs: Sequence[Path], *, env: Mapping[str, str] | None = None, timeout: float = 60.0
) -> str:
    """Validate ``configs`` (merged in order, as the collector does) with ``binary``.

    Args:
        binary: a collector binary (ours or ``otelcol-contrib``).
        configs: config files; later files override maps of earlier ones and replace their arrays.
        env: environment for the check; ``${env:...}`` references are expanded from it (default ``os.environ``).
        timeout: seconds before giving up.

    Returns:
        The combined output of a successful run (usually empty).

    Raises:
        UsageError: no config given or a file is missing.
        ValidationError: the binary rejected the config (message carries its output) or timed out.
    """
    if not configs:
        raise UsageError("--config: no config file given. Fix: pass --config otel-collector.yaml")
    for config in configs:
        if not config.is_file():
            raise UsageError(f"--config {config}: does not exist. Fix: give the path of a collector config")
    argv = [str(binary), "validate", *(f"--config={config.resolve()}" for config in configs)]
    try:
        proc = subprocess.run(
            argv,
            env=dict(os.environ if env is None else env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise ValidationError(
            f"--binary {binary}: validate did not finish within {timeout:.0f}s. Fix: check the binary runs "
            f"({collector_command('build', '--force')} rebuilds it)"
        ) from exc
    except OSError as exc:
        raise ValidationError(
            f"--binary {binary}: cannot run it ({exc}). Fix: build it with {collector_command('build')}"
        ) from exc
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        names = ", ".join(str(config) for config in configs)
        raise ValidationError(
            f"--config {names}: not a valid collector config (the collector's words below). Fix: correct it, or "
            f"render one with {collector_command('config')}\n{output}"
        )
    return output
