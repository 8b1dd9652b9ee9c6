"""One provider failing while the other lands: a partial run, then the rerun that heals it.

The runs are the `two_clouds` scenario (tests/ops_scenario.py): real AWS (moto) and Azure
(TLS emulator, real SDK and MSAL) sources, `finops run` as cron runs it against luigid. A
backfill landed both clouds' history up to D1; on D2 the Azure Query API answers HTTP 500 to
every query; then D2 is run again once the API is back, and once more.
"""

from __future__ import annotations

from decimal import Decimal

from ops_scenario import (
    D1,
    D2,
    PAYER,
    PREFIX,
    SINCE,
    SUBSCRIPTIONS,
    TwoClouds,
    aws_billed,
    aws_daily_requests,
    aws_estate,
    window,
)

CENT = Decimal("0.01")


def azure_marts(truth: dict[tuple[str, str], Decimal]) -> dict[tuple[str, str], Decimal]:
    """Emulator truth (query type, currency) -> the billed mart figure (provider, currency)."""
    return {("Azure", cur): total for (kind, cur), total in truth.items() if kind == "ActualCost"}


def test_a_failing_provider_leaves_a_partial_run_that_keeps_its_last_good_data(
    two_clouds: TwoClouds,
) -> None:
    # GIVEN both clouds' history loaded up to D1, then on D2 the Azure API answering HTTP 500
    partial = two_clouds.runs["partial"]
    d1_ledger = [r for r in partial.ledger if r["window_end"] == D1]
    d1_azure_loads = sorted(
        r["load_id"]
        for r in d1_ledger
        if r["source"] == "azure_cost_management" and r["status"] == "succeeded"
    )
    assert len(d1_azure_loads) == len(SUBSCRIPTIONS)

    # WHEN cron runs D2 (`finops run --date D2`)

    # THEN the run is partial: exit code 3, and the output names the failed source
    assert partial.exit_code == 3, partial.output
    assert "PARTIAL: the load of azure failed" in partial.output

    # THEN the execution history records a partial run naming Azure and its error
    entry = partial.history[-1]
    assert (entry["run_date"], entry["status"]) == (D2.isoformat(), "partial")
    assert entry["failed_sources"] == ["azure"]
    [failure] = entry["failed_loads"]
    assert failure["error"].startswith("AzureCostManagementError: Azure Cost Management load")
    assert "HTTP 500" in failure["error"]
    providers = {p["provider"]: p for p in entry["providers"]}
    assert providers["Azure"]["status"] == "failed"
    assert providers["Azure"]["error"] == failure["error"]
    assert (providers["AWS"]["status"], providers["AWS"]["rows_loaded"]) == (
        "loaded",
        len(aws_estate(*window(D2)).charges),
    )
    assert providers["AWS"]["api_requests"] == aws_daily_requests(D2)

    # THEN every Azure scope has a failed ledger row of this run, with the error, and the
    # history points at exactly those rows
    d2_failed = [
        r
        for r in partial.ledger
        if r["window_end"] == D2 and r["source"] == "azure_cost_management"
    ]
    assert {r["scope"] for r in d2_failed} == {s.scope for s in SUBSCRIPTIONS}
    assert {r["status"] for r in d2_failed} == {"failed"}
    assert all("HTTP 500" in r["error"] for r in d2_failed)
    assert sorted(failure["ledger_load_ids"]) == sorted(r["load_id"] for r in d2_failed)

    # THEN the text report says so: status, the failed provider and its error
    assert "Status: PARTIAL - the load of azure failed" in partial.report
    assert f"azure{' ' * 17}FAILED [{window(D2)[0]} .. {D2}): {failure['error']}" in partial.report
    assert "Azure  FAILED" in partial.report
    assert "Status: PARTIAL" in partial.s3_report  # the exported copy too

    # THEN raw still holds exactly the Azure loads up to D1 (nothing of the failed run landed)
    assert partial.raw["azure_load_ids"] == d1_azure_loads
    assert partial.raw["azure_rows"] == two_clouds.azure_rows(SINCE, D1)
    # ...so the marts keep Azure's last good data to the cent, beside AWS's new day
    marts = partial.marts
    azure_d1 = two_clouds.azure_truth(SINCE, D1)
    assert {k: v for k, v in marts.items() if k[0] == "Azure"} == azure_marts(azure_d1)
    assert marts[("AWS", "USD")] == aws_billed(SINCE, D2).quantize(CENT)

    # THEN the dashboard's freshness mart shows Azure stale (last attempt failed) and AWS fresh
    fresh = {(f["provider_name"], f["scope"]): f for f in partial.freshness}
    for sub in SUBSCRIPTIONS:
        row = fresh[("Azure", sub.scope)]
        assert row["is_last_attempt_failed"] is True
        assert "HTTP 500" in row["last_error_message"]
        assert row["last_success_window_end"] == D1
    assert fresh[("AWS", PAYER)]["is_last_attempt_failed"] is False

    # THEN the day was built, exported and reported, but the failed load has no target
    assert {"load_aws", "dbt_build", "export", "prune"} <= partial.markers
    assert "load_azure.failed.json" in partial.markers
    assert "load_azure" not in partial.markers
    assert f"{PREFIX}/processed/{D2}/_manifest.json" in partial.s3_keys


def test_rerunning_the_date_after_the_fault_heals_retries_only_the_failed_load(
    two_clouds: TwoClouds,
) -> None:
    # GIVEN the partial run of D2, and the Azure API back (one throttled answer on the way)
    partial, healed = two_clouds.runs["partial"], two_clouds.runs["healed"]

    # WHEN cron runs D2 again

    # THEN it succeeds (exit 0) and the history records the completed day after the partial one
    assert healed.exit_code == 0, healed.output
    assert "PARTIAL" not in healed.output
    d2_entries = [e for e in healed.history if e["run_date"] == D2.isoformat()]
    assert [e["status"] for e in d2_entries] == ["partial", "succeeded"]
    assert d2_entries[-1]["failed_loads"] == []
    assert "Status: SUCCEEDED" in healed.report
    assert "Status: SUCCEEDED" in healed.s3_report

    # THEN only the failed load was retried: new ledger rows are Azure's, all succeeded
    new_rows = healed.ledger[len(partial.ledger) :]
    assert {(r["source"], r["status"]) for r in new_rows} == {
        ("azure_cost_management", "succeeded")
    }
    assert {r["scope"] for r in new_rows} == {s.scope for s in SUBSCRIPTIONS}
    assert healed.raw["aws_rows"] == partial.raw["aws_rows"]

    # THEN the marts hold every Azure day up to D2 exactly once, to the cent; AWS unchanged
    union = two_clouds.azure_truth(SINCE, D2)
    assert {k: v for k, v in healed.marts.items() if k[0] == "Azure"} == azure_marts(union)
    assert healed.raw["azure_rows"] == two_clouds.azure_rows(SINCE, D2)
    assert healed.marts[("AWS", "USD")] == partial.marts[("AWS", "USD")]

    # THEN nothing is stale any more, and the failure record made way for the load's target
    assert [f for f in healed.freshness if f["is_last_attempt_failed"]] == []
    assert "load_azure" in healed.markers
    assert "load_azure.failed.json" not in healed.markers

    # WHEN cron runs the healed date once more
    again = two_clouds.runs["again"]

    # THEN the day is complete: nothing runs, nothing is recorded or posted
    assert again.exit_code == 0, again.output
    assert "Already complete" in again.output
    assert len(again.history) == len(healed.history)
    assert len(again.ledger) == len(healed.ledger)
    assert again.webhook_messages == healed.webhook_messages
