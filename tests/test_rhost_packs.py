"""The packs of providers that publish their own refusal codes (orange, cox, godaddy, spectrum,
tencent, iua), after Sisimai's Rhost tables: who they claim, that the code decides before the words,
and that they claim nobody else's reports.

Each report here is a set of fields classified through the real engine with every shipped pack.
"""

from __future__ import annotations

from typing import Any

import pytest

from dsnworker.analyser import Analyser
from dsnworker.classify.examples import example_verdict
from dsnworker.model import Verdict

NEW_PACKS = ("orange", "cox", "godaddy", "spectrum", "tencent", "iua")


def verdict(analyser: Analyser, **fields: Any) -> Verdict:
    """Classify a report with these fields; the pack passed only supplies a default recipient."""
    generic = next(p for p in analyser.classifier.packs if p.provider == "generic")
    return example_verdict(analyser.classifier, generic, {"recipient": "someone@example.com", **fields})


# --- recognition ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "recipient"),
    [
        ("orange", "someone@orange.fr"),
        ("orange", "someone@wanadoo.fr"),
        ("orange", "someone@laposte.net"),
        ("cox", "someone@cox.net"),
        ("spectrum", "someone@charter.net"),
        ("tencent", "10001@qq.com"),
        ("tencent", "someone@foxmail.com"),
        ("iua", "someone@i.ua"),
        ("iua", "someone@email.ua"),
    ],
)
def test_pack_is_recognised_by_its_consumer_domains(analyser: Analyser, provider: str, recipient: str) -> None:
    got = verdict(analyser, recipient=recipient, diagnostic="550 5.1.1 User unknown")
    assert got.provider == provider


@pytest.mark.parametrize(
    ("provider", "remote_mta"),
    [
        ("orange", "smtp-in.orange.fr"),
        ("orange", "smtpz4.laposte.net"),
        ("orange", "smtp.wanadoo.fr"),
        ("cox", "mx.east.cox.net"),
        ("godaddy", "smtp.secureserver.net"),
        ("godaddy", "mailstore1.secureserver.net"),
        ("spectrum", "mx.dc.charter.net"),
        ("tencent", "mx3.qq.com"),
        ("iua", "mx3.email.ua"),
    ],
)
def test_pack_is_recognised_by_its_inbound_mx(analyser: Analyser, provider: str, remote_mta: str) -> None:
    got = verdict(analyser, remote_mta=remote_mta, diagnostic="550 5.1.1 User unknown")
    assert got.provider == provider


@pytest.mark.parametrize(
    ("provider", "rule", "diagnostic"),
    [
        ("orange", "orange.invalid-recipient", "550 5.1.1 Invalid recipient. OFR004_416 [416]"),
        ("orange", "orange.mailbox-full", "552 5.1.1 Recipient overquota. LPN105_417"),
        ("cox", "cox.ip-listed", "554 5.7.1 192.0.2.8 listed. AUP#IPBL0100"),
        ("godaddy", "godaddy.ip-listed", "554 Connection refused. 192.0.2.8 is on the SBL. IB104"),
        (
            "godaddy",
            "godaddy.invalid-from",
            "550 5.2.0 <a@example.net> From: Domain is invalid. IB506 <https://x.co/srbounce>",
        ),
        ("godaddy", "godaddy.sending-limits", "550 Too many recipients this hour. IB607 (in reply to RCPT TO command)"),
        ("spectrum", "spectrum.ip-dns", "550 5.7.1 No rDNS for 192.0.2.8. AUP#I-1120"),
        (
            "tencent",
            "tencent.mailbox-not-found",
            "550 Mailbox not found. http://service.mail.qq.com/cgi-bin/help?id=20022",
        ),
        ("iua", "iua.user-unknown", "550 No such user. See http://mail.i.ua/err/2/"),
    ],
)
def test_pack_is_recognised_by_its_codes_alone(analyser: Analyser, provider: str, rule: str, diagnostic: str) -> None:
    """A relay's report for a hosted domain names neither the provider's domain nor its MX."""
    got = verdict(analyser, recipient="someone@example.org", diagnostic=diagnostic)
    assert (got.provider, got.rule) == (provider, rule)


# --- the code decides ------------------------------------------------------------------------------


def test_cox_code_decides_before_the_words(analyser: Analyser) -> None:
    got = verdict(
        analyser,
        recipient="someone@cox.net",
        diagnostic="550 5.1.0 <news@example.net> sender rejected. AUP#CXBL",
    )
    assert (got.reason, got.rule, got.details.get("ref")) == ("blocked", "cox.ip-blocked", "CXBL")


def test_spectrum_code_range_decides_before_the_words(analyser: Analyser) -> None:
    got = verdict(
        analyser,
        recipient="someone@charter.net",
        diagnostic="550 5.1.0 <news@example.net> sender rejected. AUP#In-1335",
    )
    assert (got.reason, got.rule, got.details.get("ref")) == ("too_many_conn", "spectrum.connection-limits", "In-1335")


@pytest.mark.parametrize(
    ("code", "rule"),
    [
        ("1349", None),  # between Sisimai's ranges 1300-1340 and 1350-1490: no rule
        ("1350", "spectrum.volume-limits"),
        ("1490", "spectrum.volume-limits"),
        ("1491", None),
        ("1250", "spectrum.ip-listed"),
        ("1215", None),
    ],
)
def test_spectrum_ranges_end_where_sisimai_ends_them(analyser: Analyser, code: str, rule: str | None) -> None:
    got = verdict(analyser, recipient="someone@charter.net", diagnostic=f"550 5.7.1 Refused. AUP#I-{code}")
    assert (got.rule if got.rule and got.rule.startswith("spectrum.") else None) == rule


def test_cox_and_spectrum_aup_codes_do_not_cross(analyser: Analyser) -> None:
    cox = verdict(analyser, diagnostic="554 5.7.1 Refused. AUP#IPBL0001")
    spectrum = verdict(analyser, diagnostic="554 5.7.1 Refused. AUP#I-1000")
    assert (cox.provider, cox.rule) == ("cox", "cox.ip-listed")
    assert (spectrum.provider, spectrum.rule) == ("spectrum", "spectrum.ip-blocked")


def test_orange_code_suffix_decides_whatever_the_server_prefix(analyser: Analyser) -> None:
    for code in ("OFR_416", "OFR004_416", "LPN105_416", "LPN105-416", "ofr_416"):
        got = verdict(analyser, recipient="someone@orange.fr", diagnostic=f"550 5.1.1 Invalid recipient. {code}")
        assert (got.reason, got.hard, got.details.get("ref")) == ("user_unknown", True, code), code


def test_orange_undecided_code_has_no_rule_but_keeps_its_reference(analyser: Analyser) -> None:
    """LPN 108 is undecided in Sisimai's table: the generic rules decide, the code is still read."""
    got = verdict(
        analyser,
        recipient="someone@laposte.net",
        diagnostic="550 5.5.0 Service refuse. Veuillez essayer plus tard. Service refused, try later. LPN001_108",
    )
    assert got.provider == "orange"
    assert not (got.rule or "").startswith("orange.")
    assert got.details.get("ref") == "LPN001_108"


def test_iua_page_numbers_are_whole_numbers(analyser: Analyser) -> None:
    """err/10 (the recipient's address list) is not err/1 (relaying)."""
    got = verdict(
        analyser, recipient="someone@i.ua", diagnostic="550 Not in the address list. See http://mail.i.ua/err/10/"
    )
    assert (got.reason, got.rule) == ("filtered", "iua.not-in-address-list")


def test_tencent_spam_ip_is_not_spam_content(analyser: Analyser) -> None:
    ip = verdict(analyser, recipient="10001@qq.com", diagnostic="550 Suspected spam ip [IP: 192.0.2.8]")
    content = verdict(analyser, recipient="10001@qq.com", diagnostic="550 Suspected spam [IP: 192.0.2.8]")
    assert (ip.reason, content.reason) == ("blocked", "spam_detected")


def test_cox_temporary_unavailability_is_never_hard(analyser: Analyser) -> None:
    got = verdict(
        analyser, recipient="someone@cox.net", diagnostic="554 cox.net ESMTP server temporarily not available"
    )
    assert (got.reason, got.hard, got.action) == ("not_accept", False, "retry")


# --- nobody else's reports -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "diagnostic",
    [
        "550 5.1.1 <someone@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
        "550 5.7.1 recipient rejected by policy",
        "554 5.7.1 Message rejected: sender rejected",
        "550 Mailbox not found",
        "452 4.2.2 Account storage limit reached",
        "550 5.7.1 Relaying denied. See https://example.com/err/1/",
        "550 5.7.1 Blocked by IB104 filter rule at the library",
        "550 5.7.1 Rejected, reference LIB101_102 AUP 1000",
    ],
)
def test_packs_do_not_claim_other_providers_reports(analyser: Analyser, diagnostic: str) -> None:
    got = verdict(analyser, remote_mta="mx.example.com", diagnostic=diagnostic)
    assert got.provider not in NEW_PACKS, got.rule
