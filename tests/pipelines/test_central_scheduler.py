"""The daily run sent to a real central scheduler (`luigid` on loopback), as production does.

The `two_clouds` scenario (tests/ops_scenario.py) starts `luigid --address 127.0.0.1 --port
<free> --state-path <tmp> --logdir <tmp>` and runs `finops run --scheduler-host 127.0.0.1
--scheduler-port <port>` (no local scheduler) for a partial day, its healed rerun and a no-op
rerun. These tests read luigid's JSON API - what its visualiser shows.
"""

from __future__ import annotations

import urllib.request

from ops_scenario import D2, TwoClouds

PIPELINE_TASKS = {
    "DailyPipeline",
    "Report",
    "Prune",
    "Export",
    "DbtBuild",
    "ArchiveRawExtract",
    "LoadSource",
    "RetireDemoSources",  # real sources: demo rows of an earlier run go, once per run
}


def tasks_of(scheduler_tasks: dict, name: str) -> dict[str, dict]:
    return {
        task["params"].get("source", name): task
        for task in scheduler_tasks.values()
        if task["name"] == name
    }


def test_the_daily_run_goes_through_luigid_and_every_task_is_done(two_clouds: TwoClouds) -> None:
    # GIVEN luigid on loopback and cron's command pointed at it
    healed = two_clouds.runs["healed"]

    # WHEN the healed daily run went through it
    assert healed.exit_code == 0, healed.output

    # THEN luigid knows every task of the run, each DONE, for the run date
    tasks = {tid: t for tid, t in healed.scheduler_tasks.items() if t["params"]["date"] == str(D2)}
    assert {t["name"] for t in tasks.values()} == PIPELINE_TASKS
    assert {t["status"] for t in tasks.values()} == {"DONE"}
    assert set(tasks_of(tasks, "LoadSource")) == {"aws", "azure"}

    # THEN its dependency graph (what the visualiser draws) links the run end to end
    graph = two_clouds.luigid.api("graph")
    by_name: dict[str, set[str]] = {}
    for node in graph.values():
        if node["params"].get("date") == str(D2):
            deps = {graph[d]["name"] for d in node["deps"] if d in graph}
            by_name.setdefault(node["name"], set()).update(deps)
    assert by_name == {
        "DailyPipeline": {"Report"},
        "Report": {"Prune"},
        "Prune": {"Export"},
        "Export": {"DbtBuild", "ArchiveRawExtract"},
        "ArchiveRawExtract": {"DbtBuild"},
        "DbtBuild": {"LoadSource"},
        "LoadSource": {"RetireDemoSources"},
        "RetireDemoSources": set(),
    }
    # and the warehouse writers hold luigid's `warehouse_writer` resource (luigi.cfg)
    for task in tasks.values():
        expected = (
            {"warehouse_writer": 1}
            if task["name"]
            in (
                "LoadSource",
                "ArchiveRawExtract",
                "DbtBuild",
                "RetireDemoSources",
            )
            else {}
        )
        assert (task["resources"] or {}) == expected, task["name"]

    # THEN its visualiser is served
    url = f"{two_clouds.luigid.url}/static/visualiser/index.html"
    with urllib.request.urlopen(url, timeout=10) as page:
        assert page.status == 200 and b"Luigi Task Visualiser" in page.read()

    # WHEN cron fires again for the same date: a no-op through the scheduler too
    again = two_clouds.runs["again"]
    assert again.exit_code == 0, again.output
    assert "Already complete" in again.output


def test_luigid_shows_the_isolated_load_failure_of_a_partial_run(two_clouds: TwoClouds) -> None:
    # GIVEN the partial run of D2 (the Azure API failing), sent to luigid
    partial = two_clouds.runs["partial"]
    assert partial.exit_code == 3, partial.output

    # THEN the run went on past the failed load (every task ran), and the failed load says
    # so in luigid's status message, which the visualiser shows beside the task
    tasks = partial.scheduler_tasks
    assert {t["name"] for t in tasks.values()} == PIPELINE_TASKS
    loads = tasks_of(tasks, "LoadSource")
    assert loads["azure"]["status_message"].startswith(
        "FAILED (isolated; run is partial): AzureCostManagementError"
    )
    assert loads["aws"]["status_message"] is None
