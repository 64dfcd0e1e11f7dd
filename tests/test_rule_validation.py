"""A broken rule pack is refused when loaded, with an error naming the file, the rule and the problem.

And an operator's extra rules folder refines a provider: its rules are tried first.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dsnworker.analyser import Analyser
from dsnworker.classify.engine import Classifier
from dsnworker.classify.examples import example_verdict
from dsnworker.classify.rules import load_pack, load_packs
from dsnworker.errors import RuleError


def write_pack(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def pack_with_rule(rule: str) -> str:
    """A pack for provider `acme` holding the one rule given (YAML, indented as a list item's body)."""
    return "provider: acme\nrules:\n  - " + textwrap.indent(textwrap.dedent(rule).strip(), "    ")[4:] + "\n"


def refusal(tmp_path: Path, rule: str) -> RuleError:
    path = write_pack(tmp_path, "acme.yaml", pack_with_rule(rule))
    with pytest.raises(RuleError) as caught:
        load_pack(path)
    error = caught.value
    assert error.path == str(path)
    assert str(path) in str(error)
    return error


def test_a_valid_pack_loads(tmp_path: Path) -> None:
    rule = """
        id: acme.user-unknown
        when: {status: "5.1.1"}
        then: {reason: user_unknown}
        examples:
          - {diagnostic: "550 5.1.1 no such user", status: "5.1.1", expect: {reason: user_unknown}}
    """
    pack = load_pack(write_pack(tmp_path, "acme.yaml", pack_with_rule(rule)))
    assert pack.provider == "acme"
    assert [r.id for r in pack.rules] == ["acme.user-unknown"]


def test_unknown_condition_key_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, "{id: acme.typo, when: {diagnostik: 'x'}, then: {reason: blocked}}")
    assert error.rule_id == "acme.typo"
    assert "unknown" in error.problem and "diagnostik" in error.problem


def test_unknown_rule_key_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, "{id: acme.typo, when: {}, then: {reason: blocked}, exampels: []}")
    assert error.rule_id == "acme.typo"
    assert "exampels" in error.problem


def test_reason_outside_the_vocabulary_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, "{id: acme.bad-reason, when: {status: '5.1.1'}, then: {reason: userunknown}}")
    assert error.rule_id == "acme.bad-reason"
    assert "then.reason" in error.problem and "userunknown" in error.problem


def test_unknown_action_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, "{id: acme.bad-action, when: {}, then: {reason: blocked, action: delete}}")
    assert error.rule_id == "acme.bad-action"
    assert "then.action" in error.problem and "delete" in error.problem


def test_condition_status_that_is_not_a_status_code_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, "{id: acme.bad-status, when: {status: '550'}, then: {reason: blocked}}")
    assert error.rule_id == "acme.bad-status"
    assert "when.status" in error.problem and "550" in error.problem


def test_result_status_that_is_not_a_full_status_code_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, "{id: acme.bad-status, when: {}, then: {reason: blocked, status: '5.7'}}")
    assert error.rule_id == "acme.bad-status"
    assert "then.status" in error.problem


def test_regex_that_does_not_compile_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, "{id: acme.bad-regex, when: {diagnostic: 'mailbox (full'}, then: {reason: mailbox_full}}")
    assert error.rule_id == "acme.bad-regex"
    assert "when.diagnostic" in error.problem and "does not compile" in error.problem


def test_catastrophic_backtracking_regex_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, "{id: acme.redos, when: {diagnostic: '(a+)+$'}, then: {reason: blocked}}")
    assert error.rule_id == "acme.redos"
    assert "(a+)+$" in error.problem


# Found by trying rule packs as an operator might write them: each took over 30 s on 2,000
# characters (the first four) or 13 GB when compiled (the last), and the old probe let them all pass.
@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("(k|kk)+$", "backtracks"),
        ("(?:k|kk)+z", "backtracks"),
        ("(.*,){20}z", "backtracks"),
        ("(.*?,){30}z", "backtracks"),
        ("(?:(?:a{1000}){1000}){100}", "needs at least 100000000 characters"),
    ],
)
def test_patterns_that_backtrack_on_their_own_characters_or_unroll_are_refused(
    tmp_path: Path, pattern: str, problem: str
) -> None:
    error = refusal(tmp_path, f"{{id: acme.slow, when: {{diagnostic: '{pattern}'}}, then: {{reason: blocked}}}}")
    assert error.rule_id == "acme.slow"
    assert pattern in error.problem and problem in error.problem


def test_duplicate_rule_id_in_one_pack_is_refused(tmp_path: Path) -> None:
    path = write_pack(
        tmp_path,
        "acme.yaml",
        """
        provider: acme
        rules:
          - {id: acme.same, when: {status: '5.1.1'}, then: {reason: user_unknown}}
          - {id: acme.same, when: {status: '5.2.2'}, then: {reason: mailbox_full}}
        """,
    )
    with pytest.raises(RuleError) as caught:
        load_pack(path)
    assert caught.value.path == str(path)
    assert caught.value.rule_id == "acme.same"
    assert "duplicate" in caught.value.problem


def test_rule_id_used_by_two_packs_is_refused(tmp_path: Path) -> None:
    write_pack(tmp_path / "a", "acme.yaml", "provider: acme\nrules:\n  - {id: acme.x, then: {reason: blocked}}\n")
    write_pack(tmp_path / "b", "acme.yaml", "provider: acme\nrules:\n  - {id: acme.x, then: {reason: blocked}}\n")
    with pytest.raises(RuleError) as caught:
        load_packs(tmp_path / "a", tmp_path / "b")
    assert caught.value.rule_id == "acme.x"
    assert "also used" in caught.value.problem


def test_rule_id_without_the_provider_prefix_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, "{id: microsoft.user-unknown, when: {}, then: {reason: user_unknown}}")
    assert error.rule_id == "microsoft.user-unknown"
    assert "acme." in error.problem


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = write_pack(tmp_path, "acme.yaml", "provider: acme\nrules: [\n")
    with pytest.raises(RuleError) as caught:
        load_pack(path)
    assert caught.value.path == str(path)
    assert "YAML" in caught.value.problem


def test_missing_rules_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="does not exist"):
        load_packs(tmp_path / "nowhere")


def test_extra_folder_refines_a_provider_its_rule_wins(tmp_path: Path) -> None:
    write_pack(
        tmp_path / "shipped",
        "acme.yaml",
        """
        provider: acme
        recognise: {domains: [acme.example]}
        rules:
          - {id: acme.user-unknown, when: {status: '5.1.1'}, then: {reason: user_unknown}}
        """,
    )
    write_pack(
        tmp_path / "local",
        "acme.yaml",
        """
        provider: acme
        rules:
          - id: acme.local-disabled-accounts
            when: {status: '5.1.1', diagnostic: 'account disabled'}
            then: {reason: suspend}
        """,
    )
    packs = load_packs(tmp_path / "shipped", tmp_path / "local")
    example = {"recipient": "kim@acme.example", "status": "5.1.1", "diagnostic": "550 5.1.1 account disabled"}
    verdict = example_verdict(Classifier(packs), packs[0], example)
    assert (verdict.rule, verdict.reason, verdict.provider) == ("acme.local-disabled-accounts", "suspend", "acme")


def test_extra_folder_rule_wins_over_the_shipped_generic_pack(tmp_path: Path) -> None:
    write_pack(
        tmp_path,
        "generic.yaml",
        """
        provider: generic
        rules:
          - id: generic.local-table-means-moved
            when: {diagnostic: 'in local recipient table'}
            then: {reason: has_moved}
        """,
    )
    analyser = Analyser.with_rules((tmp_path,))
    bounce = (
        b"From: MAILER-DAEMON@mail.example.com\nSubject: Undelivered Mail Returned to Sender\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n"
        b"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mail.example.com\n\n"
        b"Final-Recipient: rfc822; kim@example.jp\nAction: failed\nStatus: 5.1.1\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 User unknown in local recipient table\n\n--b--\n"
    )
    (outcome,) = analyser.analyse(bounce, "test")
    assert (outcome.verdict.rule, outcome.verdict.reason) == ("generic.local-table-means-moved", "has_moved")


def test_the_annotated_pack_in_the_rules_readme_is_valid_and_its_example_passes(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[1] / "rules" / "README.md").read_text(encoding="utf-8")
    block = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    packs = load_packs(write_pack(tmp_path, "acme.yaml", block).parent)
    (rule,) = packs[0].rules
    verdict = example_verdict(Classifier(packs), packs[0], rule.examples[0])
    assert (verdict.rule, verdict.reason, verdict.details.get("ref")) == ("acme.ip-listed", "blocked", "ACME-301")


def test_weak_that_is_not_a_boolean_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, "id: acme.a\nweak: sometimes\nwhen: {diagnostic: 'blocked'}\nthen: {reason: blocked}")
    assert "'weak' must be true or false" in str(error) and "acme.a" in str(error)


def test_weak_without_a_text_condition_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, "id: acme.a\nweak: true\nwhen: {status: ['5.7.1']}\nthen: {reason: blocked}")
    assert "'weak: true' is for a rule with 'when.diagnostic'" in str(error)


def test_a_mailbox_syntax_flanker_does_not_know_is_refused(tmp_path: Path) -> None:
    path = write_pack(
        tmp_path,
        "acme.yaml",
        "provider: acme\nmailbox_syntax: {acmemail: [acme.example]}\n"
        + "rules:\n  - {id: acme.a, when: {status: ['5.1.1']}, then: {reason: user_unknown}}\n",
    )
    with pytest.raises(RuleError) as caught:
        load_pack(path)
    assert "'mailbox_syntax' name 'acmemail' is not one of" in str(caught.value) and str(path) in str(caught.value)


def test_a_rule_condition_outside_a_refinement_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, "id: acme.a\nwhen: {rule: [acme.b], status: ['5.1.1']}\nthen: {reason: filtered}")
    assert "'when.rule' is for a refinement" in str(error)


def test_a_refinement_with_a_rule_condition_refines_only_what_that_rule_found(tmp_path: Path) -> None:
    write_pack(
        tmp_path,
        "generic.yaml",
        """
        provider: generic
        rules:
          - {id: generic.phrase, when: {diagnostic: 'no such user'}, then: {reason: user_unknown}}
          - {id: generic.mta, when: {diagnostic: 'no mailbox here'}, then: {reason: user_unknown}}
          - id: generic.unconfirmed
            when: {reason: user_unknown, rule: [generic.phrase]}
            then: {reason: filtered}
        """,
    )
    rules = Classifier(load_packs(tmp_path))
    pack = rules.generic[0]
    assert example_verdict(rules, pack, {"diagnostic": "550 No such user"}).reason == "filtered"
    assert example_verdict(rules, pack, {"diagnostic": "Sorry, no mailbox here by that name"}).reason == "user_unknown"


def test_a_status_range_matches_the_codes_inside_it(tmp_path: Path) -> None:
    write_pack(
        tmp_path,
        "acme.yaml",
        """
        provider: acme
        recognise: {domains: [acme.example]}
        rules:
          - {id: acme.banned-ip, when: {status: ['5.7.606-649']}, then: {reason: blocked}}
        """,
    )
    rules = Classifier(load_packs(tmp_path))
    pack = rules.providers[0]
    assert example_verdict(rules, pack, {"status": "5.7.606"}).rule == "acme.banned-ip"
    assert example_verdict(rules, pack, {"status": "5.7.649"}).rule == "acme.banned-ip"
    assert example_verdict(rules, pack, {"status": "5.7.650"}).rule is None
    assert example_verdict(rules, pack, {"status": "5.6.610"}).rule is None


def test_a_status_range_that_runs_backwards_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path, "id: acme.a\nwhen: {status: ['5.7.649-606']}\nthen: {reason: blocked}")
    assert "runs backwards" in str(error)


def test_a_reporting_mta_condition_reads_the_host_that_wrote_the_report(tmp_path: Path) -> None:
    write_pack(
        tmp_path,
        "acme.yaml",
        """
        provider: acme
        recognise: {domains: [acme.example]}
        rules:
          - id: acme.own-notice
            when: {reporting_mta: ['*.acme.example'], diagnostic: 'unknown user'}
            then: {reason: filtered}
        """,
    )
    rules = Classifier(load_packs(tmp_path))
    pack = rules.providers[0]
    own = {"diagnostic": "Unknown user", "reporting_mta": "mx1.acme.example"}
    relayed = {"diagnostic": "Unknown user", "reporting_mta": "mta.example.net"}
    assert example_verdict(rules, pack, own).rule == "acme.own-notice"
    assert example_verdict(rules, pack, relayed).rule is None


def test_a_provider_recognised_by_host_comes_before_one_recognised_by_a_phrase(tmp_path: Path) -> None:
    # packs are listed in reverse file order: the phrase pack (zzz) comes first in the list
    for name, recognise in (("zzz", "{phrases: ['SPF unauthorized']}"), ("aaa", "{hosts: ['*.aaa.example']}")):
        write_pack(
            tmp_path,
            f"{name}.yaml",
            f"""
            provider: {name}
            recognise: {recognise}
            rules:
              - {{id: {name}.spf, when: {{diagnostic: 'SPF unauthorized'}}, then: {{reason: auth_failure}}}}
            """,
        )
    rules = Classifier(load_packs(tmp_path))
    example = {"diagnostic": "550 5.7.1 SPF unauthorized mail is prohibited.", "remote_mta": "mx.aaa.example"}
    verdict = example_verdict(rules, rules.providers[0], example)
    assert (verdict.provider, verdict.rule) == ("aaa", "aaa.spf")
