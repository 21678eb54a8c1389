# SPDX-License-Identifier: Apache-2.0
"""Fault and security suite: real collector, Langfuse contract endpoint, Jaeger and bridge server processes."""
