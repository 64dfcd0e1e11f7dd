"""Helpers for the non-standard (plain-text) bounce formats: is it a bounce, and what it says.

Format modules under `formats/` use these to stay small: each one only knows its own markers.
"""

from __future__ import annotations

import re

from dsnworker.model import RecipientReport, evolved
from dsnworker.parse.mail import Mail, payload_text
from dsnworker.parse.text import find_reply_code, find_status

DAEMON_FROM = re.compile(
    r"(?i)mailer[-_ ]?daemon|postmaster|mail ?delivery|mail ?administrator|mdaemon|mail ?system|"
    r"mail ?router|mail ?transport|mailer@|nobody@|bounce|nicht zustellbar|returned mail|"
    r"no-?reply[^\n]{0,200}?(?:delivery|bounce)|system administrator|amazonses|postfix|daemon@"
)
BOUNCE_SUBJECT = re.compile(
    r"(?i)undeliver|undelivered|delivery (?:status|failure|failed|notification|problem|report)|"
    r"returned mail|failure notice|could not be delivered|not delivered|mail delivery|"
    r"non-?deliver|bounce|returned to sender|failed mail|delivery has failed|mail (?:system )?error|"
    r"warning: could not send|rejected|error sending|unable to deliver|unzustellbar|"
    r"non remis|no entregado|配信|送信エラー|エラー|届きません|未達|失敗"
)
# Lines that begin quoting the original message: nothing after them is the bounce's own text.
QUOTE_START = re.compile(
    r"(?im)^[ \t]*(?:(?:-{2,}|={2,}|\*{2,})[ \t]*)?(?:"  # not [ \t]*(...)?[ \t]*: quadratic on blank runs
    r"this is a copy of the message|original message follows|below this line is a copy|"
    r"the original message (?:was|is|follows|headers)|returned message|undelivered message (?:headers )?follows|"
    r"message headers follow|original message headers|headers? of (?:the|your) (?:original )?message|"
    r"the headers of the original message|unsent message below|your message reads)"
)
# The first transport header of a copied message: where a bounce without a marker starts quoting it.
_COPY_HEADER = re.compile(r"(?im)^(?:received|return-path|dkim-signature|arc-seal|x-received)[ \t]*:")


def looks_like_bounce(mail: Mail) -> bool:
    return bool(DAEMON_FROM.search(mail.from_) or BOUNCE_SUBJECT.search(mail.subject))


def own_text(mail: Mail) -> str:
    """The bounce's own words: the body text before it starts quoting the original message."""
    body = mail.body_text
    ends = [found.start() for found in (QUOTE_START.search(body), _COPY_HEADER.search(body)) if found]
    return body[: min(ends)] if ends else body


def report_from_text(recipient: str | None, diagnostic: str | None, **fields: str | None) -> RecipientReport:
    """A report whose status and reply code are read from its diagnostic text."""
    text = " ".join(diagnostic.split()) if diagnostic else None
    return RecipientReport(
        recipient=recipient,
        diagnostic=text or None,
        status=fields.pop("status", None) or find_status(text),
        reply_code=fields.pop("reply_code", None) or find_reply_code(text),
        **fields,  # type: ignore[arg-type]
    )


_REPLY_LINE = re.compile(r"^([245]\d\d)([ \-])(?:([245]\.\d{1,3}\.\d{1,3})(?:\s|$))?")
_COMMANDS = re.compile(
    r"(?i)\b(RCPT TO|RCPT|MAIL FROM|MAIL|end of data|final DATA|DATA|HELO|EHLO|STARTTLS|AUTH|BDAT|"
    r"initial connection|connect|greeting)\b"
)


def join_reply(lines: list[str]) -> str:
    """A multi-line SMTP reply as one line: '550-5.7.26 a' + '550 5.7.26 b' -> '550 5.7.26 a b'."""
    out: list[str] = []
    for line in lines[:60]:
        text = line.strip()
        match = _REPLY_LINE.match(text)
        if match and out:
            text = text[match.end() :].strip() if match.group(3) else text[4:].strip()
        elif match and match.group(2) == "-":
            text = f"{match.group(1)} {text[4:].strip()}"
        if text:
            out.append(text)
    return " ".join(" ".join(out).split())


def command_of(text: str | None) -> str | None:
    """The SMTP command a phrase names: 'after RCPT TO:<x>' -> 'RCPT', 'end of data' -> 'DATA'."""
    if not text:
        return None
    match = _COMMANDS.search(text)
    if not match:
        return None
    word = match.group(1).upper()
    if "DATA" in word or word == "BDAT":
        return "DATA"
    if word in ("INITIAL CONNECTION", "CONNECT", "GREETING"):
        return "CONN"
    return word.split()[0]


def readable_text(mail: Mail) -> str:
    """The body text; else the raw text of multiparts whose boundary never occurs (so have no parts)."""
    text = mail.body_text
    if text.strip():
        return text
    raw = [payload_text(part) for ctype, part in mail.leaves if ctype.startswith(("multipart/", "text/"))]
    top = payload_text(mail.msg)
    return "\n".join(dict.fromkeys(p for p in [*raw, top] if isinstance(p, str)))


def merge_reports(standard: RecipientReport, text: RecipientReport | None) -> RecipientReport:
    """A delivery-status part's report, with what the bounce's own text says better.

    The text's diagnostic, reply code, command and hint win (it shows the remote reply without
    the part's folding, and the command it answered); the part's fields win otherwise. A generic
    `X.0.0` status gives way to the specific code of the same class that the text carries.
    """
    if text is None:
        return standard
    status = standard.status
    if text.status and (not status or (status.endswith(".0.0") and text.status[0] == status[0])):
        status = text.status
    return evolved(
        standard,
        recipient=standard.recipient or text.recipient,
        original_recipient=standard.original_recipient or text.original_recipient,
        dsn_action=standard.dsn_action or text.dsn_action,
        status=status,
        reply_code=text.reply_code or standard.reply_code,
        diagnostic=text.diagnostic or standard.diagnostic,
        remote_mta=standard.remote_mta or text.remote_mta,
        reporting_mta=standard.reporting_mta or text.reporting_mta,
        command=text.command or standard.command,
        hint=text.hint or standard.hint,
    )


# --- delay warnings: not failures, the sending MTA still tries ------------------------------------

# Subjects delay warnings are sent under, from their start: Gmail and IIS "Delivery Status
# Notification (Delay)", OpenSMTPD "Delivery status notification: delayed", Exchange "Delivery
# delayed: <subject>", Postfix "Delayed Mail (still being retried)", Exim "Warning: message
# 1abcDE-000123-Fg delayed 24 hours", Sendmail "Warning: could not send message for past 4 hours".
DELAY_SUBJECT = re.compile(
    r"(?i)^\s*(?:warning\s*:\s*|\[[^\]\n]{1,40}\]\s*)?(?:"
    r"delivery status notification\s*\((?:mail delivery )?delay|"
    r"delivery (?:status )?notification\s*:\s*(?:delivery has been )?delayed|"
    r"(?:(?:e-?mail|mail|message) )?delivery (?:is |has been )?delay(?:ed)?\b|"
    r"(?:e-?mail|mail|message) (?:is |has been )?delayed|"
    r"delayed (?:e-?mail|mail|message|delivery)|"
    r"message \S{1,80} delayed|"
    r"could not send message for past)"
)
# What a delay warning's own words say, searched in lower-cased text: not delivered *yet*, still
# being tried ("has not been delivered" alone is how some MTAs word a failure, so it is not here).
DELAY_TEXT = re.compile(
    r"(?:has|have)(?:n't| not) (?:yet been delivered|been delivered yet)|"
    r"still (?:undelivered|being (?:re)?tried|(?:re)?trying)|"
    r"will (?:(?:continue|keep) (?:to )?(?:try|retry|attempt|be (?:re)?tried|be attempted)|(?:be )?retr(?:y|ied)\b)|"
    r"delivery attempts will continue|"
    r"(?:message|mail|delivery) (?:to \S{1,100} )?(?:is|has been|was) delayed|"
    r"this is a warning only|you do not need to resend"
)
# Every DELAY_TEXT phrase holds one of these: `in` settles most texts ~30x faster than the search.
_DELAY_WORDS = ("yet", "still", "will", "delayed", "warning only", "resend")
_ACTION = re.compile(r"(?im)^action[ \t]*:[ \t]*([a-z]+)")


def delay_notice(mail: Mail) -> bool:
    """A delay warning: the message is not delivered yet and the sending MTA keeps trying.

    The Action fields of a delivery-status part say so (all `delayed`); else the subject or the
    notice's own words, in a message a machine sent: a daemon sender or bounce subject, a
    delivery-status part, the original returned, or `Auto-Submitted: auto-replied` (a shop's
    "Delivery delayed" about a parcel has none).
    """
    status = mail.delivery_status
    actions = {action.lower() for action in _ACTION.findall(status)} if status is not None else set()
    if actions:  # a report that says what happened to each recipient: a failure among them is no delay
        return actions == {"delayed"}
    automatic = (
        looks_like_bounce(mail)
        or status is not None
        or mail.header("Auto-Submitted").lower().startswith("auto-replied")
        or mail.returned is not None
    )
    return automatic and bool(DELAY_SUBJECT.search(mail.subject) or says_delayed(own_text(mail)))


def says_delayed(text: str) -> bool:
    """The text says delivery is delayed and still being tried (DELAY_TEXT)."""
    lower = text.lower()
    return any(word in lower for word in _DELAY_WORDS) and DELAY_TEXT.search(lower) is not None


def as_delayed(reports: list[RecipientReport]) -> list[RecipientReport]:
    """The reports of a delay warning: each says `Action: delayed` where it says no action itself."""
    return [report if report.dsn_action else evolved(report, dsn_action="delayed") for report in reports]
