"""FOCUS files -> raw.focus_costs: the column catalogue, version detection and the SQL that
types, checks and rolls up one file. Pure: no I/O, only names, rules and SQL text.

The raw table keeps FOCUS values as the file wrote them (no provider or category
normalisation: dbt owns those rules), at daily grain: every row of a file is rolled up to
its charge day (`ChargePeriodStart` in UTC) and the dimensions below, costs and quantities
summed. Three reading rules apply to every format: the strings `NULL` and `''` are null,
amounts become DECIMAL(38, 10) (AWS writes DOUBLE, Azure DECIMAL, CSV text), timestamps are
read as UTC (an explicit offset is converted).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

SUPPORTED_VERSIONS = ("1.0", "1.1", "1.2", "1.3")
ROLLUP_VERSION = "5"  # part of every fingerprint: a change of the rollup re-lands old files
# 2: the commitment discount columns are kept (every period re-lands once to fill them)
# 3: the resource grain of the last days (raw.focus_resource_costs) lands with each period
# 4: the snapshots' charge spans (raw.focus_snapshot_spans) land with each period
# 5: the copies of a row a file holds more than once are counted (x_duplicate_rows)
AMOUNT_SQL = "decimal(38, 10)"
NULL_STRINGS = ("NULL", "")


@dataclass(frozen=True)
class FocusColumn:
    """One FOCUS column we read: its name in files, in raw.focus_costs, and its rules."""

    focus: str  # PascalCase, as FOCUS names it
    raw: str  # snake_case column of raw.focus_costs
    kind: str  # 'text' | 'amount' | 'timestamp'
    required: bool  # the file must have the column (FOCUS 1.0-1.3 mandatory)
    not_null: bool  # every row must have a value

    @property
    def reader_type(self) -> str:
        """Type the CSV reader gives the column (so DuckDB itself names a bad value's line)."""
        return {"amount": "DECIMAL(38,10)", "timestamp": "TIMESTAMPTZ"}.get(self.kind, "VARCHAR")


def _col(focus: str, raw: str, kind: str = "text", *, required: bool = True,
         not_null: bool = False) -> FocusColumn:  # fmt: skip
    return FocusColumn(focus, raw, kind, required, not_null)


# Order = order of raw.focus_costs. Dimensions first (the rollup's group), then amounts.
COLUMNS: tuple[FocusColumn, ...] = (
    _col("BillingPeriodStart", "billing_period_start", "timestamp", not_null=True),
    _col("BillingPeriodEnd", "billing_period_end", "timestamp", not_null=True),
    _col("ChargePeriodStart", "charge_period_start", "timestamp", not_null=True),
    _col("BillingAccountId", "billing_account_id", not_null=True),
    _col("BillingAccountName", "billing_account_name"),
    _col("SubAccountId", "sub_account_id", required=False),
    _col("SubAccountName", "sub_account_name", required=False),
    _col("ProviderName", "provider_name", not_null=True),
    _col("PublisherName", "publisher_name"),
    _col("InvoiceIssuerName", "invoice_issuer_name"),
    _col("ServiceName", "service_name", not_null=True),
    _col("ServiceCategory", "service_category"),
    _col("ServiceSubcategory", "service_subcategory", required=False),  # FOCUS 1.1+
    _col("RegionId", "region_id", required=False),
    _col("RegionName", "region_name", required=False),
    _col("ChargeCategory", "charge_category", not_null=True),
    _col("ChargeClass", "charge_class"),
    _col("ChargeFrequency", "charge_frequency", required=False),
    _col("PricingCategory", "pricing_category", required=False),
    _col("BillingCurrency", "billing_currency", not_null=True),
    _col("ConsumedUnit", "consumed_unit", required=False),
    # AWS's own service code (AmazonEC2, ...): stable where ServiceName wording changes.
    _col("x_ServiceCode", "x_service_code", required=False),
    # Commitment discounts (savings plans, reservations): which commitment a row used or left
    # unused (issue #17's rate-optimization marts). Conditional in FOCUS; Status, Quantity
    # and Unit since 1.1.
    _col("CommitmentDiscountId", "commitment_discount_id", required=False),
    _col("CommitmentDiscountName", "commitment_discount_name", required=False),
    _col("CommitmentDiscountType", "commitment_discount_type", required=False),
    _col("CommitmentDiscountCategory", "commitment_discount_category", required=False),
    _col("CommitmentDiscountStatus", "commitment_discount_status", required=False),
    _col("CommitmentDiscountUnit", "commitment_discount_unit", required=False),
    _col("BilledCost", "billed_cost", "amount", not_null=True),
    _col("EffectiveCost", "effective_cost", "amount", not_null=True),
    _col("ListCost", "list_cost", "amount"),
    _col("ContractedCost", "contracted_cost", "amount"),
    _col("ConsumedQuantity", "consumed_quantity", "amount", required=False),
    _col("CommitmentDiscountQuantity", "commitment_discount_quantity", "amount", required=False),
)
# Mandatory in FOCUS 1.0-1.3 and checked for presence, although we do not store them.
PRESENCE_ONLY = ("ChargePeriodEnd",)
# FOCUS 1.3 deprecates ProviderName and PublisherName for ServiceProviderName and
# HostProviderName: a file may have either column of each pair (the old one first).
REPLACED_IN_1_3 = {"ProviderName": "ServiceProviderName", "PublisherName": "HostProviderName"}
# FOCUS 1.3 split cost allocation: an allocated charge's tags (its origin charge's Tags and
# those of the resource it is allocated to) - read for the allocation keys instead of Tags.
ALLOCATED_TAGS = "AllocatedTags"
BY_FOCUS_LOWER = {c.focus.lower(): c for c in COLUMNS}

# FOCUS `Tags` (a JSON object; Parquet exports may write a MAP): not kept as it is - its
# cardinality is the resources' - but read for the allocation keys FINOPS_ALLOCATION_TAGS
# names (issue #18) into one derived dimension, `x_allocation_tags` (`tags_select`).
TAGS = "Tags"
TAGS_RAW = "x_allocation_tags"

# The resource grain (issue #19): besides the daily rollup, the import keeps the rows of the
# last FINOPS_FOCUS_RESOURCE_DAYS days of the files it reads per resource and day, in
# raw.focus_resource_costs, for the billing-data rules of the savings opportunities (idle
# resources, gp2 volumes, previous generations, ...). Only rows with a ResourceId; these
# columns are optional (null when a file lacks one): the resource's id, name and type, the
# SKU and its meter (FOCUS 1.1+), and AWS's usage type (x_UsageType: `EBS:VolumeUsage.gp2`,
# `BoxUsage:m4.large`, `PublicIPv4:IdleAddress`, ...).
RESOURCE_COLUMNS = (
    ("ResourceId", "resource_id"),
    ("ResourceName", "resource_name"),
    ("ResourceType", "resource_type"),
    ("SkuId", "sku_id"),
    ("SkuMeter", "sku_meter"),
    ("x_UsageType", "x_usage_type"),
)
RESOURCE_DIMENSIONS = (
    "provider_name", "billing_account_id", "sub_account_id", "service_name",
    "service_category", "region_id", "charge_category", "pricing_category",
    "commitment_discount_status", "billing_currency", "consumed_unit",
    *(raw for _, raw in RESOURCE_COLUMNS),
)  # fmt: skip
RESOURCE_AMOUNTS = ("billed_cost", "effective_cost", "list_cost", "consumed_quantity")

# Snapshot spans (issue #19, rule `old_snapshot`): a snapshot's age is the time since its
# first charge, older than the resource grain's last days. So every file read also gives,
# per billing period and storage snapshot, its first and last charge day in that period
# (raw.focus_snapshot_spans, landed with the period like the resource grain, never pruned:
# one row per snapshot and month). A snapshot is a row whose ResourceId, ResourceType or
# x_UsageType names one: AWS EBS (`arn:aws:ec2:<region>:<account>:snapshot/snap-...`,
# `EBS:SnapshotUsage`) and RDS (`arn:aws:rds:...:snapshot:...`) snapshots, Azure managed
# disk snapshots (`.../providers/Microsoft.Compute/snapshots/...`, ResourceType `Snapshot`).
# Other resources are not kept (their number is the estate's, not bounded by a window).
SNAPSHOT_SQL = (
    "resource_id is not null and (contains(lower(resource_id), 'snapshot') "
    "or contains(lower(coalesce(resource_type, '')), 'snapshot') "
    "or contains(lower(coalesce(x_usage_type, '')), 'snapshot'))"
)
SPAN_DIMENSIONS = ("provider_name", "billing_account_id", "sub_account_id", "resource_id")

# The daily rollup: these are summed, everything else (but ChargePeriodStart) is grouped.
AMOUNTS = tuple(c for c in COLUMNS if c.kind == "amount")
DIMENSIONS = (*(c.raw for c in COLUMNS if c.kind == "text"), TAGS_RAW)
# raw.focus_costs' natural key within one load (scope = provider, billing account, period).
KEY_COLUMNS = ("billing_period_start", "charge_date", *DIMENSIONS)

# Columns that tell versions apart (FOCUS changelog; AWS "Migrating from FOCUS 1.0 to 1.2").
V1_1_COLUMNS = ("servicesubcategory", "skumeter", "skupricedetails", "capacityreservationid",
                "commitmentdiscountquantity")  # fmt: skip
V1_2_COLUMNS = ("invoiceid", "pricingcurrency", "billingaccounttype", "subaccounttype",
                "pricingcurrencyeffectivecost")  # fmt: skip
V1_3_COLUMNS = ("serviceprovidername", "hostprovidername", "contractapplied",
                "allocatedmethodid", "allocatedresourceid", "allocatedtags")  # fmt: skip
PRE_1_0_COLUMNS = ("chargetype", "amortizedcost", "usagequantity")


class FocusFormatError(ValueError):
    """A file (or its metadata) is not FOCUS 1.0-1.3 as we read it. Names file, line, column."""


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def supported_version(declared: str) -> str | None:
    """'1.2' for '1.2', '1.2.0', '1.2-preview', '1.0r2'; None when not 1.0-1.3."""
    match = re.fullmatch(r"\s*v?(\d+)\.(\d+)(?:[.\-r].*)?\s*", declared, flags=re.IGNORECASE)
    if not match:
        return None
    version = f"{int(match.group(1))}.{int(match.group(2))}"
    return version if version in SUPPORTED_VERSIONS else None


def detect_version(columns: Sequence[str], where: str, declared: str | None = None) -> str:
    """The FOCUS version of a file from its column names (or the version its metadata
    declares), refusing what is not FOCUS 1.0-1.3; then checks the mandatory columns."""
    names = {c.lower() for c in columns}
    if declared is not None:
        version = supported_version(declared)
        if version is None:
            raise FocusFormatError(
                f"{where}: unknown FOCUS version {declared!r} (FocusVersion of the export's "
                f"metadata); supported: {', '.join(SUPPORTED_VERSIONS)}"
            )
    elif names & set(PRE_1_0_COLUMNS) and not {"chargecategory", "effectivecost"} & names:
        found = sorted(c for c in columns if c.lower() in PRE_1_0_COLUMNS)
        raise FocusFormatError(
            f"{where}: line 1 (header): unknown FOCUS version (columns {', '.join(found)} "
            f"are FOCUS 0.5 / 1.0-preview); supported: {', '.join(SUPPORTED_VERSIONS)}"
        )
    elif names & set(V1_3_COLUMNS):
        version = "1.3"
    elif names & set(V1_2_COLUMNS):
        version = "1.2"
    elif names & set(V1_1_COLUMNS):
        version = "1.1"
    else:
        version = "1.0"
    check_header(columns, where)
    return version


def check_header(columns: Sequence[str], where: str) -> None:
    """Every mandatory column present, none twice (names compare case-insensitively)."""
    seen: dict[str, str] = {}
    for name in columns:
        if name.lower() in seen:
            raise FocusFormatError(
                f"{where}: line 1 (header), column {name}: the column appears twice"
            )
        seen[name.lower()] = name
    wanted = [c.focus for c in COLUMNS if c.required] + list(PRESENCE_ONLY)
    missing = sorted(
        name
        for name in wanted
        if name.lower() not in seen
        and REPLACED_IN_1_3.get(name, "").lower() not in seen  # FOCUS 1.3's name for it
    )  # FOCUS's order
    if missing:
        raise FocusFormatError(
            f"{where}: line 1 (header), column {missing[0]}: mandatory FOCUS column missing"
            + (f" (also missing: {', '.join(missing[1:])})" if len(missing) > 1 else "")
            + f"; the header has {len(columns)} column(s): {', '.join(columns[:8])}"
            + (", ..." if len(columns) > 8 else "")
        )


def file_columns(columns: Sequence[str]) -> dict[str, str]:
    """FOCUS name of each column we read (and `Tags`) -> its name in this file (as the file
    spells it)."""
    present = {name.lower(): name for name in columns}
    names = {c.focus: present[c.focus.lower()] for c in COLUMNS if c.focus.lower() in present}
    for old, new in REPLACED_IN_1_3.items():  # a FOCUS 1.3 file without the deprecated name
        if old not in names and new.lower() in present:
            names[old] = present[new.lower()]
    for name in (TAGS, ALLOCATED_TAGS):
        if name.lower() in present:
            names[name] = present[name.lower()]
    return names


def rollup_version(tag_keys: Sequence[str] = (), resource_days: int = 0) -> str:
    """ROLLUP_VERSION, the allocation tag keys and the resource days: part of every
    fingerprint, so a change of FINOPS_ALLOCATION_TAGS or FINOPS_FOCUS_RESOURCE_DAYS re-lands
    every period once (its rows now carry other values, or other days at resource grain)."""
    tags = f"+tags={','.join(tag_keys)}" if tag_keys else ""
    return ROLLUP_VERSION + tags + (f"+resources={resource_days}" if resource_days else "")


def resource_columns(header: Sequence[str]) -> str:
    """The select list of the resource columns of a file with `header` (null when absent)."""
    present = {name.lower(): name for name in header}
    return ",\n        ".join(
        f"{_text(quote(present[focus.lower()]))} as {raw}"
        if focus.lower() in present
        else f"cast(null as varchar) as {raw}"
        for focus, raw in RESOURCE_COLUMNS
    )


def resource_rollup_sql(
    reader: str, select: str, resources: str, file_index: int, cutoff: date
) -> str:
    """One file's rows with a ResourceId charged on `cutoff` or later -> resource rows in
    `resource_parts` (costs and quantities summed per day, resource and dimensions)."""
    sums = ", ".join(f"sum({c}) as {c}" for c in RESOURCE_AMOUNTS)
    return f"""
insert into resource_parts by name
select
    {file_index} as file_index,
    cast(billing_period_start as date) as billing_period_start,
    cast(charge_period_start as date) as charge_date,
    {", ".join(RESOURCE_DIMENSIONS)},
    {sums},
    count(*) as source_rows
from (
    select
        {select},
        {resources}
    from {reader}
) as typed
where resource_id is not null and cast(charge_period_start as date) >= date '{cutoff}'
group by all
"""


def snapshot_spans_sql(reader: str, select: str, resources: str, file_index: int | str) -> str:
    """One file's snapshot rows (SNAPSHOT_SQL) -> per billing period and snapshot its first
    and last charge day in `span_parts`. `file_index`: as in `rollup_sql`."""
    return f"""
insert into span_parts by name
select
    {file_index} as file_index,
    cast(billing_period_start as date) as billing_period_start,
    {", ".join(SPAN_DIMENSIONS)},
    min(cast(charge_period_start as date)) as first_charge_date,
    max(cast(charge_period_start as date)) as last_charge_date,
    count(*) as source_rows
from (
    select
        {select},
        {resources}
    from {reader}
) as typed
where {SNAPSHOT_SQL}
group by all
"""


def span_parts_ddl() -> str:
    columns = (
        "file_index integer", "billing_period_start date",
        *(f"{d} varchar" for d in SPAN_DIMENSIONS),
        "first_charge_date date", "last_charge_date date", "source_rows bigint",
    )  # fmt: skip
    return "create table if not exists span_parts (\n    " + ",\n    ".join(columns) + "\n)"


def resource_parts_ddl() -> str:
    return _stage_table_ddl(
        "resource_parts", ("billing_period_start",), RESOURCE_DIMENSIONS, RESOURCE_AMOUNTS, ()
    )


def _stage_table_ddl(
    name: str,
    periods: Sequence[str],
    dims: Sequence[str],
    amounts: Sequence[str],
    counts: Sequence[str],
) -> str:
    """A stage table of rolled-up rows: file index, period and charge dates, text dimensions,
    amounts, the file rows summed and counts (`parts`: the rows that break a rule)."""
    columns = [
        "file_index integer",
        *(f"{p} date" for p in periods),
        "charge_date date",
        *(f"{d} varchar" for d in dims),
        *(f"{a} {AMOUNT_SQL}" for a in amounts),
        "source_rows bigint",
        *(f"{c} bigint" for c in counts),
    ]
    body = ",\n".join(f"    {c}" for c in columns)
    return f"create table if not exists {name} (\n{body}\n)"


def _tags_json(name: str, file_type: str) -> str:
    """The file's Tags as JSON text: a MAP or STRUCT (Parquet) converted, text as written."""
    if file_type.startswith(("MAP", "STRUCT")):
        return f"cast(to_json({quote(name)}) as varchar)"
    return _text(quote(name))


def tags_select(names: dict[str, str], types: dict[str, str], tag_keys: Sequence[str]) -> str:
    """`x_allocation_tags` and `x_tags_malformed` of the typed select.

    x_allocation_tags: a JSON object of the configured keys, in their configured spelling and
    order, each matched case-insensitively to the row's tag keys (the first match when the
    row spells a key twice); a key present without a value (null or '') is the value `true`,
    as FOCUS allows key-only tags; a number or boolean is its text; null when the row has
    none of the keys (or no keys are configured, or the file has no Tags). A FOCUS 1.3
    allocated charge (split cost allocation) is read from its AllocatedTags, which hold its
    origin charge's Tags and the allocated resource's. x_tags_malformed: the row's tags are
    not a JSON object (the import then fails naming file, line, column).
    """
    present = [n for n in (names.get(ALLOCATED_TAGS), names.get(TAGS)) if n is not None]
    if not tag_keys or not present:
        return f"cast(null as varchar) as {TAGS_RAW}, false as x_tags_malformed"
    texts = [_tags_json(n, types[n].upper()) for n in present]
    tags = texts[0] if len(texts) == 1 else f"coalesce({', '.join(texts)})"
    valid = f"case when json_valid({tags}) then json_type({tags}) = 'OBJECT' else false end"
    values = []
    for key in tag_keys:
        found = (
            f"list_filter(json_keys({tags}), lambda k: lower(k) = {sql_literal(key.lower())})[1]"
        )
        pointer = f"'/' || replace(replace({found}, '~', '~0'), '/', '~1')"
        value = f"coalesce(nullif(json_extract_string({tags}, {pointer}), ''), 'true')"
        values.append(f"case when {found} is not null then {value} end")
    pairs = ", ".join(f"{sql_literal(k)}, {v}" for k, v in zip(tag_keys, values, strict=True))
    tagged = (
        f"case when coalesce({', '.join(values)}) is not null "
        f"then cast(json_object({pairs}) as varchar) end"
    )
    return (
        f"case when {valid} then {tagged} end as {TAGS_RAW}, "
        f"{tags} is not null and not ({valid}) as x_tags_malformed"
    )


def csv_types(columns: Sequence[str]) -> dict[str, str]:
    """The type the CSV reader gives each column of the header."""
    return {
        name: (BY_FOCUS_LOWER[name.lower()].reader_type if name.lower() in BY_FOCUS_LOWER
               else "VARCHAR")
        for name in columns
    }  # fmt: skip


def csv_reader_sql(path: str, columns: Sequence[str], rejects: str | None = None) -> str:
    """`read_csv` with the header's own names and explicit types: amounts DECIMAL(38, 10) and
    timestamps TIMESTAMPTZ, so DuckDB names the line of a value that does not convert
    (collected in the `rejects` table instead of stopping at the first one). Without
    `rejects` every column is read as text (to look at values as the file wrote them)."""
    types = csv_types(columns) if rejects else dict.fromkeys(columns, "VARCHAR")
    spec = "{" + ", ".join(f"{sql_literal(n)}: {sql_literal(t)}" for n, t in types.items()) + "}"
    store = (
        f", store_rejects = true, rejects_table = {sql_literal(rejects)}, "
        f"rejects_scan = {sql_literal(rejects + '_scans')}"
        if rejects
        else ""
    )
    return (
        f"read_csv({sql_literal(path)}, header = true, auto_detect = false, delim = ',', "
        f"quote = '\"', escape = '\"', columns = {spec}, nullstr = ['NULL', ''], "
        f"max_line_size = 10000000{store})"
    )


def parquet_reader_sql(
    path: str | Sequence[str], row_numbers: bool = False, file_names: bool = False
) -> str:
    """`read_parquet` of a file, or of files of one schema; with `row_numbers` (locating a
    bad row) also its file_row_number, with `file_names` the `filename` it came from."""
    paths = (
        sql_literal(path)
        if isinstance(path, str)
        else "[" + ", ".join(sql_literal(p) for p in path) + "]"
    )
    numbers = ", file_row_number = true" if row_numbers else ""
    names = ", filename = true" if file_names else ""
    return f"read_parquet({paths}{numbers}{names})"


NUMERIC_TYPES = ("DECIMAL", "DOUBLE", "FLOAT", "REAL", "INTEGER", "BIGINT", "HUGEINT",
                 "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT")  # fmt: skip
TIMESTAMP_TYPES = ("TIMESTAMP", "DATE")


def _text(expr: str) -> str:
    return f"nullif(nullif(cast({expr} as varchar), 'NULL'), '')"


def typed_select(
    names: dict[str, str],
    types: dict[str, str],
    where: str,
    csv: bool,
    tag_keys: Sequence[str] = (),
) -> tuple[str, dict[str, str]]:
    """The select list that types one file's rows, and per typed column the SQL of its raw
    (text) value where a failed conversion must be told apart from a missing value.

    `names`: FOCUS name -> the file's column name; `types`: the file's column name -> its
    DuckDB type (the CSV reader's declared types, or the Parquet schema).
    """
    selects: list[str] = []
    raw_values: dict[str, str] = {}
    for column in COLUMNS:
        name = names.get(column.focus)
        alias = column.raw
        if name is None:
            sql_type = {"amount": AMOUNT_SQL, "timestamp": "timestamp"}.get(column.kind, "varchar")
            selects.append(f"cast(null as {sql_type}) as {alias}")
            continue
        ref = quote(name)
        file_type = types[name].upper()
        if column.kind == "text":
            selects.append(f"{_text(ref)} as {alias}")
        elif column.kind == "amount":
            if csv or file_type.startswith(NUMERIC_TYPES):
                # DOUBLE (AWS) and DECIMAL(38, x) (Azure) alike; NaN/inf fail the cast
                selects.append(f"try_cast({ref} as {AMOUNT_SQL}) as {alias}")
                if not csv:
                    raw_values[column.focus] = ref
            elif file_type == "VARCHAR":
                selects.append(f"try_cast(trim({_text(ref)}) as {AMOUNT_SQL}) as {alias}")
                raw_values[column.focus] = _text(ref)
            else:
                raise FocusFormatError(
                    f"{where}: column {name}: type {types[name]} is not a number"
                )
        elif csv or file_type.startswith(TIMESTAMP_TYPES):
            # TIMESTAMPTZ -> timestamp in the session's UTC; naive timestamps are UTC
            selects.append(f"cast({ref} as timestamp) as {alias}")
        elif file_type == "VARCHAR":
            selects.append(
                f"try_cast(try_cast(trim({_text(ref)}) as timestamptz) as timestamp) as {alias}"
            )
            raw_values[column.focus] = _text(ref)
        else:
            raise FocusFormatError(f"{where}: column {name}: type {types[name]} is not a timestamp")
    selects.append(tags_select(names, types, tag_keys))
    return ",\n        ".join(selects), raw_values


def violation_rules(raw_values: dict[str, str]) -> dict[str, tuple[str, str, str]]:
    """Row rules as SQL over the typed select: rule id -> (FOCUS column, predicate, problem)."""
    rules: dict[str, tuple[str, str, str]] = {}
    by_focus = {c.focus: c for c in COLUMNS}
    for focus in raw_values:
        column = by_focus[focus]
        what = "a number" if column.kind == "amount" else "a date/time"
        rules[f"bad_{column.raw}"] = (
            focus,
            f"x_raw_{column.raw} is not null and {column.raw} is null",
            f"value is not {what}",
        )
    for column in COLUMNS:
        if column.not_null:
            rules[f"null_{column.raw}"] = (
                column.focus,
                f"{column.raw} is null" + (f" and x_raw_{column.raw} is null"
                                           if column.focus in raw_values else ""),
                "mandatory value is empty (or the string NULL)",
            )  # fmt: skip
    rules["bad_billing_period"] = (
        "BillingPeriodEnd",
        "billing_period_end <= billing_period_start",
        "BillingPeriodEnd is not after BillingPeriodStart",
    )
    rules["malformed_tags"] = (TAGS, "x_tags_malformed", "value is not a JSON object")
    return rules


def typed_rows_sql(reader: str, select: str, raw_values: dict[str, str]) -> str:
    """A file's rows typed (`select`) with the raw values the rules compare them with
    (`x_raw_<column>`), as the subquery the rollup and the rule counts read."""
    raws = "".join(
        f",\n        {expr} as x_raw_{c.raw}"
        for c in COLUMNS
        if (expr := raw_values.get(c.focus)) is not None
    )
    return f"""(
    select
        {select}{raws}
    from {reader}
) as typed"""


def broken_rows_sql(rules: dict[str, tuple[str, str, str]]) -> str:
    """The rows that break any rule, as one count (`broken_rows` of `parts`)."""
    predicates = " or ".join(f"({predicate})" for _, predicate, _ in rules.values())
    return f"count(*) filter (where {predicates})"


def rule_counts_sql(reader: str, select: str, raw_values: dict[str, str],
                    rules: dict[str, tuple[str, str, str]]) -> str:  # fmt: skip
    """The rows of a file that break each rule, one count per rule in `rules`' order: read
    again only for a file whose rollup counted broken rows, to name the first problem."""
    counts = ", ".join(f"count(*) filter (where {predicate})" for _, predicate, _ in rules.values())
    return f"select {counts}\nfrom {typed_rows_sql(reader, select, raw_values)}"


def duplicate_hashes_sql(reader: str) -> str:
    """The rows a file (or a batch of files: `filename` is then one of the values) holds more
    than once, every value alike, as (DuckDB's hash of the row, its surplus copies), into
    `duplicate_hashes`: a pass of its own before the rollup, whose hash table holds one
    integer per row (a distinct count or a window over the hash inside the rollup took 3.6x
    and 4.6x the rollup at 1M rows; this pass and the rollup's probe of it made a 10M-row
    import 22 % longer: bench/README.md)."""
    return f"""
create or replace temp table duplicate_hashes as
select x_row_hash, count(*) - 1 as copies
from (select hash(*columns(*)) as x_row_hash from {reader})
group by x_row_hash
having count(*) > 1
"""


def rollup_sql(reader: str, select: str, raw_values: dict[str, str], file_index: int | str,
               rules: dict[str, tuple[str, str, str]]) -> str:  # fmt: skip
    """One file's rows -> daily rows in `parts` (costs and quantities summed per charge day
    and dimensions), with per group the count of the rows that break a rule (one count for
    all rules: a count per rule cost a quarter of the rollup at 10M rows, and a broken file
    is read again to say which rule and row). `file_index`: the file's index, or SQL giving
    it per row (several files read by one query).

    A row the file holds n times (`duplicate_hashes`, the same reader's pass just before)
    is summed n times, as the file bills it; its n - 1 surplus copies and their billed cost
    are counted too (`duplicate_rows`, `duplicate_billed_cost`): a duplicated delivery that
    users can see and take up with the provider. All n copies fall in the same group
    (every value alike), so each adds (n - 1) / n of a copy to its group: the count is
    exact, the copies' cost exact to about 15 significant digits (a division in floating
    point; the money itself, billed_cost, is summed in decimals as ever)."""
    dims = ", ".join(DIMENSIONS)
    sums = ", ".join(f"sum({c.raw}) as {c.raw}" for c in AMOUNTS)
    typed = typed_rows_sql(
        reader, select + ",\n        hash(*columns(*)) as x_row_hash", raw_values
    )
    return f"""
insert into parts by name
select
    {file_index} as file_index,
    cast(billing_period_start as date) as billing_period_start,
    cast(billing_period_end as date) as billing_period_end,
    cast(charge_period_start as date) as charge_date,
    {dims},
    {sums},
    count(*) as source_rows,
    {broken_rows_sql(rules)} as broken_rows,
    cast(round(coalesce(sum(duplicate_hashes.copies / (duplicate_hashes.copies + 1)), 0))
         as bigint) as duplicate_rows,
    cast(round(coalesce(sum(
        cast(billed_cost as double) * duplicate_hashes.copies / (duplicate_hashes.copies + 1)
    ), 0), 10) as {AMOUNT_SQL}) as duplicate_billed_cost
from {typed}
left join duplicate_hashes using (x_row_hash)
group by all
"""


def parts_ddl() -> str:
    return _stage_table_ddl(
        "parts",
        ("billing_period_start", "billing_period_end"),
        DIMENSIONS,
        [*(c.raw for c in AMOUNTS), "duplicate_billed_cost"],
        ["broken_rows", "duplicate_rows"],
    )


# `<ProviderName>/<BillingAccountId>@<BillingPeriodStart>`: one billing period of one billing
# account, the unit an import replaces. The ledger carries its parts as columns
# (provider_name, billing_account_id, billing_period_start): nothing parses it back.
def scope_sql(relation: str = "") -> str:
    """SCOPE_SQL over the columns of `relation` (an alias in a join), or unqualified."""
    at = f"{relation}." if relation else ""
    return (
        f"trim({at}provider_name) || '/' || trim({at}billing_account_id) || '@' "
        f"|| strftime({at}billing_period_start, '%Y-%m-%d')"
    )


SCOPE_SQL = scope_sql()
