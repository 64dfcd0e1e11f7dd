"""The substring pre-check of rule patterns must never hide a match the regex would find."""

from __future__ import annotations

import json

import pytest

from dsnworker.classify.patterns import (
    TextPattern,
    UnsafePattern,
    checked_pattern,
    compile_alternatives,
    compile_pattern,
    required_literal,
    split_alternatives,
)
from dsnworker.classify.rules import default_rules_dir, load_packs
from dsnworker.parse import parse_message
from tests.conftest import corpus_dir


def _pattern(*alternatives: str) -> TextPattern:
    source = "|".join(f"(?:{a})" for a in alternatives)
    return TextPattern(source, [p for a in alternatives for p in split_alternatives(a)], compile_pattern(source))


def test_literal_run_outside_groups_is_required():
    assert required_literal("user(?:name)? (?:unknown|not found)") == ("user",)


def test_optional_character_is_not_required():
    assert required_literal("over ?quota") == ("quota",)


def test_mandatory_group_of_plain_options_gives_any_of_them():
    assert required_literal("(?:account|mailbox|user)[^.;]{0,30}disabled") == ("disabled",)
    assert required_literal("(?:account|mailbox)[^.;]{0,30}x") == ("account", "mailbox")


def test_optional_group_gives_nothing():
    assert required_literal("(?:mailbox )?ab") is None


def test_escaped_punctuation_is_literal():
    assert required_literal(r"\[TSS04\]") == ("[tss04]",)


def test_precheck_is_case_insensitive_like_the_regex():
    pattern = _pattern("user unknown")
    text = "550 5.1.1 USER UNKNOWN"
    assert pattern.search(text, text.lower()) is not None


def _shipped_patterns() -> list[tuple[str, TextPattern]]:
    found = []
    for pack in load_packs(default_rules_dir()):
        if pack.recognise.phrases is not None:
            found.append((f"{pack.provider}.recognise", pack.recognise.phrases))
        for rule in pack.rules:
            for pattern in (rule.when.diagnostic, rule.when.not_diagnostic):
                if pattern is not None:
                    found.append((rule.id, pattern))
    return found


def _texts() -> list[str]:
    texts = [
        str(e.get("diagnostic") or "") for p in load_packs(default_rules_dir()) for r in p.rules for e in r.examples
    ]
    for path in sorted((corpus_dir() / "emails").iterdir()):
        for report in parse_message(path.read_bytes()).reports:
            if report.diagnostic:
                texts.append(" ".join(report.diagnostic.split()))
    return texts


def test_precheck_never_hides_a_match_on_real_diagnostics():
    texts = _texts()
    hidden = []
    for rule_id, pattern in _shipped_patterns():
        for text in texts:
            if (pattern.regex.search(text) is not None) != (pattern.search(text, text.lower()) is not None):
                hidden.append((rule_id, text[:120]))
    assert hidden == []


@pytest.mark.parametrize("text", ["", "a" * 3000, json.dumps({"x": "ü" * 50})])
def test_search_handles_odd_texts(text):
    pattern = _pattern("mailbox (?:is )?full", "over ?quota")
    assert pattern.search(text, text.lower()) is None


def test_a_linear_pattern_is_validated_without_compiling_it_with_regex():
    assert checked_pattern("mailbox (?:is )?full") is None  # re's compiler proved it; compiled on first use
    pattern = TextPattern("mailbox (?:is )?full", ["mailbox (?:is )?full"])
    assert pattern.search("552 Mailbox is full", "552 mailbox is full") is not None


def test_a_pattern_that_does_not_compile_is_refused_either_way():
    for source in ["mailbox (full", "a{2,1}+"]:
        with pytest.raises(UnsafePattern):
            checked_pattern(source)


def test_a_growing_pattern_compiled_piece_by_piece_finds_what_the_whole_finds():
    alternatives = ["(?P<code>5\\d\\d) user (?P<who>\\S+) unknown", "no such user (?P<who>\\S+)", "mailbox full"]
    source = "|".join(f"(?:{a})" for a in alternatives)
    pieces = TextPattern(source, alternatives, compiled_alternatives=compile_alternatives(source, alternatives))
    whole = _pattern(*alternatives)
    for text in ["550 user bob unknown", "no such user ann; 550 user bob unknown", "mailbox full", "nothing"]:
        found, expected = pieces.search(text, text.lower()), whole.search(text, text.lower())
        assert (found and (found.group(0), found.start())) == (expected and (expected.group(0), expected.start()))
    # the names in the order the whole pattern gives them, without compiling it
    assert sorted(pieces.group_order(), key=pieces.group_order().__getitem__) == ["code", "who"]


def test_a_backtracking_alternative_is_refused_piece_by_piece_too():
    alternatives = ["mailbox full", "(a+)+$"]
    with pytest.raises(UnsafePattern, match="hostile text"):
        compile_alternatives("|".join(f"(?:{a})" for a in alternatives), alternatives)


def test_a_fixed_pattern_orders_its_group_names_without_compiling_the_whole():
    alternatives = ["(?P<code>5\\d\\d) user (?P<who>\\w\\w\\w) unknown", "no such (?P<what>user|host)"]
    source = "|".join(f"(?:{a})" for a in alternatives)
    assert checked_pattern(source) is None
    pattern = TextPattern(source, alternatives)
    assert pattern.group_order() == dict(compile_pattern(source).groupindex)
    assert pattern._regex is None  # noqa: SLF001 - the whole was never compiled


def test_a_search_that_runs_out_of_time_is_no_match_and_turns_its_pattern_off(caplog):
    # as if the load-time probe had missed it (a pack loaded by an older version, or a shape no probe
    # tries): the search itself is bounded, and the pattern is not tried again in this process
    source = "(k|kk)+$"
    pattern = TextPattern(source, [source], compiled=compile_pattern("k+"), owner="acme.yaml: rule 'acme.slow'")
    pattern._regex = __import__("regex").compile(source)  # noqa: SLF001 - bypass the probe on purpose
    hostile = "k" * 1999 + "!"
    with caplog.at_level("WARNING", logger="dsnworker.classify.patterns"):
        assert pattern.search(hostile, hostile) is None
    assert "acme.yaml: rule 'acme.slow'" in caplog.text and "off until the worker restarts" in caplog.text
    assert pattern.search("kk", "kk") is None  # off: even a text it matches is not searched


def test_a_fixed_length_pattern_is_searched_without_a_clock():
    pattern = TextPattern("mailbox full", ["mailbox full"], owner="x")
    assert pattern._growing == (False, False)  # noqa: SLF001
    assert pattern.search("552 mailbox full", "552 mailbox full") is not None
