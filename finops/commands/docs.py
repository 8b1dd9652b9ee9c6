"""`finops docs`: dbt's static docs site (lineage, every model and column), built and
optionally served over HTTP."""

from __future__ import annotations

import argparse
import contextlib

from finops.settings import load_settings


def cmd_docs(args: argparse.Namespace) -> int:
    """Build dbt's static docs site (one self-contained HTML file) and optionally serve it."""
    import functools
    import http.server
    import shutil

    from finops.dbt_runner import run_dbt

    settings = load_settings()
    run_dbt(settings, ["docs", "generate", "--static"])
    site = settings.data_dir / "dbt" / "docs"
    site.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(settings.data_dir / "dbt" / "target" / "static_index.html", site / "index.html")
    print(f"dbt docs: {site / 'index.html'}")
    if not args.serve:
        return 0
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    with http.server.ThreadingHTTPServer((args.address, args.port), handler) as server:
        print(f"Serving dbt docs on http://{args.address}:{args.port} (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    return 0
