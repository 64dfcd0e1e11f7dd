"""Recipient addresses: parsed with flanker, quoted local parts detected, unquoted forms suggested.

Outlook refuses `"taro.yamada"@outlook.jp` as if the mailbox did not exist; for such a recipient we
say how to write it without quotes, when the provider's own local-part rules allow that. Which
provider's rules hold at which domain is data: the rule packs' `mailbox_syntax` (rules/README.md).

Most recipients are plain dot-atom addresses, and some are junk no parser makes an address of;
both are split here. flanker parses the rest (quoted local parts, internationalised addresses): it
is imported only then, as its grammar costs ~150 ms to build.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from types import ModuleType
from typing import Any

from dsnworker.model import AddressInfo

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PLAIN = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")


@lru_cache(maxsize=1)
def _flanker() -> Any:
    # flanker builds its grammar on first import and warns through logging about unreachable
    # symbols; those warnings say nothing to our users and would dirty the CLI's stderr.
    import logging

    logging.getLogger("flanker.addresslib._parser.parser").setLevel(logging.ERROR)
    from flanker.addresslib import address

    return address


@lru_cache(maxsize=16)
def _plugin(name: str) -> ModuleType:
    import importlib

    _flanker()
    return importlib.import_module(f"flanker.addresslib.plugins.{name}")


def address_info(recipient: str | None, syntax: Mapping[str, str] | None = None) -> AddressInfo:
    """What the recipient is. `syntax` maps domains to their provider's local-part rules (a flanker
    plugin named in `vocabulary.MAILBOX_SYNTAXES`): whether a quoted local part can go unquoted."""
    if not recipient:
        return AddressInfo(address=None, domain=None, problem="no recipient")
    local, at, domain = recipient.rpartition("@")
    if _PLAIN.fullmatch(recipient):  # nearly every recipient
        return AddressInfo(address=f"{local}@{domain.lower()}", domain=domain.lower())
    problem = address_problem(recipient)
    if not (at and (local.startswith('"') or not recipient.isascii())):
        # junk that no parser makes an address of (no '@', a dangling dot, ...)
        if not at:
            return AddressInfo(address=recipient, domain=None, problem=problem)
        return AddressInfo(address=f"{local}@{domain.lower()}", domain=domain.lower() or None, problem=problem)
    parsed = _flanker().parse(recipient, addr_spec_only=True)
    if parsed is None:
        return AddressInfo(
            address=recipient,
            domain=domain.lower() if at else None,
            quoted_local_part=_is_quoted(local),
            problem=problem,
        )
    mailbox, domain = parsed.mailbox, parsed.hostname.lower()
    quoted = _is_quoted(mailbox)
    return AddressInfo(
        address=parsed.address,
        domain=domain,
        quoted_local_part=quoted,
        suggested_address=suggest_unquoted(mailbox, domain, syntax) if quoted else None,
        problem=problem,
    )


def address_problem(address: str | None) -> str | None:
    """Why `address` is not a syntactically valid address, for a person; None when it is one.

    Only what no mail system takes for an address: no '@', an empty local part or domain, white
    space outside quotes, a domain without a dot (but an address literal, `[192.0.2.1]`) or with an
    empty label. Local parts are judged no further: Japanese carriers long accepted
    `taro..yamada@` and `taro.@`, and quoted or internationalised local parts are valid.
    """
    if not address:
        return "no recipient"
    if _PLAIN.fullmatch(address):
        return None
    local, at, domain = address.rpartition("@")  # a quoted local part may hold an '@'
    if not at:
        return f"no '@' in {address!r}"
    if not local:
        return f"an empty local part in {address!r}"
    if not domain:
        return f"an empty domain in {address!r}"
    if not _is_quoted(local) and any(c.isspace() for c in local):
        return f"white space outside quotes in {address!r}"
    if domain.startswith("[") and domain.endswith("]"):
        return None
    if any(c.isspace() for c in domain):
        return f"white space in the domain of {address!r}"
    if "." not in domain:
        return f"a domain without a dot in {address!r}"
    if domain.startswith(".") or ".." in domain:
        return f"an empty label in the domain of {address!r}"
    return None


def _is_quoted(local_part: str) -> bool:
    return len(local_part) >= 2 and local_part.startswith('"') and local_part.endswith('"')


def suggest_unquoted(quoted_local: str, domain: str, syntax: Mapping[str, str] | None = None) -> str | None:
    """The address without quotes, if that is a valid address (for this provider); else None."""
    local = quoted_local[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    candidate = f"{local}@{domain}"
    parsed = _flanker().parse(candidate, addr_spec_only=True)
    # the unquoted text must parse to exactly the same local part, not to a fragment of it
    if parsed is None or parsed.mailbox != local or parsed.hostname.lower() != domain:
        return None
    plugin = syntax.get(domain) if syntax else None
    if plugin is not None and not _plugin(plugin).validate(parsed):
        return None
    return parsed.address
