# SPDX-License-Identifier: Apache-2.0
"""langfuse_basic_auth and `python -m collector langfuse-auth`."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector import UsageError, langfuse_basic_auth, langfuse_basic_auth_from_env
from collector.cli import main

pytestmark = pytest.mark.unit


def test_known_value() -> None:
    # printf '%s' 'pk-lf-1234:sk-lf-5678' | base64 -w0
    assert langfuse_basic_auth("pk-lf-1234", "sk-lf-5678") == "cGstbGYtMTIzNDpzay1sZi01Njc4"


@given(
    pk=st.text(alphabet=st.characters(codec="utf-8", exclude_characters=":"), min_size=1).filter(
        lambda s: s.strip() == s
    ),
    sk=st.text(alphabet=st.characters(codec="utf-8"), min_size=1).filter(lambda s: s.strip() == s),
)
def test_round_trip_is_pk_colon_sk(pk: str, sk: str) -> None:
    value = langfuse_basic_auth(pk, sk)
    assert "\n" not in value
    assert base64.b64decode(value).decode() == f"{pk}:{sk}"


def test_surrounding_whitespace_is_ignored() -> None:
    # Copy-pasted keys often carry a trailing newline.
    assert langfuse_basic_auth(" pk-lf-1\n", "sk-lf-2\n") == langfuse_basic_auth("pk-lf-1", "sk-lf-2")


@pytest.mark.parametrize(("pk", "sk"), [("", "sk"), ("pk", ""), ("  ", "sk")])
def test_missing_key_names_the_env_vars(pk: str, sk: str) -> None:
    with pytest.raises(UsageError, match="LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY"):
        langfuse_basic_auth(pk, sk)


def test_colon_in_public_key_is_rejected() -> None:
    with pytest.raises(UsageError, match="must not contain ':'"):
        langfuse_basic_auth("pk:lf", "sk")


def test_from_env() -> None:
    env = {"LANGFUSE_PUBLIC_KEY": "pk-lf-a", "LANGFUSE_SECRET_KEY": "sk-lf-b"}
    assert langfuse_basic_auth_from_env(env) == base64.b64encode(b"pk-lf-a:sk-lf-b").decode()


def test_cli_prints_the_value(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "pk-lf-a")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-lf-b")
    assert main(["langfuse-auth"]) == 0
    assert capsys.readouterr().out == base64.b64encode(b"pk-lf-a:sk-lf-b").decode() + "\n"


def test_cli_without_keys_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("LANGFUSE_PUBLIC_KEY", raising=False)
    monkeypatch.delenv("LANGFUSE_SECRET_KEY", raising=False)
    assert main(["langfuse-auth"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "LANGFUSE_PUBLIC_KEY" in captured.err
