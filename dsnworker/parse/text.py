"""Small text helpers every bounce format needs: status and reply codes, fields, addresses."""

from __future__ import annotations

import re

# An enhanced status code not inside a longer number. Each pattern starts with the code's first
# digit and looks behind only after it: a pattern led by a lookbehind or an alternation is tried at
# every position of the text, one led by a character class skips to the next candidate digit (two
# to four times faster; tests/test_code_patterns.py holds them to the plain forms).
STATUS_RE = re.compile(r"([245])(?<![\d.].)\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
# A reply code where servers put one: at the start of the text or of a line, before a space or '-'.
# (not the first number of an IP address: "[203.0.113.225]" has no reply code, nor the last group of
# an IPv6 one: "[2001:db8::240]"). Plainly: (?:^|[\s;(\["'<>]|(?<![0-9A-Fa-f:]):)([245][0-5]\d)...
REPLY_RE = re.compile(r"([245](?<![^\s;(\[\"'<>:][245])(?<![0-9A-Fa-f:]:[245])[0-5]\d)(?:[\s\-,;:)\]]|\.(?!\d)|$)")
# A local part starts where a run of local-part characters starts (the lookbehind): otherwise every
# position of a long run (a 5 MB line of digits) would start its own 128-character attempt.
ADDRESS_RE = re.compile(
    r"""(?:"[^"\r\n]{1,64}"|(?<![\w!#$%&'*+/=?^`{|}~.\-])[\w!#$%&'*+/=?^`{|}~.\-]{1,128})"""
    r"""@(?:\[[\d.:a-fA-F]{3,64}\]|[\w\-]+(?:\.[\w\-]+)+)""",
)
FIELD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9\-]{1,63})[ \t]*:[ \t]*(.*)$")
_TYPE_RE = re.compile(r"\s*[A-Za-z][\w\-]{0,20}\s*")  # the type before ';' in 'rfc822; user@example.com'
# no '@' before the first: `[^<>\s]*@` tried every '@' of "<@@@..." with the rest of the run after it
_ANGLED_RE = re.compile(r"<([^<>\s@]*@[^<>\s]*)>")


def find_status(text: str | None) -> str | None:
    """The first RFC 3463 enhanced status code in the text; prefers a specific one over X.0.0."""
    if not text:
        return None
    found = None
    for match in STATUS_RE.finditer(text[:4000]):
        code = ".".join(match.groups())
        if match.group(1) == "2" and found is None and not text.lstrip().startswith("2"):
            continue  # "2.0.0" inside a failure is a version number far more often than a status
        if found is None or (found.endswith(".0.0") and not code.endswith(".0.0") and code[0] == found[0]):
            found = code
            if not code.endswith(".0.0"):
                break
    return found


def find_reply_code(text: str | None) -> str | None:
    """The SMTP reply code the remote server answered with, if the text shows one."""
    if not text:
        return None
    match = REPLY_RE.search(text[:2000])
    return match.group(1) if match else None


def unfold(value: str) -> str:
    return " ".join(value.split())


def field_blocks(text: str) -> list[list[tuple[str, str]]]:
    """RFC 822-style field groups separated by blank lines; folded lines joined, order kept."""
    blocks: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    # the folded lines of the group's last field, joined once when the field ends: adding each to
    # the value copied the whole value every time (quadratic in a field's lines)
    folded: list[str] = []
    for line in text.split("\n"):
        if not line or line.isspace():  # blank (what `not line.strip()` tests, without a copy)
            if current:
                blocks.append(_unfolded(current, folded))
                current = []
            continue
        if line[0] in " \t" and current:
            folded.append(line.strip())
            continue
        match = FIELD_RE.match(line)
        if match:
            if folded:
                current = _unfolded(current, folded)
            current.append((match.group(1).lower(), match.group(2).strip()))
    if current:
        blocks.append(_unfolded(current, folded))
    return blocks


def _unfolded(fields: list[tuple[str, str]], folded: list[str]) -> list[tuple[str, str]]:
    """The fields with the folded lines added to the last one's value; `folded` is emptied."""
    if folded:
        name, value = fields[-1]
        fields[-1] = (name, " ".join((value, *folded)))
        folded.clear()
    return fields


def strip_type(value: str | None) -> str:
    """'rfc822; user@example.com' -> 'user@example.com'; 'smtp; 550 ...' -> '550 ...'."""
    if not value:
        return ""
    head, sep, tail = value.partition(";")
    if sep and _TYPE_RE.fullmatch(head):
        return tail.strip()
    return value.strip()


def clean_address(value: str | None) -> str | None:
    """Strip the decorations bounces put around an address; None when nothing is left."""
    if not value:
        return None
    text = value.strip()
    match = _ANGLED_RE.search(text)
    if match:
        text = match.group(1)
    elif '"' not in text:
        match = ADDRESS_RE.search(text)
        if match:
            found = match.group(0)
            # 'user@example.com' (Exchange quotes its recipients): the quote is not the local part's
            quoted = found[0] == "'" and text[match.end() : match.end() + 1] == "'"
            text = found[1:] if quoted else found
    text = text.strip().strip("<>").strip().rstrip(".,;:)]>")
    if text.lower().startswith("mailto:"):
        text = text[7:]
    if not text:
        return None
    # only these can be an Exchange or X.400 form (attribute=value, SMTP:, IMCEA...): a cheap test first
    if "=" in text or text[4:5] == ":" or (text[0] in "iI" and text[:5].upper() == "IMCEA"):
        return exchange_address(text)
    return text


# Exchange's own forms of a recipient: `SMTP:user@example.com`; IMCEA encapsulation, another address
# type wrapped in an SMTP one with `+XX` hex escapes (`IMCEASMTP-user+40example+2Ecom@host`,
# `IMCEAEX-_O=ORG_OU=..._CN=jdoe@host`); X.400 O/R addresses (`/S=Doe/G=John/O=ACME/C=US/`) and
# legacy Exchange DNs (`/O=ORG/OU=.../CN=RECIPIENTS/CN=jdoe`), which are no SMTP address at all.
_SMTP_PREFIX = re.compile(r"(?i)smtp[ \t]*[:=][ \t]*")
_IMCEA = re.compile(r"(?i)IMCEA([A-Z0-9]{1,16})-([^@]{1,512})@[^@]{1,255}")
_HEX_ESCAPE = re.compile(r"\+([0-9A-Fa-f]{2})")
# an X.400 address may carry an RFC 822 one (RFC 1327: `/DDA.RFC-822=jdoe(a)example.com/`)
_X400_RFC822 = re.compile(r"(?i)(?:^|[/;])[ \t]*(?:DDA[.:])?RFC-?822[ \t]*=([^/;]{3,256})")
_RFC1327 = re.compile(r"\((a|p|b|q|u|l|r)\)")
_RFC1327_CHARS = {"a": "@", "p": "%", "b": "!", "q": '"', "u": "_", "l": "(", "r": ")"}


def exchange_address(text: str) -> str | None:
    """The SMTP address an Exchange or X.400 form of a recipient stands for: None when it names none.

    Any other text comes back as it is.
    """
    head = text[:5].upper()
    if head.startswith("SMTP"):
        prefix = _SMTP_PREFIX.match(text)
        return (text[prefix.end() :] or None) if prefix else text
    if head == "IMCEA":
        match = _IMCEA.fullmatch(text)
        if match is None:
            return text
        if match.group(1).upper() != "SMTP":
            return None  # an Exchange DN, a Notes or X.400 name: no SMTP address inside
        decoded = _HEX_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), match.group(2))
        return decoded if "@" in decoded else None
    if "@" not in text and text.count("=") >= 2 and ("/" in text or ";" in text):
        inside = _X400_RFC822.search(text)
        address = _RFC1327.sub(lambda m: _RFC1327_CHARS[m.group(1)], inside.group(1).strip()) if inside else ""
        return address if "@" in address else None
    return text


def header_address(value: str | None) -> str | None:
    """The (first) address of an address field: To, From, Original-Rcpt-To. None where it holds none:
    a display name alone (`<Undisclosed Recipients>`), an empty group (`undisclosed-recipients:;`)."""
    address = clean_address(value)
    if address is None:
        return None
    local, at, domain = address.rpartition("@")
    return address if local and domain else None


_XTEXT_RE = re.compile(r"\+(2B|3D)")
_UTF8_ADDR_RE = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")


def decode_xtext(value: str) -> str:
    """Undo RFC 3461 xtext (`+2B` for '+') and RFC 6533 `\\x{HHHH}` escapes.

    Only `+2B` and `+3D` are undone: they are the only xtext escapes an address can need, while a
    plus tag such as `taro+2024@example.jp` or `shop+41@example.jp` is common and must stay intact.
    """
    if "+" in value:
        value = _XTEXT_RE.sub(lambda m: chr(int(m.group(1), 16)), value)
    if "\\x{" in value:
        value = _UTF8_ADDR_RE.sub(_code_point, value)
    return value


def _code_point(match: re.Match[str]) -> str:
    """A `\\x{HHHH}` escape as its character; a surrogate or out-of-range one is left as written."""
    number = int(match.group(1), 16)
    return chr(number) if number <= 0x10FFFF and not 0xD800 <= number <= 0xDFFF else match.group(0)


def find_addresses(text: str) -> list[str]:
    return [m.group(0) for m in ADDRESS_RE.finditer(text)]


def host_of(value: str | None) -> str | None:
    """'dns; mx.example.com' or 'mx.example.com [192.0.2.1]' -> 'mx.example.com'."""
    text = strip_type(value)
    if not text:
        return None
    token = text.split()[0].strip("[]()<>;,").rstrip(".")
    return token.lower() or None
