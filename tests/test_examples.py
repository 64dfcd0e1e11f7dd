"""The bundled examples/ (what a newcomer runs first) say what the README promises they say."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsnworker.analyser import Analyser
from dsnworker.inputs import iter_messages
from dsnworker.output import outcome_record

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "maildir" / "cur"

EXPECTED = {
    "postfix-user-unknown.eml": ("ichiro.suzuki@example.jp", "user_unknown", True, "suppress", None),
    "microsoft365-quoted-local-part.eml": (
        '"taro.yamada"@outlook.jp',
        "quoted_local_part",
        False,
        "fix_address",
        "microsoft",
    ),
    "microsoft-spamhaus-listed-ip.eml": ("info@example.jp", "blocked", False, "sender_fix", "microsoft"),
    "gmail-over-quota.eml": ("hanako.example@gmail.com", "mailbox_full", False, "retry", "google"),
    "out-of-office.eml": ("kenji.sato@example.jp", "vacation", False, "ignore", None),
    "personal-mail.eml": (None, "not_bounce", False, "ignore", None),
}


def test_every_example_has_an_expectation() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.eml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_is_decided_as_documented(analyser: Analyser, name: str) -> None:
    (record,) = [outcome_record(o) for o in analyser.analyse((EXAMPLES / name).read_bytes(), name)]
    got = (record["recipient"], record["reason"], record["hard"], record["action"], record["provider"])
    assert got == EXPECTED[name]


def test_quoted_local_part_example_suggests_the_unquoted_address(analyser: Analyser) -> None:
    data = (EXAMPLES / "microsoft365-quoted-local-part.eml").read_bytes()
    (record,) = [outcome_record(o) for o in analyser.analyse(data, "x")]
    assert (record["suggested_address"], record["unquotable"]) == ("taro.yamada@outlook.jp", False)


def test_spamhaus_example_names_the_list_the_ip_and_where_to_delist(analyser: Analyser) -> None:
    data = (EXAMPLES / "microsoft-spamhaus-listed-ip.eml").read_bytes()
    (record,) = [outcome_record(o) for o in analyser.analyse(data, "x")]
    assert (record["blocklist"], record["listed_ip"], record["delist_url"]) == (
        "spamhaus",
        "192.0.2.25",
        "https://www.spamhaus.org/query/ip/192.0.2.25",
    )


def test_bounce_examples_carry_the_campaign_header(analyser: Analyser) -> None:
    for name in ("postfix-user-unknown.eml", "microsoft365-quoted-local-part.eml", "gmail-over-quota.eml"):
        (record,) = [outcome_record(o) for o in analyser.analyse((EXAMPLES / name).read_bytes(), name)]
        assert record["original_headers"]["X-Campaign-Id"] == "spring-sale-2024", name


def test_mbox_example_holds_two_messages() -> None:
    mbox = EXAMPLES.parents[1] / "bounces.mbox"
    sources = [source for source, _ in iter_messages([str(mbox)], lambda p, e: None)]
    assert sources == [f"{mbox}#1", f"{mbox}#2"]
