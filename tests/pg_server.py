"""A throwaway PostgreSQL cluster for the tests: the server in COACH_TEST_POSTGRES_URL when set
(for the first of several workers), else one started with initdb/pg_ctl in a temp folder on
127.0.0.1 and a free port, as the `postgres` user when the tests run as root (PostgreSQL
refuses to run as root)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

ENV_URL = "COACH_TEST_POSTGRES_URL"
ENV_DATA = "COACH_TEST_POSTGRES_DATA"


class NoServer(RuntimeError):
    """No PostgreSQL for the tests: the reason says why (the tests skip with it)."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / name).exists():
            return str(folder / name)
    return None


@dataclass
class Cluster:
    """The test server: `data` (its data folder) when the tests may stop and restart it
    with pg_ctl; `owned` when this process made it and removes it at the end."""

    url: str
    data: Path | None = None
    pg_ctl: str | None = None
    owned: bool = False

    def _ctl(self, *args: str) -> None:
        if self.data is None or self.pg_ctl is None:
            raise NoServer(f"the server in ${ENV_URL} is not ours to restart")
        command = [self.pg_ctl, "-D", str(self.data), "-w", "-t", "60", *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=90)

    @property
    def ours(self) -> bool:
        return self.data is not None and self.pg_ctl is not None

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def start(self) -> None:
        self._ctl("start", "-l", str(self.data.parent / "log"))  # type: ignore[union-attr]

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast", "-l", str(self.data.parent / "log"))  # type: ignore[union-attr]

    def remove(self) -> None:
        if self.owned and self.data is not None:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self.stop()
            shutil.rmtree(self.data.parent, ignore_errors=True)


def start_cluster() -> Cluster:
    """The server to test against; NoServer with the reason when there is none.

    With several workers (pytest-xdist) only the first uses the server given in the
    environment; the others start their own where they can, since some tests stop and restart
    the server and count its databases, which would cut off or miscount another worker's."""
    given = os.environ.get(ENV_URL, "").strip()
    initdb, pg_ctl = _tool("initdb"), _tool("pg_ctl")
    first_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0") == "gw0"
    if given and (first_worker or not (initdb and pg_ctl)):
        # .ci/run's server: COACH_TEST_POSTGRES_DATA lets the first worker restart it too
        data = os.environ.get(ENV_DATA, "").strip() if first_worker else ""
        return Cluster(given, Path(data) if data else None, pg_ctl)
    if not (initdb and pg_ctl):
        raise NoServer(f"no PostgreSQL: set ${ENV_URL} or put initdb/pg_ctl on PATH")
    root = os.geteuid() == 0
    folder = Path(tempfile.mkdtemp(prefix="coach-pg-"))
    os.chmod(folder, 0o700)
    run_as: list[str] = []
    if root:
        if shutil.which("runuser") is None:
            raise NoServer("running as root without runuser to start PostgreSQL as postgres")
        shutil.chown(folder, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    data = folder / "data"
    options = (f"-c listen_addresses=127.0.0.1 -c port={port} -k {folder} "
               "-c max_connections=100")
    try:
        subprocess.run([*run_as, initdb, "-D", str(data), "-U", "postgres", "-A", "trust",
                        "-E", "UTF8", "--no-sync"], check=True, capture_output=True, timeout=120)
        with open(data / "postgresql.auto.conf", "a") as conf:  # survives pg_ctl restart
            conf.write("".join(f"{line}\n" for line in (
                "listen_addresses = '127.0.0.1'", f"port = {port}",
                # A throwaway server: no crash of the machine is tested, and without the
                # flushes CREATE DATABASE and shutdown take milliseconds. The store still
                # asks for synchronous_commit on; a real server keeps fsync on.
                "fsync = off", "full_page_writes = off",
                f"unix_socket_directories = '{folder}'")))
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-w",
                        "-t", "60", "-o", options, "start"],
                       check=True, capture_output=True, timeout=90)
    except (subprocess.SubprocessError, OSError) as error:
        detail = getattr(error, "stderr", b"") or b""
        shutil.rmtree(folder, ignore_errors=True)
        reason = f"{error} {detail.decode(errors='replace')}"
        raise NoServer(f"PostgreSQL did not start: {reason}") from None
    return Cluster(f"postgresql://postgres@127.0.0.1:{port}/postgres", data, pg_ctl, owned=True)


def new_database(server_url: str) -> str:
    """Create an empty database on the server; its URL. (Run on a loop of its own in a
    thread, so a test already inside a loop may ask for one.)"""
    import asyncio
    import threading
    import uuid

    import asyncpg

    name = f"coach_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(create())
        except Exception as error:  # raised in the caller's thread below
            failure.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{name}"
