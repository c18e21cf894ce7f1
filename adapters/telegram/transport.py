"""How the Telegram adapter talks HTTP: python-telegram-bot's transport on aiohttp.

Why its own module: PTB documents the transport as a plug point (`BaseRequest`), and what a
timeout means for sending again is decided here, where the request is made (`NotSent`).
"""

from __future__ import annotations

from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

# 32 connections cover Telegram's 30 messages/s at real round-trip times; a call that finds
# them all busy waits up to POOL_WAIT for one instead of failing.
CONNECTION_POOL = 32
POOL_WAIT = 30.0


class NotSent(TimedOut):
    """Timed out before the request was sent (connecting, or waiting for a free connection):
    Telegram cannot have seen it, so it is safe to send again."""


class AiohttpRequest(BaseRequest):
    """PTB's HTTP transport on aiohttp instead of httpx.

    Why: measured against the fake server, a Bot API call through PTB costs about 0.8 ms of CPU
    on httpx and 0.3 ms on aiohttp (httpx's pool re-checks every connection with system calls
    on each request, and httpcore repeats a failed `import sniffio` on each one). A reply is
    3 to 4 calls, so this is most of the adapter's cost. It also drops httpx's request log,
    which prints the token. PTB documents custom BaseRequest subclasses. Bodies are JSON, or
    multipart when a file goes up (as PTB's own transport does). Timeouts: connect, pool
    (waiting for a free connection) and read map onto aiohttp's; an upload's write time
    counts against the read timeout. A timeout before anything was sent (connecting, or
    waiting for a free connection) raises `NotSent`, which the outbox may safely retry; one
    while waiting for the answer raises plain TimedOut (the request may have arrived).
    """

    def __init__(self, pool: int = CONNECTION_POOL, read_timeout: float | None = 5.0,
                 connect_timeout: float = 5.0, pool_timeout: float = POOL_WAIT) -> None:
        self.pool = pool
        self._read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        self.pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self.pool)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None:
            raise RuntimeError("AiohttpRequest is not initialized")
        read = _given(read_timeout, self._read_timeout)
        connect = _given(connect_timeout, self.connect_timeout)
        wait = _given(pool_timeout, self.pool_timeout)
        timeout = aiohttp.ClientTimeout(total=None, connect=(wait or 0) + (connect or 0) or None,
                                        sock_connect=connect, sock_read=read)
        files = request_data is not None and request_data.contains_files
        try:
            async with self._session.request(
                method, url, timeout=timeout,
                json=None if files or request_data is None else request_data.parameters,
                data=_multipart(request_data) if files else None,
            ) as response:
                return response.status, await response.read()
        except aiohttp.ConnectionTimeoutError as error:  # no connection: nothing was sent
            raise NotSent("Timed out before sending") from error
        except TimeoutError as error:  # waiting for the answer: it may have been delivered
            raise TimedOut from error
        except aiohttp.ClientError as error:  # the class name says what failed; no URL in it
            raise NetworkError(f"aiohttp.{type(error).__name__}") from error


def _given(value: Any, default: float | None) -> float | None:
    """PTB passes DefaultValue placeholders for timeouts the caller did not set."""
    return default if isinstance(value, type(BaseRequest.DEFAULT_NONE)) else value


def _multipart(request_data: RequestData | None) -> aiohttp.FormData:
    """An upload: the fields JSON-encoded as PTB sends them, then the files."""
    form = aiohttp.FormData()
    assert request_data is not None
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mime_type) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form
