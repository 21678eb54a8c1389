# SPDX-License-Identifier: Apache-2.0
"""The collector's own metrics (``http://<OTELCOL_METRICS_HOST>:<OTELCOL_METRICS_PORT>/metrics``), read once.

The collector exposes them in the Prometheus text format; ``prometheus_client``'s parser reads it. ``owui-otel
doctor`` sums failed exports per exporter from them, the test stack waits on them.

Usage:

    >>> text = '''# TYPE otelcol_exporter_sent_spans counter
    ... otelcol_exporter_sent_spans{exporter="otlp_grpc/jaeger"} 3
    ... otelcol_exporter_sent_spans{exporter="otlp_http/langfuse"} 2
    ... '''
    >>> [(dict(labels), value) for labels, value in metric_samples(text, ["otelcol_exporter_sent_spans"])]
    [({'exporter': 'otlp_grpc/jaeger'}, 3.0), ({'exporter': 'otlp_http/langfuse'}, 2.0)]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["metric_samples"]


def metric_samples(text: str, names: Iterable[str]) -> Iterator[tuple[Mapping[str, str], float]]:
    """``(labels, value)`` of every sample of the metrics called ``names`` in ``text`` (Prometheus text format).

    A counter's name may be given with or without its ``_total`` suffix (the parser reports counter samples
    with it). Raises ``ValueError`` on text that is not in the Prometheus format.
    """
    wanted = {name for given in names for name in (given, f"{given}_total")}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in wanted:
                yield sample.labels, float(sample.value)
