"""The Japanese carriers' and the mail-security gateways' packs against what they document.

japan.md and filters.md (../shared/docs/provider-texts/) give, per provider, the replies it documents
and the verdict each calls for; every such row must be decided as documented, and by the rule pack of
the section's provider (rules/docomo.yaml, rules/mimecast.yaml, ...), not by a generic fallback that
happens to agree. The other tests pin behaviours the rows imply but do not spell out.
"""

from __future__ import annotations

from typing import Any

import pytest

from dsnworker.classify.engine import Classifier
from dsnworker.classify.examples import example_verdict
from dsnworker.classify.rules import load_packs
from dsnworker.model import Verdict
from tests.conftest import IN_CI
from tests.documented import DOCS, Case, cases, verdict_of

CLASSIFIER = Classifier(load_packs())

# words of a section heading -> the pack that speaks for that provider
_SECTION_PACKS = {
    "japan.md": [("docomo", "docomo"), ("kddi", "au"), ("softbank", "softbank"), ("infosphere", "infosphere")],
    "filters.md": [
        ("mimecast", "mimecast"),
        ("proofpoint", "proofpoint"),
        ("broadcom", "messagelabs"),
        ("cisco", "cisco"),
        ("trend micro", "trendmicro"),
        ("barracuda", "barracuda"),
    ],
    "blocklists.md": [("trend micro", "trendmicro"), ("barracuda", "barracuda")],
}


def _pack_of(case: Case) -> str | None:
    heading = case.section.lower()
    return next((pack for words, pack in _SECTION_PACKS[case.file] if words in heading), None)


def _documented_rows() -> list[Case]:
    if not DOCS.is_dir():
        return []
    return [case for case in cases(list(_SECTION_PACKS)) if _pack_of(case) is not None]


def _unknown_user_default(case: Case) -> bool:
    """docomo's two `Unknown user` rows give one text two verdicts; the pack takes the filtered one."""
    return case.section.lower().startswith("ntt docomo") and case.diagnostic == "Unknown user"


ROWS = _documented_rows()


def test_the_documented_rows_are_there() -> None:
    if not ROWS:
        message = f"the documented provider texts are not at {DOCS} (they live beside the repo in ../shared/)"
        if IN_CI:
            pytest.fail(message + "; under CI=true they must be there")
        pytest.skip(message)
    assert len(ROWS) >= 35, f"only {len(ROWS)} carrier/gateway rows were read: has the table format changed?"


@pytest.mark.parametrize("case", ROWS, ids=[case.where for case in ROWS])
def test_documented_row_is_decided_by_its_providers_pack(case: Case) -> None:
    reason, hard, action, rule = verdict_of(CLASSIFIER, case)
    if _unknown_user_default(case) and case.reason == "user_unknown":
        # the row that reads `Unknown user` as a dead address: only RCPT TO or an X.1.x status says so
        assert (reason, hard, action, rule) == ("filtered", False, "review", "docomo.refusal-settings")
        return
    assert reason == case.reason, f"{case.where} {case.diagnostic!r}: {reason} by {rule}"
    if case.hard is not None:
        assert hard == case.hard
    if case.action is not None:
        assert action == case.action
    assert rule is not None and rule.startswith(f"{_pack_of(case)}."), f"{case.where} decided by {rule}"


# --- what the rows imply ----------------------------------------------------------------------------


def decide(**fields: Any) -> Verdict:
    """A report with these fields, through every shipped pack (the generic one's pack is a stand-in)."""
    pack = next(p for p in CLASSIFIER.packs if p.provider == "generic")
    return example_verdict(CLASSIFIER, pack, fields)


def test_docomo_unknown_user_at_rcpt_is_a_dead_address() -> None:
    got = decide(recipient="nobody@docomo.ne.jp", command="RCPT", diagnostic="550 Unknown user nobody@docomo.ne.jp")
    assert (got.reason, got.hard, got.action, got.rule) == ("user_unknown", True, "suppress", "docomo.user-unknown")


def test_docomo_unknown_user_after_data_is_the_recipients_refusal_settings() -> None:
    got = decide(recipient="someone@docomo.ne.jp", command="DATA", diagnostic="550 Unknown user someone@docomo.ne.jp")
    assert (got.reason, got.hard, got.action) == ("filtered", False, "review")


def test_docomo_pre_2009_address_refused_for_its_syntax_is_reviewed_not_suppressed() -> None:
    got = decide(
        recipient="docomo..ab1234yz@docomo.ne.jp", status="5.1.3", diagnostic="501 5.1.3 Bad recipient address syntax"
    )
    assert (got.reason, got.hard, got.action, got.provider) == ("syntax_error", False, "review", "docomo")


@pytest.mark.parametrize(
    "recipient", ["nobody@docomo.ne.jp", "nobody@ezweb.ne.jp", "nobody@softbank.ne.jp", "nobody@sphere.ne.jp"]
)
def test_a_carriers_temporary_unknown_user_suppresses_nobody(recipient: str) -> None:
    got = decide(recipient=recipient, command="RCPT", diagnostic=f"450 4.2.1 <{recipient}>: User unknown")
    assert (got.hard, got.action) == (False, "retry")


@pytest.mark.parametrize(
    ("recipient", "rule"),
    [
        ("someone@docomo.ne.jp", "docomo.message-too-big"),
        ("someone@au.com", "au.message-too-big"),
        ("someone@i.softbank.jp", "softbank.message-too-big"),
        ("someone@zaq.ne.jp", "jcom.message-too-big"),
    ],
)
def test_a_carriers_size_limit_is_the_senders_to_meet(recipient: str, rule: str) -> None:
    got = decide(recipient=recipient, diagnostic="552 5.3.4 Message size exceeds fixed limit")
    assert (got.reason, got.action, got.rule) == ("message_too_big", "sender_fix", rule)


def test_a_recipients_own_size_limit_at_a_carrier_stays_exceed_limit() -> None:
    got = decide(recipient="someone@docomo.ne.jp", diagnostic="552 5.2.3 Message length exceeds limit set by recipient")
    assert got.reason == "exceed_limit"


def test_au_and_softbank_refuse_more_than_100_recipients_not_a_rate() -> None:
    for recipient in ("someone@ezweb.ne.jp", "someone@softbank.ne.jp"):
        got = decide(recipient=recipient, diagnostic="452 4.5.3 Error: too many recipients")
        assert (got.reason, got.action) == ("exceed_limit", "sender_fix")
    rate = decide(recipient="someone@ezweb.ne.jp", diagnostic="450 4.7.1 Error: too many recipients from 192.0.2.25")
    assert rate.reason != "exceed_limit"


def test_trend_micro_521_sender_filter_is_not_a_host_that_accepts_no_mail() -> None:
    got = decide(
        recipient="someone@example.com",
        remote_mta="example-com.mx1.tmes.trendmicro.com",
        reply_code="521",
        diagnostic="521 Block permanently (Sender Filtering/Authentication)",
    )
    assert (got.reason, got.hard, got.action) == ("policy_violation", False, "sender_fix")


def test_messagelabs_unknown_user_under_5_7_1_is_a_dead_address() -> None:
    got = decide(
        remote_mta="cluster1.eu.messagelabs.com",
        status="5.7.1",
        diagnostic="554 5.7.1 <nobody@example.com>: Recipient address rejected: No such user",
    )
    assert (got.reason, got.hard, got.provider) == ("user_unknown", True, "messagelabs")


def test_messagelabs_unknown_user_after_data_is_left_to_the_generic_refinement() -> None:
    got = decide(remote_mta="cluster1.eu.messagelabs.com", command="DATA", diagnostic="550 User unknown")
    assert (got.reason, got.hard) == ("filtered", False)


def test_proofpoint_reputation_delay_is_reputation_and_block_is_a_listing() -> None:
    link = "see https://ipcheck.proofpoint.com/?ip=192.0.2.25"
    delayed = decide(remote_mta="mx0a-00123401.pphosted.com", diagnostic=f"421 4.7.0 Deferred - {link}")
    blocked = decide(remote_mta="mx0a-00123401.pphosted.com", diagnostic=f"554 5.7.1 Blocked - {link}")
    assert (delayed.reason, delayed.action) == ("bad_reputation", "sender_fix")
    assert (blocked.reason, blocked.action, blocked.details.get("listed_ip")) == ("blocked", "sender_fix", "192.0.2.25")


def test_cisco_default_spf_text_names_cisco_without_its_host() -> None:
    got = decide(remote_mta="mail.example.com", diagnostic="550 #5.7.1 SPF unauthorized mail is prohibited.")
    assert (got.reason, got.action, got.provider) == ("auth_failure", "sender_fix", "cisco")


def test_a_gateway_pack_leaves_what_it_does_not_document_to_the_generic_pack() -> None:
    got = decide(
        recipient="nobody@example.com",
        remote_mta="us-smtp-inbound-1.mimecast.com",
        command="RCPT",
        diagnostic="550 Invalid Recipient - https://community.mimecast.com/docs/DOC-1369#550",
    )
    assert (got.reason, got.hard, got.provider) == ("user_unknown", True, "mimecast")
    assert got.rule is not None and got.rule.startswith("generic.")
