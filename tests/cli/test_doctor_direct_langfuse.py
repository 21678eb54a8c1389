# SPDX-License-Identifier: Apache-2.0
"""``owui-otel doctor`` says what a filter exporting straight to Langfuse loses (issue 10 item 6): every attribute the
collector's Langfuse pipeline adds, each named, and how to go through the collector instead."""

from __future__ import annotations

import pytest

from collector._backends.langfuse import LANGFUSE_METADATA, LANGFUSE_STATEMENTS
from owui_otel._doctor import WARN, DoctorInputs, Report, check_direct_langfuse, render, run_checks

pytestmark = pytest.mark.unit

AUTH = (("Authorization", "Basic cGstbGYtMTpzay1sZi0x"),)


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://cloud.langfuse.com/api/public/otel",  # OTEL_EXPORTER_OTLP_ENDPOINT form
        "https://us.cloud.langfuse.com/api/public/otel/v1/traces",  # signal-specific form
        "http://langfuse-web:3000/api/public/otel/",
    ],
)
def test_a_direct_langfuse_endpoint_is_named_with_everything_it_loses(endpoint: str) -> None:
    (check,) = check_direct_langfuse(DoctorInputs(otlp_endpoint=endpoint, otlp_headers=AUTH))
    assert check.status == WARN
    for lost in ("trace name", "completion start time", "trace tags", "release and version", "on-disk queue"):
        assert lost in check.says
    for key in LANGFUSE_METADATA:  # every filterable metadata key the collector adds
        assert key in check.says
    assert "x-langfuse-ingestion-version" in check.says  # the header was not among the filter's
    assert "owui-otel up" in check.fix and "4318" in check.fix
    assert "cGstbGYtMTpzay1sZi0x" not in render(Report([check]))  # the credentials never appear


def test_the_ingestion_header_is_not_listed_when_the_filter_sends_it() -> None:
    headers = (*AUTH, ("X-Langfuse-Ingestion-Version", "4"))
    (check,) = check_direct_langfuse(
        DoctorInputs(otlp_endpoint="https://cloud.langfuse.com/api/public/otel", otlp_headers=headers)
    )
    assert "x-langfuse-ingestion-version" not in check.says


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:4318", "http://otel-collector:4318/v1/traces", ""])
def test_a_collector_endpoint_says_nothing(endpoint: str) -> None:
    assert check_direct_langfuse(DoctorInputs(otlp_endpoint=endpoint)) == []


def test_what_the_doctor_lists_is_what_the_collector_adds() -> None:
    """The list is only honest while it matches transform/langfuse: each Langfuse attribute the collector sets has
    its loss named."""
    (check,) = check_direct_langfuse(DoctorInputs(otlp_endpoint="https://cloud.langfuse.com/api/public/otel"))
    said = {
        "langfuse.trace.name": "trace name",
        "langfuse.observation.completion_start_time": "completion start time",
        "langfuse.trace.tags": "trace tags",
        "langfuse.observation.metadata.": "filterable metadata",
        "langfuse.release": "release",
        "langfuse.version": "version",
        "langfuse.observation.type": "task calls as EVENTs",
        "langfuse.observation.cost_details": "cost breakdown",
    }
    set_targets = {
        statement.split("(", 1)[1].split(",", 1)[0]
        for statement in LANGFUSE_STATEMENTS
        if not statement.startswith("delete_key(")  # removes a scratch attribute: nothing to lose
    }
    for target in set_targets:
        name = target.removeprefix('span.attributes["').removesuffix('"]')
        phrase = next((p for key, p in said.items() if name.startswith(key)), None)
        assert phrase is not None, f"the doctor does not say what is lost without {name}"
        assert phrase in check.says


def test_it_runs_in_the_doctor_before_the_collector_checks() -> None:
    report = run_checks(DoctorInputs(otlp_endpoint="http://127.0.0.1:9/api/public/otel"))
    says = [check.says for check in report.checks]
    direct = next(i for i, text in enumerate(says) if "sends straight to Langfuse" in text)
    receiver = next(i for i, text in enumerate(says) if "nothing listens at" in text)
    assert direct < receiver
