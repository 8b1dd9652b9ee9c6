"""`finops dashboard`: serve the Streamlit app where its flags, else Streamlit's own
configuration, else localhost:8501 say; stopping finops stops the server with it."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from finops.commands.signals import signals_unwind
from finops.settings import REPO_ROOT

# Where `finops dashboard` serves when neither its flags nor Streamlit's own configuration say
DASHBOARD_ADDRESS = "localhost"
DASHBOARD_PORT = 8501


def streamlit_server_option(name: str, script: Path, cwd: Path | None = None) -> str | None:
    """The value Streamlit itself would use for `server.<name>` (`port`, `address`), or None
    when its configuration does not set it: `STREAMLIT_SERVER_<NAME>` in the environment,
    else the last of ~/.streamlit/config.toml, ./.streamlit/config.toml and the script's
    .streamlit/config.toml that sets it (Streamlit's own order)."""
    import tomllib

    env = os.environ.get(f"STREAMLIT_SERVER_{name.upper()}")
    if env:
        return env
    cwd = cwd or Path.cwd()
    value = None
    for folder in (Path.home(), cwd, script.parent):
        path = folder / ".streamlit" / "config.toml"
        try:
            server = tomllib.loads(path.read_text(encoding="utf-8")).get("server", {})
        except (OSError, tomllib.TOMLDecodeError):  # absent, or Streamlit reports it
            continue
        if isinstance(server, dict) and server.get(name) not in (None, ""):
            value = str(server[name])
    return value


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve the dashboard. `--port`/`--address` win; without them Streamlit's own
    configuration (STREAMLIT_SERVER_PORT/ADDRESS, .streamlit/config.toml [server]) does, and
    without that localhost:8501."""
    script = REPO_ROOT / "dashboard" / "streamlit_app.py"
    cmd = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true"]
    shown = {}
    for name, flag, default in (
        ("address", args.address, DASHBOARD_ADDRESS),
        ("port", args.port, DASHBOARD_PORT),
    ):
        configured = streamlit_server_option(name, script)
        if flag is not None or configured is None:  # Streamlit is told only what it lacks
            cmd += [f"--server.{name}", str(flag if flag is not None else default)]
        shown[name] = flag if flag is not None else configured or default
    cmd += ["--browser.gatherUsageStats", "false"]
    print(f"Dashboard on http://{shown['address']}:{shown['port']} (Ctrl-C to stop)", flush=True)
    server = subprocess.Popen(cmd, env=os.environ.copy())
    try:
        with signals_unwind():  # SIGTERM to finops stops the server too, never orphans it
            return server.wait()
    except KeyboardInterrupt:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        return 0
