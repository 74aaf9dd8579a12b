"""Real database servers for the Tarmac backend tests: an existing one, or a throwaway one.

``WAPC_TEST_POSTGRES`` / ``WAPC_TEST_REDIS`` / ``WAPC_TEST_MYSQL`` name an
existing server (a DSN); unset, the fixture starts its own in a temp
directory on a free loopback port, from the Debian packages (``postgresql``,
``redis-server``, ``mariadb-server``), and stops it at the end. PostgreSQL
refuses to run as root, so as root the cluster belongs to the ``postgres``
user (``runuser``). When a server cannot start, the test FAILS under CI
(``CI`` set) and is skipped with the reason elsewhere.
"""

from __future__ import annotations

import contextlib
import glob
import http.server
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_START_TIMEOUT_S = 60


def unavailable(reason: str) -> None:
    """Fail under CI, skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"CI needs this server: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def loopback_http(handler: type[http.server.BaseHTTPRequestHandler],
                  tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """A threaded HTTP server (HTTPS with a ``tls`` server context) on a free loopback
    port answering with ``handler``, for the httpclient tests; yields its ``host:port``
    and shuts it down after."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True  # a handler still writing (a slow body) never blocks the end
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _wait(ready: Callable[[], bool], what: str) -> None:
    end = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < end:
        if ready():
            return
        time.sleep(0.2)
    unavailable(f"{what} did not become ready within {_START_TIMEOUT_S}s")


def _run(argv: list[str], what: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_START_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        unavailable(f"{what}: {exc}")
        return
    if done.returncode != 0:
        unavailable(f"{what} failed ({done.returncode}): {(done.stderr or done.stdout).strip()}")


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    existing = os.environ.get("WAPC_TEST_POSTGRES")
    if existing:
        yield existing
        return
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        unavailable("PostgreSQL is not installed (Debian package postgresql)")
    bindir = Path(found[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="wapc-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", free_port()
    _run([*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "wapc",
          "--no-sync"], "initdb")
    _run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w",
          "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
         "pg_ctl start")
    try:
        yield f"postgresql://wapc@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True, timeout=_START_TIMEOUT_S)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    existing = os.environ.get("WAPC_TEST_REDIS")
    if existing:
        yield existing
        return
    server = shutil.which("redis-server")
    if server is None:
        unavailable("redis-server is not installed (Debian package redis-server)")
        return
    root = Path(tempfile.mkdtemp(prefix="wapc-redis-"))
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ready() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    try:
        _wait(ready, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def mysql_dsn() -> Iterator[str]:
    existing = os.environ.get("WAPC_TEST_MYSQL")
    if existing:
        yield existing
        return
    daemon, install = shutil.which("mariadbd") or "/usr/sbin/mariadbd", shutil.which(
        "mariadb-install-db")
    if install is None or not Path(daemon).exists():
        unavailable("MariaDB is not installed (Debian package mariadb-server)")
        return
    root = Path(tempfile.mkdtemp(prefix="wapc-mysql-"))
    user = "mysql" if os.geteuid() == 0 else os.environ.get("USER", "")
    if os.geteuid() == 0:
        shutil.chown(root, "mysql", "mysql")
    data, port, sock = root / "data", free_port(), root / "mysqld.sock"
    _run([install, f"--datadir={data}", f"--user={user}",
          "--auth-root-authentication-method=normal", "--skip-test-db"], "mariadb-install-db")
    process = subprocess.Popen(
        [daemon, "--no-defaults", f"--datadir={data}", f"--socket={sock}", f"--port={port}",
         "--bind-address=127.0.0.1", f"--user={user}", "--skip-log-bin",
         f"--pid-file={root / 'mysqld.pid'}", "--innodb-buffer-pool-size=16M"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def ready() -> bool:
        try:
            import pymysql

            pymysql.connect(host="127.0.0.1", port=port, user="root", password="",
                            connect_timeout=1).close()
            return True
        except Exception:
            return False

    try:
        _wait(ready, "mariadbd")
        import pymysql

        conn = pymysql.connect(host="127.0.0.1", port=port, user="root", password="",
                               autocommit=True)
        conn.cursor().execute("CREATE DATABASE IF NOT EXISTS wapc")
        conn.close()
        yield f"mysql://root@127.0.0.1:{port}/wapc"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(root, ignore_errors=True)
