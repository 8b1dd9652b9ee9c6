"""Cost allocation settings (issue #18): FINOPS_ALLOCATION_TAGS, the rules file
FINOPS_ALLOCATION_RULES (every error names the file and the line) and the JSON document dbt
reads from FINOPS_ALLOCATION_CONFIG. Real files in tmp_path; no mocks."""

from __future__ import annotations

import json
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from finops import allocation, dbt_runner
from finops.allocation import (
    AllocationRules,
    AllocationRulesError,
    KeyRules,
    RuleMatch,
    SharedRule,
    load_rules,
    parse_tag_keys,
)
from finops.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "allocation.example.yml"
AZURE_WEB = "6f2c1b7e-3d4a-4f5b-9c8d-0e1f2a3b4c5d"
AZURE_LOGS = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
KEYS = ("team", "cost-center")


def rules_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "allocation.yml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


# ---- FINOPS_ALLOCATION_TAGS


@pytest.mark.parametrize(
    ("raw", "keys"),
    [
        pytest.param(None, (), id="unset: by sub account only"),
        pytest.param(" ", (), id="blank"),
        pytest.param(" team , cost-center,,env ", ("team", "cost-center", "env"), id="trimmed"),
        pytest.param("Team,CostCenter", ("Team", "CostCenter"), id="configured spelling kept"),
    ],
)
def test_tag_keys_are_a_trimmed_comma_list_in_the_configured_spelling(raw, keys):
    assert parse_tag_keys(raw) == keys


def test_a_tag_key_given_twice_in_another_case_is_refused():
    # GIVEN `team` and `Team`: one key to a person, and the rows would be allocated twice
    with pytest.raises(ValueError, match="FINOPS_ALLOCATION_TAGS names the tag key 'Team' twice"):
        parse_tag_keys("team,env,Team")


# ---- the example file


def test_the_example_file_is_accepted_with_exactly_its_content():
    # WHEN the example at the repository root is read for its two keys
    rules = load_rules(EXAMPLE, ("team", "cost-center"))

    # THEN every account id keeps its leading zero, the Azure subscription path is the
    # lower-case guid the marts use, the rules keep their order, the percentages are exact
    assert rules == AllocationRules(
        by_key={
            "team": KeyRules(
                account_map={
                    "111122223333": "platform",
                    "012345678901": "data",
                    AZURE_WEB: "web",
                },
                shared_rules=[
                    SharedRule(
                        name="support",
                        match=RuleMatch(
                            service_name=("AWS Support (Business)", "AWS Support (Enterprise)")
                        ),
                        split="even",
                        to=("platform", "data", "web"),
                    ),
                    SharedRule(
                        name="shared-log-workspace",
                        match=RuleMatch(
                            service_name=("Log Analytics",), sub_account_id=(AZURE_LOGS,)
                        ),
                        split="percentages",
                        to=("platform", "data", "web"),
                        percentages={
                            "platform": Decimal("50"),
                            "data": Decimal("33.34"),
                            "web": Decimal("16.66"),
                        },
                    ),
                    SharedRule(
                        name="tax",
                        match=RuleMatch(charge_category=("Tax",)),
                        split="proportional",
                        to=("platform", "data", "web"),
                    ),
                ],
            ),
            "cost-center": KeyRules(
                account_map={"111122223333": "4711", "012345678901": "4712", AZURE_WEB: "4711"},
                shared_rules=[
                    SharedRule(
                        name="tax",
                        match=RuleMatch(charge_category=("Tax",)),
                        split="proportional",
                        to=("4711", "4712"),
                    )
                ],
            ),
        }
    )
    # AND the percentages are Decimals, not YAML's floats
    log_rule = rules.by_key["team"].shared_rules[1]
    assert sum(log_rule.percentages.values()) == Decimal("100")


def test_keys_in_the_rules_file_match_the_setting_without_case_and_keep_its_spelling(tmp_path):
    # GIVEN the setting spells `Team` and `COST-CENTER`, the file `team` and `Cost-Center`
    path = rules_file(
        tmp_path,
        """
        keys:
          Cost-Center:
            account_map: {"111122223333": "4711"}
          team:
            account_map: {"111122223333": platform}
        """,
    )
    # WHEN the file is read
    rules = load_rules(path, ("Team", "env", "COST-CENTER"))
    # THEN the keys are the configured spelling, in the configured order; `env` has no rules
    assert list(rules.by_key) == ["Team", "COST-CENTER"]
    assert rules.by_key["COST-CENTER"].account_map == {"111122223333": "4711"}


def test_a_single_text_is_a_list_of_one_and_bare_azure_guids_are_lower_cased(tmp_path):
    path = rules_file(
        tmp_path,
        """
        keys:
          team:
            account_map:
              6F2C1B7E-3D4A-4F5B-9C8D-0E1F2A3B4C5D: web
            shared_rules:
              - name: tax
                match: {charge_category: Tax, sub_account_id: "/SUBSCRIPTIONS/9A8B7C6D-5E4F-4A3B-8C2D-1E0F9A8B7C6D/"}
                split: even
                to: web
        """,
    )
    rules = load_rules(path, ("team",))
    assert rules.by_key["team"].account_map == {AZURE_WEB: "web"}
    assert rules.by_key["team"].shared_rules[0].match == RuleMatch(
        charge_category=("Tax",), sub_account_id=(AZURE_LOGS,)
    )
    assert rules.by_key["team"].shared_rules[0].to == ("web",)


# ---- every error names the file and the line

# The start of a rule; a case adds its own lines, indented like the cases' text.
RULE = """
            keys:
              team:
                shared_rules:
                  - name: support
                    match: {service_name: ["AWS Support (Business)"]}"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "the file is empty", id="empty file"),
        pytest.param("- team\n", "the file must be a mapping", id="not a mapping"),
        pytest.param(
            """
            keys:
              team:
                account_map: {"111122223333": platform}
            version: 2  # <-
            """,
            "unknown field 'version' in the file (allowed: keys)",
            id="unknown top-level field",
        ),
        pytest.param(
            """
            keys:
              team:
                accounts:  # <-
                  "111122223333": platform
            """,
            "unknown field 'accounts' in key 'team' (allowed: account_map, shared_rules)",
            id="unknown key field",
        ),
        pytest.param(
            RULE
            + """
                    split: even
                    to: [platform, data]
                    weights: {platform: 1}  # <-
            """,
            "unknown field 'weights' in a shared rule of 'team'",
            id="unknown rule field",
        ),
        pytest.param(
            """
            keys:
              team:
                shared_rules:
                  - name: support
                    match:
                      service: [Support]  # <-
                    split: even
                    to: [platform]
            """,
            "unknown field 'service' in `match` of rule 'support' (allowed: service_name, "
            "charge_category, sub_account_id)",
            id="unknown match column",
        ),
        pytest.param(
            """
            keys:
              team:
                account_map: {"111122223333": platform}
              owner:  # <-
                account_map: {"111122223333": alice}
            """,
            "key 'owner' is not one of FINOPS_ALLOCATION_TAGS (configured: team, env)",
            id="key not configured",
        ),
        pytest.param(
            """
            keys:
              team:
                account_map: {"111122223333": platform}
              TEAM:  # <-
                account_map: {"012345678901": data}
            """,
            "key 'TEAM' is given twice (also line 2); keys are compared without case",
            id="key twice in two cases",
        ),
        pytest.param(
            """
            keys:
              team:  # <-
            """,
            "key 'team' has neither `account_map` nor `shared_rules`",
            id="key without rules",
        ),
        pytest.param(
            """
            keys:
              team:
                account_map: {}  # <-
            """,
            "account_map of 'team' is empty",
            id="empty account map",
        ),
        pytest.param(
            """
            keys:
              team:
                account_map:
                  "111122223333":  # <-
            """,
            "the value of '111122223333' is empty",
            id="account mapped to nothing",
        ),
        pytest.param(
            """
            keys:
              team:
                account_map:
                  "111122223333": "  "  # <-
            """,
            "the value of '111122223333' is empty",
            id="account mapped to blank",
        ),
        pytest.param(
            """
            keys:
              team:
                account_map:
                  "111122223333": 4711  # <-
            """,
            "the value of '111122223333' must be quoted (\"4711\"): YAML reads 4711 as a number, "
            "not as text",
            id="unquoted number as value",
        ),
        pytest.param(
            RULE
            + """
                    split: even
                    to: [platform, yes]  # <-
            """,
            "a value of `to` of rule 'support' must be quoted (\"yes\"): YAML reads yes as a "
            "boolean",
            id="unquoted boolean as target value",
        ),
        pytest.param(
            "{}  # <-\n",
            "no `keys:` mapping",
            id="no keys",
        ),
        pytest.param(
            """
            keys:
              team:
                account_map:
                  111122223333: platform  # <-
            """,
            'sub account id 111122223333 must be quoted ("111122223333"): YAML reads an '
            "unquoted number as a number, and an AWS account id like 012345678901 would lose "
            "its leading zero",
            id="unquoted account id",
        ),
        pytest.param(
            """
            keys:
              team:
                account_map:
                  "111122223333": platform
                  012345678901: data  # <-
            """,
            "sub account id 012345678901 must be quoted",
            id="unquoted account id with a leading zero",
        ),
        pytest.param(
            RULE.replace(
                'match: {service_name: ["AWS Support (Business)"]}',
                "match: {sub_account_id: [111122223333]}  # <-",
            )
            + """
                    split: even
                    to: [platform]
            """,
            "sub account id 111122223333 must be quoted",
            id="unquoted account id in a match",
        ),
        pytest.param(
            """
            keys:
              team:
                account_map:
                  "111122223333": platform
                  "111122223333": data  # <-
            """,
            "'111122223333' is given twice in account_map of 'team' (also line 4)",
            id="account id twice",
        ),
        pytest.param(
            """
            keys:
              team:
                account_map:
                  /subscriptions/6F2C1B7E-3D4A-4F5B-9C8D-0E1F2A3B4C5D: web
                  6f2c1b7e-3d4a-4f5b-9c8d-0e1f2a3b4c5d: data  # <-
            """,
            f"sub account '{AZURE_WEB}' is mapped twice in account_map of 'team' (also line 4)",
            id="azure subscription twice, as a path and as a guid",
        ),
        pytest.param(
            """
            keys:
              team:
                account_map:
                  /subscriptions/6f2c1b7e/resourceGroups/web: web  # <-
            """,
            "an Azure subscription is /subscriptions/<id>, without a resource group",
            id="azure path deeper than a subscription",
        ),
        pytest.param(
            """
            keys:
              team:
                shared_rules:
                  - name: support  # <-
                    match: {service_name: [Support]}
                    to: [platform]
            """,
            "shared rule of 'team' lacks `split`",
            id="rule without split",
        ),
        pytest.param(
            """
            keys:
              team:
                shared_rules: []  # <-
            """,
            "shared_rules of 'team' is empty",
            id="no rules in shared_rules",
        ),
        pytest.param(
            RULE
            + """
                    split: weighted  # <-
                    to: [platform]
            """,
            "split 'weighted' of rule 'support' is not one of even, percentages, proportional",
            id="unknown split",
        ),
        pytest.param(
            RULE
            + """
                    split: even
                    to: []  # <-
            """,
            "`to` of rule 'support' is empty",
            id="no target values",
        ),
        pytest.param(
            RULE
            + """
                    split: even
                    to: [platform, data, platform]  # <-
            """,
            "'platform' is listed twice in `to` of rule 'support'",
            id="target value twice",
        ),
        pytest.param(
            """
            keys:
              team:
                shared_rules:
                  - name: support
                    match: {}  # <-
                    split: even
                    to: [platform]
            """,
            "`match` of rule 'support' names no column",
            id="match without a column",
        ),
        pytest.param(
            """
            keys:
              team:
                shared_rules:
                  - name: tax
                    match:
                      charge_category: [tax]  # <-
                    split: proportional
                    to: [platform]
            """,
            "charge category 'tax' of rule 'tax': write it 'Tax'",
            id="charge category in another case",
        ),
        pytest.param(
            """
            keys:
              team:
                shared_rules:
                  - name: support
                    match: {service_name: [Support]}
                    split: even
                    to: [platform]
                  - name: Support  # <-
                    match: {service_name: [Premium Support]}
                    split: even
                    to: [data]
            """,
            "rule name 'Support' is used twice in key 'team' (also line 4)",
            id="duplicate rule name",
        ),
        pytest.param(
            RULE
            + """
                    split: percentages  # <-
                    to: [platform, data]
            """,
            "rule 'support' splits by percentages but has no `percentages:`",
            id="percentages split without percentages",
        ),
        pytest.param(
            RULE
            + """
                    split: even
                    to: [platform, data]
                    percentages:  # <-
                      platform: 50
                      data: 50
            """,
            "rule 'support' splits even and cannot have `percentages`",
            id="even split with percentages",
        ),
        pytest.param(
            RULE
            + """
                    split: proportional
                    to: [platform, data]
                    percentages: {platform: 50, data: 50}  # <-
            """,
            "rule 'support' splits proportional and cannot have `percentages`",
            id="proportional split with percentages",
        ),
        pytest.param(
            RULE
            + """
                    split: percentages
                    to: [platform, data]
                    percentages:  # <-
                      platform: 50
                      data: 49.99
            """,
            "percentages of rule 'support' sum to 99.99, not 100",
            id="percentages not summing to 100",
        ),
        pytest.param(
            RULE
            + """
                    split: percentages
                    to: [platform, data]
                    percentages:
                      platform: 50
                      web: 50  # <-
            """,
            "percentages of rule 'support' name 'web', which is not in its `to` (platform, data)",
            id="percentage for a value not in to",
        ),
        pytest.param(
            RULE
            + """
                    split: percentages
                    to: [platform, data, web]
                    percentages:  # <-
                      platform: 50
                      data: 50
            """,
            "percentages of rule 'support' give no percentage for 'web'",
            id="target value without a percentage",
        ),
        pytest.param(
            RULE
            + """
                    split: percentages
                    to: [platform, data]
                    percentages:
                      platform: 100
                      data: 0  # <-
            """,
            "the percentage of 'data' in rule 'support' must be more than 0, got 0",
            id="zero percentage",
        ),
        pytest.param(
            RULE
            + """
                    split: percentages
                    to: [platform, data]
                    percentages:
                      platform: 50%  # <-
                      data: 50
            """,
            "the percentage of 'platform' in rule 'support' '50%' must be a number such as 50 "
            "or 33.34, without %",
            id="percentage with a percent sign",
        ),
        pytest.param(
            RULE
            + """
                    split: percentages
                    to: [platform, data]
                    percentages:
                      platform: 33.33333  # <-
                      data: 66.66667
            """,
            "has more than 4 decimals: 33.33333",
            id="percentage with 5 decimals",
        ),
        pytest.param(
            """
            keys:
              team:
                account_map:
                  "111122223333": platform
                 "012345678901": data  # <-
            """,
            "malformed YAML: expected <block end>, but found '<block mapping start>' (while "
            "parsing a block mapping started on line 3)",
            id="malformed YAML",
        ),
    ],
)
def test_an_invalid_rules_file_is_refused_naming_the_file_and_the_line(tmp_path, text, message):
    # GIVEN a rules file with one mistake, on the line marked `# <-` (else line 1)
    path = rules_file(tmp_path, text)
    lines = path.read_text().splitlines()
    line = next((n for n, content in enumerate(lines, start=1) if "# <-" in content), 1)

    # WHEN it is read THEN the error says where and what
    with pytest.raises(AllocationRulesError) as error:
        load_rules(path, ("team", "env"))
    assert str(error.value).startswith(f"{path}:{line}: "), str(error.value)
    assert message in str(error.value)


def test_rules_for_a_key_when_no_tag_key_is_configured_are_refused(tmp_path):
    path = rules_file(tmp_path, 'keys:\n  team:\n    account_map: {"111122223333": a}\n')
    with pytest.raises(AllocationRulesError) as error:
        load_rules(path, parse_tag_keys(None))
    assert str(error.value) == (
        f"{path}:2: key 'team' is not one of FINOPS_ALLOCATION_TAGS (configured: none: it is "
        "not set)"
    )


def test_a_missing_rules_file_names_the_path_and_the_setting(tmp_path):
    missing = tmp_path / "nowhere" / "allocation.yml"
    with pytest.raises(AllocationRulesError) as error:
        load_rules(missing, ("team",))
    assert str(error.value).startswith(
        f"FINOPS_ALLOCATION_RULES names {missing}, which does not exist"
    )


# ---- the document dbt reads (FINOPS_ALLOCATION_CONFIG)


def test_the_rules_as_the_json_document_the_dbt_macro_reads():
    # GIVEN the example rules WHEN they are handed to dbt as FINOPS_ALLOCATION_CONFIG
    text = allocation.dbt_config(load_rules(EXAMPLE, KEYS), KEYS)

    # THEN the document is exactly the shape dbt_project/macros/allocation.sql reads: the
    # keys in the configured order, account ids as written (the Azure subscription as its
    # lower-case guid), rules numbered from 1 within each key, fixed shares as exact decimal
    # text and null where dbt decides the split per day
    def targets(*values: str, shares: tuple[str | None, ...] | None = None) -> list[dict]:
        return [
            {"value": value, "share": share}
            for value, share in zip(values, shares or (None,) * len(values), strict=True)
        ]

    teams = ("platform", "data", "web")
    assert json.loads(text) == {
        "keys": ["team", "cost-center"],
        "account_map": [
            {"key": "team", "sub_account_id": "111122223333", "value": "platform"},
            {"key": "team", "sub_account_id": "012345678901", "value": "data"},
            {"key": "team", "sub_account_id": AZURE_WEB, "value": "web"},
            {"key": "cost-center", "sub_account_id": "111122223333", "value": "4711"},
            {"key": "cost-center", "sub_account_id": "012345678901", "value": "4712"},
            {"key": "cost-center", "sub_account_id": AZURE_WEB, "value": "4711"},
        ],
        "rules": [
            {
                "key": "team",
                "name": "support",
                "order": 1,
                "method": "even",
                "match": {"service_name": ["AWS Support (Business)", "AWS Support (Enterprise)"]},
                "targets": targets(*teams),
            },
            {
                "key": "team",
                "name": "shared-log-workspace",
                "order": 2,
                "method": "percentages",
                "match": {"service_name": ["Log Analytics"], "sub_account_id": [AZURE_LOGS]},
                "targets": targets(*teams, shares=("0.5", "0.3334", "0.1666")),
            },
            {
                "key": "team",
                "name": "tax",
                "order": 3,
                "method": "proportional",
                "match": {"charge_category": ["Tax"]},
                "targets": targets(*teams),
            },
            {
                "key": "cost-center",
                "name": "tax",
                "order": 1,
                "method": "proportional",
                "match": {"charge_category": ["Tax"]},
                "targets": targets("4711", "4712"),
            },
        ],
    }
    # AND it is one compact line (an environment variable), the same text on every call: its
    # md5 is the models' configuration fingerprint, so equal rules must give equal text
    assert text == json.dumps(json.loads(text), separators=(",", ":"))
    assert text == allocation.dbt_config(load_rules(EXAMPLE, KEYS), KEYS)


@pytest.mark.parametrize(
    ("keys", "expected_keys"),
    [
        pytest.param((), [], id="no keys and no rules file"),
        pytest.param(("team",), ["team"], id="keys without a rules file"),
    ],
)
def test_without_rules_the_document_has_every_list_empty_but_the_keys(keys, expected_keys):
    document = json.loads(allocation.dbt_config(None, keys))
    assert document == {"keys": expected_keys, "account_map": [], "rules": []}


def test_shares_are_plain_decimal_text_whatever_way_the_percentages_are_written(tmp_path):
    # GIVEN percentages written with trailing zeros, as a YAML float with an exponent, and
    # with 4 decimals
    path = rules_file(
        tmp_path,
        """
        keys:
          team:
            shared_rules:
              - name: support
                match: {service_name: Support}
                split: percentages
                to: [platform, data, web]
                percentages: {platform: 50.00, data: 4.99e+1, web: 0.1000}
        """,
    )
    document = json.loads(allocation.dbt_config(load_rules(path, ("team",)), ("team",)))
    # THEN each share is percentage / 100 as plain decimal text, never 5E-1 or 0.5000
    assert document["rules"][0]["targets"] == [
        {"value": "platform", "share": "0.5"},
        {"value": "data", "share": "0.499"},
        {"value": "web", "share": "0.001"},
    ]


def test_upper_case_azure_ids_reach_dbt_lower_cased(tmp_path):
    path = rules_file(
        tmp_path,
        """
        keys:
          team:
            account_map:
              /Subscriptions/6F2C1B7E-3D4A-4F5B-9C8D-0E1F2A3B4C5D: web
            shared_rules:
              - name: logs
                match: {sub_account_id: 9A8B7C6D-5E4F-4A3B-8C2D-1E0F9A8B7C6D}
                split: even
                to: [web]
        """,
    )
    document = json.loads(allocation.dbt_config(load_rules(path, ("team",)), ("team",)))
    assert document["account_map"] == [{"key": "team", "sub_account_id": AZURE_WEB, "value": "web"}]
    assert document["rules"][0]["match"] == {"sub_account_id": [AZURE_LOGS]}


def test_rules_for_a_key_that_is_not_configured_are_not_handed_to_dbt():
    rules = load_rules(EXAMPLE, ("team", "cost-center"))
    with pytest.raises(ValueError, match="allocation rules for \\['cost-center'\\]"):
        allocation.dbt_config(rules, ("team",))


# ---- the settings: FINOPS_ALLOCATION_CONFIG in dbt's environment


def test_a_relative_rules_file_is_read_from_finops_home_and_reaches_dbt(finops_home, monkeypatch):
    # GIVEN the example copied into FINOPS_HOME and named relative to it
    (finops_home / "rules").mkdir()
    (finops_home / "rules" / "allocation.yml").write_text(EXAMPLE.read_text())
    monkeypatch.setenv("FINOPS_ALLOCATION_TAGS", " team , cost-center ")
    monkeypatch.setenv("FINOPS_ALLOCATION_RULES", "rules/allocation.yml")

    # WHEN the settings are read (elsewhere than FINOPS_HOME)
    monkeypatch.chdir(REPO)
    settings = load_settings(finops_home / ".env")

    # THEN the path is FINOPS_HOME's file and dbt gets the example's document
    assert settings.allocation_tags == KEYS
    assert settings.allocation_rules == finops_home.resolve() / "rules" / "allocation.yml"
    assert settings.dbt_env()["FINOPS_ALLOCATION_CONFIG"] == allocation.dbt_config(
        load_rules(EXAMPLE, KEYS), KEYS
    )


def test_without_allocation_settings_dbt_gets_the_empty_document_not_the_callers(
    finops_home, monkeypatch
):
    # GIVEN a FINOPS_ALLOCATION_CONFIG left in the caller's environment
    monkeypatch.setenv("FINOPS_ALLOCATION_CONFIG", '{"keys": ["stale"]}')

    # WHEN dbt's environment is made without any allocation setting
    env = dbt_runner.dbt_env(load_settings(finops_home / ".env"))

    # THEN dbt sees no keys and no rules
    assert json.loads(env["FINOPS_ALLOCATION_CONFIG"]) == {
        "keys": [],
        "account_map": [],
        "rules": [],
    }


def test_a_bad_rules_file_fails_dbts_environment_naming_the_line_but_not_the_settings(
    finops_home, monkeypatch
):
    # GIVEN a rules file whose line 3 names a key that is not configured
    path = rules_file(finops_home, 'keys:\n  team:\n    account_map: {"1": a}\n  env: {}\n')
    monkeypatch.setenv("FINOPS_ALLOCATION_TAGS", "team")
    monkeypatch.setenv("FINOPS_ALLOCATION_RULES", str(path))

    # WHEN the settings are read THEN they load (the dashboard and `finops sql` need no rules)
    settings = load_settings(finops_home / ".env")
    # BUT dbt's environment cannot be made: the error names the file and the line
    with pytest.raises(AllocationRulesError) as error:
        settings.dbt_env()
    assert str(error.value).startswith(f"{path}:4: key 'env' is not one of")


def test_the_rules_file_is_read_once_per_settings(finops_home, monkeypatch):
    path = rules_file(finops_home, 'keys:\n  team:\n    account_map: {"1": a}\n')
    monkeypatch.setenv("FINOPS_ALLOCATION_TAGS", "team")
    monkeypatch.setenv("FINOPS_ALLOCATION_RULES", str(path))
    settings = load_settings(finops_home / ".env")
    first = settings.dbt_env()["FINOPS_ALLOCATION_CONFIG"]
    # WHEN the file changes (or breaks) during the run
    path.write_text("broken: [")
    # THEN this run's settings keep handing dbt the configuration the run started with
    assert settings.dbt_env()["FINOPS_ALLOCATION_CONFIG"] == first
    assert json.loads(first)["account_map"] == [
        {"key": "team", "sub_account_id": "1", "value": "a"}
    ]


# ---- the command that checks a rules file


def test_the_check_command_summarizes_a_good_file_and_reports_a_bad_one(tmp_path, capsys):
    assert allocation.main([str(EXAMPLE), "team,cost-center"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "team: 3 sub account(s) mapped, shared rules: support (even), "
        "shared-log-workspace (percentages), tax (proportional)",
        "cost-center: 3 sub account(s) mapped, shared rules: tax (proportional)",
    ]
    bad = rules_file(tmp_path, 'keys:\n  team:\n    account_map: {"1": ""}\n')
    assert allocation.main([str(bad), "team"]) == 2
    assert capsys.readouterr().err == f"{bad}:3: the value of '1' is empty\n"
