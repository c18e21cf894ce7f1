"""deploy/: compose.yaml says what docs/operations.md promises (three webhook replicas, the
store key as a Docker secret, health checks), and nginx.conf, run for real on 127.0.0.1 in
front of three `coach telegram` webhook processes sharing one PostgreSQL database, answers
/healthz and spreads Telegram's updates over all three, also with one of them killed.

Docker's daemon is not here, so the compose file is checked as data, not run. nginx is
(tests/nginx_server.py installs it as root if it is missing); PostgreSQL is the test server
(tests/pg_server.py). Only the ports, log files and temp folders of nginx.conf are
rewritten, each replacement checked, so the file tested is the file shipped."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.crypto import new_key
from tests.conftest import REPO
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.nginx_server import NoNginx, find_nginx
from tests.process_output import WAIT, Output, get, health, sample, until
from tests.telegram_harness import command_env, free_port, reply_to

pytest_plugins = ["tests.telegram_fixtures"]

DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
NGINX_CONF = DEPLOY / "nginx.conf"
REPLICAS = ("coach-1", "coach-2", "coach-3")
HOOK = "/telegram/hook"
WEBHOOK_SECRET = "deploy-test-Secret_1"


# -- compose.yaml ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_compose_runs_three_webhook_replicas_on_postgresql(compose: dict) -> None:
    services = compose["services"]
    assert sorted(name for name in services if name.startswith("coach-")) == list(REPLICAS)
    assert services["postgres"]["image"].startswith("postgres:16")
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    for name in REPLICAS:
        replica = services[name]
        assert replica["build"] == {"context": "..", "dockerfile": "Dockerfile"}
        assert (DEPLOY / replica["build"]["context"] / "Dockerfile").is_file()
        command = replica["command"]
        assert command[0] == "telegram" and "--webhook-url" in command
        assert command[command.index("--port") + 1] == "8443"
        assert command[command.index("--listen") + 1] == "0.0.0.0"
        env = replica["environment"]
        assert env["COACH_STORE"].startswith("postgresql://") and "@postgres:5432/" in \
            env["COACH_STORE"]
        assert {"TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET"} <= set(env)
        assert replica["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["store", "migrate"]


def test_the_store_key_is_a_docker_secret_not_an_environment_variable(compose: dict) -> None:
    secrets = compose["secrets"]
    assert secrets["coach_secret_key"]["file"].startswith("./secrets/")
    for name in REPLICAS:
        replica = compose["services"][name]
        env = replica["environment"]
        assert "COACH_SECRET_KEY" not in env
        assert env["COACH_SECRET_KEY_FILE"] == "/run/secrets/coach_secret_key"
        assert "coach_secret_key" in replica["secrets"]
        assert not replica.get("volumes"), "nothing of the coach's lives in a volume"
    text = COMPOSE.read_text(encoding="utf-8")
    # No key, password or token is written in the file: only ${...} from the environment.
    assert not re.search(r"[A-Za-z0-9_-]{43}=", text)
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET"):
        assert compose["services"]["coach-1"]["environment"][name].startswith(f"${{{name}:?")
    assert "POSTGRES_PASSWORD:" not in text and "POSTGRES_PASSWORD_FILE" in text


def test_each_replica_is_health_checked_on_its_healthz(compose: dict) -> None:
    for name in REPLICAS:
        check = compose["services"][name]["healthcheck"]
        assert check["test"][0] == "CMD"
        assert "http://127.0.0.1:8443/healthz" in " ".join(check["test"])
    nginx = compose["services"]["nginx"]
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    assert "/healthz" in " ".join(nginx["healthcheck"]["test"])
    upstream = re.findall(r"^\s*server (coach-\d):8443\b", NGINX_CONF.read_text(), re.M)
    assert tuple(upstream) == REPLICAS


# -- nginx in front of three coach processes -------------------------------------------------


def rewritten(conf: str, port: int, replicas: list[int], folder: Path) -> str:
    """nginx.conf for this machine: its ports, logs and temp folders; nothing else."""
    swaps = [("listen 8080;", f"listen 127.0.0.1:{port};"),
             ("access_log /dev/stdout coach;", f"access_log {folder}/access.log coach;"),
             ("error_log /dev/stderr warn;", f"error_log {folder}/error.log info;"),
             ("http {", "http {\n" + "".join(
                 f"    {kind}_temp_path {folder}/{kind};\n"
                 for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")))]
    swaps += [(f"server {name}:8443", f"server 127.0.0.1:{replica}")
              for name, replica in zip(REPLICAS, replicas, strict=True)]
    for old, new in swaps:
        assert conf.count(old) == 1, f"nginx.conf changed shape: {old!r}"
        conf = conf.replace(old, new)
    return conf


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def nginx_binary() -> str:
    try:
        return find_nginx()
    except NoNginx as reason:
        pytest.skip(str(reason))


@pytest.fixture
def balancer(nginx_binary: str, tmp_path: Path) -> Iterator[tuple[int, list[int], Path]]:
    """nginx on a free port in front of three free ports (nothing listens there yet)."""
    port, replicas = free_port(), [free_port() for _ in REPLICAS]
    folder = tmp_path / "nginx"
    folder.mkdir()
    folder.chmod(0o755)  # its workers may run as another user
    conf = folder / "nginx.conf"
    conf.write_text(rewritten(NGINX_CONF.read_text(), port, replicas, folder))
    command = [nginx_binary, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log"),
               "-g", f"daemon off; pid {folder}/nginx.pid;"]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=WAIT)
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        until(lambda: listening(port) or proc.poll() is not None)
        assert proc.poll() is None, (folder / "error.log").read_text()
        yield port, replicas, folder
    finally:
        proc.send_signal(signal.SIGQUIT)  # nginx's graceful stop
        try:
            proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()


def start_replica(server: FakeTelegramAPI, pg_url: str, key_file: Path, public: str,
                  port: int) -> Output:
    env = {**command_env(server, Path(pg_url)), "COACH_STORE": pg_url,
           "COACH_SECRET_KEY_FILE": str(key_file), "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET}
    return Output(subprocess.Popen(
        [sys.executable, "-m", "bot", "--log-level", "INFO", "telegram", "--webhook-url",
         public, "--listen", "127.0.0.1", "--port", str(port)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))


def replied(port: int) -> float:
    text = get(f"http://127.0.0.1:{port}/metrics")[1]
    return sample(text, "coach_updates_total", platform="telegram", outcome="replied")


def compose_check(compose: dict, service: str, port: int) -> int:
    """The exit code of `service`'s health check from compose.yaml, run here against `port`
    (the check's own command, with this machine's python and port)."""
    test = [part.replace("8443", str(port)).replace("8080", str(port))
            for part in compose["services"][service]["healthcheck"]["test"]]
    if test[0] == "CMD-SHELL":
        command = ["sh", "-c", test[1]]
    else:
        command = [sys.executable if test[1] == "python" else test[1], *test[2:]]
    return subprocess.run(command, capture_output=True, timeout=WAIT).returncode


def test_nginx_spreads_updates_over_three_replicas_and_answers_healthz(
        balancer: tuple[int, list[int], Path], threaded_server: FakeTelegramAPI, pg_url: str,
        tmp_path: Path, compose: dict) -> None:
    port, replicas, folder = balancer
    server, base = threaded_server, f"http://127.0.0.1:{port}"
    key_file = tmp_path / "coach_secret_key"  # as the Docker secret would be
    key_file.write_text(new_key().decode() + "\n", encoding="ascii")
    assert get(base + "/healthz")[0] == 502  # nothing behind it yet

    running = [start_replica(server, pg_url, key_file, base + HOOK, replica)
               for replica in replicas]
    try:
        for output in running:
            output.wait_for(r"event=telegram_started mode=webhook")
        assert server.webhook_url == base + HOOK  # each replica registered the balancer's URL

        assert health(base) == (200, {"status": "ok", "store": "ok", "flows": "ok"})
        assert get(base + "/metrics")[0] == 404  # the metrics stay inside
        assert compose_check(compose, "coach-1", replicas[0]) == 0  # compose.yaml's checks
        assert compose_check(compose, "nginx", port) == 0
        chats = list(range(7001, 7010))
        for chat in chats:
            reply_to(server, lambda chat=chat: server.push_command(chat, "start"), chat)
        counts = [replied(replica) for replica in replicas]
        assert all(count >= 1 for count in counts), counts  # every replica took updates
        assert sum(counts) == len(chats)

        # One replica dies without a word (kill -9): the others take its share.
        running[1].proc.send_signal(signal.SIGKILL)
        running[1].finish()
        assert compose_check(compose, "coach-2", replicas[1]) != 0  # Compose would see it
        for chat in range(7101, 7104):
            reply_to(server, lambda chat=chat: server.push_command(chat, "start"), chat)
        assert replied(replicas[0]) + replied(replicas[2]) == counts[0] + counts[2] + 3
        assert health(base)[0] == 200
    finally:
        for output in running:
            if output.proc.poll() is None:
                output.proc.terminate()
        outputs = [output.finish() for output in running]
    assert all("Traceback" not in out for out in outputs), outputs

    access = (folder / "access.log").read_text()
    assert re.search(r" POST 200 ", access) and re.search(r" GET 200 ", access)
    assert HOOK not in access and WEBHOOK_SECRET not in access  # no URL, no secret header
    assert WEBHOOK_SECRET not in (folder / "error.log").read_text()
    codes = [output.proc.returncode for output in running]
    assert codes == [0, -signal.SIGKILL, 0], outputs  # the others stopped cleanly
