"""Gmail's own bounce text (mailer-daemon@googlemail.com), when no usable delivery-status part exists.

Old Gmail wrote plain text: "Delivery to the following recipient failed permanently:", the
addresses indented, then "Technical details of permanent failure:" with Google's boilerplate
around the remote server's words ("The error that the other server returned was: 550 550 5.1.1 ...
(state 14)."). Newer ones say "** Message not delivered **" / "The response was:" and sometimes
attach an empty message/delivery-status. Either way the recipients are in X-Failed-Recipients.
Gmail's "(state N)" names the SMTP stage its client was in, which gives the command.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage
from dsnworker.parse import rfc3464
from dsnworker.parse.bounce_text import report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import ADDRESS_RE, clean_address, unfold

NAME = "gmail"
_MARKERS = ("Delivery to the following recipient", "Technical details of", "** ", "The response")
_END = re.compile(r"(?m)^-{3,} ?(?:Original message|Message header follows)|^Original message headers:")
_DETAILS = re.compile(r"(?m)^Technical details of (permanent|temporary) failure:[ \t]*$")
_DELAYED = re.compile(r"has been delayed|\*\* Delivery incomplete \*\*|There was a temporary problem delivering")
_LETTER_RECIPIENT = re.compile(r"(?:delivered to|delivering your message to) (" + ADDRESS_RE.pattern + ")")
_RESPONSE = re.compile(r"(?im)^The response (?:from the remote server )?was:[ \t]*$")
_HEADING = re.compile(
    r"(?m)^\*\* (?:Address not found|Message not delivered|Delivery incomplete|Message blocked) \*\*[ \t]*$"
)
_BOILERPLATE = re.compile(
    r"(?is)^Google tried to deliver your message, but it was rejected by the (?:recipient domain|"
    r"server for the recipient domain \S+ by (?P<host>[\w.\-]+?)\.? \[[\d.:a-f]+\])\.\s*"
    r"(?:We recommend contacting the other email provider for further information about the cause of "
    r"this error\.\s*)?The error that the other server returned was:\s*"
)
_STATE = re.compile(r"(?<!\s)\s*\(state (\d{1,2})\)\.?\s*$")
_STATE_COMMAND = {"6": "MAIL", "8": "AUTH", "9": "AUTH", "12": "AUTH", "13": "EHLO", "14": "RCPT"}
_STATE_COMMAND.update({"15": "DATA", "17": "DATA", "18": "DATA"})


def parse(mail: Mail) -> ParsedMessage | None:
    sender = mail.from_.lower()
    body = mail.body_text
    # Gmail's letter is known by its sender, or, relayed or forwarded by someone else, by its shape:
    # a "** Address not found **" heading and Google's "The response ... was:" or "Technical details"
    # ("** " first: a search led by "^" is tried at every position, a substring test skips ahead)
    head = body[:3000]
    if "mailer-daemon@google" not in sender and not (
        "** " in head and _HEADING.search(head) and (_RESPONSE.search(body[:5000]) or _DETAILS.search(body[:5000]))
    ):
        return None
    if rfc3464.standard(mail) is not None:
        return None  # a real DSN: the standard parser reads it
    if not any(map(body.__contains__, _MARKERS)) or "groups.google.com/support" in body:
        return None
    end = _END.search(body)
    text = body[: end.start()] if end else body[:20000]
    details = _DETAILS.search(text)
    delayed = bool(_DELAYED.search(text)) or bool(details and details.group(1) == "temporary")
    diagnostic, host, command = _diagnostic(text, details)
    reports = [
        report_from_text(
            recipient,
            diagnostic,
            remote_mta=host,
            command=command,
            dsn_action="delayed" if delayed else "failed",
        )
        for recipient in _recipients(mail, text)
    ]
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))


def _recipients(mail: Mail, text: str) -> list[str | None]:
    found = [clean_address(a) for a in mail.header("X-Failed-Recipients").split(",")]
    if not any(found):
        head = text.split("Technical details of", 1)[0]
        found = [clean_address(m.group(0)) for m in re.finditer(r"(?m)^[ \t]+" + ADDRESS_RE.pattern, head)]
    if not any(found):  # newer letters name one recipient in a sentence
        found = [clean_address(m.group(1)) for m in _LETTER_RECIPIENT.finditer(text[:5000])]
    recipients: list[str | None] = list(dict.fromkeys(a for a in found if a))[:READ_RECIPIENTS]
    return recipients or [None]


def _diagnostic(text: str, details: re.Match[str] | None) -> tuple[str | None, str | None, str | None]:
    """(the remote server's words, the remote host, the SMTP command) from the bounce text."""
    host = command = None
    response = _RESPONSE.search(text)
    if response:
        diagnostic = text[response.end() :].strip().split("\n\n", 1)[0]
    elif details:
        diagnostic = text[details.end() :].strip()
        boiler = _BOILERPLATE.match(diagnostic)
        if boiler:
            host = boiler.group("host")
            diagnostic = diagnostic[boiler.end() :]
    else:  # a delay warning without details: its own sentences are all there is
        lines = [ln for ln in text.split("\n") if ln.strip() and not ln.strip().isupper()]
        diagnostic = " ".join(lines[-3:])
    diagnostic = unfold(diagnostic)
    state = _STATE.search(diagnostic)
    if state:
        command = _STATE_COMMAND.get(state.group(1))
        diagnostic = diagnostic[: state.start()]
    diagnostic = re.sub(r"^([245]\d\d) \1\b", r"\1", diagnostic)  # Gmail doubles the reply code
    return diagnostic or None, host.lower() if host else None, command
