#!/usr/bin/env bash
# Run dbt-project-evaluator (dbt Labs' best-practice rules) against dbt_project/ without
# making it a dependency of the project: the package and dbt-utils come from checkouts
# OUTSIDE the repository (the dbt package hub is not needed), and everything happens in a
# temporary copy of dbt_project/ with its own DuckDB file. The project itself keeps building
# with a plain `dbt build` and no `dbt deps`. See docs/dbt-project-evaluator.md.
#
# Usage: scripts/dbt_project_evaluator.sh [--max-findings N] [--keep] [--verbose]
#   --max-findings N  exit 1 when there are more than N findings (default: no limit)
#   --keep            keep the temporary directory (project copy, DuckDB file, dbt logs)
#   --verbose         stream dbt's own output
#
# Environment:
#   DBT_PROJECT_EVALUATOR_DIR  checkout of dbt-labs/dbt-project-evaluator, tag v1.3.2
#                              (default: ../dbt-packages/dbt-project-evaluator next to the repo)
#   DBT_UTILS_DIR              checkout of dbt-labs/dbt-utils, a 1.x tag (1.4.1)
#                              (default: ../dbt-packages/dbt-utils next to the repo)
#   DBT                        dbt executable (default: dbt on PATH)
#   PYTHON                     a Python with duckdb and PyYAML (default: the one next to dbt)
#
# Exit status: 0 when the evaluator ran (with or without findings, up to --max-findings),
# 1 when the findings exceed --max-findings, 2 when it could not run (missing checkout,
# the project does not parse, dbt deps/build error).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROJECT_DIR="$REPO_ROOT/dbt_project"
EVALUATOR_DIR="${DBT_PROJECT_EVALUATOR_DIR:-$REPO_ROOT/../dbt-packages/dbt-project-evaluator}"
UTILS_DIR="${DBT_UTILS_DIR:-$REPO_ROOT/../dbt-packages/dbt-utils}"

MAX_FINDINGS=""
KEEP=0
VERBOSE=0

die() {
    echo "dbt-project-evaluator: $*" >&2
    exit 2
}

usage() {
    sed -n '8,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --max-findings)
            [[ $# -ge 2 && "$2" =~ ^[0-9]+$ ]] || die "--max-findings needs a whole number"
            MAX_FINDINGS="$2"
            shift 2
            ;;
        --max-findings=*)
            MAX_FINDINGS="${1#*=}"
            [[ "$MAX_FINDINGS" =~ ^[0-9]+$ ]] || die "--max-findings needs a whole number"
            shift
            ;;
        --keep) KEEP=1; shift ;;
        --verbose | -v) VERBOSE=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

DBT="${DBT:-$(command -v dbt || true)}"
[[ -n "$DBT" && -x "$DBT" ]] || die "dbt not found on PATH (run \`make evaluate\`, or put .venv/bin on PATH)"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$(dirname "$DBT")/python" ]]; then
        PYTHON="$(dirname "$DBT")/python"
    else
        PYTHON="$(command -v python3)"
    fi
fi

# A checkout is usable when it is a dbt project of the expected name.
check_checkout() { # <dir> <dbt project name> <env var>
    local dir="$1" name="$2" var="$3"
    [[ -f "$dir/dbt_project.yml" ]] \
        || die "no checkout at $dir (set $var; see docs/dbt-project-evaluator.md)"
    grep -Eq "^name: *['\"]?$name['\"]? *$" "$dir/dbt_project.yml" \
        || die "$dir/dbt_project.yml is not the $name package ($var)"
}
describe_checkout() { # <dir>: the tag or commit of a git checkout, else the directory
    git -C "$1" describe --tags --always 2>/dev/null || echo "(not a git checkout)"
}
check_checkout "$EVALUATOR_DIR" dbt_project_evaluator DBT_PROJECT_EVALUATOR_DIR
check_checkout "$UTILS_DIR" dbt_utils DBT_UTILS_DIR
EVALUATOR_DIR="$(cd "$EVALUATOR_DIR" && pwd)"
UTILS_DIR="$(cd "$UTILS_DIR" && pwd)"
echo "dbt-project-evaluator: $EVALUATOR_DIR ($(describe_checkout "$EVALUATOR_DIR"))"
echo "dbt-utils:             $UTILS_DIR ($(describe_checkout "$UTILS_DIR"))"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/dbt-project-evaluator.XXXXXX")"
cleanup() {
    if [[ "$KEEP" == 1 ]]; then
        echo "kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

# 1. The copy of the project: everything but build output, installed packages and logs.
COPY="$WORK/dbt_project"
mkdir -p "$COPY"
tar -C "$PROJECT_DIR" \
    --exclude=./target --exclude=./dbt_packages --exclude=./logs --exclude=./package-lock.yml \
    -cf - . | tar -C "$COPY" -xf -

# 2. The evaluator as a local package. Its packages.yml asks the hub for dbt-labs/dbt_utils,
# which `dbt deps` cannot reach from here, and a `local:` dbt-utils in our packages.yml does
# not satisfy it (dbt keys a hub package by its hub name, a local one by its path, and looks
# the hub one up anyway). So the package is presented through an overlay: a directory of
# symlinks to the checkout's entries, with a packages.yml of its own that points at the
# local dbt-utils. The checkout itself stays exactly the tag.
# Our seed dbt_project_evaluator_exceptions replaces the package's empty one. The package's
# docs say to disable theirs with `+enabled: false`, but dbt-core 1.11 still applies the
# package's seeds.yml to our seed of the same name and stops with "dbt found two schema.yml
# entries for the same resource" (dbt-labs/dbt-core#15562): the overlay leaves out the
# package's seeds/ folder instead (it holds nothing else).
OWN_EXCEPTIONS="$(find "$COPY" -name dbt_project_evaluator_exceptions.csv -print -quit)"
OVERLAY="$WORK/packages/dbt_project_evaluator"
mkdir -p "$OVERLAY"
for entry in "$EVALUATOR_DIR"/*; do
    case "$(basename "$entry")" in
        packages.yml | dependencies.yml | package-lock.yml | integration_tests* | dbt_packages | target | logs) ;;
        seeds) [[ -n "$OWN_EXCEPTIONS" ]] || ln -s "$entry" "$OVERLAY/seeds" ;;
        *) ln -s "$entry" "$OVERLAY/$(basename "$entry")" ;;
    esac
done
[[ -n "$OWN_EXCEPTIONS" ]] \
    || echo "note: no seed dbt_project_evaluator_exceptions in the project: no exceptions apply"

# 3. packages.yml of the copy (kept and extended if the project ever gets one), and the
# configuration the evaluator needs in the copy's dbt_project.yml (merged with PyYAML: the
# copy loses its comments, nothing else).
"$PYTHON" - "$COPY" "$OVERLAY" "$UTILS_DIR" <<'PY'
import re
import sys
from pathlib import Path

import yaml

copy, overlay, utils = (Path(p) for p in sys.argv[1:4])


def load(path):
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def dump(path, data):
    path.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))


dump(overlay / "packages.yml", {"packages": [{"local": str(utils)}]})

# the project's package list lives in dependencies.yml or packages.yml (never both)
deps_file = copy / "dependencies.yml"
if not load(deps_file).get("packages"):
    deps_file = copy / "packages.yml"
deps = load(deps_file)
packages = [
    p for p in deps.get("packages") or []
    if not str(p.get("package", "")).endswith(("/dbt_utils", "/dbt_project_evaluator"))
]
deps["packages"] = packages + [{"local": str(utils)}, {"local": str(overlay)}]
dump(deps_file, deps)

project_file = copy / "dbt_project.yml"
project = load(project_file)

# DuckDB (like Spark, Redshift) needs the evaluator's cross-database shims of dbt macros
dispatch = project.setdefault("dispatch", [])
for entry in dispatch:
    if entry.get("macro_namespace") == "dbt":
        order = entry.setdefault("search_order", [project["name"], "dbt"])
        if "dbt_project_evaluator" not in order:
            order.insert(0, "dbt_project_evaluator")
        break
else:
    dispatch.append({"macro_namespace": "dbt", "search_order": ["dbt_project_evaluator", "dbt"]})

# the rule "missing primary key tests" counts unique + not_null on one column, or
# dbt_utils.unique_combination_of_columns; the project checks its keys with its own generic
# test column_values (tests/generic/column_values.sql: the key column of `meta: primary_key:
# true` unique and not null, or the key of several columns of the model's `meta: grain`,
# with the model's other column rules, in one node), so the
# rule is told to count that one too. column_values runs on models without a key too: that
# every model has a key is checked by tests/dbt/test_project_layers.py, from the manifest
paths = project.get("macro-paths", ["macros"]) + project.get("test-paths", ["tests"])
sources = [f.read_text() for p in paths for f in (copy / p).rglob("*.sql")]
pk_macros = [["dbt.test_unique", "dbt.test_not_null"]]
own_test = re.compile(r"\{%-?\s*test\s+column_values\s*\(")
if any(own_test.search(text) for text in sources):
    pk_macros.append([f"{project['name']}.test_column_values"])
variables = project.setdefault("vars", {}) or {}
project["vars"] = variables
variables.setdefault("dbt_project_evaluator", {}).setdefault("primary_key_test_macros", pk_macros)

# findings are warnings (the package's default, stated here so that a project-wide
# +severity cannot turn them into build errors): the script counts them itself
data_tests = project.setdefault("data_tests", {}) or {}
project["data_tests"] = data_tests
data_tests.setdefault("dbt_project_evaluator", {})["+severity"] = "warn"

dump(project_file, project)
PY

# 4. deps and build, against a DuckDB file of its own (the evaluator reads dbt's graph, not
# the warehouse: no raw data needed; the on-run-start hook is a no-op on DuckDB).
export FINOPS_DUCKDB_PATH="$WORK/evaluator.duckdb"
export DO_NOT_TRACK=1 DBT_USE_COLORS=false
DBT_ARGS=(--project-dir "$COPY" --profiles-dir "$REPO_ROOT" --target dev)

run_dbt() { # <log file> <dbt args...>
    local log="$1"
    shift
    local status=0
    if [[ "$VERBOSE" == 1 ]]; then
        # pipefail: the status is dbt's
        (cd "$COPY" && "$DBT" "$@") 2>&1 | tee "$log" || status=$?
    else
        (cd "$COPY" && "$DBT" "$@") >"$log" 2>&1 || status=$?
    fi
    return "$status"
}

echo ">> dbt deps (local packages only)"
if ! run_dbt "$WORK/dbt-deps.log" deps "${DBT_ARGS[@]}"; then
    [[ "$VERBOSE" == 1 ]] || tail -n 40 "$WORK/dbt-deps.log" >&2
    KEEP=1
    die "dbt deps failed (log kept in $WORK)"
fi

echo ">> dbt build --select package:dbt_project_evaluator dbt_project_evaluator_exceptions"
BUILD_STATUS=0
run_dbt "$WORK/dbt-build.log" build "${DBT_ARGS[@]}" \
    --select package:dbt_project_evaluator dbt_project_evaluator_exceptions || BUILD_STATUS=$?
grep -E "Done\. PASS=" "$WORK/dbt-build.log" | sed 's/^.*Done\./   dbt: /' || true
if [[ ! -f "$COPY/target/run_results.json" ]]; then
    [[ "$VERBOSE" == 1 ]] || tail -n 40 "$WORK/dbt-build.log" >&2
    KEEP=1
    die "dbt build did not run (the project may not parse; log kept in $WORK)"
fi

# 5. The findings: every evaluator test that warned, with the rows of the model it checks.
REPORT_STATUS=0
"$PYTHON" - "$COPY/target" "$FINOPS_DUCKDB_PATH" "$EVALUATOR_DIR" "$BUILD_STATUS" \
    "$MAX_FINDINGS" <<'PY' || REPORT_STATUS=$?
import json
import sys
from pathlib import Path

import duckdb

target, db_path, evaluator_dir, build_status, max_findings = sys.argv[1:6]
target = Path(target)
manifest = json.loads((target / "manifest.json").read_text())
results = json.loads((target / "run_results.json").read_text())["results"]
nodes = manifest["nodes"]

# the rules' documentation pages, by the folder of the evaluator's models
RULE_DOCS = {"dag": "modeling", "tests": "testing", "documentation": "documentation",
             "structure": "structure", "performance": "performance", "governance": "governance"}


def cell(value, width=70):
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def table(columns, rows, indent="    "):
    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = lambda values: indent + "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()
    out = [line(columns), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)


con = duckdb.connect(db_path, read_only=True)
checked, findings, errors, skipped, total = 0, [], [], 0, 0
for result in results:
    node = nodes.get(result["unique_id"])
    if not node:
        continue
    if result["status"] in ("error", "fail"):
        # a broken evaluator model, or our exceptions seed failing its tests (all downstream
        # rules are skipped then)
        message = " ".join((result.get("message") or "").split())
        errors.append(f"{result['unique_id']}: {result['status']}: {message}"[:300])
    skipped += result["status"] == "skipped"
    if node["package_name"] != "dbt_project_evaluator" or node["resource_type"] != "test":
        continue
    checked += result["status"] in ("pass", "warn")
    if result["status"] == "warn":
        model = next(nodes[n] for n in node["depends_on"]["nodes"] if n.startswith("model."))
        cur = con.execute(f"select * from {model['relation_name']}")
        columns = [d[0] for d in cur.description]
        rows = sorted(cur.fetchall(), key=lambda row: [str(v) for v in row])
        count = int(result.get("failures") or len(rows) or 1)
        total += count
        folder = model["fqn"][2] if len(model["fqn"]) > 3 else ""
        findings.append((model["name"], node["name"], folder, count, columns, rows))

for name, test, folder, count, columns, rows in sorted(findings):
    print(f"\n== {name}: {count} finding(s)   [test {test}]")
    page = RULE_DOCS.get(folder)
    if page:
        print(f"   rule: {evaluator_dir}/docs/rules/{page}.md")
    print(table(columns, rows))

print(f"\n{checked} rule test(s) run, {len(findings)} with findings")
incomplete = bool(errors or skipped or checked == 0 or build_status != "0")
if incomplete:
    print(f"the evaluator did not run completely (dbt build status {build_status}, "
          f"{skipped} node(s) skipped):")
    for line in errors:
        print(f"  - {line.strip()}")
print(f"dbt-project-evaluator: {total} finding(s)" + (" (incomplete run)" if incomplete else ""))

if incomplete:
    sys.exit(2)
if max_findings and total > int(max_findings):
    print(f"more than --max-findings {max_findings}")
    sys.exit(1)
PY
if [[ "$REPORT_STATUS" == 2 ]]; then
    echo "dbt's log kept in $WORK/dbt-build.log" >&2
    KEEP=1
fi
exit "$REPORT_STATUS"
