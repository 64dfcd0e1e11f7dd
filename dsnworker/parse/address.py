"""Recipient addresses: parsed with flanker, quoted local parts detected, unquoted forms suggested.

Outlook refuses `"taro.yamada"@outlook.jp` as if the mailbox did not exist; for such a recipient we
say how to write it without quotes, when the provider's own local-part rules allow that.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from types import ModuleType

from dsnworker.model import AddressInfo

# flanker builds its grammar on first import and warns through logging about unreachable symbols;
# those warnings say nothing to our users and would dirty the CLI's stderr.
logging.getLogger("flanker.addresslib._parser.parser").setLevel(logging.ERROR)

from flanker.addresslib import address as flanker_address  # noqa: E402
from flanker.addresslib.plugins import aol, gmail, hotmail, icloud, yahoo  # noqa: E402

# Domains whose local-part rules flanker knows; any other domain gets RFC 5321's dot-atom check.
_VALIDATORS: dict[str, ModuleType] = {}
for _domains, _plugin in (
    (
        (
            "outlook.com",
            "outlook.jp",
            "hotmail.com",
            "hotmail.co.jp",
            "hotmail.co.uk",
            "live.com",
            "live.jp",
            "msn.com",
        ),
        hotmail,
    ),
    (("gmail.com", "googlemail.com"), gmail),
    (("yahoo.com", "yahoo.co.jp", "yahoo.co.uk", "ymail.com", "rocketmail.com"), yahoo),
    (("icloud.com", "me.com", "mac.com"), icloud),
    (("aol.com", "aim.com"), aol),
):
    for _domain in _domains:
        _VALIDATORS[_domain] = _plugin


@lru_cache(maxsize=4096)
def address_info(recipient: str | None) -> AddressInfo:
    if not recipient:
        return AddressInfo(address=None, domain=None)
    parsed = flanker_address.parse(recipient, addr_spec_only=True)
    if parsed is None:
        local, at, domain = recipient.rpartition("@")
        return AddressInfo(
            address=recipient, domain=domain.lower() if at else None, quoted_local_part=_is_quoted(local)
        )
    mailbox, domain = parsed.mailbox, parsed.hostname.lower()
    quoted = _is_quoted(mailbox)
    return AddressInfo(
        address=parsed.address,
        domain=domain,
        quoted_local_part=quoted,
        suggested_address=suggest_unquoted(mailbox, domain) if quoted else None,
    )


def _is_quoted(local_part: str) -> bool:
    return len(local_part) >= 2 and local_part.startswith('"') and local_part.endswith('"')


def suggest_unquoted(quoted_local: str, domain: str) -> str | None:
    """The address without quotes, if that is a valid address (for this provider); else None."""
    local = quoted_local[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    candidate = f"{local}@{domain}"
    parsed = flanker_address.parse(candidate, addr_spec_only=True)
    # the unquoted text must parse to exactly the same local part, not to a fragment of it
    if parsed is None or parsed.mailbox != local or parsed.hostname.lower() != domain:
        return None
    validator = _VALIDATORS.get(domain)
    if validator is not None and not validator.validate(parsed):
        return None
    return parsed.address
