"""`streamlit run` of the dashboard on a free loopback port, for the real-browser tests.

    with streamlit_server({"FINOPS_HOME": ..., "FINOPS_DUCKDB_PATH": ...}, log_path) as url:
        ...  # drive Chromium at `url`

Every other FINOPS_* variable of the test process is left out, so the settings given are the
only ones the dashboard sees. Debian's chromium (`make test` installs it) drives the page.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_TIMEOUT_S = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().decode().strip() == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.25)
    pytest.fail(
        f"streamlit did not answer /_stcore/health in {STARTUP_TIMEOUT_S}s:\n{log.read_text()}"
    )


@contextmanager
def streamlit_server(settings: dict[str, str], log: Path) -> Iterator[str]:
    """Serve dashboard/streamlit_app.py with `settings` as its FINOPS_* environment; yields
    the base URL once /_stcore/health answers, stops the server on exit."""
    assert CHROMIUM.exists(), "needs Debian's chromium at /usr/bin/chromium (make test installs it)"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINOPS_")} | settings
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "dashboard/streamlit_app.py",
             "--server.headless", "true", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, server, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
