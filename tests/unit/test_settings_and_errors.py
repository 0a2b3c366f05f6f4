"""Settings are declared once and documented; errors carry stable codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from weir.errors import BrokerUnavailableError, ErrorCode, WeirError
from weir.settings import Settings, settings_markdown

REPO = Path(__file__).resolve().parents[2]


def test_settings_read_their_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEIR_KAFKA_PORT", "19092")
    monkeypatch.setenv("WEIR_GATEWAY_PORT", "18288")
    settings = Settings()
    assert settings.kafka_port == 19092
    assert settings.gateway_port == 18288
    assert settings.bootstrap_servers == "127.0.0.1:19092"


def test_local_urls_follow_their_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEIR_REGISTRY_PORT", "18081")
    monkeypatch.setenv("WEIR_GATEWAY_PORT", "18288")
    settings = Settings()
    assert settings.registry_url == "http://127.0.0.1:18081"
    assert settings.gateway_url == "http://127.0.0.1:18288"
    monkeypatch.setenv("WEIR_REGISTRY_URL", "https://registry.internal")
    assert Settings().registry_url == "https://registry.internal"


def test_external_bootstrap_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEIR_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092")
    assert Settings().bootstrap_servers == "kafka-1:9092,kafka-2:9092"


@pytest.mark.parametrize("value", ["1", "true", "yes", "on", "TRUE"])
def test_dev_mode_on_only_for_true_values(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("WEIR_DEV", value)
    assert Settings().dev is True


@pytest.mark.parametrize("value", ["0", "false", "no", "off"])
def test_dev_mode_off_for_false_values(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("WEIR_DEV", value)
    assert Settings().dev is False


def test_dev_mode_rejects_garbage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEIR_DEV", "maybe")
    with pytest.raises(ValueError, match="dev"):
        Settings()


def test_every_setting_is_documented() -> None:
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no description"


def test_docs_settings_md_is_current() -> None:
    on_disk = (REPO / "docs" / "settings.md").read_text()
    assert on_disk == settings_markdown(), (
        "run: .venv/bin/weir settings --markdown > docs/settings.md"
    )


def test_error_codes_are_unique_and_snake_case() -> None:
    values = [code.value for code in ErrorCode]
    assert len(values) == len(set(values))
    assert all(v == v.lower() and " " not in v for v in values)


def test_problem_json_shape() -> None:
    problem = BrokerUnavailableError("kafka did not answer", detail={"retry_after": 1}).to_problem()
    assert problem["status"] == 503
    assert problem["code"] == "broker_unavailable"
    assert problem["retryable"] is True
    assert problem["detail"] == "kafka did not answer"
    assert problem["retry_after"] == 1


def test_every_error_class_has_a_stable_code() -> None:
    def walk(cls: type[WeirError]) -> list[type[WeirError]]:
        return [cls, *(sub for child in cls.__subclasses__() for sub in walk(child))]

    for cls in walk(WeirError):
        assert isinstance(cls.code, ErrorCode)
        assert 400 <= cls.http_status < 600
