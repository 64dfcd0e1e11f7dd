"""Run the `examples` of every rule: each must be decided by its own rule, with the expected result.

Used by `dsnworker rules check` and by the test suite, so a pack's documentation is its test.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dsnworker.classify.engine import Classifier
from dsnworker.classify.rules import GENERIC, Pack, Rule, default_rules_dir, load_packs
from dsnworker.model import Kind, ParsedMessage, RecipientReport, Verdict
from dsnworker.parse.address import address_info


def example_verdict(classifier: Classifier, pack: Pack, example: Mapping[str, Any]) -> Verdict:
    """Classify an example as if a bounce had reported exactly these fields."""
    recipient = example.get("recipient") or _default_recipient(pack)
    diagnostic = example.get("diagnostic")
    report = RecipientReport(
        recipient=recipient,
        status=str(example["status"]) if example.get("status") else None,
        reply_code=str(example["reply_code"]) if example.get("reply_code") else None,
        diagnostic=str(diagnostic) if diagnostic else None,
        remote_mta=example.get("remote_mta"),
        reporting_mta=example.get("reporting_mta"),
        command=example.get("command"),
        dsn_action=example.get("dsn_action") or "failed",
        hint=example.get("hint"),
    )
    message = ParsedMessage(kind=Kind.BOUNCE, format=example.get("format") or "rfc3464", reports=(report,))
    return classifier.decide(message, report, address_info(recipient, classifier.mailbox_syntax))


def _default_recipient(pack: Pack) -> str:
    domains = sorted(pack.recognise.domains)
    return f"user@{domains[0]}" if domains and pack.provider != GENERIC else "user@example.com"


def example_mismatches(
    classifier: Classifier, pack: Pack, rule: Rule, example: Mapping[str, Any]
) -> dict[str, tuple[Any, Any]]:
    """What the example expects and did not get: {key: (expected, got)}; empty when it passes."""
    verdict = example_verdict(classifier, pack, example)
    got = {
        "reason": verdict.reason,
        "hard": verdict.hard,
        "action": verdict.action,
        "rule": verdict.rule,
        "status": verdict.status,
        "provider": verdict.provider,
        **verdict.details,
    }
    expect = {"rule": rule.id, **example["expect"]}  # decided by its own rule unless it says otherwise
    return {key: (value, got.get(key)) for key, value in expect.items() if got.get(key) != value}


def example_failures(classifier: Classifier, pack: Pack, rule: Rule) -> list[str]:
    failures = []
    for number, example in enumerate(rule.examples, 1):
        wrong = example_mismatches(classifier, pack, rule, example)
        if wrong:
            text = ", ".join(f"{k}: expected {v[0]!r}, got {v[1]!r}" for k, v in wrong.items())
            failures.append(f"{pack.path}: rule {rule.id!r} example {number}: {text}")
    return failures


def check_packs(extra_dirs: tuple[Path, ...] = ()) -> tuple[str, list[str]]:
    """Load (validating) every pack and run every example; a printable report and the failures."""
    packs = load_packs(default_rules_dir(), *extra_dirs)
    classifier = Classifier(packs)
    lines, failures = [], []
    for pack in packs:
        count = sum(len(rule.examples) for rule in pack.rules)
        pack_failures = [f for rule in pack.rules for f in example_failures(classifier, pack, rule)]
        without = [rule.id for rule in pack.rules if not rule.examples]
        status = "ok" if not pack_failures else f"{len(pack_failures)} FAILED"
        lines.append(f"{pack.provider:<10} {len(pack.rules):>3} rules {count:>4} examples  {status}  ({pack.path})")
        if without:
            lines.append(f"           rules without examples: {', '.join(without)}")
        failures.extend(pack_failures)
    lines.extend(failures)
    lines.append("all examples pass" if not failures else f"{len(failures)} example(s) failed")
    return "\n".join(lines) + "\n", failures
