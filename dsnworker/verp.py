"""The recipient a sender encoded in its own return path: VERP, and the SRS and BATV wrappings of it.

VERP (variable envelope return path): each message goes out with a return path that names its one
recipient, `bounces+kim=example.jp@sender.example` for `kim@example.jp`, so the bounce comes back
*to* an address that says whom it is about, whatever its text says. The pattern is the sender's own
(`bounces+{local}={domain}@sender.example`); `{local}` takes as much as it can, as a local part may
itself hold the separator (`a=b@example.jp` is `bounces+a=b=example.jp@...`), while a domain cannot.

On its way back the return path may have been wrapped; both wrappings are undone before the pattern
is tried, and only what then matches the pattern (so only our own domain) is believed:
- SRS (libsrs2, postsrsd): a forwarder rewrote it to `SRS0=HHH=TT=sender.example=bounces+...@forwarder`,
  or a second forwarder to `SRS1=HHH=forwarder==HHH=TT=sender.example=bounces+...@second`;
- BATV (draft-levine-smtp-batv): our own MTA signed it as `prvs=TAG=bounces+...@sender.example`.
Neither hash nor tag is checked: the secrets are the forwarder's and the MTA's, and the bounce is
already in our mailbox; the pattern decides what is ours.

Pure functions of strings: nothing here reads a message (see `dsnworker.identify`). Kept out of
`dsnworker.parse`, whose package loads every parser: the configuration checks patterns at start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dsnworker.errors import DsnworkerError

LOCAL, DOMAIN = "{local}", "{domain}"
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`|~.-]"  # what a pattern's literal local part may hold (no braces)
_LITERAL_LOCAL = re.compile(rf"{_ATEXT}*")
_DOMAIN_NAME = re.compile(r"(?i)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_DECODED_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DECODED_LOCAL = r"[^@\s<>]{1,64}"
_SRS0 = re.compile(r"(?i)SRS0[=+-][^=]{0,64}=[^=]{0,16}=([^=@]{1,255})=([^@]{1,64})@[^@]+")
_SRS1 = re.compile(r"(?i)SRS1[=+-][^=]{0,64}=[^=@]{1,255}=([=+-][^@]+@[^@]+)")
_BATV = re.compile(r"(?i)prvs=[0-9A-Za-z]{1,64}=([^@]{1,64}@[^@]+)")
_EXPECTED = (
    'expected an address with one {local} and one {domain} before the "@", '
    'such as "bounces+{local}={domain}@sender.example"'
)
MAX_ADDRESS = 512  # characters: an address longer than this is no return path of ours


class VerpPatternError(DsnworkerError, ValueError):
    """A VERP pattern that cannot be used; the message says what is expected."""


@dataclass(frozen=True)
class VerpPattern:
    """A sender's VERP return path, `bounces+{local}={domain}@sender.example`, compiled."""

    text: str
    domain: str  # the sender's domain, after the '@'
    regex: re.Pattern[str]

    @classmethod
    def parse(cls, text: object) -> VerpPattern:
        """Raises VerpPatternError saying what is expected of a pattern and what is wrong with this one."""
        if not isinstance(text, str):
            raise VerpPatternError(f"{_EXPECTED}, got {text!r}")
        local, at, domain = text.rpartition("@")
        if text.count(LOCAL) != 1 or text.count(DOMAIN) != 1 or not at or LOCAL not in local or DOMAIN not in local:
            raise VerpPatternError(f'{_EXPECTED}, got "{text}"')
        if not _DOMAIN_NAME.fullmatch(domain):
            raise VerpPatternError(f'expected the sender\'s domain name after the "@", got "{text}"')
        pieces = re.split(r"(\{local\}|\{domain\})", local)
        literals = pieces[0::2]
        if not all(_LITERAL_LOCAL.fullmatch(piece) for piece in literals):
            raise VerpPatternError(f'expected only letters, digits and .+-=_ around {LOCAL} and {DOMAIN}, got "{text}"')
        if any(not piece for piece in literals[1:-1]):
            raise VerpPatternError(f'expected a separator such as "=" between {LOCAL} and {DOMAIN}, got "{text}"')
        parts = []
        for piece in pieces:
            if piece == LOCAL:
                parts.append(f"(?P<local>{_DECODED_LOCAL})")
            elif piece == DOMAIN:
                parts.append(f"(?P<domain>{_DECODED_DOMAIN})")
            else:
                parts.append(re.escape(piece))
        regex = re.compile("(?i)" + "".join(parts) + "@" + re.escape(domain))
        return cls(text=text, domain=domain.lower(), regex=regex)

    def decode(self, address: str) -> str | None:
        """The recipient this return path names, unwrapping SRS and BATV first; None if it is not ours."""
        if len(address) > MAX_ADDRESS:
            return None
        match = self.regex.fullmatch(unwrap(address))
        if match is None:
            return None
        return f"{match.group('local')}@{match.group('domain').lower()}"


def unwrap(address: str) -> str:
    """The address under SRS0, SRS1 and BATV wrappings (any, in any order); the address itself if none."""
    for _ in range(4):  # a wrapping within a wrapping; no return path nests deeper
        srs1 = _SRS1.fullmatch(address)
        if srs1 is not None:
            address = "SRS0" + srs1.group(1)
            continue
        srs0 = _SRS0.fullmatch(address)
        if srs0 is not None:
            address = f"{srs0.group(2)}@{srs0.group(1)}"
            continue
        batv = _BATV.fullmatch(address)
        if batv is not None:
            address = batv.group(1)
            continue
        break
    return address
