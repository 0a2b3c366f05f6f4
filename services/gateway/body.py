"""Read a request body without ever holding more than the configured limit.

A declared ``Content-Length`` over the limit is refused before a byte is
read; a chunked body is counted while it streams and refused as soon as it
passes the limit, so a client cannot make the gateway buffer an unbounded
body.
"""

from __future__ import annotations

from starlette.requests import Request

from weir.errors import PayloadTooLargeError, RequestMalformedError


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"the request body is larger than {limit} bytes", detail={"limit": limit}
    )


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise RequestMalformedError("Content-Length is not a number") from None
        if length > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)
