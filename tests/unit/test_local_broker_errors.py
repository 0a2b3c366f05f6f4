"""The local broker's clear one-line errors, without starting anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.kafka.broker import LocalBroker, find_java
from weir.errors import DependencyFetchError, ErrorCode, ToolMissingError
from weir.settings import Settings


def test_missing_java_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(ToolMissingError) as caught:
        find_java(Settings(java="/nonexistent/java"))
    assert caught.value.code is ErrorCode.TOOL_MISSING
    assert "Java 17" in caught.value.message
    assert "\n" not in caught.value.message


def test_old_java_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "java"
    fake.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    fake.chmod(0o755)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(ToolMissingError, match="needs Java 17"):
        find_java(Settings(java=str(fake)))


def test_java_8_version_style_is_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "java"
    fake.write_text("#!/bin/sh\necho 'java version \"1.8.0_312\"' >&2\n")
    fake.chmod(0o755)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(ToolMissingError, match="found 8"):
        find_java(Settings(java=str(fake)))


def test_missing_maven_says_what_to_install(tmp_path: Path) -> None:
    broker = LocalBroker(Settings(home=tmp_path, maven="/nonexistent/mvn"))
    with pytest.raises(ToolMissingError) as caught:
        broker.fetch_jars()
    assert "Maven" in caught.value.message
    assert not broker.libs.exists(), "a failed fetch leaves nothing behind"


def test_unknown_kafka_version_fails_cleanly(tmp_path: Path) -> None:
    broker = LocalBroker(Settings(home=tmp_path, kafka_version="0.0.0-no-such-release"))
    with pytest.raises(DependencyFetchError) as caught:
        broker.fetch_jars()
    assert caught.value.retryable
    assert "0.0.0-no-such-release" in caught.value.message
    assert not broker.libs.exists()
    assert not list(broker.libs.parent.glob(".*")), "the staging folder is removed"
