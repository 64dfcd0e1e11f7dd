"""Rule packs: YAML files under `rules/`, validated and compiled once when loaded.

A pack says how to recognise a provider and lists ordered rules; each rule has conditions
(`when`), a result (`then`) and `examples` that `dsnworker rules check` and the tests run.
The format is documented in `rules/README.md`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import regex

from dsnworker.classify import pack_cache
from dsnworker.classify.patterns import (
    TextPattern,
    UnsafePattern,
    checked_pattern,
    compile_alternatives,
    compile_globs,
    grows,
    split_alternatives,
)
from dsnworker.classify.vocabulary import ACTIONS, CAN_BE_HARD, MAILBOX_SYNTAXES, REASONS
from dsnworker.errors import RuleError

GENERIC = "generic"
_PACK_KEYS = {"provider", "description", "recognise", "capture", "rules", "mailbox_syntax"}
_RECOGNISE_KEYS = {"domains", "hosts", "phrases"}
_WHEN_KEYS = {
    "status",
    "reply_code",
    "diagnostic",
    "not_diagnostic",
    "quoted_local_part",
    "command",
    "dsn_action",
    "hint",
    "format",
    "remote_mta",
    "reporting_mta",
    "recipient_domain",
    "reason",
    "rule",
}
_THEN_KEYS = {"reason", "hard", "action", "status", "details"}
_RULE_KEYS = {"id", "description", "when", "unless", "then", "examples", "weak"}
_EXAMPLE_KEYS = {
    "diagnostic",
    "status",
    "reply_code",
    "recipient",
    "remote_mta",
    "reporting_mta",
    "command",
    "dsn_action",
    "hint",
    "format",
    "expect",
    "note",
}
DETAIL_GROUPS = ("blocklist", "listed_ip", "listed_host", "delist_url", "ref")


@dataclass(frozen=True)
class Condition:
    """The `when` of a rule; every condition given must hold."""

    status: tuple[str, ...] = ()
    reply_code: tuple[str, ...] = ()
    diagnostic: TextPattern | None = None
    not_diagnostic: TextPattern | None = None
    quoted_local_part: bool | None = None
    command: tuple[str, ...] = ()
    dsn_action: tuple[str, ...] = ()
    hint: tuple[str, ...] = ()
    format: tuple[str, ...] = ()
    remote_mta: regex.Pattern[str] | None = None
    reporting_mta: regex.Pattern[str] | None = None  # the host that wrote the report (DSN Reporting-MTA)
    recipient_domain: tuple[str, ...] = ()
    reason: tuple[str, ...] = ()  # makes the rule a refinement of a reason an earlier rule found
    rule: tuple[str, ...] = ()  # for a refinement: only of the reason these rules found

    @cached_property
    def checks(self) -> tuple[Callable[[Any], bool], ...]:
        """One test per field condition given (not the text patterns), over an object with the
        same attribute names (the classifier's Facts): built once, so evaluating a rule runs only
        the tests it has."""
        checks: list[Callable[[Any], bool]] = []
        if self.quoted_local_part is not None:
            quoted = self.quoted_local_part
            checks.append(lambda facts: facts.quoted_local_part == quoted)
        if self.status:
            checks.append(_status_check(self.status))
        if self.reply_code:
            codes = self.reply_code
            checks.append(lambda facts: facts.reply_code is not None and facts.reply_code.startswith(codes))
        for name in ("command", "dsn_action", "hint", "format", "found_by"):
            allowed = frozenset(getattr(self, "rule" if name == "found_by" else name))
            if allowed:
                checks.append(lambda facts, name=name, allowed=allowed: getattr(facts, name) in allowed)
        for name in ("remote_mta", "reporting_mta"):
            globs = getattr(self, name)
            if globs is not None:
                checks.append(
                    lambda facts, name=name, globs=globs: (
                        bool(getattr(facts, name)) and globs.match(getattr(facts, name)) is not None
                    )
                )
        if self.recipient_domain:
            suffixes = tuple("." + d for d in self.recipient_domain)
            exact = frozenset(self.recipient_domain)
            checks.append(
                lambda facts: (
                    bool(facts.recipient_domain)
                    and (facts.recipient_domain in exact or facts.recipient_domain.endswith(suffixes))
                )
            )
        return tuple(checks)


def _status_range(pattern: str) -> tuple[str, int, int]:
    """'5.7.606-649' -> ('5.7', 606, 649)."""
    head, _, span = pattern.rpartition(".")
    low, _, high = span.partition("-")
    return head, int(low), int(high)


def _status_check(patterns: tuple[str, ...]) -> Callable[[Any], bool]:
    """'5.1.1' matches exactly; '5.7' or '5.7.' match the prefix; 'x' matches any one part;
    '5.7.606-649' matches a range of the last part (Microsoft documents its codes in ranges)."""
    ranges = [_status_range(p) for p in patterns if "-" in p]
    plain = [p for p in patterns if "-" not in p]
    exact = frozenset(p for p in plain if "x" not in p and not p.endswith(".") and p.count(".") == 2)
    prefixes = tuple(p.rstrip(".") + "." for p in plain if "x" not in p and p not in exact)
    wild = [p.rstrip(".").split(".") for p in plain if "x" in p]

    def check(facts: Any) -> bool:
        status = facts.status
        if status is None:
            return False
        if status in exact or status.startswith(prefixes):
            return True
        have = status.split(".")
        if ranges and len(have) == 3:
            head, last = f"{have[0]}.{have[1]}", int(have[2])
            if any(head == start and low <= last <= high for start, low, high in ranges):
                return True
        return any(len(w) <= len(have) and all(a in ("x", b) for a, b in zip(w, have, strict=False)) for w in wild)

    return check


@dataclass(frozen=True)
class Result:
    reason: str
    hard: bool | None = None
    action: str | None = None
    status: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    id: str
    when: Condition
    then: Result
    examples: tuple[Mapping[str, Any], ...]
    description: str = ""
    unless: tuple[Condition, ...] = ()  # the rule does not apply when any of these holds
    weak: bool = False  # a text that says less than a status code: tried with the code rules

    @property
    def reads_text(self) -> bool:
        """Decided by what the server wrote: tried before any rule that reads codes only."""
        return self.when.diagnostic is not None and not self.weak


@dataclass(frozen=True)
class Recognise:
    domains: frozenset[str] = frozenset()
    hosts: regex.Pattern[str] | None = None
    phrases: TextPattern | None = None
    host_globs: tuple[str, ...] = ()  # the globs `hosts` was compiled from


@dataclass(frozen=True, eq=False)  # a pack is itself: compared by identity (its fields are long tuples)
class Pack:
    provider: str
    path: str
    recognise: Recognise
    rules: tuple[Rule, ...]
    description: str = ""
    # patterns whose named groups (a reference code, say) are read from any report of this provider
    capture: tuple[TextPattern, ...] = ()
    # the provider's own local-part rules (a name of MAILBOX_SYNTAXES) -> the domains they hold at
    mailbox_syntax: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @cached_property
    def text_rules(self) -> tuple[Rule, ...]:
        """Rules that find a reason in the server's words: the first pass."""
        return tuple(r for r in self.rules if not r.when.reason and r.reads_text)

    @cached_property
    def code_rules(self) -> tuple[Rule, ...]:
        """Rules that find a reason in the codes (status, reply code, command, action) or in a weak
        text: the second pass, after every pack's text rules."""
        return tuple(r for r in self.rules if not r.when.reason and not r.reads_text)

    @cached_property
    def text_index(self) -> RuleIndex:
        return RuleIndex(self.text_rules)

    @cached_property
    def code_index(self) -> RuleIndex:
        return RuleIndex(self.code_rules)

    @cached_property
    def refinements(self) -> tuple[Rule, ...]:
        """Rules that change a reason already found (`when.reason`), e.g. user_unknown after DATA."""
        return tuple(r for r in self.rules if r.when.reason)


class RuleIndex:
    """Which rules of a list can apply to a text, from the required strings the text holds.

    A rule whose diagnostic pattern requires strings is a candidate only when one of them occurs;
    a rule without such strings (no text condition, or a pattern that requires none) always is.
    """

    __slots__ = ("rules", "_by_needle", "_always")

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules
        self._by_needle: dict[str, list[int]] = {}
        always: list[int] = []
        for position, rule in enumerate(rules):
            needles = rule.when.diagnostic.literals if rule.when.diagnostic is not None else None
            if needles is None:
                always.append(position)
            for needle in needles or ():
                self._by_needle.setdefault(needle, []).append(position)
        self._always = tuple(always)

    def candidates(self, present: AbstractSet[str]) -> list[Rule]:
        """The rules that can apply, in list order, given the required strings `present` in the text."""
        positions = set(self._always)
        for needle in present:
            found = self._by_needle.get(needle)
            if found is not None:
                positions.update(found)
        return [self.rules[position] for position in sorted(positions)]


def default_rules_dir() -> Path:
    """The packs shipped with dsnworker (package data when installed; `rules/` in a checkout)."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "rules"
    return installed if installed.is_dir() else package.parent / "rules"


def load_packs(*dirs: Path | str) -> tuple[Pack, ...]:
    """Load every `*.yaml` pack in the folders (default: the shipped ones); the generic pack last.

    A later folder's pack for the same provider is added after the earlier one's rules, ahead of
    them: an operator's folder can refine a shipped provider without copying it.
    """
    folders = [Path(d) for d in dirs] or [default_rules_dir()]
    files: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            raise RuleError(str(folder), None, "rule folder does not exist")
        files.extend(sorted(folder.glob("*.yaml")))
    key = pack_cache.cache_key(files)
    cached = pack_cache.read(key)
    if isinstance(cached, tuple) and all(isinstance(p, Pack) for p in cached):
        return cached  # the same files, loaded and proven by an earlier run
    loaded = _ordered([load_pack(path) for path in files])
    pack_cache.write(key, loaded)
    return loaded


def _ordered(packs: list[Pack]) -> tuple[Pack, ...]:
    """Providers' packs before the generic ones, a later folder's first; rule ids unique."""
    ordered = [p for p in reversed(packs) if p.provider != GENERIC] + [
        p for p in reversed(packs) if p.provider == GENERIC
    ]
    ids: dict[str, str] = {}
    for pack in ordered:
        for rule in pack.rules:
            if rule.id in ids and ids[rule.id] != pack.path:
                raise RuleError(pack.path, rule.id, f"rule id is also used in {ids[rule.id]}")
            ids[rule.id] = pack.path
    return tuple(ordered)


def load_pack(path: Path) -> Pack:
    # PyYAML (~9 ms to import) only when a pack is read: a run served by pack_cache never needs it
    import yaml

    # libyaml's loader when PyYAML was built with it: ~8x faster
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    where = str(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(where, None, f"cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise RuleError(where, None, f"invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RuleError(where, None, "expected a mapping with keys 'provider' and 'rules'")
    _no_unknown_keys(where, None, "pack", data, _PACK_KEYS)
    provider = data.get("provider")
    if not isinstance(provider, str) or not regex.fullmatch(r"[a-z][a-z0-9_\-]*", provider):
        raise RuleError(where, None, "'provider' must be a lower-case name such as 'microsoft'")
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise RuleError(where, None, "'rules' must be a non-empty list")
    rules = tuple(_rule(where, provider, raw, index) for index, raw in enumerate(raw_rules))
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise RuleError(where, rule.id, "duplicate rule id")
        seen.add(rule.id)
    return Pack(
        provider=provider,
        path=where,
        recognise=_recognise(where, data.get("recognise") or {}),
        rules=rules,
        description=str(data.get("description") or ""),
        capture=tuple(
            _pattern(where, None, "capture", [source])
            for source in _strings(where, None, "capture", data.get("capture"))
        ),
        mailbox_syntax=_mailbox_syntax(where, data.get("mailbox_syntax")),
    )


def _mailbox_syntax(where: str, raw: Any) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise RuleError(where, None, "'mailbox_syntax' must map a syntax name to a list of domains")
    syntax: dict[str, tuple[str, ...]] = {}
    for name, domains in raw.items():
        if name not in MAILBOX_SYNTAXES:
            raise RuleError(
                where, None, f"'mailbox_syntax' name {name!r} is not one of {', '.join(sorted(MAILBOX_SYNTAXES))}"
            )
        syntax[name] = tuple(d.lower() for d in _strings(where, None, f"mailbox_syntax.{name}", domains))
    return syntax


def _recognise(where: str, raw: Any) -> Recognise:
    if not isinstance(raw, dict):
        raise RuleError(where, None, "'recognise' must be a mapping of domains, hosts, phrases")
    _no_unknown_keys(where, None, "recognise", raw, _RECOGNISE_KEYS)
    domains = _strings(where, None, "recognise.domains", raw.get("domains"))
    hosts = _strings(where, None, "recognise.hosts", raw.get("hosts"))
    phrases = _strings(where, None, "recognise.phrases", raw.get("phrases"))
    return Recognise(
        domains=frozenset(d.lower().lstrip("@") for d in domains),
        hosts=compile_globs(list(hosts)),
        host_globs=tuple(hosts),
        phrases=_pattern(where, None, "recognise.phrases", list(phrases)) if phrases else None,
    )


def _rule(where: str, provider: str, raw: Any, index: int) -> Rule:
    if not isinstance(raw, dict):
        raise RuleError(where, f"#{index + 1}", "each rule must be a mapping with id, when, then")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not rule_id.startswith(provider + "."):
        raise RuleError(
            where, str(rule_id or f"#{index + 1}"), f"rule 'id' must be a string starting with '{provider}.'"
        )
    _no_unknown_keys(where, rule_id, "rule", raw, _RULE_KEYS)
    when_raw = raw.get("when") or {}
    then_raw = raw.get("then")
    if not isinstance(when_raw, dict):
        raise RuleError(where, rule_id, "'when' must be a mapping of conditions")
    if not isinstance(then_raw, dict):
        raise RuleError(where, rule_id, "'then' must be a mapping with at least 'reason'")
    _no_unknown_keys(where, rule_id, "when", when_raw, _WHEN_KEYS)
    _no_unknown_keys(where, rule_id, "then", then_raw, _THEN_KEYS)
    examples = raw.get("examples") or []
    if not isinstance(examples, list) or not all(isinstance(e, dict) for e in examples):
        raise RuleError(where, rule_id, "'examples' must be a list of mappings")
    for example in examples:
        _no_unknown_keys(where, rule_id, "example", example, _EXAMPLE_KEYS)
        if not isinstance(example.get("expect"), dict):
            raise RuleError(where, rule_id, "every example needs 'expect' (a mapping such as {reason: user_unknown})")
    unless_raw = raw.get("unless") or []
    if isinstance(unless_raw, dict):
        unless_raw = [unless_raw]
    if not isinstance(unless_raw, list) or not all(isinstance(u, dict) and u for u in unless_raw):
        raise RuleError(where, rule_id, "'unless' must be a condition mapping, or a list of them (any one cancels)")
    for condition in unless_raw:
        _no_unknown_keys(where, rule_id, "unless", condition, _WHEN_KEYS - {"reason"})
        if "rule" in condition and "reason" not in when_raw:
            raise RuleError(where, rule_id, "'unless.rule' is for a refinement (a rule with 'when.reason')")
    if "rule" in when_raw and "reason" not in when_raw:
        raise RuleError(where, rule_id, "'when.rule' is for a refinement: give 'when.reason' too")
    weak = raw.get("weak", False)
    if not isinstance(weak, bool):
        raise RuleError(where, rule_id, "'weak' must be true or false")
    if weak and "diagnostic" not in when_raw:
        raise RuleError(where, rule_id, "'weak: true' is for a rule with 'when.diagnostic' (a text that says little)")
    return Rule(
        id=rule_id,
        when=_condition(where, rule_id, when_raw),
        then=_result(where, rule_id, then_raw),
        examples=tuple(examples),
        description=str(raw.get("description") or ""),
        unless=tuple(_condition(where, rule_id, u) for u in unless_raw),
        weak=weak,
    )


def _condition(where: str, rule_id: str, raw: dict[str, Any]) -> Condition:
    qlp = raw.get("quoted_local_part")
    if qlp is not None and not isinstance(qlp, bool):
        raise RuleError(where, rule_id, "'when.quoted_local_part' must be true or false")
    statuses = _strings(where, rule_id, "when.status", raw.get("status"))
    for status in statuses:
        if not regex.fullmatch(r"[245x](?:\.(?:\d{1,3}|x)){0,2}\.?|[245]\.\d{1,3}\.\d{1,3}-\d{1,3}", status):
            raise RuleError(
                where,
                rule_id,
                f"'when.status' value {status!r} is not a status code, prefix or range like '5.1.1', '5.7.' or "
                "'5.7.606-649'",
            )
        if "-" in status and _status_range(status)[1] > _status_range(status)[2]:
            raise RuleError(where, rule_id, f"'when.status' range {status!r} runs backwards")
    codes = _strings(where, rule_id, "when.reply_code", raw.get("reply_code"))
    for code in codes:
        if not regex.fullmatch(r"[245]\d{0,2}", code):
            raise RuleError(
                where, rule_id, f"'when.reply_code' value {code!r} is not a reply code or prefix like '550' or '4'"
            )
    hints = _strings(where, rule_id, "when.hint", raw.get("hint"))
    reasons = _strings(where, rule_id, "when.reason", raw.get("reason"))
    for key, values in (("hint", hints), ("reason", reasons)):
        for value in values:
            if value not in REASONS:
                raise RuleError(where, rule_id, f"'when.{key}' value {value!r} is not a reason of the vocabulary")
    return Condition(
        status=statuses,
        reply_code=codes,
        diagnostic=_optional_pattern(where, rule_id, "when.diagnostic", raw.get("diagnostic")),
        not_diagnostic=_optional_pattern(where, rule_id, "when.not_diagnostic", raw.get("not_diagnostic")),
        quoted_local_part=qlp,
        command=tuple(c.upper() for c in _strings(where, rule_id, "when.command", raw.get("command"))),
        dsn_action=tuple(a.lower() for a in _strings(where, rule_id, "when.dsn_action", raw.get("dsn_action"))),
        hint=hints,
        format=_strings(where, rule_id, "when.format", raw.get("format")),
        remote_mta=compile_globs(list(_strings(where, rule_id, "when.remote_mta", raw.get("remote_mta")))),
        reporting_mta=compile_globs(list(_strings(where, rule_id, "when.reporting_mta", raw.get("reporting_mta")))),
        recipient_domain=tuple(
            d.lower() for d in _strings(where, rule_id, "when.recipient_domain", raw.get("recipient_domain"))
        ),
        reason=reasons,
        rule=_strings(where, rule_id, "when.rule", raw.get("rule")),
    )


def _result(where: str, rule_id: str, raw: dict[str, Any]) -> Result:
    reason = raw.get("reason")
    if reason not in REASONS:
        raise RuleError(
            where,
            rule_id,
            f"'then.reason' must be one of the vocabulary ({', '.join(sorted(REASONS))}), not {reason!r}",
        )
    hard = raw.get("hard")
    if hard is not None and not isinstance(hard, bool):
        raise RuleError(where, rule_id, "'then.hard' must be true or false")
    if hard and reason not in CAN_BE_HARD:
        raise RuleError(where, rule_id, f"'then.hard: true' is only for {sorted(CAN_BE_HARD)}")
    action = raw.get("action")
    if action is not None and action not in ACTIONS:
        raise RuleError(where, rule_id, f"'then.action' must be one of {sorted(ACTIONS)}, not {action!r}")
    status = raw.get("status")
    if status is not None and not (isinstance(status, str) and regex.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", status)):
        raise RuleError(where, rule_id, f"'then.status' must be a status code like '5.1.1', not {status!r}")
    details = raw.get("details") or {}
    if not isinstance(details, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in details.items()):
        raise RuleError(where, rule_id, "'then.details' must map names to strings, e.g. {blocklist: spamhaus}")
    return Result(reason=reason, hard=hard, action=action, status=status, details=details)


def _optional_pattern(where: str, rule_id: str, key: str, value: Any) -> TextPattern | None:
    """A regular expression, or a list of them meaning any of them (one alternative a line)."""
    if value is None:
        return None
    alternatives = [value] if isinstance(value, str) else value
    if (
        not isinstance(alternatives, list)
        or not alternatives
        or not all(isinstance(a, str) and a for a in alternatives)
    ):
        raise RuleError(where, rule_id, f"'{key}' must be a regular expression or a list of them")
    return _pattern(where, rule_id, key, alternatives)


def _pattern(where: str, rule_id: str | None, key: str, alternatives: list[str]) -> TextPattern:
    source = alternatives[0] if len(alternatives) == 1 else "|".join(f"(?:{a})" for a in alternatives)
    parts = [part for a in alternatives for part in split_alternatives(a)]
    owner = f"{where}: rule {rule_id!r} '{key}'" if rule_id else f"{where}: '{key}'"
    try:
        if len(parts) > 1 and grows(source):  # searched piece by piece: compiled and probed so
            compiled_parts = compile_alternatives(source, parts)
            return TextPattern(source, parts, compiled_alternatives=compiled_parts, owner=owner)
        compiled = checked_pattern(source)
    except UnsafePattern as exc:
        raise RuleError(where, rule_id, f"'{key}': {exc}") from exc
    return TextPattern(source, parts, compiled, owner=owner)


def _strings(where: str, rule_id: str | None, key: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return (str(value),)
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        return tuple(str(v) for v in value)
    raise RuleError(where, rule_id, f"'{key}' must be a string or a list of strings")


def _no_unknown_keys(where: str, rule_id: str | None, what: str, raw: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise RuleError(where, rule_id, f"unknown {what} key(s) {unknown}; allowed: {sorted(allowed)}")
