# SPDX-License-Identifier: Apache-2.0
"""Recorded Open WebUI 0.12.4 payloads replayed by ``owui-otel demo`` (copies of tests/fixtures/openwebui)."""
