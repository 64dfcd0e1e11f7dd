"""Decide, per recipient report, the reason, hard flag and action, from the loaded rule packs.

The order of evidence (rules/README.md): the structural cases (complaint, auto-reply, success
DSN); then words before codes: the text rules of every provider that the report's recipient domain,
remote MTA or text points to, the reason the bounce format itself states, the generic pack's text
rules; then the code rules (status, reply code, command, weak texts), the providers' before the
generic pack's; else `undefined`. Refinements follow; a delay notice is never final.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

import regex

from dsnworker.classify.needles import NeedleIndex
from dsnworker.classify.patterns import MAX_HOST, MAX_TEXT, TextPattern, bounded, compile_globs
from dsnworker.classify.rules import GENERIC, Condition, Pack, Result, Rule
from dsnworker.classify.vocabulary import DEFAULT_STATUS, default_action, is_hard
from dsnworker.model import AddressInfo, Kind, ParsedMessage, RecipientReport, Verdict, evolved
from dsnworker.parse.text import find_reply_code, find_status

_NO_CONDITION = Condition()
_DELIVERED_ACTIONS = frozenset({"delivered", "relayed", "expanded", "deliverable"})
_SENDER_SIDE = frozenset({"blocked", "bad_reputation", "require_ptr"})
_IP_RE = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.]*\d)|\b(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}\b", re.I)
_CLIENT_IP_RE = re.compile(
    r"(?:client host|sending ip|your ip|ip address|messages from|connecting ip|client|from|ip)[:= ]{1,3}"
    r"\[?(?P<ip>(?:\d{1,3}\.){3}\d{1,3})\]?",
    re.I,
)
_URL_RE = re.compile(r"https?://[^\s<>\"')\]]+", re.I)
_BLOCKLISTS = (
    "spamhaus",
    "spamcop",
    "barracuda",
    "sorbs",
    "uceprotect",
    "abuseat",
    "mailspike",
    "psbl",
    "surbl",
    "microsoft",
)


@dataclass(slots=True)  # built for every report: plain slots are the cheapest to construct
class Facts:
    """What rules are evaluated against, derived once per report."""

    diagnostic: str
    lowered: str  # the diagnostic lower-cased once, for the patterns' substring pre-checks
    present: AbstractSet[str]  # the packs' required strings that occur in `lowered` (NeedleIndex)
    status: str | None
    reply_code: str | None
    quoted_local_part: bool
    command: str | None
    dsn_action: str | None
    hint: str | None
    format: str
    remote_mta: str | None
    reporting_mta: str | None
    recipient_domain: str | None
    found_by: str | None = None  # the id of the rule that found the reason, while refinements are tried

    @classmethod
    def of(cls, report: RecipientReport, address: AddressInfo, fmt: str, index: NeedleIndex) -> Facts:
        # cut before the whitespace is folded too: a megabyte diagnostic costs no more than a page
        raw = report.diagnostic[: MAX_TEXT * 8] if report.diagnostic else ""
        diagnostic = bounded(_without_continuation_codes(" ".join(raw.split()))) if raw else ""
        lowered = diagnostic.lower()
        return cls(
            diagnostic=diagnostic,
            lowered=lowered,
            present=index.present(lowered),
            status=preferred_status(report.status, find_status(diagnostic), report.dsn_action),
            reply_code=report.reply_code or find_reply_code(diagnostic),
            quoted_local_part=address.quoted_local_part,
            command=report.command.upper() if report.command else None,
            dsn_action=report.dsn_action,
            hint=report.hint,
            format=fmt,
            remote_mta=_host(report.remote_mta),
            reporting_mta=_host(report.reporting_mta),
            recipient_domain=address.domain,
        )


def _host(name: str | None) -> str | None:
    """A host name as the globs see it: no longer than DNS allows, so a hostile one costs no more."""
    return name[:MAX_HOST] if name else name


@dataclass(frozen=True)
class Match:
    rule: Rule
    provider: str
    groups: Mapping[str, str]
    evidence: tuple[str, ...]


class Classifier:
    def __init__(self, packs: tuple[Pack, ...], action_overrides: Mapping[str, str] | None = None) -> None:
        self.packs = packs
        self.providers = tuple(p for p in packs if p.provider != GENERIC)
        self.generic = tuple(p for p in packs if p.provider == GENERIC)
        self.action_overrides = dict(action_overrides or {})
        # domain -> its provider's local-part rules, for the addresses' facts (parse/address.py)
        self.mailbox_syntax = {
            domain: name for pack in packs for name, domains in pack.mailbox_syntax.items() for domain in domains
        }
        self._by_domain: dict[str, list[Pack]] = {}
        # every pack of a provider, extra folders' first: a refining pack need not repeat `recognise`
        self._by_provider: dict[str, list[Pack]] = {}
        self._any_host = compile_globs([g for p in self.providers for g in p.recognise.host_globs])
        # the packs a text can name: by the strings their phrases require, and those that require none
        self._by_phrase_needle: dict[str, list[Pack]] = {}
        self._phrase_always: list[Pack] = []
        for pack in self.providers:
            phrases = pack.recognise.phrases
            if phrases is None:
                continue
            if phrases.literals is None:
                self._phrase_always.append(pack)
            for needle in phrases.literals or ():
                self._by_phrase_needle.setdefault(needle, []).append(pack)
        for pack in self.providers:
            self._by_provider.setdefault(pack.provider, []).append(pack)
            for domain in pack.recognise.domains:
                self._by_domain.setdefault(domain, []).append(pack)
        self.needles = NeedleIndex(_text_patterns(packs))

    def decide(self, message: ParsedMessage, report: RecipientReport, address: AddressInfo) -> Verdict:
        facts = Facts.of(report, address, message.format, self.needles)
        structural = self._structural(message, report, facts)
        if structural is not None:
            return structural
        verdict = self._decided(facts, self.recognise(facts))
        return _as_delay(verdict) if facts.dsn_action == "delayed" else verdict

    def _decided(self, facts: Facts, recognised: list[Pack]) -> Verdict:
        """The evidence in its order (rules/README.md): words before codes, a provider's before anyone's.

        1. the recognised providers' text rules; 2. the reason the bounce format itself states;
        3. the generic packs' text rules; 4. the providers' code rules (status, reply code, command,
        weak texts), then the generic packs' code rules. Then the refinements of the reason found.
        """
        provider = recognised[0].provider if recognised else None
        found = _first_match(recognised, facts, "text_index")
        if found is not None:
            return self._provider_verdict(found, recognised, facts)
        if facts.hint:
            found = Match(rule=_hint_rule(facts.hint, facts.format), provider="format", groups={}, evidence=())
        else:
            found = _first_match(self.generic, facts, "text_index")
            if found is None:
                by_provider = _first_match(recognised, facts, "code_index")
                if by_provider is not None:
                    return self._provider_verdict(by_provider, recognised, facts)
                found = _first_match(self.generic, facts, "code_index")
        if found is None:
            return self._verdict(None, facts, provider)
        refined = self._refinement([*recognised, *self.generic], facts, found)
        return self._verdict(refined or found, facts, provider)

    def _provider_verdict(self, found: Match, recognised: list[Pack], facts: Facts) -> Verdict:
        """A provider's verdict is final but for that provider's own refinements."""
        refined = self._refinement([p for p in recognised if p.provider == found.provider], facts, found)
        return self._verdict(refined or found, facts, found.provider)

    def _refinement(self, packs: list[Pack], facts: Facts, found: Match) -> Match | None:
        """A refinement rule (one with `when.reason`) that turns the reason found into another."""
        reason = found.rule.then.reason
        facts.found_by = found.rule.id
        for pack in packs:
            for rule in pack.refinements:
                if reason in rule.when.reason:
                    matched = match_rule(rule, facts)
                    if matched is not None:
                        return Match(rule=rule, provider=pack.provider, groups=matched[0], evidence=matched[1])
        return None

    def recognise(self, facts: Facts) -> list[Pack]:
        """Provider packs that claim this report: by recipient domain, then by remote MTA host, then by
        text, in that order (the server that answered says more than words it may relay)."""
        found: list[Pack] = []
        domain = facts.recipient_domain or ""
        while domain:
            for pack in self._by_domain.get(domain, ()):
                if pack not in found:
                    found.append(pack)
            domain = domain.partition(".")[2]
        # one cheap test across all packs first: most reports name no provider's host or phrase
        if facts.remote_mta and self._any_host is not None and self._any_host.match(facts.remote_mta):
            found.extend(
                p
                for p in self.providers
                if p not in found and p.recognise.hosts and p.recognise.hosts.match(facts.remote_mta)
            )
        if facts.diagnostic:
            candidates = self._phrase_candidates(facts)
            found.extend(
                p
                for p in self.providers
                if p in candidates
                and p not in found
                and p.recognise.phrases is not None
                and p.recognise.phrases.search(facts.diagnostic, facts.lowered, facts.present)
            )
        return _with_siblings(found, self._by_provider) if found else found

    def _phrase_candidates(self, facts: Facts) -> set[Pack]:
        """The provider packs whose recognising phrases can occur in the diagnostic (a superset)."""
        candidates = set(self._phrase_always)
        for needle in facts.present.intersection(self._by_phrase_needle):
            candidates.update(self._by_phrase_needle[needle])
        return candidates

    def _structural(self, message: ParsedMessage, report: RecipientReport, facts: Facts) -> Verdict | None:
        if message.kind is Kind.FEEDBACK:
            details = {"feedback_type": report.feedback_type} if report.feedback_type else {}
            return self._fixed("feedback", "core.feedback", None, details)
        if message.kind is Kind.VACATION:
            return self._fixed("vacation", "core.vacation", None)
        if message.kind is Kind.NOT_BOUNCE:
            return self._fixed("not_bounce", None, None)
        if facts.dsn_action in _DELIVERED_ACTIONS:
            return self._fixed("delivered", "core.delivered", facts.status or "2.0.0")
        return None

    def _fixed(
        self, reason: str, rule_id: str | None, status: str | None, details: Mapping[str, str] | None = None
    ) -> Verdict:
        action = default_action(reason, False, self.action_overrides)
        return Verdict(
            reason=reason, hard=False, action=action, status=status, provider=None, rule=rule_id, details=details or {}
        )

    def _captured(self, provider: str, facts: Facts, details: dict[str, str]) -> None:
        """Details the provider's `capture` patterns read (its reference codes), where none is set."""
        for pack in self._by_provider.get(provider, ()):
            for pattern in pack.capture:
                match = pattern.search(facts.diagnostic, facts.lowered, facts.present)
                if match is not None:
                    for key, value in match.groupdict().items():
                        if value and key not in details:
                            details[key] = value

    def _verdict(self, found: Match | None, facts: Facts, provider: str | None) -> Verdict:
        """The verdict of the deciding rule (None: no rule decided, the reason is `undefined`)."""
        then = found.rule.then if found else None
        # nothing decided: a server's words no rule understood are `on_hold` (as the reference analyzer
        # says it); no words at all, `undefined`
        reason = then.reason if then else ("on_hold" if facts.diagnostic else "undefined")
        status = facts.status or (then.status if then else None) or _inferred_status(reason, facts)
        hard = then.hard if then and then.hard is not None else is_hard(reason, status, facts.reply_code)
        action = (then.action if then and then.action else None) or default_action(reason, hard, self.action_overrides)
        details: dict[str, str] = dict(then.details) if then else {}
        if found:
            details.update(found.groups)
        if reason in _SENDER_SIDE:
            _sender_side_details(details, facts.diagnostic)
        if provider is not None and facts.diagnostic:
            self._captured(provider, facts, details)
        return Verdict(
            reason=reason,
            hard=hard,
            action=action,
            status=status,
            provider=provider,
            rule=found.rule.id if found else None,
            details=details,
            evidence=found.evidence if found else (),
            reply_code=facts.reply_code,
        )


# Multi-line SMTP replies repeat their codes on every line ("550-5.1.1 ... 550-5.1.1 ..."); once the
# lines are joined, the repeats sit inside sentences and break the phrases rules look for.
_CONTINUATION = re.compile(r"(?<=\S) [245]\d\d[- ](?:[245]\.\d{1,3}\.\d{1,3} )?(?=\S)")
_LEADING_CODE = re.compile(r"([245]\d\d)[- ]")  # compiled once: re.match(str) looks its cache up every report


def _without_continuation_codes(text: str) -> str:
    match = _LEADING_CODE.match(text)
    if match is None or f" {match.group(1)}" not in text[4:]:
        return text
    code = match.group(1)
    return _CONTINUATION.sub(lambda m: " " if m.group(0)[1:4] == code else m.group(0), text)


def _first_match(packs: Sequence[Pack], facts: Facts, index: str) -> Match | None:
    """The first rule of the kind `index` names ("text_index" or "code_index"), pack by pack, that
    holds; only the rules whose required strings occur here (and those that require none) are tried."""
    for pack in packs:
        for rule in getattr(pack, index).candidates(facts.present):
            found = match_rule(rule, facts)
            if found is not None:
                groups, evidence = found
                return Match(rule=rule, provider=pack.provider, groups=groups, evidence=evidence)
    return None


def _text_patterns(packs: Sequence[Pack]) -> Iterator[TextPattern]:
    """Every text pattern of the packs: rules' conditions and exceptions, recognition, captures."""
    for pack in packs:
        if pack.recognise.phrases is not None:
            yield pack.recognise.phrases
        yield from pack.capture
        for rule in pack.rules:
            for condition in (rule.when, *rule.unless):
                for pattern in (condition.diagnostic, condition.not_diagnostic):
                    if pattern is not None:
                        yield pattern


def _as_delay(verdict: Verdict) -> Verdict:
    """A delay notice: the sending MTA is still trying. Whatever the text says, nothing is final
    yet: temporary (status class 4), never hard, retry."""
    status = verdict.status
    if status is None or status[0] != "4":
        status = "4" + (status or "4.0.0")[1:]
    return evolved(verdict, status=status, hard=False, action="retry", details={**verdict.details, "delayed": True})


def _hint_rule(reason: str, fmt: str) -> Rule:
    """A stand-in rule for a reason the bounce format itself states."""
    return Rule(id=f"format.{fmt}", when=_NO_CONDITION, then=Result(reason=reason), examples=())


def preferred_status(field: str | None, in_text: str | None, dsn_action: str | None = None) -> str | None:
    """The Status field, unless the server's own text gives a more specific code of the same class.

    MTAs write generic codes (5.0.0, or 4.4.7 when they give up) in the Status field while the
    remote server's reply carries the real one (550 5.7.1 ...). A failure the MTA reports with a
    temporary field after the server answered permanently (Postfix's 4.x.x for a 5xx greeting it
    did not trust) is the server's permanent code.
    """
    if not field or not in_text:
        return field or in_text
    if field[0] == in_text[0] and field != in_text and not in_text.endswith(".0.0"):
        return in_text
    if dsn_action == "failed" and field[0] == "4" and in_text[0] == "5" and not in_text.endswith(".0.0"):
        return in_text
    return field


def _sender_side_details(details: dict[str, str], diagnostic: str) -> None:
    """Fill in the listed IP, delisting URL and list name the text gives, where no rule captured them."""
    if "blocklist" in details:
        lowered = details["blocklist"].lower()
        details["blocklist"] = next((name for name in _BLOCKLISTS if name in lowered), lowered)
    else:
        lowered = diagnostic.lower()
        name = next((name for name in _BLOCKLISTS if name in lowered and name != "microsoft"), None)
        if name:
            details["blocklist"] = name
    if "listed_ip" not in details and "listed_host" not in details:
        # the IP a refusal names as the client's, else the first in the text
        match = _CLIENT_IP_RE.search(diagnostic) or _IP_RE.search(diagnostic)
        if match:
            details["listed_ip"] = match.group("ip") if "ip" in match.groupdict() else match.group(0)
    if "delist_url" not in details:
        match = _URL_RE.search(diagnostic)
        if match:
            details["delist_url"] = match.group(0).rstrip(".,;")


def _with_siblings(found: list[Pack], by_provider: Mapping[str, list[Pack]]) -> list[Pack]:
    """Each recognised provider's packs, all of them, in load order (an extra folder's first)."""
    packs: list[Pack] = []
    for pack in found:
        packs.extend(sibling for sibling in by_provider[pack.provider] if sibling not in packs)
    return packs


def _inferred_status(reason: str, facts: Facts) -> str | None:
    code = DEFAULT_STATUS.get(reason)
    if code is None:
        return None
    temporary = (facts.reply_code or "").startswith("4") or (not facts.reply_code and facts.dsn_action == "delayed")
    return ("4" if temporary else "5") + code[1:]


def match_rule(rule: Rule, facts: Facts) -> tuple[dict[str, str], tuple[str, ...]] | None:
    """The captured details and the evidence if the rule applies, else None."""
    found = match_condition(rule.when, facts)
    if found is None or any(match_condition(condition, facts) is not None for condition in rule.unless):
        return None
    return found


def match_condition(when: Condition, facts: Facts) -> tuple[dict[str, str], tuple[str, ...]] | None:
    """The captured details and the evidence if every condition given holds, else None."""
    for check in when.checks:
        if not check(facts):
            return None
    match = None
    if when.diagnostic is not None:
        match = when.diagnostic.search(facts.diagnostic, facts.lowered, facts.present)
        if match is None:
            return None
    if when.not_diagnostic is not None and when.not_diagnostic.search(facts.diagnostic, facts.lowered, facts.present):
        return None
    return _evidence(when, facts, match)


def _evidence(when: Condition, facts: Facts, match: regex.Match[str] | None) -> tuple[dict[str, str], tuple[str, ...]]:
    """Named groups captured, and what held, in words (built only for the rule that matched)."""
    evidence: list[str] = []
    if when.status:
        evidence.append(f"status {facts.status}")
    if when.reply_code:
        evidence.append(f"reply code {facts.reply_code}")
    if when.command:
        evidence.append(f"command {facts.command}")
    groups: dict[str, str] = {}
    if match is not None:
        order = when.diagnostic.group_order() if when.diagnostic is not None else {}
        # in the order the pattern names them (the match may come from one alternative alone)
        captured = sorted(match.groupdict().items(), key=lambda item: order.get(item[0], 0))
        groups = {k: v for k, v in captured if v}
        evidence.append(f"diagnostic matched {match.group(0)!r}")
    if when.quoted_local_part:
        evidence.append("quoted local part")
    return groups, tuple(evidence)
