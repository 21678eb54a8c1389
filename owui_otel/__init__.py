# SPDX-License-Identifier: Apache-2.0
"""owui_otel: the product around the filter: bridge server, local stack, demo, install, doctor.

The CLI ``owui-otel`` is the entry point (``owui-otel --help``); see the README's quick start.
"""

DEFAULT_FILTER_ID = "otel_bridge"
"""The filter's id in Open WebUI: the Function's id (``install function``), and the filter the bridge server hosts."""
