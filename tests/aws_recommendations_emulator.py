"""AWS's recommendation APIs over real HTTP for the tests (moto has none of them).

`RecommendationsEmulator` is one loopback server that boto3 reaches through its standard
endpoint variables (`AWS_ENDPOINT_URL_COST_OPTIMIZATION_HUB`,
`AWS_ENDPOINT_URL_COST_EXPLORER`) and that answers, from the data it is given, in the shapes
of the public API references:

* Cost Optimization Hub `ListRecommendations` (JSON 1.0, X-Amz-Target
  `CostOptimizationHubService.ListRecommendations`): `{items, nextToken}`, at most
  `page_size` items a page (the request's `maxResults` when smaller), timestamps as epoch
  seconds;
* Cost Explorer `GetSavingsPlansPurchaseRecommendation` (JSON 1.1, `AWSInsightsIndexService`):
  `{Metadata, SavingsPlansPurchaseRecommendation: {AccountScope, SavingsPlansType,
  TermInYears, PaymentOption, LookbackPeriodInDays, SavingsPlansPurchaseRecommendationDetails},
  NextPageToken}` for the requested type;
* Cost Explorer `GetReservationPurchaseRecommendation`: `{Metadata, Recommendations:
  [{AccountScope, LookbackPeriodInDays, TermInYears, PaymentOption, RecommendationDetails}],
  NextPageToken}` for the requested service.

Page tokens are offsets. `fail(Fault(...))` answers matching requests with an AWS error
(`ThrottlingException`, `LimitExceededException`, `AccessDeniedException`, ...) instead;
`not_enrolled()` answers the hub as for an account that has not opted in to Cost
Optimization Hub (an AccessDeniedException whose message says so: the reference lists no
error of its own for it); `seen` logs every request with who answered it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aws_ce_emulator import Fault, FaultLog, SeenRequest

HUB = "CostOptimizationHubService"
CE = "AWSInsightsIndexService"
OPERATIONS = (
    "ListRecommendations",
    "GetSavingsPlansPurchaseRecommendation",
    "GetReservationPurchaseRecommendation",
)
NOT_ENROLLED = (
    "The account is not enrolled in Cost Optimization Hub. Opt in to Cost Optimization Hub "
    "to get recommendations."
)


@dataclass
class Recommendations:
    """What the APIs know: hub items, Savings Plans details per type, reservation details per
    service (missing: no recommendation)."""

    hub: list[dict[str, Any]] = field(default_factory=list)
    savings_plans: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    reservations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


class RecommendationsEmulator(FaultLog):
    def __init__(self, page_size: int = 2) -> None:
        super().__init__()
        self.page_size = page_size
        self.data = Recommendations()
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                service, _, operation = self.headers.get("X-Amz-Target", "").partition(".")
                body = json.loads(raw or b"{}")
                version = "1.0" if service == HUB else "1.1"
                fault = emulator._take_fault(operation, body)
                if fault is not None:
                    emulator._record(SeenRequest(operation, body, fault.error_type))
                    self._send(
                        fault.status,
                        {"__type": fault.error_type, "message": fault.message},
                        version,
                        error=fault.error_type,
                    )
                    return
                emulator._record(SeenRequest(operation, body, "emulator"))
                try:
                    answer = emulator.answer(operation, body)
                except KeyError as missing:
                    # an operation we do not emulate, or a required parameter left out
                    error = (
                        "UnknownOperationException"
                        if operation not in OPERATIONS
                        else "ValidationException"
                    )
                    self._send(
                        400,
                        {"__type": error, "message": f"{operation}: {missing}"},
                        version,
                        error=error,
                    )
                    return
                self._send(200, answer, version)

            def _send(
                self, status: int, payload: dict[str, Any], version: str, error: str = ""
            ) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", f"application/x-amz-json-{version}")
                if error:
                    self.send_header("x-amzn-ErrorType", f"{error}:")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # ------------------------------------------------------------------ life cycle

    def start(self) -> RecommendationsEmulator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def not_enrolled(self) -> None:
        """Every ListRecommendations from now on is refused: the account has not opted in."""
        self.fail(
            Fault(
                lambda operation, _: operation == "ListRecommendations",
                "AccessDeniedException",
                NOT_ENROLLED,
                times=None,
            )
        )

    def clear(self) -> None:
        with self._lock:
            self.seen.clear()
            self.faults.clear()
            self.data = Recommendations()

    # ------------------------------------------------------------------ answers

    def _page(
        self, items: list[dict[str, Any]], token: str | None, limit: int | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        size = min(self.page_size, limit or self.page_size)
        start = int(token or 0)
        end = start + size
        return items[start:end], (str(end) if end < len(items) else None)

    def answer(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        if operation == "ListRecommendations":
            items, token = self._page(self.data.hub, body.get("nextToken"), body.get("maxResults"))
            return {"items": items, **({"nextToken": token} if token else {})}
        query = {
            "AccountScope": body.get("AccountScope", "PAYER"),
            "TermInYears": body["TermInYears"],
            "PaymentOption": body["PaymentOption"],
            "LookbackPeriodInDays": body["LookbackPeriodInDays"],
        }
        if operation == "GetSavingsPlansPurchaseRecommendation":
            details, token = self._page(
                self.data.savings_plans.get(body["SavingsPlansType"], []),
                body.get("NextPageToken"),
            )
            return {
                "Metadata": {"RecommendationId": "sp-rec", "LookbackPeriodInDays": "30"},
                "SavingsPlansPurchaseRecommendation": {
                    **query,
                    "SavingsPlansType": body["SavingsPlansType"],
                    "SavingsPlansPurchaseRecommendationDetails": details,
                },
                **({"NextPageToken": token} if token else {}),
            }
        if operation == "GetReservationPurchaseRecommendation":
            details, token = self._page(
                self.data.reservations.get(body["Service"], []), body.get("NextPageToken")
            )
            return {
                "Metadata": {"RecommendationId": "ri-rec"},
                "Recommendations": (
                    [{**query, "RecommendationDetails": details}] if details else []
                ),
                **({"NextPageToken": token} if token else {}),
            }
        raise KeyError(operation)
