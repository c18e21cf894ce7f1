"""The plumbing every fake platform server shares: an aiohttp app on 127.0.0.1, in the test's
event loop or in a thread of its own; every request recorded; waits that wake on what the
server records instead of on a clock; calls held unanswered until the test lets them go.

Why one base: the Telegram and Discord fakes (tests/fakes/telegram_api.py, discord_api.py)
had grown two copies of this, and the waits are what keeps the adapter tests free of sleeps:
they should behave the same on both. A subclass adds its routes (`_routes`), says what a call
is called (`_call_name`) and which chat it is for (`_hold_target`), and records each request
with `_record` before answering it.

Thread safety: `calls` and the fakes' state are guarded by `_lock`; `_notify` wakes every
waiter, in any thread or event loop, after each change.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, Protocol, Self, TypeVar


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request (Telegram's sendDocument ``document``, Discord's
    ``files[n]``)."""

    field: str
    filename: str | None
    content_type: str | None
    data: bytes


class Call(Protocol):
    """What the base needs of a fake's record of one request."""

    status: int | None  # None while the request is still waiting for its answer
    held: bool


C = TypeVar("C", bound=Call)
HoldKey = tuple[str, Any]  # (call name, its chat or channel, or None for every one)


class FakeServer(Generic[C]):
    """A fake platform server: start and stop, record, wait, hold. See the module docstring."""

    thread_name = "fake-server"
    default_timeout = 30.0  # seconds a wait lasts unless told: a safety net against a hang
    summary_length = 25  # calls named in a timeout's message

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port: int | None = None
        self.calls: list[C] = []
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._listeners: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: Any = None
        self._closing = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._holds: set[HoldKey] = set()
        self._held: dict[int, tuple[HoldKey, C]] = {}  # id(call) -> why it waits
        self._dropped: set[int] = set()  # id(call) of held calls to answer 502, unprocessed
        self._delays: dict[str, float] = {}  # call name (or "*") -> seconds before answering

    # ----------------------------------------------------------------- what a fake adds

    def _routes(self, app: Any) -> None:
        """Add the fake's routes to its aiohttp application."""
        raise NotImplementedError

    async def _before_stop(self) -> None:
        """Close what the fake keeps open besides requests (websockets)."""

    def _call_name(self, call: C) -> str:
        """The name `wait_for`, `calls_to` and `hold` know a call by."""
        raise NotImplementedError

    def _name(self, name: str) -> str:
        """A name as a test writes it, made comparable with `_call_name`."""
        return name

    def _hold_target(self, call: C) -> Any:
        """The chat (or channel) a call is for, which `hold(name, target)` matches."""
        return None

    # ----------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        """Root URL of the server, e.g. ``http://127.0.0.1:40123``."""
        if self.port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> Self:
        """Bind a free port on 127.0.0.1 and serve; returns self."""
        from aiohttp import web

        app = web.Application(client_max_size=50 * 1024 * 1024)
        self._routes(app)
        # access_log=None: the access log would print every URL, tokens included.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._loop = asyncio.get_running_loop()
        self._closing = False
        return self

    async def stop(self) -> None:
        """Let held and delayed calls go, end the fake's own tasks, close the socket."""
        self._closing = True
        self._notify()
        await self._before_stop()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def run_in_thread(self, *, timeout: float = 10.0) -> tuple[int, Callable[[], None]]:
        """Serve from a daemon thread with its own event loop (for subprocess tests).

        Returns ``(port, stop)``; ``stop()`` is idempotent and joins the thread.
        """
        started = threading.Event()
        failure: list[BaseException] = []
        stop_requested: list[asyncio.Event] = []

        async def serve() -> None:
            stop_event = asyncio.Event()
            stop_requested.append(stop_event)
            try:
                await self.start()
            except BaseException as exc:
                failure.append(exc)
                started.set()
                raise
            started.set()
            await stop_event.wait()
            await self.stop()

        def target() -> None:
            with contextlib.suppress(BaseException):
                asyncio.run(serve())

        thread = threading.Thread(target=target, name=self.thread_name, daemon=True)
        thread.start()
        if not started.wait(timeout):
            raise RuntimeError(f"{type(self).__name__} did not start in time")
        if failure:
            raise RuntimeError(f"{type(self).__name__} failed to start") from failure[0]
        loop = self._loop
        assert loop is not None and self.port is not None

        def stop() -> None:
            if thread.is_alive():
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(stop_requested[0].set)
                thread.join(timeout)

        return self.port, stop

    # ----------------------------------------------------------------- slow and held calls

    def set_delay(self, name: str, seconds: float) -> None:
        """Answer calls named ``name`` (or ``"*"``: all) only after ``seconds`` (0 removes the
        delay). For timeouts; a test that only needs a call to wait uses :meth:`hold`."""
        with self._lock:
            if seconds:
                self._delays[self._name(name)] = seconds
            else:
                self._delays.pop(self._name(name), None)

    def _delay(self, name: str) -> float:
        with self._lock:
            return self._delays.get(self._name(name), self._delays.get("*", 0.0))

    def hold(self, name: str, target: Any = None) -> None:
        """Calls named ``name`` for ``target`` (a chat or channel; None: any) arrive and are
        recorded with ``held=True``, then wait unanswered until :meth:`release`."""
        with self._lock:
            self._holds.add((self._name(name), target))

    def release(self, name: str, target: Any = None, *, drop: bool = False) -> None:
        """Stop holding what ``hold(name, target)`` held. The calls waiting go on as if they
        had just arrived; with ``drop`` they are answered 502 and not acted on (the request
        was lost: nothing is stored or sent), for calls whose client was killed meanwhile."""
        key: HoldKey = (self._name(name), target)
        with self._lock:
            self._holds.discard(key)
            if drop:
                self._dropped.update(i for i, (k, _) in self._held.items() if k == key)
        self._notify()

    async def _wait_if_held(self, call: C) -> bool:
        """Wait while a hold matches ``call``; False when it is dropped or the server stops."""
        with self._lock:
            name, target = self._call_name(call), self._hold_target(call)
            key = next((k for k in ((name, target), (name, None)) if k in self._holds), None)
            if key is None:
                return True
            call.held = True
            self._held[id(call)] = (key, call)
        self._notify()
        try:
            released = await self._until(
                lambda: id(call) in self._dropped or key not in self._holds)
            with self._lock:
                return released and id(call) not in self._dropped
        finally:
            with self._lock:
                self._held.pop(id(call), None)
                self._dropped.discard(id(call))

    # ----------------------------------------------------------------- waiting

    async def wait_until(self, condition: Callable[[], bool], *,
                         timeout: float | None = None) -> None:
        """Wait until ``condition()`` holds; re-checked whenever the server's state changes."""
        timeout = self.default_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        entry = (loop, event)
        with self._lock:
            self._listeners.add(entry)
        deadline = loop.time() + timeout
        try:
            while True:
                event.clear()
                with self._lock:
                    if condition():
                        return
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(f"condition not met within {timeout}s; calls so far: "
                                       f"{self._summary()}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
        finally:
            with self._lock:
                self._listeners.discard(entry)

    async def wait_for(self, what: str | Callable[[C], bool], count: int = 1, *,
                       timeout: float | None = None, after: int = 0,
                       include_pending: bool = False) -> list[C]:
        """Wait until ``count`` calls match; returns all matches.

        ``what`` is a call's name or a predicate on the record. Only answered calls count
        unless ``include_pending`` (a long poll still waiting, a held or delayed call).
        "Answered" is the server's side: the client may not have read the answer yet, so wait
        on the client's own signal when that matters. ``after`` skips ``calls[:after]``: take
        ``len(server.calls)`` before acting.
        """
        timeout = self.default_timeout if timeout is None else timeout
        predicate = self._as_predicate(what)
        found: list[C] = []

        def enough() -> bool:
            found[:] = self._matching(predicate, after, include_pending)
            return len(found) >= count

        try:
            await self.wait_until(enough, timeout=timeout)
        except TimeoutError:
            raise TimeoutError(f"waited {timeout}s for {count} x {what!r}, matched "
                               f"{len(found)}; calls: {self._summary()}") from None
        return list(found)

    def wait_for_sync(self, what: str | Callable[[C], bool], count: int = 1, *,
                      timeout: float | None = None, after: int = 0,
                      include_pending: bool = False) -> list[C]:
        """Blocking :meth:`wait_for` for code that has no event loop (server in a thread)."""
        timeout = self.default_timeout if timeout is None else timeout
        predicate = self._as_predicate(what)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = self._matching(predicate, after, include_pending)
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"waited {timeout}s for {count} x {what!r}, matched "
                                       f"{len(found)}; calls: {self._summary()}")
                self._cond.wait(remaining)

    def wait_until_sync(self, condition: Callable[[], bool], *, timeout: float | None = None,
                        poll: float | None = None) -> None:
        """Blocking :meth:`wait_until`. ``condition`` is re-checked whenever the server's state
        changes, and also every ``poll`` seconds when given (for conditions on state outside
        the server, such as a file the bot writes)."""
        timeout = self.default_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._cond:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"condition not met within {timeout}s; calls so far: "
                                       f"{self._summary()}")
                self._cond.wait(remaining if poll is None else min(poll, remaining))

    def calls_to(self, name: str, *, ok_only: bool = False) -> list[C]:
        """Recorded calls of one name."""
        wanted = self._name(name)
        with self._lock:
            return [c for c in self.calls if self._call_name(c) == wanted
                    and (not ok_only or self._ok(c))]

    def unanswered(self, *, ignore: tuple[str, ...] = ()) -> list[C]:
        """Calls still waiting for their answer (held, delayed, long polls...)."""
        names = {self._name(name) for name in ignore}
        with self._lock:
            return [c for c in self.calls if c.status is None and self._call_name(c) not in names]

    # ----------------------------------------------------------------- internals

    @staticmethod
    def _ok(call: C) -> bool:
        return call.status is not None and 200 <= call.status < 300

    def _as_predicate(self, what: str | Callable[[C], bool]) -> Callable[[C], bool]:
        if callable(what):
            return what
        name = self._name(what)
        return lambda call: self._call_name(call) == name

    def _matching(self, predicate: Callable[[C], bool], after: int,
                  include_pending: bool) -> list[C]:
        with self._lock:
            return [c for c in self.calls[after:]
                    if (include_pending or c.status is not None) and predicate(c)]

    def _summary(self) -> str:
        with self._lock:
            tail = self.calls[-self.summary_length:]
        return ", ".join(f"{self._call_name(c)}:{c.status}" for c in tail) or "none"

    def _record(self, call: C) -> None:
        with self._lock:
            self.calls.append(call)
        self._notify()

    def _notify(self) -> None:
        """Wake every waiter (long polls, wait_for in any thread or loop)."""
        with self._lock:
            self._cond.notify_all()
            listeners = list(self._listeners)
        running = _running_loop()
        for loop, event in listeners:
            if loop is running:
                event.set()
            else:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(event.set)

    async def _until(self, condition: Callable[[], bool], seconds: float | None = None) -> bool:
        """Wait until ``condition()`` (checked under the lock on every change), the server
        stops, or ``seconds`` pass; True when the condition holds."""
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        entry = (loop, event)
        with self._lock:
            self._listeners.add(entry)
        deadline = None if seconds is None else loop.time() + seconds
        try:
            while True:
                event.clear()
                with self._lock:
                    if condition():
                        return True
                    if self._closing:
                        return False
                if deadline is None:
                    await event.wait()
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
        finally:
            with self._lock:
                self._listeners.discard(entry)

    def _in_loop(self, callback: Callable[[], object]) -> bool:
        """Run ``callback`` on the server's loop: now when called from it, else soon from
        the loop's thread. False when the server is not running."""
        loop = self._loop
        if loop is None:
            return False
        if _running_loop() is loop:
            callback()
            return True
        try:
            loop.call_soon_threadsafe(callback)
        except RuntimeError:  # the loop is closed
            return False
        return True

    def _schedule(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` as a task of the server (cancelled when it stops)."""
        def start() -> None:
            self._track(asyncio.get_running_loop().create_task(coro))

        if self._closing or not self._in_loop(start):
            coro.close()

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
