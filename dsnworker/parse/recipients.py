"""Which addresses a bounce's own words name as failed recipients, and one report per recipient.

A bounce's text is full of addresses that are not failed recipients: the returned message's quoted
headers (To, From, Cc, "Received: ... for <x>", Message-IDs), help prose ("please contact
postmaster@..."), signatures, and the sender's own (VERP) bounce address. Rather than excluding
those one by one, an address is taken only where bounces put a failed recipient, its *recipient
position*:

- first on its line, after indentation, a bullet or an opening quote: "<x>: 550 ...", "  x",
  "'x' on 3/12/2010", "x (generated from y)"; or alone on its line after a name: "Jane Doe <x>";
- after a short label that starts its line: "Recipient: x", "宛先: <x>", "Original-Recipient: rfc822;x",
  "ERROR: x - mailbox full";
- after a word that points at it: "to x", "for <x>", "RCPT TO:<x>", "user x", "mailbox of <x>",
  "Failed recipient(s): x", "SMTP:x" (and a few of these words in German, French, Spanish, Italian);
- in angle brackets before ':' or '...', where SMTP replies name it: "550 5.1.1 <x>: User unknown".

Some text never counts: header lines of a returned message (also quoted with '>' or indented) and
their continuation lines, '>'-quoted lines, anything after a signature delimiter or after the
first transport header of a copied message (Received, Return-Path, DKIM-Signature), and a cue in
a sentence that asks the reader to write to someone ("please contact", "for assistance"). The
bounce's own addresses (From, To, Delivered-To, X-Original-To, Return-Path, ...), daemon, list and
VERP bounce addresses (`bounces+...@`, `...-bounces@`, `owner-...@`) are never failed recipients;
nor, in the text, the mailboxes it names for help (postmaster, abuse, ...).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence

from dsnworker.model import RecipientReport, evolved
from dsnworker.parse.limits import CUT_LINES, READ_RECIPIENTS, TEXT_LINES
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import ADDRESS_RE, clean_address

MAX_LINES = TEXT_LINES  # a bounce names its recipients near the top; hostile input stays linear
MAX_LINE = 1000  # characters of a line looked at
MAX_FOUND = READ_RECIPIENTS

# A header line of a returned message (also '>'-quoted or indented; Outlook's localised names too):
# its addresses are the original's. X- headers count unless they name a recipient.
_HEADER_LINE = re.compile(
    r"(?i)[ \t>|]*(?:from|to|cc|bcc|sender|reply-to|return-path|received|date|subject|sent|references|"
    r"in-reply-to|message-id|delivered-to|x-original-to|envelope-to|errors-to|resent-[\w-]{1,30}|"
    r"list-[\w-]{1,30}|dkim-signature|arc-[\w-]{1,30}|authentication-results|content-[\w-]{1,30}|"
    r"mime-version|thread-[\w-]{1,30}|feedback-id|user-agent|organization|importance|precedence|"
    r"x-(?![\w-]{0,40}recipient)[\w-]{1,60}|von|an|betreff|gesendet|objet|envoy[ée]|para|asunto)[ \t]*:"
)
# The first of these at the start of a line opens a copied message's header: the bounce's words end.
_COPY_START = re.compile(r"(?i)(?:received|return-path|dkim-signature|arc-seal|x-received)[ \t]*:")
_QUOTED_LINE = re.compile(r"[ \t]*>(?!>> )")  # '> text'; Sendmail's '>>> RCPT To:<x>' is a transcript
_SIGNATURE = ("--", "-- ")

# What may stand before an address that starts its line.
_LEAD = re.compile(
    r"(?i)[ \t]*(?:[-*•·][ \t]*|\d{1,3}[.)][ \t]*)?[\"'(\[]?(?:(?:smtp|rfc822)[ \t]*[:=;][ \t]*)?(?:mailto:)?<?"
)
# "Jane Doe <x>", "Jane Doe (x)", "Jane Doe<mailto:x>": a name, then the address alone.
_NAMED = re.compile(r"[ \t]*[^\s:<>@()\[\]\"'][^:<>@()\n]{0,78}[<(](?:mailto:)?")
# "Recipient: x", "宛先: <x>": a short label alone on the line with the address.
_LABEL = re.compile(
    r"[ \t]*([^\s:：<>@][^:：<>@\n]{0,39})[:：][ \t]*(?:rfc822[ \t]*;[ \t]*)?[\"'(\[]?(?:mailto:)?<?", re.I
)
_LABEL_NAMES_RECIPIENT = re.compile(r"(?i)recipient|rcpt|addressee|address|destinat|empf|宛先|受信者|送信先")
_LABEL_NAMES_SOMEONE_ELSE = re.compile(
    r"(?i)\b(?:e-?mail|from|sender|reply|contact|support|help|admin\w*|postmaster|abuse|tel|phone|fax|"
    r"web|url|author|owner|cc|bcc|by)\b"
)
# after the address: nothing, or a separator and what the bounce says of it ("x - mailbox full")
_ALONE_AFTER = re.compile(r"[>)\]\"']?[ \t]*(?:[:.,;]?[ \t]*|(?:[-–:]|\()[^\n]*)")
# Words that point at the address right after them (the text before it ends with one of these).
_CUE_BEFORE = re.compile(
    r"(?i)(?:\b(?:to|for|an|à|para)|"  # the last three: German, French, Spanish/Portuguese "to"
    r"(?<!sender )(?<!from )(?<!return )\b(?:user|mailbox|address|account|addressee|adresse|empf(?:ä|ae)nger|"
    r"destinataire|destinatario|indirizzo)(?:[ \t]+of)?|"
    r"\brecipients?(?:\(s\))?(?:[^:\n]{0,30}:)?|\bsmtp[ \t]*[:=])"
    r"[ \t]*:?[ \t]*(?:rfc822[ \t]*;[ \t]*)?[\"'(\[]?(?:mailto:)?<?$"
)
# "<x>: ..." and "<x>... User unknown", as SMTP replies and Sendmail name the recipient
_CUE_AFTER = re.compile(r">:|>?\.\.\.")
_SENDER_AFTER = re.compile(r"(?i)>?(?::|\.\.\.)?[ \t]*sender\b")
# A sentence that asks the reader to write to someone: its addresses are help desks.
_ASKS_FOR_HELP = re.compile(
    r"(?i)\b(?:contact\w*|help\w*|assistance|questions?|support|inquir\w*|if you|"
    r"please (?:send|write|e-?mail|mail|forward|reply|call|notify)|(?:reply|write|report\w*|complain\w*) to)\b"
)
_SENTENCE_END = re.compile(r"[.!?;]\s")

# Local parts of daemon, list and VERP bounce addresses: never a failed recipient.
_BOUNCE_LOCAL = re.compile(
    r"(?i)(?:mailer-daemon|double-bounce|bounces?(?:[-+=._][^@]{0,200})?|owner-[^@]{1,200}|"
    r"[^@]{1,200}-(?:owner|request|bounces?(?:[-+=][^@]{0,200})?)|srs[01][-+=][^@]{0,200})"
)
# Mailboxes a bounce's prose names for the reader to write to: not taken from the text.
_SYSTEM_LOCAL = re.compile(r"(?i)(?:postmaster|hostmaster|webmaster|nobody|root|abuse|no-?reply)")
# The bounce's own envelope and header addresses: the sender's side, never a failed recipient.
_OWN_HEADERS = frozenset(
    (
        "from",
        "to",
        "cc",
        "reply-to",
        "sender",
        "return-path",
        "delivered-to",
        "x-original-to",
        "envelope-to",
        "errors-to",
    )
)


def own_addresses(mail: Mail) -> frozenset[str]:
    """The bounce's own addresses (lower-cased): where it came from and whom it was sent to."""
    cached = mail.memo.get("own_addresses")
    if cached is None:
        # the raw values, in one pass: display names need no decoding to find the addresses in them
        values = " ".join(str(value) for name, value in mail.msg._headers if name.lower() in _OWN_HEADERS)  # noqa: SLF001
        found = (match.group(0).strip("'").lower() for match in ADDRESS_RE.finditer(values[:20_000]))
        cached = mail.memo["own_addresses"] = frozenset(found)
    return cached  # type: ignore[return-value]


def is_bounce_address(address: str) -> bool:
    """A daemon's, a list's or a VERP bounce address (`bounces+x=y@`, `news-bounces@`, `owner-news@`)."""
    local = address.rpartition("@")[0].strip('"')
    return bool(_BOUNCE_LOCAL.fullmatch(local))


def _not_a_recipient(address: str) -> bool:
    local = address.rpartition("@")[0].strip('"')
    return bool(_BOUNCE_LOCAL.fullmatch(local) or _SYSTEM_LOCAL.fullmatch(local))


def recipients_in_text(text: str, exclude: Collection[str] = (), cut: set[str] | None = None) -> list[str]:
    """The addresses in recipient position in a bounce's own words, in order, each once.

    `exclude` holds lower-cased addresses that are never recipients (the bounce's own). Where the
    text has more than `MAX_LINES` lines, `CUT_LINES` is added to `cut`.
    """
    found: dict[str, str] = {}
    for line in own_lines(text, cut):
        if "@" not in line:
            continue
        for match in ADDRESS_RE.finditer(line):
            address = clean_address(_written(line, match))
            key = (address or "").lower()
            if not address or key in found or key in exclude or _not_a_recipient(address):
                continue
            if in_recipient_position(line, match.start(), match.end()):
                found[key] = address
                if len(found) >= MAX_FOUND:
                    return list(found.values())
    return list(found.values())


def _written(line: str, match: re.Match[str]) -> str:
    """The address as the line writes it: 'user@example.com' (Exchange's quotes) without its quotes."""
    if line[match.start()] == "'" and line[match.end() : match.end() + 1] == "'":
        return match.group(0)[1:]
    return match.group(0)


def own_lines(text: str, cut: set[str] | None = None) -> Iterator[str]:
    """The lines of a bounce's text that are its own words (see the module's docstring), cut short:
    of the first `MAX_LINES` at most (where its own words go on past them, `CUT_LINES` is added to `cut`)."""
    in_header = False
    lines = text.split("\n", MAX_LINES)
    for line in lines[:MAX_LINES]:
        if in_header and line[:1] in (" ", "\t") and line.strip():
            continue  # a folded header line goes on
        in_header = False
        if line.rstrip("\r") in _SIGNATURE or _COPY_START.match(line):
            return
        if _HEADER_LINE.match(line):
            in_header = True
        elif not _QUOTED_LINE.match(line):
            yield line[:MAX_LINE]
    if len(lines) > MAX_LINES and cut is not None:
        cut.add(CUT_LINES)


def in_recipient_position(line: str, start: int, end: int) -> bool:
    """Whether the address at line[start:end] is where bounces name a failed recipient."""
    if _SENDER_AFTER.match(line, end):
        return False
    if start <= 60 and _LEAD.fullmatch(line, 0, start):
        return True  # first on its line
    cued = (
        _CUE_AFTER.match(line, end)
        or _CUE_BEFORE.search(line, max(0, start - 80), start)
        or _after_name_or_label(line, start, end)
    )
    return bool(cued) and not _asks_for_help(line[max(0, start - 200) : start])


def _after_name_or_label(line: str, start: int, end: int) -> bool:
    """A name or a label, then the address and nothing more, or a separator and what is said of it.

    "Jane Doe <x>", "Recipient: x", "Failed: x - mailbox full".
    """
    if start > 120 or not _ALONE_AFTER.fullmatch(line, end):
        return False
    label = _LABEL.fullmatch(line, 0, start)
    if label:
        name = label.group(1)
        return bool(_LABEL_NAMES_RECIPIENT.search(name) or not _LABEL_NAMES_SOMEONE_ELSE.search(name))
    return bool(_NAMED.fullmatch(line, 0, start))


def _asks_for_help(before: str) -> bool:
    sentence = before
    for end in _SENTENCE_END.finditer(before):
        sentence = before[end.end() :]
    return bool(_ASKS_FOR_HELP.search(sentence))


def names_another_recipient(line: str, address: str, others: Collection[str] = ()) -> bool:
    """Whether a line names a recipient other than `address`.

    That is one of `others` (lower-cased), or any address that starts the line.
    """
    own = address.lower()
    for match in ADDRESS_RE.finditer(line, 0, MAX_LINE):
        found = (clean_address(_written(line, match)) or "").lower()
        if not found or found == own:
            continue
        if found in others or (match.start() <= 60 and _LEAD.fullmatch(line, 0, match.start())):
            return True
    return False


def one_per_recipient(reports: Sequence[RecipientReport]) -> tuple[RecipientReport, ...]:
    """One report per recipient: repeats merged (the first's fields win), and no recipient-less
    report beside reports that name their recipients (it can only be about one of them)."""
    if len(reports) < 2:
        return tuple(reports)
    named = [r for r in reports if r.recipient]
    if not named:
        return tuple(reports)
    merged: dict[str, RecipientReport] = {}
    for report in named:
        key = (report.recipient or "").lower()
        first = merged.get(key)
        merged[key] = report if first is None else _filled(first, report)
    return tuple(merged.values())


def _filled(first: RecipientReport, later: RecipientReport) -> RecipientReport:
    """`first`, with the fields it lacks taken from a later report on the same recipient."""
    missing = {
        name: value for name, value in later.__dict__.items() if value is not None and first.__dict__.get(name) is None
    }
    return evolved(first, **missing) if missing else first
