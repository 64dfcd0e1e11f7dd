"""The Microsoft pack (rules/microsoft.yaml) against what Microsoft documents
(../shared/docs/provider-texts/microsoft.md): the places where the same words or the same code mean
different things, and the families a single rule stands for.

Contexts as the documented rows give them: Exchange Online behind `*.mail.protection.outlook.com`,
Outlook.com at `@outlook.com`, Exchange Server (on premises) with no host of Microsoft's at all.
"""

from __future__ import annotations

from typing import Any

import pytest

from dsnworker.analyser import Analyser
from dsnworker.classify.engine import Classifier
from dsnworker.classify.examples import example_verdict
from dsnworker.classify.rules import load_packs
from dsnworker.model import Verdict
from tests.documented import DOCS, cases, verdict_of

EXO = {"recipient": "kijitora@contoso.example", "remote_mta": "contoso-example.mail.protection.outlook.com"}
OUTLOOK_COM = {"recipient": "kijitora@outlook.com", "remote_mta": "outlook-com.olc.protection.outlook.com"}
ON_PREMISES = {"recipient": "kijitora@contoso.example"}


def decide(analyser: Analyser, context: dict[str, str], diagnostic: str, **fields: Any) -> Verdict:
    pack = next(p for p in analyser.classifier.packs if p.provider == "microsoft")
    return example_verdict(analyser.classifier, pack, {**context, "diagnostic": diagnostic, **fields})


def test_access_denied_is_a_missing_recipient_only_under_microsofts_edge_blocking_code(analyser: Analyser) -> None:
    edge = decide(analyser, EXO, "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)")
    assert (edge.reason, edge.hard, edge.action, edge.rule) == (
        "user_unknown",
        True,
        "suppress",
        "microsoft.edge-blocked-recipient",
    )
    # Postfix's access-map wording (mtas.md) is a site policy, wherever the host is
    postfix = decide(analyser, EXO, "554 5.7.1 <kijitora@contoso.example>: Recipient address rejected: Access denied")
    assert postfix.rule != "microsoft.edge-blocked-recipient"
    assert postfix.action != "suppress"


def test_5_2_2_is_our_quota_at_exchange_online_and_a_full_mailbox_on_exchange_server(analyser: Analyser) -> None:
    quota = decide(analyser, EXO, "554 5.2.2 Submission quota exceeded", status="5.2.2")
    assert (quota.reason, quota.hard, quota.action) == ("speeding", False, "sender_fix")
    full = decide(
        analyser,
        ON_PREMISES,
        "554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded",
        status="5.2.2",
    )
    assert (full.reason, full.hard, full.action, full.provider) == ("mailbox_full", False, "retry", "microsoft")


def test_message_too_large_for_a_recipient_is_a_size_limit_not_a_sender_restriction(analyser: Analyser) -> None:
    got = decide(analyser, ON_PREMISES, "550 5.2.3 RESOLVER.RST.RecipSizeLimit; message too large for this recipient")
    assert (got.reason, got.action, got.rule) == ("exceed_limit", "sender_fix", "microsoft.recipient-size-limit")


def test_other_resolver_rst_codes_are_the_recipients_own_restrictions(analyser: Analyser) -> None:
    got = decide(
        analyser,
        EXO,
        "550 5.7.129 RESOLVER.RST.RestrictedToRecipientsPermission; not authorized to send to this recipient",
    )
    assert (got.reason, got.action, got.rule) == ("policy_violation", "review", "microsoft.delivery-restricted")


def test_bad_outbound_sender_is_a_banned_account_online_and_a_rate_limit_on_premises(analyser: Analyser) -> None:
    online = decide(analyser, EXO, "550 5.1.8 Access denied, bad outbound sender")
    on_premises = decide(analyser, ON_PREMISES, "550 5.1.8 Access denied, bad outbound sender")
    assert (online.reason, online.action) == ("rejected", "sender_fix")
    assert (on_premises.reason, on_premises.action, on_premises.provider) == ("speeding", "sender_fix", "microsoft")


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("421 RP-001", "speeding"),
        ("421 RP-002", "speeding"),
        ("421 RP-003", "too_many_conn"),
        ("550 SC-001", "bad_reputation"),
        ("550 SC-002", "blocked"),
        ("550 SC-003", "blocked"),
        ("550 SC-004", "blocked"),
        ("550 DY-001", "blocked"),
        ("550 DY-002", "blocked"),
        ("550 OU-001", "blocked"),
        ("550 OU-002", "bad_reputation"),
    ],
)
def test_outlook_com_postmaster_codes_are_the_senders_to_fix(analyser: Analyser, token: str, reason: str) -> None:
    got = decide(analyser, OUTLOOK_COM, f"{token} (BAY0-MC3-F21) Unfortunately, some messages weren't sent.")
    assert (got.reason, got.hard, got.action) == (reason, False, "sender_fix")


@pytest.mark.parametrize("code", ["5.7.606", "5.7.625", "5.7.649"])
def test_the_banned_sending_ip_range_is_one_family(analyser: Analyser, code: str) -> None:
    got = decide(analyser, EXO, f"550 {code} Access denied, banned sending IP [192.0.2.25]")
    assert (got.reason, got.action, got.details.get("listed_ip")) == ("blocked", "sender_fix", "192.0.2.25")


@pytest.mark.parametrize(
    ("code", "reason"),
    [("5.7.502", "rejected"), ("5.7.503", "rejected"), ("5.7.511", "blocked"), ("5.7.800", "blocked")],
)
def test_banned_sender_is_our_account_or_our_ip_by_the_code(analyser: Analyser, code: str, reason: str) -> None:
    got = decide(analyser, EXO, f"550 {code} Access denied, banned sender")
    assert (got.reason, got.action) == (reason, "sender_fix")


@pytest.mark.parametrize(
    ("status", "action"), [("4.7.321", "retry"), ("5.7.321", "review")], ids=["temporary", "permanent"]
)
def test_dane_failures_are_retried_only_in_their_temporary_form(analyser: Analyser, status: str, action: str) -> None:
    got = decide(
        analyser, EXO, f"451 {status} starttls-not-supported: Destination mail server must support TLS to receive mail."
    )
    assert (got.reason, got.action) == ("failed_starttls", action)


def test_exchange_server_is_recognised_by_its_own_wording_without_a_host(analyser: Analyser) -> None:
    got = decide(analyser, {"recipient": "kijitora@example.org"}, "550 5.1.5 Recipient address reserved by RFC 2606")
    assert (got.provider, got.reason, got.hard) == ("microsoft", "host_unknown", True)


def test_microsofts_documented_rows_stay_decided_as_documented() -> None:
    if not DOCS.is_dir():
        pytest.skip(f"the documented provider texts are not at {DOCS}")
    classifier = Classifier(load_packs())
    rows = cases(["microsoft.md"])
    assert len(rows) > 140
    verdicts = [verdict_of(classifier, case) for case in rows]
    reason = sum(v[0] == case.reason for v, case in zip(verdicts, rows, strict=True)) / len(rows)
    judged = [(v, case) for v, case in zip(verdicts, rows, strict=True) if case.action is not None]
    action = sum(v[2] == case.action for v, case in judged) / len(judged)
    # the rows left are Exchange Server descriptions with no wording of Microsoft's own (see the pack)
    assert reason >= 0.93, f"microsoft.md reason agreement fell to {reason:.1%}"
    assert action >= 0.91, f"microsoft.md action agreement fell to {action:.1%}"
