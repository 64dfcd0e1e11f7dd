"""Whom a bounce is about, beyond its text: the address it was sent to, when that is our VERP return path.

A bounce goes back to the return path of the message that failed. With VERP that return path names
the one recipient the message was sent to, so the bounce's own `X-Original-To`, `Delivered-To` and
`To` say whom it is about, even where its text names nobody, a bare screen name or a display name.

- A named recipient the VERP address agrees with is confirmed: it stays, with `verp_recipient`.
- A report without a recipient, or naming one that is not an address, gets the VERP recipient
  (one report at most, and none where other reports name addresses: it could be any of them).
- A bounce of one report naming another address than the VERP one (a forward or an alias the mail
  went on to) gets the VERP recipient: that is the address the sender mailed, and the one to stop
  mailing. What the bounce named stays in `named_recipient`.
- A bounce naming several addresses, none of them the VERP one, is left as it is (with
  `verp_recipient`): VERP cannot say which of them is the one that was mailed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from dsnworker.model import Identity, ParsedMessage, RecipientReport, evolved
from dsnworker.parse.address import address_problem
from dsnworker.verp import VerpPattern

# where the receiving MTA wrote the envelope recipient (before and after aliasing), then the header
_ENVELOPE_FIELDS = (b"x-original-to", b"delivered-to", b"to")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FIELD = re.compile(rb"(?im)^([!-9;-~]{1,60})[ \t]*:([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)")
_ADDRESS = re.compile(rb"[^\s<>,;:\"()\[\]]{1,300}@[^\s<>,;:\"()\[\]]{1,255}")
HEADER_BYTES = 65536  # a header longer than this is read this far: the envelope fields come first


def header_of(data: bytes) -> bytes:
    end = _HEADER_END.search(data, 0, HEADER_BYTES)
    return data[: end.start() if end else HEADER_BYTES]


def envelope_addresses(header: bytes) -> Iterator[str]:
    """The addresses of a header's own X-Original-To, Delivered-To and To fields, in that order."""
    found: dict[bytes, list[bytes]] = {name: [] for name in _ENVELOPE_FIELDS}
    for match in _FIELD.finditer(header):
        name = match.group(1).lower()
        if name in found:
            found[name].append(match.group(2))
    for name in _ENVELOPE_FIELDS:
        for value in found[name]:
            for address in _ADDRESS.finditer(value):
                yield address.group(0).decode("utf-8", "replace")


class Identifier:
    """Says, for each report of a bounce, where its recipient came from, and applies a mailbox's VERP."""

    def __init__(self, pattern: VerpPattern | None = None) -> None:
        self.pattern = pattern

    def verp_recipient(self, data: bytes) -> str | None:
        """The recipient the address the bounce was sent to names, if it is our VERP return path."""
        if self.pattern is None:
            return None
        header = header_of(data)
        if self.pattern.domain.encode() not in header.lower():  # SRS and BATV forms hold it too
            return None
        for address in envelope_addresses(header):
            recipient = self.pattern.decode(address)
            if recipient is not None:
                return recipient
        return None

    def identify(self, message: ParsedMessage, data: bytes) -> list[tuple[RecipientReport, Identity]]:
        """Each report, its recipient replaced where the VERP address says better, and how it was identified."""
        verp = self.verp_recipient(data) if message.reports else None
        if verp is None:
            return [(r, Identity(r.recipient_source if r.recipient else None)) for r in message.reports]
        named = [r.recipient for r in message.reports if r.recipient and _is_address(r.recipient)]
        single = len(message.reports) == 1
        identified = []
        replaced = False
        for report in message.reports:
            recipient = report.recipient
            if recipient and _is_address(recipient):
                # a single report naming another address: the VERP one was mailed, and is the one to stop
                replace = single and not _same(recipient, verp)
            else:
                # nobody, or no address: the VERP recipient, unless the bounce names addresses (then it
                # cannot tell which report it is), and once only (it is one recipient)
                replace = not named and not replaced
            if replace:
                replaced = True
                report_now = evolved(report, recipient=verp, recipient_source="verp")
                identified.append((report_now, Identity("verp", verp_recipient=verp, named_recipient=recipient)))
            else:
                source = report.recipient_source if recipient else None
                identified.append((report, Identity(source, verp_recipient=verp)))
        return identified


def _is_address(recipient: str) -> bool:
    return address_problem(recipient) is None


def _same(first: str, second: str) -> bool:
    """The same address, whatever the case: MTAs fold local parts (Delivered-To, Final-Recipient)."""
    return first.casefold() == second.casefold()
