"""Mangled input never raises: whatever the bytes, `Analyser.analyse` returns at least one outcome
with a reason from the vocabulary, writable as a UTF-8 JSON line, without needing its safety net.

Hypothesis drives random bytes, truncations and byte flips of real and synthetic bounces; the
hostile shapes (huge headers, deep nesting, bogus charsets and base64, NUL bytes, 5 MB lines) are
written out. Budget: the whole file runs in well under 20 seconds.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsnworker.analyser import Analyser
from dsnworker.classify.vocabulary import ACTIONS, REASONS
from dsnworker.model import Outcome
from dsnworker.output import outcome_record
from tests.conftest import CORPUS, ROOT

ANALYSER = Analyser.with_rules()  # hypothesis runs the body many times: one analyser for all of them
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SYNTHETIC_DSN = (
    b"From: MAILER-DAEMON@mail.example.com (Mail Delivery System)\n"
    b"To: bounces@example.com\n"
    b"Subject: Undelivered Mail Returned to Sender\n"
    b"MIME-Version: 1.0\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
    b"--B\nContent-Type: text/plain; charset=utf-8\n\n"
    b"<kim@example.jp>: host mx1.example.jp[198.51.100.25] said: 550 5.1.1 User unknown\n\n"
    b"--B\nContent-Type: message/delivery-status\n\n"
    b"Reporting-MTA: dns; mail.example.com\n\n"
    b"Final-Recipient: rfc822; kim@example.jp\nAction: failed\nStatus: 5.1.1\n"
    b"Remote-MTA: dns; mx1.example.jp\nDiagnostic-Code: smtp; 550 5.1.1 <kim@example.jp>: User unknown\n\n"
    b"--B\nContent-Type: text/rfc822-headers\n\n"
    b"From: newsletter@example.com\nTo: kim@example.jp\nMessage-ID: <a.1@example.com>\n\n"
    b"--B--\n"
)


def _seeds() -> list[bytes]:
    """Messages to mangle: the synthetic DSN, the bundled examples, and every 8th corpus file."""
    seeds = [SYNTHETIC_DSN]
    seeds += [p.read_bytes() for p in sorted((ROOT / "examples").rglob("*.eml"))]
    emails = CORPUS / "emails"
    if emails.is_dir():
        seeds += [p.read_bytes() for p in sorted(emails.iterdir())[::8]]
    return seeds


SEEDS = _seeds()


def assert_sane(outcomes: list[Outcome]) -> None:
    assert outcomes, "no outcome at all"
    for outcome in outcomes:
        # `error` is also the outcome (unparsed) of a message not read whole in which nothing was found
        assert outcome.message.format != "error" or outcome.message.truncated, (
            f"the analyser's safety net caught: {outcome.verdict.details}"
        )
        assert outcome.verdict.reason in REASONS
        assert outcome.verdict.action in ACTIONS
        json.dumps(outcome_record(outcome), ensure_ascii=False).encode("utf-8")


def analyse(data: bytes) -> list[Outcome]:
    return ANALYSER.analyse(data, "fuzz")


# --- generated ------------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=4000))
def test_random_bytes(data: bytes) -> None:
    assert_sane(analyse(data))


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes_after_bounce_headers(data: bytes) -> None:
    assert_sane(analyse(SYNTHETIC_DSN.split(b"\n\n", 1)[0] + b"\n\n" + data))


@FUZZ
@given(st.sampled_from(SEEDS), st.floats(min_value=0, max_value=1))
def test_truncated_message(seed: bytes, fraction: float) -> None:
    assert_sane(analyse(seed[: int(len(seed) * fraction)]))


@FUZZ
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=20))
def test_flipped_bytes(seed: bytes, flips: list[tuple[float, int]]) -> None:
    data = bytearray(seed)
    for where, value in flips:
        data[min(int(where * len(data)), len(data) - 1)] = value
    assert_sane(analyse(bytes(data)))


@FUZZ
@given(st.sampled_from(SEEDS), st.floats(0, 1), st.binary(min_size=1, max_size=200))
def test_inserted_bytes(seed: bytes, where: float, junk: bytes) -> None:
    at = int(where * len(seed))
    assert_sane(analyse(seed[:at] + junk + seed[at:]))


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_unicode_in_the_diagnostic(text: str) -> None:
    data = SYNTHETIC_DSN.replace(b"Diagnostic-Code: smtp; 550", b"Diagnostic-Code: smtp; " + text.encode() + b" 550")
    assert_sane(analyse(data))


ONE_LINE_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=200)


@FUZZ
@given(ONE_LINE_TEXT)
def test_any_raw_utf8_diagnostic_keeps_the_dsn_readable(text: str) -> None:
    data = SYNTHETIC_DSN.replace(b"Diagnostic-Code: smtp; 550", b"Diagnostic-Code: smtp; " + text.encode() + b" 550")
    (outcome,) = analyse(data)
    assert outcome.report is not None
    assert outcome.report.recipient == "kim@example.jp"
    # the Status field, unless the text itself carries a more specific code (the server's own)
    assert outcome.verdict.status == "5.1.1" or outcome.verdict.status in text


@FUZZ
@given(ONE_LINE_TEXT)
def test_any_raw_utf8_subject_keeps_the_dsn_readable(text: str) -> None:
    data = SYNTHETIC_DSN.replace(b"Subject: Undelivered Mail Returned to Sender", b"Subject: " + text.encode())
    (outcome,) = analyse(data)
    assert outcome.report is not None and outcome.report.recipient == "kim@example.jp"


@FUZZ
@given(st.text(max_size=120))
def test_arbitrary_unicode_as_the_recipient(text: str) -> None:
    data = SYNTHETIC_DSN.replace(
        b"Final-Recipient: rfc822; kim@example.jp", b"Final-Recipient: utf-8; " + text.encode()
    )
    assert_sane(analyse(data))


# --- hostile shapes -------------------------------------------------------------------------------


def test_huge_header_value() -> None:
    assert_sane(analyse(b"Subject: " + b"Undelivered " * 100_000 + b"\n" + SYNTHETIC_DSN))


def test_very_many_headers() -> None:
    assert_sane(analyse(b"X-Junk: 1\n" * 50_000 + SYNTHETIC_DSN))


def test_huge_folded_header() -> None:
    assert_sane(analyse(b"Subject: bounce\n" + b" folded\n" * 100_000 + SYNTHETIC_DSN[SYNTHETIC_DSN.index(b"From:") :]))


@pytest.mark.parametrize("depth", [50, 1000])
def test_deep_multipart_nesting(depth: int) -> None:
    head = b"From: MAILER-DAEMON@example.com\nSubject: Undelivered Mail\n"
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (level, level) for level in range(depth)
    )
    closing = b"".join(b"\n--b%d--\n" % level for level in reversed(range(depth)))
    body = b"Content-Type: text/plain\n\n550 5.1.1 <kim@example.jp>: User unknown\n"
    assert_sane(analyse(head + opening + body + closing))


def test_deeply_nested_attached_messages() -> None:
    data = SYNTHETIC_DSN
    for _ in range(200):
        data = b"From: MAILER-DAEMON@example.com\nSubject: Undelivered\nContent-Type: message/rfc822\n\n" + data
    assert_sane(analyse(data))


@pytest.mark.parametrize(
    "charset",
    [b"x-bogus", b'"utf-8\x00"', b"", b"utf-7", b"iso-2022-jp", b"unknown-8bit", b"\xff\xfe", b"utf-8" * 500],
)
def test_bogus_charset(charset: bytes) -> None:
    data = SYNTHETIC_DSN.replace(
        b"Content-Type: text/plain; charset=utf-8", b"Content-Type: text/plain; charset=" + charset
    )
    data = data.replace(b"User unknown\n\n--B", "宛先不明 \xff\xfe".encode("utf-8", "surrogateescape") + b"\n\n--B")
    assert_sane(analyse(data))


def test_bogus_charset_in_an_encoded_word() -> None:
    assert_sane(analyse(b"Subject: =?x-bogus?B?5a6b5YWI?= =?utf-8?Q?=ZZ?= =?utf-8?B?!!?=\n" + SYNTHETIC_DSN))


@pytest.mark.parametrize("payload", [b"!!!not base64!!!", b"QUJD\n====\n", b"A", b"\x00\xff" * 100, b"=" * 5000])
def test_bogus_base64(payload: bytes) -> None:
    data = SYNTHETIC_DSN.replace(
        b"--B\nContent-Type: message/delivery-status\n\n",
        b"--B\nContent-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n" + payload + b"\n",
    )
    assert_sane(analyse(data))


def test_bogus_quoted_printable() -> None:
    data = SYNTHETIC_DSN.replace(
        b"Content-Type: text/plain; charset=utf-8\n",
        b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n",
    )
    assert_sane(analyse(data.replace(b"User unknown", b"=ZZ=\n=E3=81 =" * 50)))


def test_nul_bytes_everywhere() -> None:
    assert_sane(analyse(SYNTHETIC_DSN.replace(b"\n", b"\x00\n").replace(b" ", b"\x00")))


def test_nul_bytes_only() -> None:
    assert_sane(analyse(b"\x00" * 100_000))


def test_five_megabyte_line_in_the_body() -> None:
    data = SYNTHETIC_DSN.replace(b"User unknown\n\n--B", b"User unknown " + b"x" * 5_000_000 + b"\n\n--B", 1)
    assert_sane(analyse(data))


def test_five_megabyte_line_of_addresses() -> None:
    data = SYNTHETIC_DSN.replace(
        b"User unknown\n\n--B", b"User unknown " + b"<a@b.example> 550 " * 280_000 + b"\n\n--B", 1
    )
    assert_sane(analyse(data))


def test_five_megabyte_diagnostic_code() -> None:
    data = SYNTHETIC_DSN.replace(b"Diagnostic-Code: smtp; 550", b"Diagnostic-Code: smtp; 550 " + b"a" * 5_000_000)
    assert_sane(analyse(data))


def test_only_headers_no_body() -> None:
    assert_sane(analyse(SYNTHETIC_DSN.split(b"\n\n", 1)[0]))


def test_boundary_never_closed() -> None:
    assert_sane(analyse(SYNTHETIC_DSN.replace(b"--B--\n", b"")))


def test_mixed_line_endings_and_lone_cr() -> None:
    assert_sane(analyse(SYNTHETIC_DSN.replace(b"\n", b"\r", 10).replace(b"\n", b"\r\n", 10)))


def _records(data: bytes) -> list[dict]:
    return [outcome_record(o) for o in analyse(data)]


@FUZZ
@given(st.sampled_from(SEEDS), st.floats(0, 1), ONE_LINE_TEXT)
def test_line_endings_never_change_the_records(seed: bytes, where: float, text: str) -> None:
    lf = seed.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    at = lf.find(b"\n", int(where * len(lf)))
    at = len(lf) if at < 0 else at
    lf = lf[:at] + text.encode() + lf[at:]
    expected = _records(lf)
    assert _records(lf.replace(b"\n", b"\r\n")) == expected
    assert _records(lf.replace(b"\n", b"\r")) == expected


@pytest.mark.parametrize("filler", [b"5", b"a", b".", b"5."], ids=["digits", "letters", "dots", "digit-dot"])
def test_five_megabyte_line_in_a_plain_text_bounce(filler: bytes) -> None:
    head = b"From: MAILER-DAEMON@mail.example.com\nSubject: Undelivered Mail Returned to Sender\n\n"
    assert_sane(analyse(head + filler * (5_000_000 // len(filler)) + b"\n"))


@pytest.mark.parametrize(
    "filler", [b"\t", b" ", b"-", b" -", b"="], ids=["tabs", "spaces", "dashes", "space-dash", "equals"]
)
def test_megabyte_run_of_blanks_or_rules_where_quoting_markers_are_sought(filler: bytes) -> None:
    # the "where does the bounce start quoting the original" searches once backtracked quadratically here
    run = filler * (1_000_000 // len(filler))
    plain = b"From: MAILER-DAEMON@mail.example.com\nSubject: Undelivered Mail Returned to Sender\n\n" + run + b"\n"
    assert_sane(analyse(plain))
    assert_sane(analyse(SYNTHETIC_DSN.replace(b"User unknown\n\n--B", b"User unknown\n" + run + b"\n\n--B", 1)))
