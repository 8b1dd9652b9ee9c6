"""A local stand-in for a Slack incoming webhook (importable as `webhook_server` from tests).

    with WebhookServer(token="XXXX", answers=[500, 200]) as hook:   # http://127.0.0.1:<port>
        os.environ["FINOPS_WEBHOOK_URL"] = hook.url   # .../services/T.../B.../XXXX
        ...
    hook.messages          # the JSON bodies it received, in order
    hook.received          # every request: path, headers, body, status answered

Like Slack it accepts `POST /services/<team>/<bot>/<token>` with a JSON body and answers
`200 ok` (text/plain), `400 invalid_payload` for a body that is not a JSON object with a
`text`, and `404 no_service` for a path with another token (a revoked URL). `answers` scripts
the status of successive valid requests (the last one repeats), e.g. `[500, 200]` fails the
first attempt and accepts the retry; `[404]` behaves like a revoked webhook. Every request
body is recorded, also the ones answered with an error.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLACK_BODIES = {200: "ok", 400: "invalid_payload", 404: "no_service", 410: "channel_is_archived"}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    status: int


class WebhookServer:
    """See the module docstring."""

    def __init__(
        self,
        token: str = "WEBHOOKTOKEN0000",
        answers: Sequence[int] = (200,),
        team: str = "T0FINOPS",
        bot: str = "B0FINOPS",
    ) -> None:
        self.path = f"/services/{team}/{bot}/{token}"
        self.answers = list(answers) or [200]
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._valid = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet test output
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                status = server._status_for(self.path, body)
                with server._lock:
                    server.received.append(
                        Received(
                            self.path, {k.lower(): v for k, v in self.headers.items()}, body, status
                        )
                    )
                payload = SLACK_BODIES.get(status, "error").encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _status_for(self, path: str, body: Any) -> int:
        if path != self.path:
            return 404
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            return 400
        with self._lock:
            status = self.answers[min(self._valid, len(self.answers) - 1)]
            self._valid += 1
        return status

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path}"

    @property
    def messages(self) -> list[Any]:
        with self._lock:
            return [r.body for r in self.received]

    def start(self) -> WebhookServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
