"""The documented refusal texts of ../shared/docs/provider-texts/ as test cases for the rule packs.

Each table row there gives a code, the literal text a provider or MTA documents, and the verdict
(reason, hard, action) the row calls for. A row whose literal is given and whose verdict names one
reason becomes a case: the literal (placeholders filled with example values) with the row's reply
code and status, addressed to a recipient of the file's provider (so its pack recognises it).
Rows that document a behaviour without wording (`—`), wrappers (`(inner)`) and verdicts that
depend on something the row does not give (`(by detail)`) are not cases.

Run as a script for a table of the rows the packs decide differently:
    .venv/bin/python -m tests.documented [--verbose] [FILE.md ...]
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from dsnworker.classify.engine import Classifier
from dsnworker.classify.rules import load_packs
from dsnworker.classify.vocabulary import REASONS
from dsnworker.model import Kind, ParsedMessage, RecipientReport
from dsnworker.parse.address import address_info
from dsnworker.parse.text import find_reply_code, find_status

DOCS = Path(__file__).resolve().parents[1].parent / "shared" / "docs" / "provider-texts"

# (file, words of the section heading) -> (recipient, remote MTA): who answered, as a report says it
_CONTEXTS: dict[str, list[tuple[str, str, str | None]]] = {
    "google.md": [("", "kijitora@gmail.com", "gmail-smtp-in.l.google.com")],
    "yahoo.md": [("", "kijitora@yahoo.com", "mta7.am0.yahoodns.net")],
    "apple.md": [("", "kijitora@icloud.com", "mx01.mail.icloud.com")],
    "microsoft.md": [
        ("outlook.com", "kijitora@outlook.com", "outlook-com.olc.protection.outlook.com"),
        ("exchange server", "kijitora@contoso.example", None),
        ("", "kijitora@contoso.example", "contoso-example.mail.protection.outlook.com"),
    ],
    "japan.md": [
        ("docomo", "kijitora@docomo.ne.jp", "mfsmax.docomo.ne.jp"),
        ("kddi", "kijitora@ezweb.ne.jp", "lsean.ezweb.ne.jp"),
        ("softbank", "kijitora@softbank.ne.jp", "mx.softbank.ne.jp"),
        ("j:com", "kijitora@zaq.ne.jp", None),
        ("", "kijitora@example.jp", None),
    ],
    "filters.md": [
        ("mimecast", "kijitora@example.com", "eu-smtp-inbound-1.mimecast.com"),
        ("proofpoint", "kijitora@example.com", "mx0a-00123401.pphosted.com"),
        ("broadcom", "kijitora@example.com", "cluster8.eu.messagelabs.com"),
        ("cisco", "kijitora@example.com", "esa1.example.iphmx.com"),
        ("trend micro", "kijitora@example.com", "example-com.mx1.tmes.trendmicro.com"),
        ("barracuda", "kijitora@example.com", "d123456a.ess.barracudanetworks.com"),
        ("", "kijitora@example.com", None),
    ],
}
_DEFAULT_CONTEXT = ("kijitora@example.com", "mx.example.com")

_PLACEHOLDERS = (
    (re.compile(r"\[%s\]|\[IP Address\]|<IP adress>|x\.x\.x\.x|\bIP\.IP\.IP\.IP\b"), "192.0.2.25"),
    (re.compile(r"<%s>|<addr>|<forward-path>"), "<kijitora@example.com>"),
    (re.compile(r"<domain>|\bdomain-name\b|\[SendingDomain\]"), "example.net"),
    (re.compile(r"%[sl]"), "mx.example.net"),
    (re.compile(r"%d"), "25"),
    (re.compile(r"<[A-Za-z]+>|\[internal\]"), "example"),
    (re.compile("…"), " "),
)
_CODE = re.compile(r"(?<![\w.])([245]\d\d)(?![\w.])")
_STATUS = re.compile(r"(?<![\w.])#?([245]\.\d{1,3}\.\d{1,3})(?![\d])")


@dataclass(frozen=True)
class Case:
    """One documented row: what the server says, and the verdict the row calls for."""

    file: str
    line: int
    section: str
    reply_code: str | None
    status: str | None
    diagnostic: str
    recipient: str
    remote_mta: str | None
    reason: str
    hard: bool | None
    action: str | None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def cases(files: list[str] | None = None) -> list[Case]:
    found: list[Case] = []
    for path in sorted(DOCS.glob("*.md")):
        if path.name == "README.md" or (files and path.name not in files):
            continue
        section = ""
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith("#"):
                section = line.lstrip("#").strip()
                continue
            case = _case(path.name, number, section, line)
            if case is not None:
                found.append(case)
    return found


def _case(file: str, number: int, section: str, line: str) -> Case | None:
    if not line.startswith("| ") or line.startswith(("| code", "|---")):
        return None
    cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
    if len(cells) != 7:
        return None
    code, literal, _meaning, reason, hard, action, _source = cells
    texts = re.findall(r"`([^`]+)`", literal)
    if not texts or reason not in REASONS:
        return None  # no wording documented, or a verdict that depends on more than the row says
    text = " ".join(texts)
    for pattern, value in _PLACEHOLDERS:
        text = pattern.sub(value, text)
    reply_code = next(iter(_CODE.findall(code)), None)
    status = next(iter(_STATUS.findall(code)), None)
    prefix = " ".join(p for p in (reply_code, status) if p and p not in text)
    diagnostic = f"{prefix} {text}".strip()
    recipient, remote = _context(file, section)
    return Case(
        file=file,
        line=number,
        section=section,
        reply_code=reply_code or find_reply_code(diagnostic),
        status=status or find_status(diagnostic),
        diagnostic=diagnostic,
        recipient=recipient,
        remote_mta=remote,
        reason=reason,
        hard={"yes": True, "no": False}.get(hard),
        action=action if action in {"suppress", "retry", "sender_fix", "fix_address", "ignore", "review"} else None,
    )


def _context(file: str, section: str) -> tuple[str, str | None]:
    heading = section.lower()
    for words, recipient, remote in _CONTEXTS.get(file, []):
        if words in heading:
            return recipient, remote
    return _DEFAULT_CONTEXT


def verdict_of(classifier: Classifier, case: Case) -> tuple[str, bool, str, str | None]:
    """The (reason, hard, action, rule) the packs give the case as an RFC 3464 report would carry it."""
    report = RecipientReport(
        recipient=case.recipient,
        dsn_action="failed",  # the row's own verdict, not a delay notice's (which is always retry)
        status=case.status,
        reply_code=case.reply_code,
        diagnostic=case.diagnostic,
        remote_mta=case.remote_mta,
    )
    message = ParsedMessage(kind=Kind.BOUNCE, format="rfc3464", reports=(report,))
    verdict = classifier.decide(message, report, address_info(case.recipient))
    return verdict.reason, verdict.hard, verdict.action, verdict.rule


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", help="only these files (google.md, mtas.md, ...)")
    parser.add_argument("--verbose", action="store_true", help="list every row decided differently")
    args = parser.parse_args()
    classifier = Classifier(load_packs())
    totals: dict[str, list[int]] = {}
    for case in cases(args.files):
        reason, hard, action, rule = verdict_of(classifier, case)
        counts = totals.setdefault(case.file, [0, 0, 0, 0, 0, 0])
        counts[0] += 1
        counts[1] += reason == case.reason
        counts[2] += case.hard is not None
        counts[3] += case.hard is not None and hard == case.hard
        counts[4] += case.action is not None
        counts[5] += case.action is not None and action == case.action
        wrong = reason != case.reason or (case.action is not None and action != case.action)
        if args.verbose and wrong:
            print(
                f"{case.where}: {case.diagnostic[:110]!r}\n    want {case.reason}/{case.action}"
                f"  got {reason}/{action} ({rule})"
            )
    grand = [sum(column) for column in zip(*totals.values(), strict=True)] if totals else [0] * 6
    for name, counts in [*sorted(totals.items()), ("ALL", grand)]:
        print(
            f"{name:18} rows={counts[0]:4}  reason={_pct(counts[1], counts[0])}  "
            f"hard={_pct(counts[3], counts[2])}  action={_pct(counts[5], counts[4])}"
        )
    return 0


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:5.1f}" if whole else "  -  "


if __name__ == "__main__":
    sys.exit(main())
