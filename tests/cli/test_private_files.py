# SPDX-License-Identifier: Apache-2.0
"""Finding 8 of issue 8: files holding keys (stack.json, the bridge key, the ingest token) and logs are 0600, in
0700 folders, also when an older version left them 0644 in 0755 folders."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from collector._process import ManagedProcess, open_private_log
from owui_otel._paths import private_dir, state_dir, write_private
from owui_otel._stack import bridge_api_key, ingest_token, otlp_headers_value, stack_dir

pytestmark = pytest.mark.unit


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OWUI_OTEL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("OWUI_OTEL_DATA_DIR", str(tmp_path / "data"))


def test_secrets_are_created_0600_in_0700_folders_and_reused(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # the usual umask, which made the old files world-readable
    try:
        key, token = bridge_api_key(), ingest_token()
    finally:
        os.umask(old_umask)
    assert key != token and key.startswith("owui-otel-") and len(token) > 30
    for path in (tmp_path / "data" / "bridge" / "api_key", tmp_path / "data" / "collector" / "ingest_token"):
        assert mode(path) == 0o600
        assert mode(path.parent) == 0o700
    assert mode(tmp_path / "data") == 0o700
    assert (bridge_api_key(), ingest_token()) == (key, token)  # generated once
    assert otlp_headers_value(token) == f"authorization=Bearer%20{token}"


def test_existing_loose_folders_and_key_files_are_tightened(tmp_path: Path) -> None:
    key_file = tmp_path / "data" / "bridge" / "api_key"
    key_file.parent.mkdir(parents=True)
    key_file.write_text("owui-otel-old-key\n")
    for path, loose in ((tmp_path / "data", 0o755), (key_file.parent, 0o755), (key_file, 0o644)):
        path.chmod(loose)
    assert bridge_api_key() == "owui-otel-old-key"
    assert (mode(tmp_path / "data"), mode(key_file.parent), mode(key_file)) == (0o700, 0o700, 0o600)


def test_stack_state_is_written_0600_atomically_in_0700_folders(tmp_path: Path) -> None:
    (tmp_path / "state" / "stack").mkdir(parents=True)
    (tmp_path / "state").chmod(0o755)
    (tmp_path / "state" / "stack").chmod(0o755)
    old = tmp_path / "state" / "stack" / "stack.json"
    old.write_text("{}")
    old.chmod(0o644)
    write_private(stack_dir() / "stack.json", '{"api_key": "k"}')
    assert mode(old) == 0o600 and old.read_text() == '{"api_key": "k"}'
    assert mode(tmp_path / "state" / "stack") == 0o700 and mode(state_dir()) == 0o700
    assert [p.name for p in old.parent.iterdir()] == ["stack.json"]  # no temporary file left behind


def test_private_dir_leaves_folders_outside_the_product_dirs_alone(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    inside = private_dir(tmp_path / "state" / "stack" / "logs")
    assert mode(inside) == mode(inside.parent) == mode(state_dir()) == 0o700
    assert mode(tmp_path) == 0o755  # not ours


def test_logs_are_0600_even_when_an_older_version_left_them_0644(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "collector.log"
    log.parent.mkdir()
    log.write_text("old line\n")
    log.chmod(0o644)
    with open_private_log(log) as handle:
        handle.write(b"new line\n")
    assert mode(log) == 0o600
    assert log.read_text() == "old line\nnew line\n"

    process = ManagedProcess("echo", ["echo", "hi"], env=dict(os.environ), log_path=tmp_path / "new" / "echo.log")
    process.start()
    process.stop()
    assert mode(tmp_path / "new" / "echo.log") == 0o600
    assert mode(tmp_path / "new") == 0o700


def test_the_bridges_valves_are_written_0600_in_a_0700_folder(tmp_path: Path) -> None:
    from owui_otel.server import ValveStore  # noqa: PLC0415 (the server's dependencies are the [cli] extra)

    folder = tmp_path / "data" / "bridge"  # `owui-otel serve --data-dir` creates it when missing
    old_umask = os.umask(0o022)
    try:
        ValveStore(folder / "valves.json").save({"otlp_headers": "authorization=Bearer%20s3cret"})
    finally:
        os.umask(old_umask)
    assert mode(folder / "valves.json") == 0o600
    assert mode(folder) == 0o700 and mode(tmp_path / "data") == 0o700
    assert not list(folder.glob("*.tmp"))


def test_an_empty_secret_file_is_never_used(tmp_path: Path) -> None:
    # A crash between creating the file and writing it (older versions) must not leave an empty token for good:
    # the collector's bearer check would then accept an empty password.
    token_file = tmp_path / "data" / "collector" / "ingest_token"
    private_dir(token_file.parent)
    token_file.write_text("\n")
    token = ingest_token()
    assert len(token) > 30 and token_file.read_text().strip() == token and mode(token_file) == 0o600
    assert ingest_token() == token
    assert not list(token_file.parent.glob(".*.tmp"))


def test_the_bridge_of_up_exports_to_the_stacks_collector_whatever_the_shell_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from otel_filter._settings import resolve_settings  # noqa: PLC0415
    from owui_otel._stack import StackOptions, _bridge_env  # noqa: PLC0415

    # A shell set up for another backend: without care, the bridge would send the chats there with our token.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://vendor.example/v1/traces")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-vendor-key=v")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    env = _bridge_env(StackOptions(), "bridge-key", "stack-token")
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:4318"  # what `serve --otlp-endpoint` sets
    settings, _ = resolve_settings({}, env)
    assert settings.export.endpoint == "http://127.0.0.1:4318/v1/traces"
    assert settings.export.protocol == "http/protobuf"
    assert dict(settings.export.headers) == {"authorization": "Bearer stack-token"}
