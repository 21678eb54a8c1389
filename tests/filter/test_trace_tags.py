# SPDX-License-Identifier: Apache-2.0
"""What the filter itself gives Langfuse for tags, metadata, release and version (issue 10 items 5 and 6): only
vendor-neutral attributes, so a direct export (filter -> Langfuse, no collector) has none of them, exactly as the
doctor says; and our model of Langfuse's tag rules (``extractTags`` in langfuse/langfuse 6275144
``packages/shared/src/server/otel/OtelIngestionProcessor.ts``). The collector's mapping is tested with the real
collector in ``tests/collector/test_langfuse_trace_attributes.py``."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support.langfuse_mapping import release_and_version, to_observation, top_level_metadata, trace_tags
from tests.support.owui_hosts import load_as_pipelines
from tests.support.scenarios import replay_pipelines_and_stop

pytestmark = pytest.mark.unit


def test_filter_spans_carry_the_neutral_sources_and_no_langfuse_key(
    tracer_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    pipeline = load_as_pipelines(tracer_provider=tracer_provider)
    replay_pipelines_and_stop(pipeline, "ui_stream_turn1")
    spans = span_exporter.get_finished_spans()
    assert len(spans) == 4  # the turn and its title, tags and follow-up tasks
    for span in spans:
        attributes = dict(span.attributes or {})
        assert not any(key.startswith("langfuse.") for key in attributes), "Langfuse keys are the collector's job"
        assert attributes["openwebui.host"] == "pipelines"
        assert attributes["openwebui.chat.id"] == "5ebb5e33-e6c7-4f28-98ed-b870a4078d3f"
        assert "openwebui.version" not in attributes  # the Pipelines server is never told Open WebUI's version
        # Straight to Langfuse, these spans would have no tags, no top-level metadata, no trace name, no release.
        observation = to_observation(attributes, span_name=span.name, resource=dict(span.resource.attributes))
        assert (observation.tags, observation.metadata, observation.trace_name) == ([], {}, None)
        assert observation.release is None and observation.version is None  # service.version is not set either
    tasks = sorted(
        str((s.attributes or {})["openwebui.task"]) for s in spans if "openwebui.task" in (s.attributes or {})
    )
    assert tasks == ["follow_up_generation", "tags_generation", "title_generation"]


@pytest.mark.parametrize(
    ("value", "tags"),
    [
        (("open-webui", "pipelines", "title_generation"), ["open-webui", "pipelines", "title_generation"]),
        ('["open-webui", "functions"]', ["open-webui", "functions"]),  # a JSON array in a string
        ("open-webui, bridge", ["open-webui", "bridge"]),  # a comma-separated string
        ("open-webui", ["open-webui"]),  # any other string: one tag
        ("", []),  # empty: no tags
    ],
)
def test_langfuse_reads_tags_as_extract_tags_does(value: object, tags: list[str]) -> None:
    assert trace_tags({"langfuse.trace.tags": value}) == tags


def test_top_level_metadata_release_and_version_follow_langfuse_precedence() -> None:
    attributes = {
        "langfuse.observation.metadata.chat_id": "c1",
        "langfuse.trace.metadata.model_name": "Support Bot",
        "langfuse.release": "0.12.4",
        "openwebui.chat.id": "c1",  # not a metadata key by itself: nested under "attributes", not filterable
    }
    assert top_level_metadata(attributes) == {"chat_id": "c1", "model_name": "Support Bot"}
    assert release_and_version(attributes, {"service.version": "9.9"}) == ("0.12.4", "9.9")
    assert release_and_version({**attributes, "langfuse.version": "0.1.0"}, {"service.version": "9.9"}) == (
        "0.12.4",
        "0.1.0",
    )
