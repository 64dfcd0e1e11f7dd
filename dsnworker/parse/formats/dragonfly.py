"""DragonFly Mail Agent (dma): a plain-text bounce with one recipient and the remote reply.

dma writes "This is the DragonFly Mail Agent ... at HOST." and then, per failed recipient,
"There was an error delivering your mail to <RCPT>." followed by its error: either the remote
server's reply after "HOST [IP] did not like our COMMAND:", or one of dma's own sentences
("Could not deliver for the last N seconds. Giving up.", "DNS lookup failure: host X not found").
No message/delivery-status part is sent, so without this module the reply is lost.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage, RecipientReport
from dsnworker.parse.bounce_text import command_of, join_reply, report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import clean_address

NAME = "dragonfly"
_MARKER = "This is the DragonFly Mail Agent"
_AGENT = re.compile(r"This is the DragonFly Mail Agent[^\n]{0,40}? at ([\w.\-]{1,255})")
_ERROR = re.compile(r"There was an error delivering your mail to <([^<>\s]{1,512})>\.?")
_DISLIKE = re.compile(r"^([\w.\-]{1,255}) \[[\d.:a-fA-F]{1,64}\] did not like our ([^:\n]{1,40}):\s*$")
_END = re.compile(r"^(?:Message headers follow|Original message follows)\.?\s*$")


def parse(mail: Mail) -> ParsedMessage | None:
    body = mail.body_text
    if _MARKER not in body[:4000]:
        return None
    agent = _AGENT.search(body)
    reporting = agent.group(1).rstrip(".").lower() if agent else None
    reports: list[RecipientReport] = []
    for match in list(_ERROR.finditer(body))[:READ_RECIPIENTS]:
        remote = command = None
        lines: list[str] = []
        for line in body[match.end() :].split("\n")[:80]:
            if _END.match(line.strip()) or _ERROR.match(line.strip()):
                break
            dislike = _DISLIKE.match(line.strip())
            if dislike:
                remote, command = dislike.group(1).lower(), command_of(dislike.group(2))
                continue
            if line.strip():
                lines.append(line)
        diagnostic = join_reply(lines)
        reports.append(
            report_from_text(
                clean_address(match.group(1)),
                diagnostic,
                remote_mta=remote,
                reporting_mta=reporting,
                command=command,
            )
        )
    if not reports:
        return None
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))
