"""Webhook sources, read from the ``webhooks`` setting (a JSON object).

Each key is a source name, the ``{source}`` in ``POST /webhooks/{source}``::

    {
      "github": {"name": "github/{header:X-GitHub-Event}",
                 "id": "{header:X-GitHub-Delivery}",
                 "secret": "...", "style": "github"},
      "stripe": {"name": "stripe/{body:type}", "id": "{body:id}",
                 "secret": "whsec_...", "style": "stripe", "tolerance": 300}
    }

``name`` (required) and ``id`` (optional; a fresh id otherwise) are templates
(see :mod:`.template`). ``style`` is ``github``, ``stripe`` or ``none``; a
signed style needs a ``secret``, and ``none`` (unsigned: anyone who knows the
URL can send) must be chosen explicitly. ``tolerance`` overrides the
``webhook_tolerance`` setting for timestamped styles. The whole setting is
checked when the gateway starts: a bad entry stops it with ``config_invalid``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.gateway.webhooks.signatures import VERIFIERS
from services.gateway.webhooks.template import Template
from weir.errors import ConfigError, WebhookSourceUnknownError

STYLES = (*VERIFIERS, "none")
SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_FIELDS = frozenset({"name", "id", "secret", "style", "tolerance"})


@dataclass(frozen=True, slots=True)
class WebhookSource:
    source: str
    name: Template
    id: Template | None
    style: str
    secret: bytes | None
    tolerance: float

    def verify(self, body: bytes, headers: Mapping[str, str], now: float) -> None:
        """Raise ``webhook_signature_invalid`` unless the request is signed as configured."""
        if self.style == "none":
            return
        assert self.secret is not None
        VERIFIERS[self.style](self.secret, body, headers, now, self.tolerance)


class WebhookSources:
    def __init__(self, sources: Mapping[str, WebhookSource]) -> None:
        self._sources = dict(sources)

    @classmethod
    def parse(cls, setting: str, *, tolerance: float) -> WebhookSources:
        try:
            document = json.loads(setting or "{}")
        except json.JSONDecodeError as exc:
            raise ConfigError(f"WEIR_WEBHOOKS is not valid JSON: {exc}") from None
        if not isinstance(document, dict):
            raise ConfigError("WEIR_WEBHOOKS must be a JSON object of source name -> settings")
        return cls(
            {name: _source(name, spec, tolerance) for name, spec in document.items()},
        )

    def get(self, source: str) -> WebhookSource:
        found = self._sources.get(source)
        if found is None:
            raise WebhookSourceUnknownError(
                f"no webhook source {source!r} is configured (WEIR_WEBHOOKS)"
            )
        return found

    def __len__(self) -> int:
        return len(self._sources)


def _source(source: str, spec: Any, default_tolerance: float) -> WebhookSource:
    where = f"WEIR_WEBHOOKS[{source!r}]"
    if not SOURCE_NAME.fullmatch(source):
        raise ConfigError(f"{where}: a source name is letters, digits, '_', '.' or '-'")
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be an object with at least a 'name' template")
    unknown = sorted(set(spec) - _FIELDS)
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r}; fields are {sorted(_FIELDS)}")
    name, event_id, secret = spec.get("name"), spec.get("id"), spec.get("secret")
    style = spec.get("style", "none" if secret is None else None)
    tolerance = spec.get("tolerance", default_tolerance)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: 'name' must be a template string, e.g. 'github/{{source}}'")
    if event_id is not None and not isinstance(event_id, str):
        raise ConfigError(f"{where}: 'id' must be a template string")
    if style not in STYLES:
        raise ConfigError(f"{where}: 'style' must be one of {list(STYLES)}")
    if style != "none" and (not isinstance(secret, str) or not secret):
        raise ConfigError(f"{where}: style {style!r} needs a non-empty 'secret'")
    if style == "none" and secret is not None:
        raise ConfigError(f"{where}: a 'secret' needs a signed 'style' ({list(VERIFIERS)})")
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance <= 0:
        raise ConfigError(f"{where}: 'tolerance' must be a positive number of seconds")
    return WebhookSource(
        source=source,
        name=Template.parse(name),
        id=Template.parse(event_id) if event_id is not None else None,
        style=style,
        secret=secret.encode() if isinstance(secret, str) else None,
        tolerance=float(tolerance),
    )
