# SPDX-License-Identifier: Apache-2.0
"""The OCB manifest: one collector release for every module, and the component set the configs need."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector import MANIFEST
from collector._backends import BACKENDS
from collector._backends.metrics import GOMOD as METRICS_GOMOD
from collector._build import BUILDER_VERSION
from collector._components import GOMOD
from collector._targets import OTLP_TARGET_GOMOD

RELEASE = "v0.161.0"
STABLE_RELEASE = "v1.67.0"  # cut together with v0.161.0 (0.X.0 <-> 1.(X-94).0)
SECTIONS = ("receivers", "processors", "exporters", "connectors", "extensions", "providers")


def _manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    return data


def _modules() -> list[tuple[str, str, str]]:
    data = _manifest()
    rows = [(section, *entry["gomod"].split()) for section in SECTIONS for entry in data.get(section, [])]
    rows.append(("telemetry", *data["telemetry"]["gomod"].split()))
    return rows


@pytest.mark.unit
def test_every_module_is_on_one_release() -> None:
    offenders = []
    for section, module, version in _modules():
        stable = section == "providers"
        expected = STABLE_RELEASE if stable else RELEASE
        if version != expected:
            offenders.append(f"{section}: {module} {version} (expected {expected})")
    assert not offenders, "modules off the release:\n" + "\n".join(offenders)


@pytest.mark.unit
def test_builder_version_matches_the_release() -> None:
    # The builder writes go.opentelemetry.io/collector/otelcol at its own version into go.mod.
    assert BUILDER_VERSION == RELEASE


@pytest.mark.unit
def test_manifest_names_the_binary_and_expected_components() -> None:
    data = _manifest()
    assert data["dist"]["name"] == "owui-otelcol"
    names = {module.rsplit("/", 1)[-1] for _, module, _ in _modules()}
    expected = {
        "otlpreceiver",
        "memorylimiterprocessor",
        "batchprocessor",
        "transformprocessor",
        "attributesprocessor",
        "filterprocessor",
        "redactionprocessor",
        "deltatocumulativeprocessor",
        "signaltometricsconnector",
        "otlpexporter",
        "otlphttpexporter",
        "debugexporter",
        "fileexporter",
        "healthcheckextension",
        "filestorage",
        "bearertokenauthextension",
        "envprovider",
        "fileprovider",
        "yamlprovider",
        "service",
    }
    assert names == expected


@pytest.mark.unit
@pytest.mark.parametrize(
    ("owner", "needed"),
    [(entry.name, entry.gomod) for entry in BACKENDS]
    + [("shared components", GOMOD), ("generic OTLP targets", OTLP_TARGET_GOMOD), ("usage metrics", METRICS_GOMOD)],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_every_registry_entry_has_its_modules_in_the_manifest(owner: str, needed: tuple[str, ...]) -> None:
    # The registry is the one place a backend is described; the manifest (kept byte-stable: it keys the cached
    # build) is checked against it instead of being generated from it.
    assert needed, f"{owner} lists no gomod module"
    missing = sorted(set(needed) - {module for _, module, _ in _modules()})
    assert not missing, f"{owner} needs modules collector/manifest.yaml lacks: {missing}"


@pytest.mark.unit
def test_every_manifest_exporter_belongs_to_a_backend() -> None:
    # An exporter in the manifest that no registry entry claims is dead weight in the binary (or a backend that
    # was added without a registry entry).
    claimed = {module for entry in BACKENDS for module in entry.gomod} | set(OTLP_TARGET_GOMOD)
    exporters = {module for section, module, _ in _modules() if section == "exporters"}
    assert exporters <= claimed, f"exporters no backend claims: {sorted(exporters - claimed)}"


@pytest.mark.unit
def test_manifest_output_path_is_the_gitignored_default() -> None:
    # build_collector rewrites output_path; the repo value must stay a harmless relative path (gitignored _build).
    assert _manifest()["dist"]["output_path"] == "./_build"


@pytest.mark.integration
def test_built_binary_lists_exactly_the_manifest_components(collector_binary: Path) -> None:
    out = subprocess.run(
        [str(collector_binary), "components"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    listed = yaml.safe_load(out)
    kinds = ("receivers", "processors", "exporters", "connectors", "extensions")
    modules = {entry["module"] for kind in kinds for entry in listed[kind]}
    wanted = {f"{module} {version}" for section, module, version in _modules() if section in kinds}
    assert modules == wanted
    names = {entry["name"] for entry in listed["exporters"]}
    assert names == {"otlp_grpc", "otlp_http", "debug", "file"}
    providers = {entry["scheme"] for entry in listed["providers"]}
    assert providers == {"env", "file", "yaml"}
    assert re.search(r"owui-otelcol", listed["buildinfo"]["command"])
