"""`finops dashboard` serves where Streamlit's own configuration says (STREAMLIT_SERVER_PORT,
STREAMLIT_SERVER_ADDRESS, .streamlit/config.toml [server]) unless its own --port/--address
flags are given. Real `finops dashboard` processes; each test asks the server that answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from finops_testing import finops_env

FINOPS = str(Path(sys.executable).with_name("finops"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.read().decode().strip() == "ok"
    except OSError:
        return False


def serve(cwd: Path, *args: str, **streamlit_env: str) -> subprocess.Popen:
    """`finops dashboard ARGS` started in `cwd`, with HOME there too (no user-wide
    ~/.streamlit/config.toml) and no STREAMLIT_* variable but `streamlit_env`."""
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("FINOPS_", "STREAMLIT_", "AWS_"))
    }
    env = {**clean, **finops_env(cwd), "HOME": str(cwd), **streamlit_env}
    return subprocess.Popen(
        [FINOPS, "dashboard", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_until_answers(dashboard: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + 60
    while not answers(port):
        if dashboard.poll() is not None or time.monotonic() > deadline:
            dashboard.kill()
            pytest.fail(f"nothing answered on {port}:\n{dashboard.communicate()[0]}")
        time.sleep(0.3)


def stop(dashboard: subprocess.Popen) -> str:
    dashboard.send_signal(signal.SIGTERM)
    return dashboard.communicate(timeout=60)[0]


def write_config(cwd: Path, port: int, address: str = "127.0.0.1") -> None:
    folder = cwd / ".streamlit"
    folder.mkdir()
    (folder / "config.toml").write_text(f'[server]\nport = {port}\naddress = "{address}"\n')


def test_streamlit_server_port_in_the_environment_is_where_it_serves(tmp_path: Path) -> None:
    # GIVEN STREAMLIT_SERVER_PORT and STREAMLIT_SERVER_ADDRESS, and no flags
    port = free_port()
    dashboard = serve(
        tmp_path, STREAMLIT_SERVER_PORT=str(port), STREAMLIT_SERVER_ADDRESS="127.0.0.1"
    )
    # WHEN the dashboard starts, THEN the server answers on that port, as printed
    wait_until_answers(dashboard, port)
    output = stop(dashboard)
    assert f"Dashboard on http://127.0.0.1:{port} " in output
    assert dashboard.returncode == 0


def test_the_config_toml_of_the_working_directory_is_where_it_serves(tmp_path: Path) -> None:
    # GIVEN .streamlit/config.toml in the working directory naming a port and an address
    port = free_port()
    write_config(tmp_path, port)
    # WHEN `finops dashboard` starts there without flags
    dashboard = serve(tmp_path)
    # THEN the server answers on the configured port
    wait_until_answers(dashboard, port)
    output = stop(dashboard)
    assert f"Dashboard on http://127.0.0.1:{port} " in output


def test_the_port_flag_wins_over_streamlit_configuration(tmp_path: Path) -> None:
    # GIVEN a config.toml and STREAMLIT_SERVER_PORT naming other ports
    configured, from_env, flagged = free_port(), free_port(), free_port()
    write_config(tmp_path, configured)
    # WHEN `finops dashboard --port P` starts
    dashboard = serve(tmp_path, "--port", str(flagged), STREAMLIT_SERVER_PORT=str(from_env))
    # THEN it serves on P only (the address still comes from config.toml)
    wait_until_answers(dashboard, flagged)
    assert not answers(configured) and not answers(from_env)
    output = stop(dashboard)
    assert f"Dashboard on http://127.0.0.1:{flagged} " in output
