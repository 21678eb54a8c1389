# SPDX-License-Identifier: Apache-2.0
"""Cache location, cache keys, reuse of finished builds and the missing-Go error (no compilation here)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import collector._build as build_module
import collector._go as go_module
from collector import GoNotFoundError, UsageError, build_collector, build_jaeger, cache_dir
from collector._artifact import STAMP_FILE, cache_key, finished_artifact, staging_dir, write_stamp
from collector._cache import repo_root
from collector.cli import main

pytestmark = pytest.mark.unit


def test_cache_dir_precedence(tmp_path: Path) -> None:
    home = Path.home()
    assert cache_dir({}) == (home / ".cache" / "owui-otel").resolve()
    assert cache_dir({"XDG_CACHE_HOME": str(tmp_path / "xdg")}) == tmp_path / "xdg" / "owui-otel"
    # A relative XDG_CACHE_HOME is invalid per the XDG spec and ignored.
    assert cache_dir({"XDG_CACHE_HOME": "relative"}) == (home / ".cache" / "owui-otel").resolve()
    assert cache_dir({"OWUI_OTEL_CACHE": str(tmp_path / "c"), "XDG_CACHE_HOME": "/x"}) == tmp_path / "c"


def test_cache_dir_refuses_the_repository() -> None:
    if not (repo_root() / ".git").exists():
        pytest.skip("not running from a git checkout")
    with pytest.raises(UsageError, match="outside it"):
        cache_dir({"OWUI_OTEL_CACHE": str(repo_root() / ".cache")})


def test_cache_key_is_stable_and_unambiguous() -> None:
    assert cache_key(b"a", b"bc") == cache_key(b"a", b"bc")
    assert cache_key(b"a", b"bc") != cache_key(b"ab", b"c")
    assert len(cache_key(b"x")) == 16


def _fake_binary(path: Path) -> Path:
    path.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_staging_dir_publishes_atomically_and_cleans_up_on_failure(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), staging_dir(tmp_path, "k1") as tmp:
        _fake_binary(tmp / "bin")
        raise RuntimeError("build failed")
    assert list(tmp_path.iterdir()) == []
    with staging_dir(tmp_path, "k2") as tmp:
        _fake_binary(tmp / "bin")
        assert finished_artifact(tmp, "bin") is None  # no stamp yet: not a finished build
        write_stamp(tmp, {"ok": True})
    assert finished_artifact(tmp_path / "k2", "bin") == tmp_path / "k2" / "bin"
    assert [p.name for p in tmp_path.iterdir()] == ["k2"]


def _forbid_building(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a cached build must not run any Go command")

    monkeypatch.setattr(build_module, "run_streaming", fail)
    monkeypatch.setattr(build_module, "builder_path", fail)


def test_build_collector_reuses_a_finished_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    go = go_module.find_go()
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text("dist:\n  name: my-otelcol\n", encoding="utf-8")
    key = cache_key(manifest.read_bytes(), go.version_string.encode(), build_module.BUILDER_VERSION.encode())
    artifact = tmp_path / "cache" / "collector" / key
    artifact.mkdir(parents=True)
    binary = _fake_binary(artifact / "my-otelcol")
    write_stamp(artifact, {})
    _forbid_building(monkeypatch)
    lines: list[str] = []
    assert build_collector(manifest, cache=tmp_path / "cache", progress=lines.append) == binary
    assert lines and "cached" in lines[0]
    # A changed manifest is a different key: it would need a build.
    manifest.write_text("dist:\n  name: my-otelcol\n  version: 2\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="must not run"):
        build_collector(manifest, cache=tmp_path / "cache")
    assert (artifact / STAMP_FILE).is_file()


def test_manifest_without_name_is_a_usage_error(tmp_path: Path) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text("receivers: []\n", encoding="utf-8")
    with pytest.raises(UsageError, match="dist.name"):
        build_collector(manifest, cache=tmp_path)


@pytest.fixture
def no_go(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setattr(go_module, "_FALLBACK_GO", tmp_path / "nope" / "go")


@pytest.mark.usefixtures("no_go")
def test_missing_go_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(GoNotFoundError, match=r"install Go >= 1\.25\.0 .*go\.dev/doc/install"):
        build_collector(cache=tmp_path)
    with pytest.raises(GoNotFoundError, match="GOTOOLCHAIN"):
        build_jaeger(cache=tmp_path)


@pytest.mark.usefixtures("no_go")
def test_cli_build_without_go_exits_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OWUI_OTEL_CACHE", str(tmp_path))
    assert main(["build"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Go: not found on PATH" in captured.err and "install Go" in captured.err


def test_too_old_go_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "bin" / "go"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho go1.22.5\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setattr(go_module, "_FALLBACK_GO", tmp_path / "nope")
    with pytest.raises(GoNotFoundError, match="go1.22.5, too old"):
        go_module.find_go({"PATH": str(fake.parent), "HOME": os.environ.get("HOME", "/")})
