"""nginx for the deployment test (tests/test_deploy.py): the one $COACH_TEST_NGINX names
(.ci/run sets it: there the test must run, not skip), else the one on this machine, else
installed from Debian when the tests run as root with apt-get, else a clear reason to skip.

Installed with RUNLEVEL=1, so that the package does not start the system's own nginx on
port 80: the test runs its own, on 127.0.0.1 and a free port, and stops it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ENV_NGINX = "COACH_TEST_NGINX"
APT = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "RUNLEVEL": "1"}
INSTALL = ["apt-get", "install", "-y", "-qq", "--no-install-recommends",
           "-o", "DPkg::Lock::Timeout=300", "nginx"]


class NoNginx(RuntimeError):
    """nginx is not here and cannot be installed: the reason says why."""


def _found() -> str | None:
    return shutil.which("nginx") or next(
        (str(path) for path in (Path("/usr/sbin/nginx"), Path("/usr/local/sbin/nginx"))
         if path.exists()), None)


def find_nginx() -> str:
    """The nginx binary, installing it first if that is possible here."""
    required = os.environ.get(ENV_NGINX, "").strip()
    if required:
        assert Path(required).is_file(), f"${ENV_NGINX} names no nginx: {required}"
        return required
    found = _found()
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise NoNginx("nginx is not installed, and installing it needs root and apt-get "
                      "(`apt-get install nginx`; .ci/run does it)")
    done = subprocess.run(INSTALL, env=APT, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:  # a stale package list: refresh it once
        subprocess.run(["apt-get", "update", "-qq"], env=APT, capture_output=True,
                       timeout=900)
        done = subprocess.run(INSTALL, env=APT, capture_output=True, text=True, timeout=900)
    found = _found()
    if found is None:
        said = (done.stderr or done.stdout).strip()[-300:]
        raise NoNginx(f"nginx could not be installed: {said}")
    return found
