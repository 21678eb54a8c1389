# SPDX-License-Identifier: Apache-2.0
"""owui_otel: the product around the filter: bridge server, local stack, demo, install, doctor.

The CLI ``owui-otel`` is the entry point (``owui-otel --help``); see the README's quick start.
"""
