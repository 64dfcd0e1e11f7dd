"""Non-standard bounce formats, one module per family.

Each module has `NAME` and `parse(mail) -> ParsedMessage | None`, returning None when the message
is not of its family. `SPECIFIC` run before the generic RFC 3464 parser (they know their family
better than the standard fields do); `FALLBACK` runs last of all, on anything that looks like a bounce.
To add a family: add a module and list it here.
"""

from __future__ import annotations

from types import ModuleType

from dsnworker.parse.formats import (
    amazonses,
    apachejames,
    biglobe,
    courier,
    domino,
    dragonfly,
    einsundeins,
    exchange2003,
    exchange2007,
    exim,
    ezweb,
    fml,
    gmail,
    googlegroups,
    imailserver,
    kddi,
    mailfoundry,
    messagingserver,
    mfilter,
    notes,
    office365,
    opensmtpd,
    plaintext,
    postfix,
    qmail,
    sendmail,
    trendmicro,
    verizon,
    x1,
    x3,
    x6,
    yahoo,
    zoho,
)

SPECIFIC: tuple[ModuleType, ...] = (
    dragonfly,
    qmail,
    googlegroups,
    gmail,
    exim,
    amazonses,
    postfix,
    exchange2003,
    exchange2007,
    sendmail,
    ezweb,
    kddi,
    opensmtpd,
    messagingserver,
    biglobe,
    x1,
    yahoo,
    zoho,
    mfilter,
    domino,
    notes,
    office365,
    x3,
    x6,
    verizon,
    trendmicro,
    mailfoundry,
    imailserver,
    apachejames,
    fml,
    courier,
    einsundeins,
)
FALLBACK: tuple[ModuleType, ...] = (plaintext,)
