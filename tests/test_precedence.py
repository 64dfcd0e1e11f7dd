"""The order in which evidence decides (rules/README.md, "How a report is decided").

Words before codes: a rule that reads the server's text decides before any rule that reads only
the status, reply code or command, whatever pack it is in; a text marked `weak` (the standard
"mailbox unavailable" of RFC 5321, a bare "blocked") says less than a status code and waits for the
code rules. A provider's words come before the generic packs' words. A delay notice is never final.
Each test builds its own small packs, so that it shows the order and not the shipped rules.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from dsnworker.classify.engine import Classifier
from dsnworker.classify.rules import load_packs
from dsnworker.model import Kind, ParsedMessage, RecipientReport, Verdict
from dsnworker.parse.address import address_info

GENERIC = """
provider: generic
rules:
  - id: generic.text-mailbox-full
    when: {diagnostic: 'mailbox is full'}
    then: {reason: mailbox_full}
  - id: generic.status-user-unknown
    when: {status: ['5.1.1']}
    then: {reason: user_unknown}
  - id: generic.weak-blocked
    weak: true
    when: {diagnostic: '\\bblocked\\b'}
    then: {reason: blocked}
  - id: generic.status-policy
    when: {status: ['5.7.']}
    then: {reason: policy_violation}
"""

ACME = """
provider: acme
recognise: {domains: [acme.example]}
rules:
  - id: acme.status-suspend
    when: {status: ['5.1.1']}
    then: {reason: suspend}
  - id: acme.text-blocked
    when: {diagnostic: 'mailbox is full'}
    then: {reason: blocked}
"""


def classifier(tmp_path: Path, *packs: str) -> Classifier:
    for number, text in enumerate(packs):
        (tmp_path / f"pack{number}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return Classifier(load_packs(tmp_path))


def decide(
    rules: Classifier, diagnostic: str, status: str | None, recipient: str = "kijitora@example.com", **fields: str
) -> Verdict:
    report = RecipientReport(recipient=recipient, status=status, diagnostic=diagnostic, **fields)
    message = ParsedMessage(kind=Kind.BOUNCE, format="rfc3464", reports=(report,))
    return rules.decide(message, report, address_info(recipient))


def test_a_specific_text_wins_over_a_contradicting_status(tmp_path: Path) -> None:
    verdict = decide(classifier(tmp_path, GENERIC), "550 5.1.1 Sorry, the mailbox is full", "5.1.1")
    assert (verdict.reason, verdict.rule) == ("mailbox_full", "generic.text-mailbox-full")
    assert verdict.action == "retry" and verdict.hard is False


def test_a_status_wins_over_a_weak_text(tmp_path: Path) -> None:
    verdict = decide(classifier(tmp_path, GENERIC), "550 5.1.1 Address blocked", "5.1.1")
    assert (verdict.reason, verdict.rule) == ("user_unknown", "generic.status-user-unknown")


def test_a_weak_text_wins_over_the_code_rules_after_it(tmp_path: Path) -> None:
    verdict = decide(classifier(tmp_path, GENERIC), "554 5.7.1 Message blocked", "5.7.1")
    assert (verdict.reason, verdict.rule) == ("blocked", "generic.weak-blocked")


def test_a_weak_text_decides_when_no_code_rule_holds(tmp_path: Path) -> None:
    verdict = decide(classifier(tmp_path, GENERIC), "554 Message blocked", None)
    assert (verdict.reason, verdict.rule) == ("blocked", "generic.weak-blocked")


def test_a_providers_text_wins_over_the_generic_text(tmp_path: Path) -> None:
    verdict = decide(classifier(tmp_path, GENERIC, ACME), "552 mailbox is full", None, recipient="taro@acme.example")
    assert (verdict.reason, verdict.rule, verdict.provider) == ("blocked", "acme.text-blocked", "acme")


def test_a_generic_text_wins_over_a_providers_status_rule(tmp_path: Path) -> None:
    packs = classifier(tmp_path, GENERIC, ACME.replace("'mailbox is full'", "'never said'"))
    verdict = decide(packs, "550 5.1.1 Sorry, the mailbox is full", "5.1.1", recipient="taro@acme.example")
    assert (verdict.reason, verdict.rule, verdict.provider) == ("mailbox_full", "generic.text-mailbox-full", "acme")


def test_a_providers_status_rule_wins_over_the_generic_status_rules(tmp_path: Path) -> None:
    packs = classifier(tmp_path, GENERIC, ACME)
    verdict = decide(packs, "550 5.1.1 Requested action not taken", "5.1.1", recipient="taro@acme.example")
    assert (verdict.reason, verdict.rule) == ("suspend", "acme.status-suspend")


def test_a_delay_notice_is_retried_with_a_temporary_status_whatever_its_text(tmp_path: Path) -> None:
    rules = classifier(tmp_path, GENERIC)
    verdict = decide(rules, "550 5.1.1 User unknown", "5.1.1", dsn_action="delayed")
    assert (verdict.reason, verdict.hard, verdict.action, verdict.status) == ("user_unknown", False, "retry", "4.1.1")


def test_a_delay_notice_without_a_status_gets_a_temporary_one(tmp_path: Path) -> None:
    verdict = decide(classifier(tmp_path, GENERIC), "mailbox is full", None, dsn_action="delayed")
    assert verdict.status is not None and verdict.status.startswith("4.")
    assert (verdict.action, verdict.hard) == ("retry", False)


def test_the_same_text_as_a_failure_is_final(tmp_path: Path) -> None:
    verdict = decide(classifier(tmp_path, GENERIC), "550 5.1.1 User unknown", "5.1.1", dsn_action="failed")
    assert (verdict.reason, verdict.hard, verdict.action, verdict.status) == ("user_unknown", True, "suppress", "5.1.1")


def test_a_temporary_form_of_a_hard_reason_is_not_hard(tmp_path: Path) -> None:
    rules = classifier(tmp_path, GENERIC)
    # Postfix with soft_bounce = yes turns the 550 into a 450: the address may yet work
    verdict = decide(rules, "450 5.1.1 <kijitora@example.com>: User unknown", "5.1.1", reply_code="450")
    assert (verdict.reason, verdict.hard, verdict.action) == ("user_unknown", False, "retry")


def test_words_no_rule_understands_are_on_hold_and_no_words_undefined(tmp_path: Path) -> None:
    rules = classifier(tmp_path, GENERIC)
    unread = decide(rules, "554 Something nobody has written a rule for", "5.0.0")
    silent = decide(rules, "", "5.0.0")
    assert (unread.reason, unread.action, unread.rule) == ("on_hold", "review", None)
    assert (silent.reason, silent.action, silent.rule) == ("undefined", "review", None)


def test_a_failure_reported_with_a_temporary_field_takes_the_servers_permanent_code(tmp_path: Path) -> None:
    rules = classifier(tmp_path, GENERIC)
    failed = decide(rules, "550 5.5.0 Service refused, please try later", "4.5.0", dsn_action="failed")
    delayed = decide(rules, "550 5.5.0 Service refused, please try later", "4.5.0", dsn_action="delayed")
    assert (failed.status, delayed.status) == ("5.5.0", "4.5.0")
