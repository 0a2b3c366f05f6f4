"""The app's one Weir endpoint, free of any web framework: bytes in, bytes out.

Adapters (weir/fastapi.py) hand each request to :meth:`Endpoint.handle` and
write back the :class:`Reply`:

- ``POST``: a call from a worker; the signature is checked first, so a
  request that fails it never reaches a handler (401 problem+json);
- ``PUT``: (signed) re-register the app's functions with the gateway now;
- ``GET``: what this app serves, for introspection (no secrets).

Every answer is signed with the current signing key. Dev mode (setting
``dev`` or ``Weir(dev=True)``) accepts unsigned calls and says so in the log.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from weir.errors import (
    ConfigError,
    FunctionDefinitionError,
    FunctionNotFoundError,
    MethodNotAllowedError,
    RegistrationError,
    RequestMalformedError,
    SignatureError,
    WeirError,
)
from weir.functions.execute import execute
from weir.functions.function import Function
from weir.functions.limits import Limits
from weir.functions.protocol import (
    OUTCOME_STATUS,
    AppDescription,
    AppRegistration,
    CallRequest,
    SdkInfo,
)
from weir.functions.registration import Registrar
from weir.settings import Settings, get_settings
from weir.signing import SIGNATURE_HEADER, Signer, signer_from_settings

log = logging.getLogger(__name__)

DEFAULT_PATH = "/api/weir"
SDK_HEADER = "X-Weir-SDK"
QUERY_FUNCTION = "fn_id"
QUERY_STEP = "step_id"


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class Endpoint:
    """Serves ``functions`` of app ``app_id``; see the module docstring."""

    def __init__(
        self,
        *,
        app_id: str,
        functions: Sequence[Function],
        settings: Settings | None = None,
        dev: bool | None = None,
        url: str | None = None,
        path: str = DEFAULT_PATH,
        framework: str | None = None,
        clock: Callable[[], float] = time.time,
        registrar: Registrar | None = None,
    ) -> None:
        current = settings or get_settings()
        self.app_id = app_id
        self.path = path
        self.dev = current.dev if dev is None else dev
        self.functions = _by_id(functions)
        self.limits = Limits.from_settings(current)
        from weir import __version__  # here, not at import: weir/__init__ may import us

        self.sdk = SdkInfo(version=__version__, framework=framework)
        self._configured_url = url or current.app_url
        self._default_url = f"http://127.0.0.1:{current.app_port}{path}"
        self.signer = _signer(current, clock)
        if self.signer is None and not self.dev:
            raise ConfigError(
                "signing_key is not set: set WEIR_SIGNING_KEY (32+ characters), or turn on dev "
                "mode (WEIR_DEV=1 or Weir(dev=True)) for local development only"
            )
        if self.dev:
            log.warning(
                "Weir dev mode is on: calls to %s are accepted without a signature; "
                "never run like this in production",
                path,
            )
        self._has_fallback = current.signing_key_fallback is not None
        self.registrar = registrar or Registrar(
            gateway_url=current.gateway_url, app_id=app_id, signer=self.signer
        )

    # -- requests ---------------------------------------------------------------

    async def handle(
        self,
        method: str,
        *,
        body: bytes,
        signature: str | None,
        query: Mapping[str, str] | None = None,
        request_url: str | None = None,
    ) -> Reply:
        """Answer one request; never raises for anything a request contains."""
        try:
            if method == "GET":
                return self._json(200, self.description().model_dump(mode="json"))
            if method not in ("POST", "PUT"):
                raise MethodNotAllowedError(f"{method} is not served here (GET, POST, PUT)")
            if not self.dev:
                assert self.signer is not None
                self.signer.verify(body, signature)
            if method == "PUT":
                return await self._sync(request_url)
            return await self._call(body, query or {})
        except WeirError as exc:
            if isinstance(exc, SignatureError):
                log.warning("refused a %s to %s: %s", method, self.path, exc)
            return self._problem(exc)
        except Exception as exc:  # a bug of ours: answer, log, keep serving
            log.exception("internal error answering a %s to %s", method, self.path)
            return self._problem(WeirError(f"internal error: {type(exc).__name__}"))

    async def _call(self, body: bytes, query: Mapping[str, str]) -> Reply:
        try:
            request = CallRequest.model_validate_json(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            raise RequestMalformedError(
                f"not a call request: {where}: {first['msg']}", detail={"path": where}
            ) from None
        _agree(query, QUERY_FUNCTION, request.function_id)
        if QUERY_STEP in query:
            _agree(query, QUERY_STEP, request.target_step)
        function = self.functions.get(request.function_id)
        if function is None:
            raise FunctionNotFoundError(
                f"app {self.app_id!r} serves no function {request.function_id!r}",
                detail={"function_id": request.function_id},
            )
        response = await execute(function, request, limits=self.limits)
        body_out = response.model_dump_json().encode("utf-8")
        return self._reply(OUTCOME_STATUS[response.outcome], body_out, "application/json")

    async def _sync(self, request_url: str | None) -> Reply:
        url = self.url_for(request_url)
        await self.registrar.register(self.registration(url))
        return self._json(
            200, {"registered": True, "url": url, "functions": len(self.function_configs())}
        )

    # -- descriptions -------------------------------------------------------------

    def function_configs(self) -> list[Any]:
        return [function.config for function in self.functions.values()]

    def url_for(self, request_url: str | None = None) -> str:
        """Where workers reach this endpoint: configured, else as requested, else local."""
        if self._configured_url:
            return self._configured_url
        if request_url:
            return request_url.split("?", 1)[0]
        return self._default_url

    def registration(self, url: str | None = None) -> AppRegistration:
        return AppRegistration(
            app_id=self.app_id,
            url=url or self.url_for(),
            functions=self.function_configs(),
            sdk=self.sdk,
        )

    def description(self) -> AppDescription:
        return AppDescription(
            app_id=self.app_id,
            sdk=self.sdk,
            mode="dev" if self.dev else "signed",
            signing_key=self.signer is not None,
            signing_key_fallback=self._has_fallback,
            functions=self.function_configs(),
        )

    # -- replies --------------------------------------------------------------------

    def _reply(self, status: int, body: bytes, content_type: str) -> Reply:
        headers = {"Content-Type": content_type, SDK_HEADER: f"{self.sdk.name}/{self.sdk.version}"}
        if self.signer is not None:
            headers[SIGNATURE_HEADER] = self.signer.sign(body)
        return Reply(status, body, headers)

    def _json(self, status: int, payload: object) -> Reply:
        return self._reply(status, json.dumps(payload).encode("utf-8"), "application/json")

    def _problem(self, exc: WeirError) -> Reply:
        status = 502 if isinstance(exc, RegistrationError) else exc.http_status
        problem = exc.to_problem()
        problem["status"] = status
        body = json.dumps(problem).encode("utf-8")
        return self._reply(status, body, "application/problem+json")


def _signer(settings: Settings, clock: Callable[[], float]) -> Signer | None:
    return signer_from_settings(settings, clock)


def _by_id(functions: Sequence[Function]) -> dict[str, Function]:
    served: dict[str, Function] = {}
    for function in functions:
        for member in [function] + ([function.failure_handler] if function.failure_handler else []):
            if member.id in served and served[member.id] is not member:
                raise FunctionDefinitionError(f"two functions have the id {member.id!r}")
            served[member.id] = member
    return served


def _agree(query: Mapping[str, str], key: str, value: str | None) -> None:
    given = query.get(key)
    if given is not None and given != value:
        raise RequestMalformedError(
            f"query {key}={given!r} disagrees with the body ({value!r})", detail={"path": key}
        )
