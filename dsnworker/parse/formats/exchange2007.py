"""Microsoft Exchange 2007 and later (Exchange Online included): "Diagnostic information for administrators".

Below that heading Exchange names the generating and the receiving server, then, per recipient,
the address followed by the remote reply: `#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##`
(2007/2010), `Remote Server returned '550 5.1.10 ...'`, or one `DATE - Remote Server at HOST (IP)
returned '...'` line per attempt, newest first. Most of these NDRs also carry a delivery-status
part, which the standard parser reads; this module fills in what that part lacks (the remote
host, a missing Diagnostic-Code) and reads the text alone when there is no such part.
"""

from __future__ import annotations

import re

from dsnworker.model import Kind, ParsedMessage, RecipientReport, evolved
from dsnworker.parse import rfc3464
from dsnworker.parse.bounce_text import report_from_text
from dsnworker.parse.limits import READ_RECIPIENTS
from dsnworker.parse.mail import Mail
from dsnworker.parse.text import ADDRESS_RE, clean_address

_FORWARDED = re.compile(r"(?i)\s*(?:fwd?|fw|re|aw|wg|tr|rv)\s*:")  # a person passing an NDR on
NAME = "exchange2007"
_HEADINGS = (
    "Diagnostic information for administrators:",
    "管理者向けの診断情報:",
    "Diagnoseinformationen für Administratoren:",
    "Informations de diagnostic pour les administrateurs",
    "Información de diagnóstico para administradores:",
    "Informações de diagnóstico para administradores:",
    "Informazioni di diagnostica per gli amministratori:",
    "Diagnostische gegevens voor beheerders:",
)
_END = re.compile(
    r"(?m)^(?:Original message headers|元のメッセージ ヘッダー|Ursprüngliche Nachrichtenkopfzeilen|"
    r"Oorspronkelijke berichtkoppen|Intestazioni originali del messaggio|Cabeçalhos da mensagem original|"
    r"Encabezados del mensaje original|En-têtes du message d'origine)"
)
_SERVER = re.compile(r"(?m)^(Generating|Receiving) server: ?([\w.\-]+)")
_NEXT_ATTEMPT = re.compile(r"'\s+\d{1,4}[/.\-]\d{1,2}[/.\-]\d{1,4} ")
_QUOTED_REPLY = re.compile(r"'[245]\d\d[ \-]")
_AT_HOST = re.compile(r"Server at ([\w.\-]+)")
_LEGACY = re.compile(r"#([245]\d\d[ \-].{0,2000}?)\s*##")


def parse(mail: Mail) -> ParsedMessage | None:
    if _FORWARDED.match(mail.subject):
        return None
    body = mail.body_text
    # one cheap scan before the headings, which follow the short user-facing text
    if all(body.find(token, 0, 30000) < 0 for token in ("ministra", "管理者", "beheerders")):
        return None
    head = body[:30000]
    heading = next((h for h in _HEADINGS if h in head), None)
    if heading is None:
        return None
    text = body[body.find(heading) + len(heading) :]
    end = _END.search(text)
    text = text[: end.start()] if end else text[:20000]
    servers = {kind.lower(): host.lower() for kind, host in _SERVER.findall(text)}
    from_text = _from_text(text, servers)
    standard = rfc3464.standard(mail)
    if not standard:
        return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(from_text)) if from_text else None
    by_address = {(r.recipient or "").lower(): r for r in from_text}
    reports = [_enrich(r, by_address.get((r.recipient or "").lower())) for r in standard.reports]
    return ParsedMessage(kind=Kind.BOUNCE, format=NAME, reports=tuple(reports))


def _from_text(text: str, servers: dict[str, str]) -> list[RecipientReport]:
    reports: list[RecipientReport] = []
    for block in re.split(r"\n[ \t]*\n", text)[:200]:
        lines = [ln.strip() for ln in block.strip().split("\n") if ln.strip()]
        if not lines or not ADDRESS_RE.fullmatch(lines[0]):
            continue
        found = _reply(" ".join(lines[1:]))
        if found is None:
            continue
        diagnostic, host = found
        reports.append(
            report_from_text(
                clean_address(lines[0]),
                diagnostic,
                remote_mta=host or servers.get("receiving") or _host_line(lines),
                reporting_mta=servers.get("generating"),
                dsn_action="failed",
            )
        )
        if len(reports) >= READ_RECIPIENTS:
            break
    return reports


def _reply(rest: str) -> tuple[str, str | None] | None:
    """The newest remote reply in a recipient's block, and the host that gave it."""
    at = rest.find("returned '")
    quote = at + len("returned '") if at >= 0 else -1
    if quote < 0:  # localised NDRs ("リモート サーバーから '550 ...' が返されました") keep the quotes
        localised = _QUOTED_REPLY.search(rest)
        at = quote = localised.start() + 1 if localised else -1
    if quote >= 0:
        reply = rest[quote:]
        older = _NEXT_ATTEMPT.search(reply)
        reply = reply[: older.start()] if older else reply[: max(reply.rfind("'"), 0) or len(reply)]
        host = _AT_HOST.search(rest[max(0, at - 200) : at])
        return reply.strip(), host.group(1).lower() if host else None
    legacy = _LEGACY.search(rest)
    return (legacy.group(1), None) if legacy else None


def _host_line(lines: list[str]) -> str | None:
    """Exchange Online prints the remote host alone on the line after the address."""
    if len(lines) > 2 and re.fullmatch(r"[\w\-]+(?:\.[\w\-]+)+", lines[1]):
        return lines[1].lower()
    return None


def _enrich(report: RecipientReport, seen: RecipientReport | None) -> RecipientReport:
    if seen is None:
        return report
    return evolved(
        report,
        diagnostic=report.diagnostic or seen.diagnostic,
        reply_code=report.reply_code or seen.reply_code,
        status=report.status or seen.status,
        remote_mta=report.remote_mta or seen.remote_mta,
        reporting_mta=report.reporting_mta or seen.reporting_mta,
    )
