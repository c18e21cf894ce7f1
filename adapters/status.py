"""A running bot's status over HTTP: `GET /healthz` and `GET /metrics`, on aiohttp.

Why: a load balancer sends updates only to replicas that answer /healthz, an orchestrator
restarts one that stops answering, and Prometheus scrapes /metrics (bot/metrics.py). For
`coach telegram` (polling or webhook) and `coach discord` they are served on their own port
when `--status-port` / COACH_STATUS_PORT is given (off by default), on 127.0.0.1 unless
`--status-listen` / COACH_STATUS_LISTEN says otherwise; a Telegram webhook serves them on
its own port too (adapters/telegram/webhook.py adds `add_status_routes`), so the replicas
behind one load balancer are checked where they take updates.

/healthz is 200 `{"status": "ok", "store": "ok", "flows": "ok"}` when the store answers a
cheap query (`Coach.ping`: the store's `ping`) within PING_TIMEOUT_S and the flows are
loaded; otherwise 503 with the failing part named by a word (`"store": "timeout"`), never
an error's text or a traceback (those can hold a database URL). Requests are not logged (no
access log); a change between healthy and failing is, once.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from adapters.lifecycle import ConfigError
from bot.metrics import CONTENT_TYPE
from bot.pipeline import Coach
from bot.store.base import StoreClosed, StoreUnavailable

log = logging.getLogger("coach.status")

PORT_ENV = "COACH_STATUS_PORT"
LISTEN_ENV = "COACH_STATUS_LISTEN"
DEFAULT_LISTEN = "127.0.0.1"
PING_TIMEOUT_S = 5.0  # the store's own ping gives up sooner (PostgreSQL: 3 s)
STOP_WAIT_S = 2.0  # seconds a status request in progress gets at a stop
OK = "ok"


@dataclass(frozen=True)
class StatusOptions:
    """Where the status server listens; no port, no server."""

    port: int | None = None
    listen: str = DEFAULT_LISTEN


def port_number(text: str) -> int:
    """A TCP port, 1 to 65535; ValueError with a one-line reason otherwise."""
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 65536:
        raise ValueError(f"must be a port number from 1 to 65535, not {value[:20]!r}")
    return int(value)


def status_options(env: Mapping[str, str], args: argparse.Namespace | None = None
                   ) -> StatusOptions:
    """From `--status-port`/`--status-listen`, else COACH_STATUS_PORT/COACH_STATUS_LISTEN.
    Raises ConfigError for a port that is not one."""
    port = getattr(args, "status_port", None)
    if port is None and env.get(PORT_ENV, "").strip():
        try:
            port = port_number(env[PORT_ENV])
        except ValueError as error:
            raise ConfigError(f"{PORT_ENV} {error}") from None
    listen = (getattr(args, "status_listen", None) or env.get(LISTEN_ENV, "").strip()
              or DEFAULT_LISTEN)
    return StatusOptions(port=port, listen=listen)


class Health:
    """Answers /healthz and /metrics for one coach."""

    def __init__(self, coach: Coach) -> None:
        self.coach = coach
        self._failing: dict[str, str] | None = None  # the last failure logged

    async def check(self) -> dict[str, str]:
        """Each part "ok" or a word for what is wrong with it."""
        return {"store": await self._store(), "flows": self._flows()}

    async def _store(self) -> str:
        try:
            await asyncio.wait_for(self.coach.ping(), PING_TIMEOUT_S)
        except TimeoutError:
            return "timeout"
        except StoreUnavailable as error:
            return error.reason
        except StoreClosed:
            return "closed"
        except Exception as error:  # anything else: named by its class only, never its text
            log.warning("event=health_store_error error=%s", type(error).__name__)
            return "error"
        return OK

    def _flows(self) -> str:
        catalog = self.coach.catalog
        return OK if catalog.flows and catalog.home in catalog.flows else "not_loaded"

    async def healthz(self, request: web.Request) -> web.Response:
        parts = await self.check()
        healthy = all(value == OK for value in parts.values())
        self._note(None if healthy else parts)
        return web.json_response({"status": OK if healthy else "failing", **parts},
                                 status=200 if healthy else 503,
                                 headers={"Cache-Control": "no-store"})

    def _note(self, failing: dict[str, str] | None) -> None:
        """One log line when the answer changes, not one per probe."""
        if failing == self._failing:
            return
        if failing is None:
            log.info("event=health_ok")
        else:
            log.warning("event=health_failing %s",
                        " ".join(f"{part}={value}" for part, value in failing.items()))
        self._failing = failing

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.coach.metrics.exposition(),
                            headers={"Content-Type": CONTENT_TYPE})


def add_status_routes(app: web.Application, coach: Coach) -> None:
    """GET (and HEAD) /healthz and /metrics on `app`."""
    health = Health(coach)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/metrics", health.metrics)


def status_server(coach: Coach, options: StatusOptions) -> StatusServer | None:
    """The server `options` ask for, to run beside the bot (adapters/lifecycle.py)."""
    return StatusServer(coach, options) if options.port is not None else None


class StatusServer:
    """/healthz and /metrics on a port of their own."""

    def __init__(self, coach: Coach, options: StatusOptions) -> None:
        self.coach = coach
        self.options = options
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen; OSError (one line, naming the port) when it cannot."""
        app = web.Application()
        add_status_routes(app, self.coach)
        runner = web.AppRunner(app, access_log=None, handle_signals=False,
                               shutdown_timeout=STOP_WAIT_S)
        await runner.setup()
        listen, port = self.options.listen, self.options.port
        try:
            await web.TCPSite(runner, listen, port).start()
        except OSError as error:
            await runner.cleanup()
            raise OSError(error.errno, f"cannot listen on {listen}:{port} for /healthz and "
                          f"/metrics: {error.strerror or error}") from None
        self._runner = runner
        log.info("event=status_started listen=%s port=%s paths=/healthz,/metrics", listen, port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
