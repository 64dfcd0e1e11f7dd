"""The returned original message: its Message-ID and the headers operators correlate sends with."""

from __future__ import annotations

import re
from email.message import Message

from dsnworker.parse.mail import Mail, _headers_message, decode_header

# Headers kept from the returned message by default: the ones a sender sets to find its send again.
_ALWAYS = ("subject", "from", "to", "date", "list-id", "feedback-id")
# Transport and filter noise that X- headers are also full of; not worth carrying in every event.
_NOISE = re.compile(
    r"(?i)^x-(ms-|microsoft-|forefront-|exchange-|google-|gm-|received|spam|virus|barracuda|"
    r"proofpoint|ironport|mimecast|originating|originalarrivaltime|ymail|yahoo|apparently|"
    r"sender-id|senderid|source|authenticated|mailer|mime|priority|msmail|ole|antiabuse|"
    r"php|env|sg-|ses-outgoing|incoming|cm-|dkim|auth|report|orcl|rcpt|hmxmr|aol|sony)"
)
# Where non-MIME bounces start quoting the original message.
_QUOTE_MARKERS = re.compile(
    r"(?im)^[ \t>|\-]*(?:-+ ?)?(?:"
    r"this is a copy of the message|original message follows|below this line is a copy|"
    r"the original message|returned message|undelivered message|message headers follow|"
    r"original message headers|content-type: message/rfc822|the headers of the message|"
    r"以下.*(?:元|原|オリジナル).*メッセージ|元のメッセージ|送信したメッセージ)"
)
_HEADER_LINE = re.compile(r"(?m)^(?:Message-I[Dd]|Subject|From|To|Date|Return-Path|Received|X-[\w-]+)[ \t]*:")


def returned_message(mail: Mail) -> Message | None:
    """The attached original (message/rfc822 or text/rfc822-headers), else headers quoted in the text."""
    cached = mail.memo.get("returned", mail)
    if cached is not mail:
        return cached  # type: ignore[return-value]
    found = _find_returned(mail)
    mail.memo["returned"] = found
    return found


def _find_returned(mail: Mail) -> Message | None:
    attached = mail.returned
    if attached is not None and len(attached.keys()) > 0:
        return attached
    body = mail.body_text
    marker = _QUOTE_MARKERS.search(body)
    start = marker.end() if marker else None
    if start is None:
        return None
    first = _HEADER_LINE.search(body, start)
    if first is None or first.start() - start > 2000:
        return None
    lines = []
    for line in body[first.start() :].split("\n"):
        if not line.strip():
            break
        lines.append(line.lstrip("> ") if line.startswith(">") else line)
    return _headers_message("\n".join(lines) + "\n\n")


def original_message_id(returned: Message | None) -> str | None:
    if returned is None:
        return None
    value = decode_header(returned.get("Message-ID") or returned.get("Message-Id"))
    match = re.search(r"<[^<>\s]+>", value)
    if match:
        return match.group(0)
    return value or None


def chosen_headers(returned: Message | None) -> dict[str, str]:
    if returned is None:
        return {}
    chosen: dict[str, str] = {}
    try:
        items = returned.items()
    except Exception:
        return {}
    for name, value in items:
        if name in chosen:
            continue
        lower = name.lower()
        if lower in _ALWAYS or (lower.startswith("x-") and not _NOISE.match(lower)):
            chosen[name] = decode_header(value)
    return chosen


def original_recipient(returned: Message | None) -> str | None:
    """The To of the returned message: the last resort for who a bounce was about."""
    if returned is None:
        return None
    return decode_header(returned.get("To")) or None
