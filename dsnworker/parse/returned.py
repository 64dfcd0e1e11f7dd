"""The returned original message: its Message-ID and the headers operators correlate sends with."""

from __future__ import annotations

import re
from email.message import Message

from dsnworker.parse.mail import Mail, _headers_message, decode_header

# Headers kept from the returned message by default: the ones a sender sets to find its send again.
_ALWAYS = frozenset(("subject", "from", "to", "date", "list-id", "feedback-id"))
# Transport and filter noise that X- headers are also full of; not worth carrying in every event.
_NOISE = re.compile(
    r"(?i)^x-(ms-|microsoft-|forefront-|exchange-|google-|gm-|received|spam|virus|barracuda|"
    r"proofpoint|ironport|mimecast|originating|originalarrivaltime|ymail|yahoo|apparently|"
    r"sender-id|senderid|source|authenticated|mailer|mime|priority|msmail|ole|antiabuse|"
    r"php|env|sg-|ses-outgoing|incoming|cm-|dkim|auth|report|orcl|rcpt|hmxmr|aol|sony)"
)
# Where non-MIME bounces start quoting the original message.
_QUOTE_MARKERS = re.compile(
    r"(?im)^[ \t>|\-]*(?:"  # one run of leading decoration: two overlapping ones backtrack quadratically
    r"this is a copy of the message|original message follows|below this line is a copy|"
    r"the original message|returned message|undelivered message|message headers follow|"
    r"original message headers|content-type: message/rfc822|the headers of the message|"
    r"以下.*(?:元|原|オリジナル).*メッセージ|元のメッセージ|送信したメッセージ)"
)
# The same search on lower-cased ASCII text, led by the newline before the line: a literal start
# lets the search skip ahead instead of trying every position. Only for ASCII: (?i) also takes
# 'ı', 'İ', 'K' and 'ſ' for i, k and s, which lower() does not.
_QUOTE_MARKERS_LOWER = re.compile("\n" + _QUOTE_MARKERS.pattern.removeprefix("(?im)^"))
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
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
    if attached is not None and len(attached) > 0:  # it has headers
        return attached
    body = mail.body_text
    start = _quote_end(body)
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


def _quote_end(body: str) -> int | None:
    """Where the text starts quoting the original message (the end of the line's marker), if it does."""
    if body.isascii():
        marker = _QUOTE_MARKERS_LOWER.search("\n" + body.lower())
        return marker.end() - 1 if marker else None
    found = _QUOTE_MARKERS.search(body)
    return found.end() if found else None


def original_message_id(returned: Message | None) -> str | None:
    if returned is None:
        return None
    value = decode_header(returned.get("Message-ID"))  # Message.get ignores case: Message-Id too
    match = _MESSAGE_ID.search(value)
    if match:
        return match.group(0)
    return value or None


# Whether a field name, as written, is one `chosen_headers` keeps: the same few dozen names come in
# every message, so each is decided once. Bounded: past it, made-up names are decided each time.
_KEPT_NAMES: dict[str, bool] = {}
KEPT_NAMES_MAX = 4096


def chosen_headers(returned: Message | None) -> dict[str, str]:
    if returned is None:
        return {}
    chosen: dict[str, str] = {}
    for name, value in returned._headers:  # noqa: SLF001 - only the chosen values are fetched, not all
        if name in chosen:
            continue
        kept = _KEPT_NAMES.get(name)
        if kept is None:
            kept = _kept(name)
            if len(_KEPT_NAMES) < KEPT_NAMES_MAX:
                _KEPT_NAMES[name] = kept
        if kept:
            # an ASCII value is what compat32's header_fetch_parse would hand back unchanged
            chosen[name] = decode_header(value if value.isascii() else returned.policy.header_fetch_parse(name, value))
    return chosen


def _kept(name: str) -> bool:
    lower = name.lower()
    return lower in _ALWAYS or (lower.startswith("x-") and not _NOISE.match(lower))


def original_recipient(returned: Message | None) -> str | None:
    """The To of the returned message: the last resort for who a bounce was about."""
    if returned is None:
        return None
    return decode_header(returned.get("To")) or None
