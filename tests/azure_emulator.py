"""A local emulator of the Azure Cost Management Query API that the real SDK talks to.

    emulator = AzureCostEmulator([AzureSubscription("1111...", "contoso-prod")],
                                 start=date(2026, 5, 1), end=date(2026, 7, 1))
    with emulator:                          # serves http://127.0.0.1:<port>
        loader.load(..., endpoint=emulator.url, credential=StaticTokenCredential(...))
    emulator.truth(scope, start, end)       # the raw rows a complete load must land

What it serves (importable as `azure_emulator` from tests; a pytest-httpserver server):

* `POST {scope}/providers/Microsoft.CostManagement/query` for `/subscriptions/{id}`,
  `/providers/Microsoft.Billing/billingAccounts/{id}` and
  `/providers/Microsoft.Management/managementGroups/{id}` scopes. The request body is parsed
  and answered from a deterministic ground truth (`rows`): `type`, Custom `timePeriod`,
  optional `granularity` Daily (then a `UsageDate` column), at most two `grouping`
  dimensions, an `aggregation` of Cost, a `filter` of `dimensions` In-expressions combined
  with `and`. Rows are sorted and paged `page_rows` at a time; `properties.nextLink` carries
  a `$skiptoken` bound to the request body, so a client must POST the same body to follow it.
  Like ARM, nextLinks name `next_link_base` (default https://management.azure.com), not the
  emulator: a client must send them to its configured endpoint.
  Daily queries longer than 31 days, more than two groupings or unknown scopes are refused
  (HTTP 400 / 404) as the service does.
* `GET /subscriptions?api-version=...` (pages of `subscriptions_page_rows`, with nextLink);
  subscriptions created with `listed=False` are not in it (a billing-account reader).
* With `tenant_id` set, an identity authority for MSAL: `GET /{tenant}/v2.0/.well-known/
  openid-configuration` and `POST /{tenant}/oauth2/v2.0/token` (client credentials; the client
  secret must match `client_secret`); every ARM request must then carry the issued token.
  MSAL only talks https, so pass `ssl_context` (see `self_signed_certificate`).

Faults are programmed with `fail(status, headers=..., times=..., path_contains=...)`: the next
`times` matching requests (-1: all) get that answer instead. Every request is recorded in
`requests` (method, path, query, headers, JSON body, arrival time, status answered).

`ConnectProxy` is a minimal HTTPS (CONNECT) forward proxy that counts the tunnels it opened,
to show that `HTTPS_PROXY` is honoured.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import re
import select
import socket
import socketserver
import ssl
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

QUERY_SUFFIX = "/providers/Microsoft.CostManagement/query"
QUERY_TYPES = ("ActualCost", "AmortizedCost")
CENT = Decimal("0.01")
MICRO = Decimal("0.000001")

# Charge types the emulator can produce, and for which query types / days they have cost.
CHARGE_TYPE_RULES = {
    "Usage": (QUERY_TYPES, "daily"),
    "Purchase": (("ActualCost",), "first-of-month"),
    "UnusedReservation": (("AmortizedCost",), "daily-first-service"),
    "Refund": (QUERY_TYPES, "mid-month"),
    "Tax": (("ActualCost",), "first-of-month"),
}


@dataclass(frozen=True)
class AzureSubscription:
    """One subscription of the emulated estate and what it spends on."""

    subscription_id: str
    name: str
    currency: str = "USD"
    services: tuple[str, ...] = ("Virtual Machines", "Storage", "Bandwidth")
    locations: tuple[str, ...] = ("eastus", "westeurope")
    charge_types: tuple[str, ...] = ("Usage",)
    listed: bool = True  # visible in GET /subscriptions
    scale: Decimal = Decimal("1")

    @property
    def scope(self) -> str:
        return f"/subscriptions/{self.subscription_id}"


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: Any
    at: float  # time.monotonic() on arrival
    status: int = 0

    @property
    def is_query(self) -> bool:
        return self.method == "POST" and self.path.endswith(QUERY_SUFFIX)

    @property
    def scope(self) -> str:
        return self.path[: -len(QUERY_SUFFIX)] if self.is_query else ""


@dataclass
class _Fault:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]
    times: int
    path_contains: str
    method: str | None


def _unit(*parts: object) -> Decimal:
    """A deterministic number in [0, 1) with 6 decimals from the given parts."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return Decimal(int.from_bytes(digest, "big") % 1_000_000) / 1_000_000


def _days(start: date, end: date) -> Iterable[date]:
    day = start
    while day < end:
        yield day
        day += timedelta(days=1)


def _yyyymmdd(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def _parse_day(text: str) -> date:
    return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")).date()


class AzureCostEmulator:
    """See the module docstring."""

    def __init__(
        self,
        subscriptions: Sequence[AzureSubscription],
        *,
        start: date,
        end: date,
        billing_accounts: Mapping[str, Sequence[str]] | None = None,
        management_groups: Mapping[str, Sequence[str]] | None = None,
        page_rows: int = 5000,
        subscriptions_page_rows: int = 2,
        next_link_base: str = "https://management.azure.com",
        ssl_context: ssl.SSLContext | None = None,
        tenant_id: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        access_token: str = "emulated-access-token",
        seed: int = 7,
    ) -> None:
        self.subscriptions = {s.subscription_id.lower(): s for s in subscriptions}
        self.billing_accounts = {k: list(v) for k, v in (billing_accounts or {}).items()}
        self.management_groups = {k: list(v) for k, v in (management_groups or {}).items()}
        self.page_rows = page_rows
        self.subscriptions_page_rows = subscriptions_page_rows
        self.next_link_base = next_link_base.rstrip("/")
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.access_token = access_token
        self.requests: list[RecordedRequest] = []
        self.token_requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self.rows = self._generate(start, end, seed)
        self._server = HTTPServer("127.0.0.1", 0, ssl_context=ssl_context, threaded=True)
        self._server.expect_request(re.compile(r"^/.*")).respond_with_handler(self._handle)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> AzureCostEmulator:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server.is_running():
            self._server.stop()

    def __enter__(self) -> AzureCostEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        scheme = "https" if self._server.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self._server.port}"

    # ------------------------------------------------------------------ ground truth

    def _generate(self, start: date, end: date, seed: int) -> list[dict[str, Any]]:
        rows = []
        for sub in self.subscriptions.values():
            for charge_type in sub.charge_types:
                query_types, cadence = CHARGE_TYPE_RULES[charge_type]
                for query_type in query_types:
                    for day in _days(start, end):
                        if cadence == "first-of-month" and day.day != 1:
                            continue
                        if cadence == "mid-month" and day.day != 15:
                            continue
                        pairs = [(s, loc) for s in sub.services for loc in sub.locations]
                        if cadence != "daily":
                            pairs = pairs[:1]
                        for service, location in pairs:
                            key = (seed, sub.subscription_id, charge_type, service, location, day)
                            base = Decimal(5) + 400 * _unit(*key)
                            if query_type == "AmortizedCost":
                                base += _unit(*key, "amortized")
                            if charge_type == "Refund":
                                base = -base / 4
                            cost = (base * sub.scale).quantize(MICRO)
                            rows.append(
                                {
                                    "usage_date": _yyyymmdd(day),
                                    "query_type": query_type,
                                    "subscription_id": sub.subscription_id,
                                    "subscription_name": sub.name,
                                    "service_name": service,
                                    "resource_location": location,
                                    "charge_type": charge_type,
                                    "cost": cost,
                                    "currency": sub.currency,
                                }
                            )
        return rows

    def restate(self, factor: Decimal, *, on_or_after: date) -> None:
        """Multiply the costs of every day from `on_or_after` (the API revised its estimates)."""
        cutoff = _yyyymmdd(on_or_after)
        for row in self.rows:
            if row["usage_date"] >= cutoff:
                row["cost"] = (row["cost"] * factor).quantize(MICRO)

    def scope_subscriptions(self, scope: str) -> list[str] | None:
        """Lower-case subscription ids a scope spans; None for a scope that does not exist."""
        parts = [p for p in scope.split("/") if p]
        lowered = [p.lower() for p in parts]
        if len(parts) == 2 and lowered[0] == "subscriptions":
            return [parts[1].lower()] if parts[1].lower() in self.subscriptions else None
        if lowered[:3] == ["providers", "microsoft.billing", "billingaccounts"] and len(parts) == 4:
            ids = self.billing_accounts.get(parts[3])
        elif (
            lowered[:3] == ["providers", "microsoft.management", "managementgroups"]
            and len(parts) == 4
        ):
            ids = self.management_groups.get(parts[3])
        else:
            return None
        return None if ids is None else [i.lower() for i in ids]

    def truth(self, scope: str, start: date, end: date) -> list[dict[str, Any]]:
        """The raw rows of `scope` in [start, end) a complete load must land."""
        subs = set(self.scope_subscriptions(scope) or [])
        lo, hi = _yyyymmdd(start), _yyyymmdd(end)
        return [
            dict(r)
            for r in self.rows
            if r["subscription_id"].lower() in subs and lo <= r["usage_date"] < hi
        ]

    @staticmethod
    def totals(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Decimal]:
        """(query_type, currency) -> total cost rounded to the cent."""
        sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for row in rows:
            sums[(row["query_type"], row["currency"])] += row["cost"]
        return {key: value.quantize(CENT) for key, value in sorted(sums.items())}

    # ------------------------------------------------------------------ faults and records

    def fail(
        self,
        status: int,
        *,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
        path_contains: str = QUERY_SUFFIX,
        method: str | None = None,
        message: str = "emulated failure",
    ) -> None:
        """Answer the next `times` matching requests (-1: every one) with `status`."""
        code = "429" if status == 429 else str(status)
        with self._lock:
            self._faults.append(
                _Fault(
                    status=status,
                    headers=dict(headers or {}),
                    body={"error": {"code": code, "message": message}},
                    times=times,
                    path_contains=path_contains,
                    method=method,
                )
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def query_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.is_query]

    # ------------------------------------------------------------------ HTTP

    def _handle(self, request: Request) -> Response:
        try:
            body = json.loads(request.get_data(as_text=True) or "null")
        except ValueError:
            body = request.form.to_dict() if request.form else None
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query={k: v for k, v in request.args.items()},
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            at=time.monotonic(),
        )
        response = self._route(request, record)
        record.status = response.status_code
        with self._lock:
            if self.tenant_id and request.path.startswith(f"/{self.tenant_id}/"):
                self.token_requests.append(record)
            else:
                self.requests.append(record)
        return response

    def _route(self, request: Request, record: RecordedRequest) -> Response:
        if self.tenant_id and request.path.startswith(f"/{self.tenant_id}/"):
            return self._identity(request)
        fault = self._take_fault(request)
        if fault is not None:
            return _json_response(fault.body, fault.status, fault.headers)
        if self.tenant_id and request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return _error(401, "InvalidAuthenticationToken", "the access token is invalid")
        if request.method == "GET" and request.path.rstrip("/") == "/subscriptions":
            return self._list_subscriptions(request)
        if request.method == "POST" and request.path.endswith(QUERY_SUFFIX):
            return self._query(request, record)
        return _error(404, "NotFound", f"no route for {request.method} {request.path}")

    def _take_fault(self, request: Request) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.times == 0 or fault.path_contains not in request.path:
                    continue
                if fault.method and fault.method != request.method:
                    continue
                if fault.times > 0:
                    fault.times -= 1
                return fault
        return None

    def _identity(self, request: Request) -> Response:
        issuer = f"{self.url}/{self.tenant_id}"
        if request.path.endswith("/.well-known/openid-configuration"):
            return _json_response(
                {
                    "issuer": f"{issuer}/v2.0",
                    "authorization_endpoint": f"{issuer}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{issuer}/oauth2/v2.0/token",
                    "device_authorization_endpoint": f"{issuer}/oauth2/v2.0/devicecode",
                    "token_endpoint_auth_methods_supported": ["client_secret_post"],
                    "response_types_supported": ["code", "id_token"],
                    "subject_types_supported": ["pairwise"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "tenant_region_scope": "NA",
                }
            )
        if request.method == "POST" and request.path.endswith("/oauth2/v2.0/token"):
            form = request.form
            if form.get("grant_type") != "client_credentials":
                return _oauth_error("unsupported_grant_type")
            if form.get("client_id") != self.client_id or form.get("client_secret") != (
                self.client_secret
            ):
                return _oauth_error("invalid_client", "AADSTS7000215: Invalid client secret.")
            if form.get("scope") != f"{self.url}/.default":
                return _oauth_error("invalid_scope", f"unexpected scope {form.get('scope')}")
            return _json_response(
                {
                    "token_type": "Bearer",
                    "expires_in": 3599,
                    "ext_expires_in": 3599,
                    "access_token": self.access_token,
                }
            )
        return _error(404, "NotFound", request.path)

    def _list_subscriptions(self, request: Request) -> Response:
        listed = [s for s in self.subscriptions.values() if s.listed]
        offset = int(request.args.get("$skiptoken", "0") or 0)
        page = listed[offset : offset + self.subscriptions_page_rows]
        body: dict[str, Any] = {
            "value": [
                {
                    "id": s.scope,
                    "subscriptionId": s.subscription_id,
                    "tenantId": self.tenant_id or "00000000-0000-0000-0000-00000000aaaa",
                    "displayName": s.name,
                    "state": "Enabled",
                    "authorizationSource": "RoleBased",
                }
                for s in page
            ]
        }
        if offset + self.subscriptions_page_rows < len(listed):
            body["nextLink"] = (
                f"{self.next_link_base}/subscriptions?api-version="
                f"{request.args.get('api-version', '')}&$skiptoken="
                f"{offset + self.subscriptions_page_rows}"
            )
        return _json_response(body)

    def _query(self, request: Request, record: RecordedRequest) -> Response:
        scope = record.scope
        subs = self.scope_subscriptions(scope)
        if subs is None:
            return _error(404, "NotFound", f"scope {scope} not found")
        body = record.body
        try:
            answer = self._answer(body, subs)
        except (KeyError, TypeError, ValueError) as exc:
            return _error(400, "BadRequest", f"Invalid query definition: {exc}")
        fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
        offset = 0
        if "$skiptoken" in request.args:
            token = json.loads(base64.urlsafe_b64decode(request.args["$skiptoken"]))
            if token["body"] != fingerprint:
                return _error(400, "BadRequest", "skiptoken does not belong to this query body")
            offset = token["offset"]
        columns, rows = answer
        page = rows[offset : offset + self.page_rows]
        next_link = None
        if offset + self.page_rows < len(rows):
            token = base64.urlsafe_b64encode(
                json.dumps({"offset": offset + self.page_rows, "body": fingerprint}).encode()
            ).decode()
            next_link = (
                f"{self.next_link_base}{request.path}?api-version="
                f"{request.args.get('api-version', '')}&$skiptoken={token}"
            )
        query_id = hashlib.sha256(f"{scope}|{fingerprint}".encode()).hexdigest()[:32]
        name = (
            f"{query_id[:8]}-{query_id[8:12]}-{query_id[12:16]}-{query_id[16:20]}-{query_id[20:]}"
        )
        return _json_response(
            {
                "id": f"{scope}{QUERY_SUFFIX}/{name}",
                "name": name,
                "type": "Microsoft.CostManagement/query",
                "location": None,
                "sku": None,
                "eTag": None,
                "properties": {
                    "nextLink": next_link,
                    "columns": columns,
                    "rows": [[float(v) if isinstance(v, Decimal) else v for v in r] for r in page],
                },
            }
        )

    def _answer(
        self, body: Mapping[str, Any], subs: Sequence[str]
    ) -> tuple[list[dict[str, str]], list[list[Any]]]:
        query_type = body["type"]
        if query_type not in QUERY_TYPES:
            raise ValueError(f"type {query_type!r} is not supported by the emulator")
        if body.get("timeframe") != "Custom":
            raise ValueError("the emulator answers Custom timeframes only")
        first = _parse_day(body["timePeriod"]["from"])
        last = _parse_day(body["timePeriod"]["to"])
        if last < first:
            raise ValueError("timePeriod.to is before timePeriod.from")
        dataset = body["dataset"]
        daily = dataset.get("granularity") == "Daily"
        if dataset.get("granularity") not in (None, "Daily"):
            raise ValueError(f"granularity {dataset['granularity']!r} is not supported")
        if daily and (last - first).days + 1 > 31:
            raise ValueError("Daily granularity supports a time period of at most 31 days")
        aggregation = dataset["aggregation"]
        if [a.get("name") for a in aggregation.values()] != ["Cost"]:
            raise ValueError("the emulator aggregates Cost only")
        grouping = [g["name"] for g in dataset.get("grouping") or []]
        if len(grouping) > 2:
            raise ValueError("at most 2 grouping dimensions are allowed")
        columns_of = {
            "subscriptionid": "subscription_id",
            "subscriptionname": "subscription_name",
            "servicename": "service_name",
            "resourcelocation": "resource_location",
            "chargetype": "charge_type",
        }
        for name in grouping:
            if name.lower() not in columns_of:
                raise ValueError(f"grouping by {name} is not supported by the emulator")
        predicate = _filter(dataset.get("filter"), columns_of)
        lo, hi = _yyyymmdd(first), _yyyymmdd(last)
        sums: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
        subs_set = set(subs)
        for row in self.rows:
            if row["query_type"] != query_type or row["subscription_id"].lower() not in subs_set:
                continue
            if not lo <= row["usage_date"] <= hi or not predicate(row):
                continue
            key = (
                *((row["usage_date"],) if daily else ()),
                *(row[columns_of[name.lower()]] for name in grouping),
                row["currency"],
            )
            sums[key] += row["cost"]
        columns = [{"name": "Cost", "type": "Number"}]
        if daily:
            columns.append({"name": "UsageDate", "type": "Number"})
        columns += [{"name": name, "type": "String"} for name in grouping]
        columns.append({"name": "Currency", "type": "String"})
        rows = [[cost, *key] for key, cost in sorted(sums.items(), key=lambda kv: kv[0])]
        return columns, rows


def _filter(expression: Mapping[str, Any] | None, columns_of: Mapping[str, str]) -> Any:
    """A row predicate for a QueryFilter of `dimensions` In-expressions, `and`, `or`."""
    if not expression:
        return lambda row: True
    if "and" in expression:
        parts = [_filter(e, columns_of) for e in expression["and"]]
        if len(parts) < 2:
            raise ValueError("'and' needs at least two expressions")
        return lambda row: all(p(row) for p in parts)
    if "or" in expression:
        parts = [_filter(e, columns_of) for e in expression["or"]]
        return lambda row: any(p(row) for p in parts)
    dimension = expression.get("dimensions")
    if not dimension:
        raise ValueError(f"unsupported filter {expression}")
    if dimension.get("operator") != "In":
        raise ValueError(f"unsupported operator {dimension.get('operator')}")
    column = columns_of[dimension["name"].lower()]
    values = {str(v).lower() for v in dimension["values"]}
    return lambda row: str(row[column]).lower() in values


def _json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(body), status=status, headers=dict(headers or {}), mimetype="application/json"
    )


def _error(status: int, code: str, message: str) -> Response:
    return _json_response({"error": {"code": code, "message": message}}, status)


def _oauth_error(code: str, description: str = "") -> Response:
    return _json_response({"error": code, "error_description": description}, 401)


# ---------------------------------------------------------------------- TLS and proxy


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A CA-capable self-signed certificate for 127.0.0.1/localhost: (cert.pem, key.pem).

    Point REQUESTS_CA_BUNDLE at cert.pem to make clients trust the emulator.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "finops azure emulator")])
    now = dt.datetime.now(dt.UTC)
    from ipaddress import ip_address

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "emulator-cert.pem", directory / "emulator-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_ssl_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


class ConnectProxy:
    """A minimal HTTPS forward proxy (HTTP CONNECT tunnels) on loopback; counts tunnels."""

    def __init__(self) -> None:
        self.tunnels: list[str] = []
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = self.request.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                line = head.split(b"\r\n", 1)[0].decode()
                method, target, _ = line.split(" ", 2)
                if method != "CONNECT":
                    self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                    return
                host, port = target.rsplit(":", 1)
                proxy.tunnels.append(target)
                upstream = socket.create_connection((host, int(port)))
                self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                sockets = [self.request, upstream]
                try:
                    while True:
                        readable, _, _ = select.select(sockets, [], [], 10)
                        if not readable:
                            return
                        for sock in readable:
                            data = sock.recv(65536)
                            if not data:
                                return
                            (upstream if sock is self.request else self.request).sendall(data)
                finally:
                    upstream.close()

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ConnectProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class StaticTokenCredential:
    """A TokenCredential that hands out one fixed token (tests only)."""

    token: str
    scopes_asked: list[tuple[str, ...]] = field(default_factory=list)

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.scopes_asked.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)
