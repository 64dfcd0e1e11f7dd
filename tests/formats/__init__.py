"""Tests of the format parsers. `reason_of` says what the shipped rules make of a parsed report:
a format extracts the words, the rule packs say what they mean (rules/generic.yaml's MTA section)."""

from __future__ import annotations

from functools import cache

from dsnworker.classify.engine import Classifier
from dsnworker.classify.rules import load_packs
from dsnworker.model import ParsedMessage
from dsnworker.parse.address import address_info


@cache
def _classifier() -> Classifier:
    return Classifier(load_packs())


def reason_of(parsed: ParsedMessage, index: int = 0) -> str:
    """The reason the shipped rule packs give the parsed message's report number `index`."""
    report = parsed.reports[index]
    return _classifier().decide(parsed, report, address_info(report.recipient)).reason
