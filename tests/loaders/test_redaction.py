"""loaders/redaction.py, the one redaction of loaders, pipeline and `finops`: what each of
the three helpers it replaced used to mask is masked by `scrub` (the union)."""

from __future__ import annotations

import pytest

from loaders import redaction

ENV = {
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AZURE_CLIENT_SECRET": "azure~client~secret~value",
    "FINOPS_AWS_EXTERNAL_ID": "external-id-4711",
    "FINOPS_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX",
    "HOME": "/home/finops",  # not a secret: stays
}


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        pytest.param(f"denied for {ENV['AWS_SECRET_ACCESS_KEY']}", ENV["AWS_SECRET_ACCESS_KEY"],
                     id="a secret variable (pipeline)"),
        pytest.param(f"401 with {ENV['AZURE_CLIENT_SECRET']}", ENV["AZURE_CLIENT_SECRET"],
                     id="AZURE_CLIENT_SECRET (Azure loader)"),
        pytest.param("posting to https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX",
                     "XXXXXXXXXXXXXXXX", id="the webhook URL and its path (pipeline)"),
        pytest.param("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload", "eyJhbGciOiJSUzI1NiJ9",
                     id="a bearer token anywhere (pipeline)"),
        pytest.param("GET /x?X-Amz-Signature=abcdef0123456789&a=1", "abcdef0123456789",
                     id="a signed-URL parameter (pipeline)"),
    ],
)  # fmt: skip
def test_scrub_masks_what_the_environment_and_the_patterns_name(text: str, secret: str) -> None:
    # GIVEN a text holding a secret WHEN it is scrubbed THEN the secret is gone, *** instead
    scrubbed = redaction.scrub(text, ENV)
    assert secret not in scrubbed
    assert redaction.MASK in scrubbed


def test_scrub_masks_remembered_tokens_and_the_callers_own_values() -> None:
    # GIVEN a token the Azure credential handed out in this process, and the AWS session's
    # access key id and session token the AWS loader passes as `extra`
    redaction.remember("eyJ0eXAiOiJKV1QiLCJhbGciOi.remembered")
    text = (
        "query failed: token eyJ0eXAiOiJKV1QiLCJhbGciOi.remembered, key AKIAEXAMPLE, "
        "session FQoGZXIvYXdzEXAMPLE, home /home/finops"
    )
    # WHEN the text is scrubbed with the AWS values as extra
    scrubbed = redaction.scrub(text, ENV, extra=["AKIAEXAMPLE", "FQoGZXIvYXdzEXAMPLE"])
    # THEN every one of them is masked, and ordinary text stays
    assert scrubbed == "query failed: token ***, key ***, session ***, home /home/finops"


def test_without_secrets_keeps_only_what_dbt_may_see() -> None:
    # GIVEN the environment of a run WHEN dbt's environment is made from it
    child = redaction.without_secrets(ENV)
    # THEN no secret variable is in it, the rest is
    assert child == {"HOME": "/home/finops"}
