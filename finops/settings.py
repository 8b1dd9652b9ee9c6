"""Every setting of finops-dashboard, read from the environment (and a `.env` file).

Cloud credentials are *not* settings of ours: they stay in the SDKs' standard chains
(`AWS_*` / shared profiles / instance roles for boto3, `AZURE_*` for azure-identity).
The README lists every variable below with its default.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import load_dotenv

from finops import allocation
from loaders import registry
from loaders.aws_cost_explorer.source import DEFAULT_MAX_REQUESTS

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DBT_PROFILES_DIR = REPO_ROOT

# Every source a loader package declares (loaders/registry.py), and the real ones (not the
# demo) that `auto` picks from.
KNOWN_SOURCES: tuple[str, ...] = registry.NAMES
REAL_SOURCES_WITH_LOADERS: tuple[str, ...] = registry.REAL


def utc_today() -> date:
    return datetime.now(UTC).date()


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def _azure_lookback(name: str) -> str:
    """An Azure reservation recommendations look-back period (Last7Days, Last30Days,
    Last60Days); ValueError naming the setting otherwise."""
    value = _env(name, "Last30Days") or "Last30Days"
    for allowed in ("Last7Days", "Last30Days", "Last60Days"):
        if value.lower() == allowed.lower():
            return allowed
    raise ValueError(f"{name} must be Last7Days, Last30Days or Last60Days, got {value!r}")


def _env_switch(name: str, default: bool) -> bool:
    """On unless `0`, `false`, `no` or `off` (any case); unset or empty: `default`."""
    raw = (_env(name, "") or "").strip().lower()
    if not raw:
        return default
    if raw in ("0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name} must be 1/true/on or 0/false/off, got {raw!r}")


def _env_amount(name: str, default: Decimal) -> Decimal:
    """A non-negative amount such as `100` or `250.50`."""
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = Decimal(raw.replace("_", ""))
    except InvalidOperation:
        raise ValueError(f"{name} must be an amount like 100 or 250.50, got {raw!r}") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{name} must be a non-negative amount, got {raw!r}")
    return value


def _env_ratio(name: str, default: float) -> float:
    """A ratio from 0 to 1 such as `0.9` (90 %)."""
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a ratio from 0 to 1 such as 0.9 (for 90 %), got {raw!r}")
    return value


_MEMORY_LIMIT = re.compile(
    r"^(\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)|\d{1,2}(\.\d+)?%|100%)$"
)


def _memory_limit(name: str) -> str:
    """DuckDB's memory_limit: an amount with its unit (`6GB`, `6GiB`, `800MB`) or a share of
    the machine's RAM (`50%`); default `80%`, DuckDB's own default."""
    value = (_env(name, "") or "").strip() or "80%"
    if not _MEMORY_LIMIT.match(value):
        raise ValueError(
            f"{name} must be an amount with its unit (e.g. 6GB, 800MB) or a share of RAM "
            f"(e.g. 50%), got {value!r}"
        )
    return value


def _env_budget(name: str) -> Decimal | None:
    """A positive amount (`25000`, `25_000.50`), or None when unset."""
    if _env(name) is None:
        return None
    value = _env_amount(name, Decimal("0"))
    if value <= 0:
        raise ValueError(f"{name} must be a positive amount, got {value}")
    return value


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _webhook_url(name: str) -> str | None:
    """The webhook URL, checked without ever echoing it: its path is a secret (Slack)."""
    raw = _env(name)
    if raw is None:
        return None
    try:
        parts = urlsplit(raw)
    except ValueError:
        raise ValueError(f"{name} is not a URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{name} must be an https:// URL (the value is not shown: it is a secret)")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(
            f"{name} must be https (plain http only to 127.0.0.1/localhost), got a URL on "
            f"http://{parts.hostname}"
        )
    return raw


def resolve_sources(raw: str | None) -> tuple[str, ...]:
    """Turn FINOPS_SOURCES into the list of enabled sources.

    `auto` (the default) means the real sources whose credentials are configured, else
    `simulated`, so a fresh clone with no credentials runs end to end. With
    FINOPS_FOCUS_PATH set, `auto` means `focus` alone: FOCUS exports of a payer account
    hold what its cost API would return (and AWS keys may be there only to read the S3
    bucket), so the API sources are added only when named, e.g. `aws,focus`.
    """
    value = (raw or "auto").strip().lower()
    if value == "auto":
        configured = [
            spec for spec in registry.SOURCES if not spec.demo and spec.detect and spec.detect()
        ]
        alone = [spec.name for spec in configured if spec.auto_alone]
        return tuple(alone[:1]) or tuple(spec.name for spec in configured) or _demo_sources()
    sources = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    unknown = [s for s in sources if s not in KNOWN_SOURCES]
    if unknown or not sources:
        raise ValueError(
            f"FINOPS_SOURCES has unknown source(s) {unknown or [raw]}; "
            f"use 'auto' or a comma list of {', '.join(KNOWN_SOURCES)}"
        )
    demos = [s for s in sources if registry.source(s).demo]
    if demos and len(sources) > 1:
        raise ValueError(
            f"FINOPS_SOURCES={raw!r} mixes {demos[0]} with real sources: the {demos[0]} costs "
            f"would be added to your real ones; use '{demos[0]}' alone or only real sources"
        )
    for name in sources:
        spec = registry.source(name)
        if spec.unconfigured_error and spec.detect and not spec.detect():
            raise ValueError(spec.unconfigured_error)
    return sources


def _demo_sources() -> tuple[str, ...]:
    return tuple(spec.name for spec in registry.SOURCES if spec.demo)[:1]


@dataclass(frozen=True)
class Settings:
    home: Path
    duckdb_path: Path
    sources: tuple[str, ...]
    duckdb_memory_limit: str = "80%"
    duckdb_temp_dir: Path | None = None
    reporting_currency: str = "USD"
    history_days: int = 180
    retention_days: int = 30
    simulated_seed: int = 42
    restatement_days: int | None = None
    # FOCUS export files: a file, a folder or s3://bucket/prefix
    focus_path: str | None = None
    # AWS Cost Explorer (credentials: boto3's standard chain)
    aws_role_arn: str | None = None
    aws_external_id: str | None = None
    aws_max_requests: int = DEFAULT_MAX_REQUESTS
    aws_change_detection: bool = True
    aws_monthly_api_budget_usd: Decimal | None = None
    # Azure Cost Management (credentials: azure-identity)
    azure_scopes: tuple[str, ...] = ()
    azure_arm_endpoint: str = "https://management.azure.com"
    azure_client_type: str = "finops-dashboard"
    azure_max_wait_s: int = 300
    azure_price_details: bool = True
    azure_change_detection: bool = True
    azure_details_from_reports: bool = True
    azure_window_check: bool = True
    # AWS provider recommendations (loaders/aws_recommendations): Cost Optimization Hub, and
    # Cost Explorer's Savings Plans and reservation purchase recommendations, each switchable.
    aws_cost_optimization_hub: bool = True
    aws_sp_purchase_recommendations: bool = True
    aws_ri_purchase_recommendations: bool = True
    # Azure provider recommendations (loaders/azure_recommendations): Advisor cost
    # recommendations, reservation purchase recommendations and their look-back period
    azure_advisor: bool = True
    azure_reservation_recommendations: bool = True
    azure_reservation_lookback: str = "Last30Days"
    # Run notifications: a Slack-compatible incoming webhook (the URL is a secret: never
    # logged, never in repr), the anomaly impact worth a line in it, the HTTP timeout
    webhook_url: str | None = field(default=None, repr=False)
    webhook_min_impact: Decimal = Decimal("100")
    webhook_timeout_s: int = 10
    # Run report and webhook: a commitment day whose utilization is below this ratio is an
    # alert (pipelines/reporting.py)
    utilization_alert: float = 0.9
    # Run report and webhook: a savings opportunity first seen in the last 7 days is listed
    # when its monthly estimate (reporting currency) is at least this
    opportunity_min_savings: Decimal = Decimal("100")
    # FOCUS import: the last days of the files kept per resource (raw.focus_resource_costs)
    # for the savings opportunities' billing-data rules; 0 keeps none
    focus_resource_days: int = 35
    # Cost allocation (issue #18): the tag keys costs are allocated by, in their configured
    # spelling (matched case-insensitively), and the rules file (account maps, shared costs;
    # absolute: a relative FINOPS_ALLOCATION_RULES is read from FINOPS_HOME)
    allocation_tags: tuple[str, ...] = ()
    allocation_rules: Path | None = None
    # One run at a time per warehouse: how long a second run waits for the first
    run_wait_s: int = 3600
    s3_bucket: str | None = None
    s3_prefix: str = ""
    export_dir: Path = field(default=Path("data/exports"))
    # Dashboard: monthly budget in the reporting currency (None = no budget set)
    monthly_budget: Decimal | None = None

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def raw_csv_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def markers_dir(self) -> Path:
        return self.data_dir / "markers"

    @property
    def serving_path(self) -> Path:
        """Read-only copy of the marts that the dashboard and `finops sql` open.

        Published by an atomic rename after each build, so readers never hold a lock on the
        warehouse the pipeline writes.
        """
        return self.duckdb_path.with_name(self.duckdb_path.stem + "_serving.duckdb")

    def history_window(self, run_date: date) -> tuple[date, date]:
        """[start, end) of the default history: `history_days` days ending the day before."""
        return run_date - timedelta(days=self.history_days), run_date

    def restatement_window(self, run_date: date) -> tuple[date, date]:
        """[start, end) that a daily run of a real source reloads and replaces.

        Cloud providers revise recent costs until the invoice settles (around the 5th of the
        next month), so by default the window starts on the first day of the month before the
        one of the last loaded day: on 2026-12-03 it reloads 2026-11-01 .. 2026-12-02.
        `FINOPS_RESTATEMENT_DAYS=N` makes it the last N days instead.
        """
        if self.restatement_days is not None:
            return run_date - timedelta(days=self.restatement_days), run_date
        last_day = run_date - timedelta(days=1)
        first_of_month = last_day.replace(day=1)
        previous_month = (first_of_month - timedelta(days=1)).replace(day=1)
        return previous_month, run_date

    @cached_property
    def allocation_config(self) -> str:
        """FINOPS_ALLOCATION_CONFIG, the allocation keys and rules as the JSON document dbt
        reads (finops/allocation.py `dbt_config`); the rules file is read once per Settings.

        Read on first use, not by load_settings, so a bad rules file stops a run (preflight,
        dbt) but not the dashboard or `finops sql`. Raises AllocationRulesError naming
        `<file>:<line>`. (cached_property writes the instance's __dict__ directly, which a
        frozen dataclass allows.)
        """
        rules = (
            allocation.load_rules(self.allocation_rules, self.allocation_tags)
            if self.allocation_rules is not None
            else None
        )
        return allocation.dbt_config(rules, self.allocation_tags)

    @property
    def dbt_folder(self) -> Path:
        """The folder the pipeline runs dbt in: the warehouse's (see `dbt_env`)."""
        return self.duckdb_path.parent

    def dbt_env(self, folder: Path | None = None) -> dict[str, str]:
        """Environment for dbt: where the warehouse is, how much memory DuckDB may use and
        where it spills, which currency to report in, and the allocation configuration
        (always set, the empty document when nothing is configured, so a
        FINOPS_ALLOCATION_CONFIG in the caller's environment never reaches dbt).

        `folder`: the folder dbt runs in (`dbt_folder`); the warehouse and its spill folder
        are then named relative to it when they lie in it. dbt's saved parse
        (target/partial_parse.msgpack) holds the profile's values and is thrown away when
        one differs: with relative names it does not depend on where FINOPS_HOME is, so a
        moved or restored home keeps its parse, and homes with the same settings can share
        one (the test suite's do: tests/conftest.py)."""
        temp = self.duckdb_temp_dir or Path(f"{self.duckdb_path}.tmp")

        def named(path: Path) -> str:
            if folder is not None and path.is_relative_to(folder):
                return str(path.relative_to(folder))
            return str(path)

        return {
            "FINOPS_DUCKDB_PATH": named(self.duckdb_path),
            "FINOPS_DUCKDB_MEMORY_LIMIT": self.duckdb_memory_limit,
            "FINOPS_DUCKDB_TEMP_DIR": named(temp),
            "FINOPS_REPORTING_CURRENCY": self.reporting_currency,
            "FINOPS_ALLOCATION_CONFIG": self.allocation_config,
            "DBT_PROFILES_DIR": str(DBT_PROFILES_DIR),
            "DO_NOT_TRACK": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }


def _allocation_rules(home: Path) -> Path | None:
    """FINOPS_ALLOCATION_RULES as an absolute path (a relative one is read from FINOPS_HOME,
    as the warehouse's), or None when unset."""
    raw = _env(allocation.RULES_SETTING)
    if raw is None:
        return None
    path = Path(raw).expanduser()
    return path if path.is_absolute() else (home / path).resolve()


def load_settings(env_file: Path | None = None) -> Settings:
    """Read the settings; a `.env` in the current directory fills in what is not set."""
    load_dotenv(env_file or Path.cwd() / ".env", override=False)
    home = Path(_env("FINOPS_HOME", ".")).expanduser().resolve()
    duckdb_path = Path(_env("FINOPS_DUCKDB_PATH") or home / "data" / "finops.duckdb")
    if not duckdb_path.is_absolute():
        duckdb_path = (home / duckdb_path).resolve()
    export_dir = Path(_env("FINOPS_EXPORT_DIR") or home / "data" / "exports")
    if not export_dir.is_absolute():
        export_dir = (home / export_dir).resolve()
    sources = resolve_sources(_env("FINOPS_SOURCES"))
    currency = (_env("FINOPS_REPORTING_CURRENCY", "USD") or "USD").upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ValueError(f"FINOPS_REPORTING_CURRENCY must be an ISO 4217 code, got {currency!r}")
    temp_dir = Path(_env("FINOPS_DUCKDB_TEMP_DIR") or f"{duckdb_path}.tmp")
    if not temp_dir.is_absolute():
        temp_dir = (home / temp_dir).resolve()
    return Settings(
        home=home,
        duckdb_path=duckdb_path,
        duckdb_memory_limit=_memory_limit("FINOPS_DUCKDB_MEMORY_LIMIT"),
        duckdb_temp_dir=temp_dir,
        sources=sources,
        focus_path=_env("FINOPS_FOCUS_PATH"),
        reporting_currency=currency,
        history_days=_env_int("FINOPS_HISTORY_DAYS", 180, minimum=1),
        retention_days=_env_int("FINOPS_RETENTION_DAYS", 30, minimum=1),
        simulated_seed=_env_int("FINOPS_SIMULATED_SEED", 42),
        restatement_days=(
            _env_int("FINOPS_RESTATEMENT_DAYS", 0, minimum=1)
            if _env("FINOPS_RESTATEMENT_DAYS")
            else None
        ),
        aws_role_arn=_env("FINOPS_AWS_ROLE_ARN"),
        aws_external_id=_env("FINOPS_AWS_EXTERNAL_ID"),
        aws_max_requests=_env_int("FINOPS_AWS_MAX_REQUESTS", DEFAULT_MAX_REQUESTS, minimum=1),
        aws_change_detection=_env_switch("FINOPS_AWS_CHANGE_DETECTION", True),
        aws_monthly_api_budget_usd=_env_budget("FINOPS_AWS_MONTHLY_API_BUDGET_USD"),
        azure_scopes=tuple(
            part.strip().rstrip("/")
            for part in (_env("FINOPS_AZURE_SCOPES", "") or "").split(",")
            if part.strip()
        ),
        azure_arm_endpoint=(
            _env("FINOPS_AZURE_ARM_ENDPOINT", "https://management.azure.com") or ""
        ).rstrip("/"),
        azure_client_type=_env("FINOPS_AZURE_CLIENT_TYPE", "finops-dashboard") or "",
        azure_max_wait_s=_env_int("FINOPS_AZURE_MAX_WAIT_SECONDS", 300, minimum=0),
        azure_price_details=_env_switch("FINOPS_AZURE_PRICE_DETAILS", True),
        azure_change_detection=_env_switch("FINOPS_AZURE_CHANGE_DETECTION", True),
        azure_details_from_reports=_env_switch("FINOPS_AZURE_DETAILS_FROM_REPORTS", True),
        azure_window_check=_env_switch("FINOPS_AZURE_WINDOW_CHECK", True),
        aws_cost_optimization_hub=_env_switch("FINOPS_AWS_COST_OPTIMIZATION_HUB", True),
        aws_sp_purchase_recommendations=_env_switch("FINOPS_AWS_SP_PURCHASE_RECOMMENDATIONS", True),
        aws_ri_purchase_recommendations=_env_switch("FINOPS_AWS_RI_PURCHASE_RECOMMENDATIONS", True),
        azure_advisor=_env_switch("FINOPS_AZURE_ADVISOR", True),
        azure_reservation_recommendations=_env_switch(
            "FINOPS_AZURE_RESERVATION_RECOMMENDATIONS", True
        ),
        azure_reservation_lookback=_azure_lookback("FINOPS_AZURE_RESERVATION_LOOKBACK"),
        webhook_url=_webhook_url("FINOPS_WEBHOOK_URL"),
        webhook_min_impact=_env_amount("FINOPS_WEBHOOK_MIN_IMPACT", Decimal("100")),
        webhook_timeout_s=_env_int("FINOPS_WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1),
        utilization_alert=_env_ratio("FINOPS_UTILIZATION_ALERT", 0.9),
        opportunity_min_savings=_env_amount("FINOPS_OPPORTUNITY_MIN_SAVINGS", Decimal("100")),
        focus_resource_days=_env_int("FINOPS_FOCUS_RESOURCE_DAYS", 35, minimum=0),
        allocation_tags=allocation.parse_tag_keys(_env(allocation.TAGS_SETTING)),
        allocation_rules=_allocation_rules(home),
        run_wait_s=_env_int("FINOPS_RUN_WAIT_SECONDS", 3600, minimum=0),
        s3_bucket=_env("FINOPS_S3_BUCKET"),
        s3_prefix=(_env("FINOPS_S3_PREFIX", "") or "").strip("/"),
        export_dir=export_dir,
        monthly_budget=_env_budget("FINOPS_MONTHLY_BUDGET"),
    )
