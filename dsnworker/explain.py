"""`dsnworker explain`: how one message was read and decided, written for a person."""

from __future__ import annotations

from dsnworker.analyser import Analyser
from dsnworker.classify.engine import Facts
from dsnworker.output import outcome_record

_FIELDS = (
    "recipient",
    "original_recipient",
    "status",
    "reply_code",
    "remote_mta",
    "reporting_mta",
    "command",
    "diagnostic",
)


def explain(analyser: Analyser, data: bytes, source: str) -> str:
    outcomes = analyser.analyse(data, source)
    first = outcomes[0].message
    lines = [f"{source}", f"  format:   {first.format} ({first.kind.value})"]
    if first.parser_errors:  # a bug of ours: said where a person looks
        lines.append(f"  parser errors: {'; '.join(first.parser_errors)}")
    if first.truncated:  # not all of the message was read: the reports may be incomplete
        lines.append(f"  truncated: {'; '.join(first.truncated)}")
    if first.subject:
        lines.append(f"  subject:  {first.subject}")
    if first.original_message_id:
        lines.append(f"  original Message-ID: {first.original_message_id}")
    for name, value in first.original_headers.items():
        lines.append(f"  original {name}: {value}")
    for number, outcome in enumerate(outcomes, 1):
        record = outcome_record(outcome)
        verdict = outcome.verdict
        lines.append("")
        lines.append(f"  recipient {number} of {len(outcomes)}")
        for name in _FIELDS:
            if record.get(name) is not None:
                lines.append(f"    {name + ':':<20}{record[name]}")
        if outcome.address.problem is not None:
            problem = outcome.address.problem
            lines.append(f"    {'not an address:':<20}{problem}, so not suppressed, counted or rewritten")
        if outcome.address.quoted_local_part:
            suggestion = outcome.address.suggested_address or "none: it cannot be written without quotes"
            lines.append(f"    {'quoted local part:':<20}yes; unquoted: {suggestion}")
        if outcome.report is not None:
            facts = Facts.of(outcome.report, outcome.address, outcome.message.format, analyser.classifier.needles)
            packs = analyser.classifier.recognise(facts)
            lines.append(f"    {'providers:':<20}{', '.join(p.provider for p in packs) or 'none recognised'}")
        lines.append(
            f"    {'decision:':<20}{verdict.reason} (hard={str(verdict.hard).lower()}, action={verdict.action})"
        )
        lines.append(
            f"    {'decided by:':<20}{verdict.rule or 'no rule matched'}"
            + (f" [{verdict.provider}]" if verdict.provider else "")
        )
        for item in verdict.evidence:
            lines.append(f"    {'evidence:':<20}{item}")
        for key, value in verdict.details.items():
            lines.append(f"    {key + ':':<20}{str(value).lower() if isinstance(value, bool) else value}")
    return "\n".join(lines) + "\n"
