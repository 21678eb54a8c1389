# SPDX-License-Identifier: Apache-2.0
"""Benchmarks for otel_filter, the bridge server and the collector path. Run ``python benchmarks/run.py``.

Every figure is a ratio of contenders measured side by side in one run (see ``BENCHMARKS.md``).
"""
