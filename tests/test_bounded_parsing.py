"""Hostile shapes are read with bounded work: each limit of `dsnworker.parse.limits` holds, is
counted here (recipients returned, field groups and parts built, characters kept), and is said in
the outcome's `truncated`. The watchdogs only stop a hang; nothing here measures speed (that is
`bench/linearity.py`).
"""

from __future__ import annotations

from email.message import Message

import pytest

from dsnworker.analyser import Analyser
from dsnworker.output import outcome_record
from dsnworker.parse import limits, parse_message
from dsnworker.parse.mail import Mail
from tests import hostile, mailgen
from tests.watchdog import watchdog

HANG = 120.0  # seconds: a watchdog, tens of times the work; the shapes once took minutes to hours


def built(msg: Message) -> int:
    """Message objects in a tree: parts, attached messages, delivery-status field groups."""
    payload = msg._payload  # noqa: SLF001
    return 1 + (sum(built(p) for p in payload if isinstance(p, Message)) if isinstance(payload, list) else 0)


def status_groups(mail: Mail) -> int:
    (part,) = mail.parts_of_type("message/delivery-status")
    payload = part._payload  # noqa: SLF001
    return len(payload) if isinstance(payload, list) else 0


def test_a_megabyte_run_of_dashes_after_sendmails_heading_is_read_once() -> None:
    # `-{3,} The following addresses had ...` was tried at every '-' of the run: 767 s for 1 MB
    with watchdog(HANG, "a 1 MB run of '-'"):
        parsed = parse_message(hostile.dash_run(1_000_000))
    assert parsed.format == "sendmail"
    assert [r.recipient for r in parsed.reports] == ["kim@example.jp"]
    assert parsed.truncated == ()


def test_a_nine_megabyte_delivery_status_part_of_blank_lines_is_read_in_part() -> None:
    # compat32 built one Message per blank line: 140 s and 3.18 GB for 9 MB
    data = hostile.blank_status(9_000_000)
    with watchdog(HANG, "a 9 MB delivery-status part of blank lines"):
        mail = Mail(data)
        parsed = parse_message(data)
    assert status_groups(mail) <= limits.MIME_OBJECTS
    assert built(mail.msg) <= limits.MIME_OBJECTS + 1
    assert parsed.format == "rfc3464"
    assert [(r.recipient, r.status) for r in parsed.reports] == [("kim@example.jp", "5.1.1")]
    assert limits.CUT_STATUS in parsed.truncated


def test_blank_lines_in_a_delivery_status_part_compat32_reads_are_bounded_too() -> None:
    # a form feed makes the fast splitter hand the message to compat32, which must stop as well
    data = hostile.blank_status(2_000_000).replace(b"Delivery failed.", b"Delivery failed.\x0c", 1)
    with watchdog(HANG, "a 2 MB delivery-status part of blank lines, through compat32"):
        mail = Mail(data)
        parsed = parse_message(data)
    assert built(mail.msg) <= limits.MIME_OBJECTS + 1
    assert limits.CUT_MIME in parsed.truncated
    assert [r.recipient for r in parsed.reports] == ["kim@example.jp"]  # read from the text all the same


def test_many_recipient_lines_give_the_first_hundred_and_say_the_rest_was_cut() -> None:
    # 25,000 recipient lines: the whole text was searched for an error line once per recipient
    data = hostile.many_recipients(25_000 * 50)
    with watchdog(HANG, "25,000 recipient lines"):
        parsed = parse_message(data)
    assert parsed.format == "plaintext"
    assert len(parsed.reports) == limits.RECIPIENTS
    assert [parsed.reports[0].recipient, parsed.reports[-1].recipient] == [
        "user0000000@example.jp",
        "user0000099@example.jp",
    ]
    assert parsed.truncated == (limits.CUT_RECIPIENTS,)


def test_a_delivery_status_part_of_ten_thousand_recipient_groups_gives_the_first_hundred() -> None:
    groups = b"".join(
        b"Final-Recipient: rfc822; u%05d@example.jp\nAction: failed\nStatus: 5.1.1\n\n" % n for n in range(10_000)
    )
    data = hostile.blank_status(0).replace(
        b"Final-Recipient: rfc822; kim@example.jp\nAction: failed\nStatus: 5.1.1\n\n", groups
    )
    parsed = parse_message(data)
    assert len(parsed.reports) == limits.RECIPIENTS
    assert parsed.reports[-1].recipient == "u00099@example.jp"
    assert limits.CUT_RECIPIENTS in parsed.truncated


def test_a_format_parser_that_stops_at_the_limit_still_says_it_was_reached() -> None:
    # Postfix's own paragraphs: the parser reads one more than is kept, so the cut shows
    paragraphs = b"".join(
        b"<u%03d@example.jp>: host mx.example.jp[192.0.2.1] said: 550 5.1.1 User unknown\n\n" % n for n in range(150)
    )
    data = (
        b"From: MAILER-DAEMON@mail.example.com\nSubject: Undelivered Mail Returned to Sender\n\n"
        b"This is the mail system at host mail.example.com.\n\n" + paragraphs
    )
    parsed = parse_message(data)
    assert parsed.format == "postfix"
    assert len(parsed.reports) == limits.RECIPIENTS
    assert parsed.truncated == (limits.CUT_RECIPIENTS,)


def test_exactly_as_many_recipients_as_the_limit_is_no_truncation() -> None:
    paragraphs = b"".join(
        b"<u%03d@example.jp>: host mx.example.jp[192.0.2.1] said: 550 5.1.1 User unknown\n\n" % n
        for n in range(limits.RECIPIENTS)
    )
    data = (
        b"From: MAILER-DAEMON@mail.example.com\nSubject: Undelivered Mail Returned to Sender\n\n"
        b"This is the mail system at host mail.example.com.\n\n" + paragraphs
    )
    parsed = parse_message(data)
    assert (len(parsed.reports), parsed.truncated) == (limits.RECIPIENTS, ())


def test_the_lines_looked_at_for_recipients_are_bounded_and_the_cut_is_said() -> None:
    head = b"From: MAILER-DAEMON@mail.example.com\nSubject: Undelivered Mail Returned to Sender\n\nDelivery failed.\n"
    data = head + b"\n" * limits.TEXT_LINES + b"<kim@example.jp>: 550 5.1.1 User unknown\n"
    parsed = parse_message(data)
    assert [r.recipient for r in parsed.reports] == [None]  # the recipient's line was past the limit
    assert limits.CUT_LINES in parsed.truncated


def test_a_personal_message_declined_from_its_headers_is_not_truncated(analyser: Analyser) -> None:
    # its text was never read: no limit was reached, and it stays `not_bounce`
    data = mailgen.personal(serial=3).replace(b"\n\n", b"\n\n" + b"x" * (limits.TEXT_CHARS + 10) + b"\n", 1)
    (outcome,) = analyser.analyse(data, "big.eml")
    assert (outcome.message.format, outcome.verdict.reason, outcome.message.truncated) == ("none", "not_bounce", ())


def test_deep_mime_nesting_builds_a_bounded_tree_and_the_text_is_still_read() -> None:
    data = hostile.deep_mime(36_000)  # 600 levels: more than MIME_OBJECTS, fewer lines than TEXT_LINES
    with watchdog(HANG, "600 nested multiparts"):
        mail = Mail(data)
        parsed = parse_message(data)
    assert built(mail.msg) <= limits.MIME_OBJECTS + 1
    assert limits.CUT_MIME in parsed.truncated
    assert [r.recipient for r in parsed.reports] == ["kim@example.jp"]


def test_many_parts_build_a_bounded_tree_and_look_at_a_bounded_number_of_leaves() -> None:
    data = hostile.many_parts(2_000_000)  # ~28,000 parts
    with watchdog(HANG, "28,000 parts"):
        mail = Mail(data)
        parsed = parse_message(data)
    assert built(mail.msg) <= limits.MIME_OBJECTS + 1
    assert len(mail.leaves) == limits.MIME_LEAVES
    assert {limits.CUT_MIME, limits.CUT_LEAVES} <= set(parsed.truncated)
    assert [r.recipient for r in parsed.reports] == ["kim@example.jp"]


def test_a_long_line_without_newlines_is_read_up_to_the_text_limit() -> None:
    data = hostile.long_line(3_000_000)
    with watchdog(HANG, "a 3 MB line"):
        mail = Mail(data)
        parsed = parse_message(data)
    assert len(mail.body_text) == limits.TEXT_CHARS
    assert set(parsed.truncated) == {limits.CUT_TEXT, limits.CUT_DIAGNOSTIC}  # the line is its diagnostic
    assert [r.recipient for r in parsed.reports] == ["kim@example.jp"]


def test_a_five_megabyte_diagnostic_is_kept_to_its_limit() -> None:
    data = mailgen.dsn("kim@example.jp", serial=1).replace(
        b"User unknown in local", b"User unknown " + b"a" * 5_000_000, 1
    )
    parsed = parse_message(data)
    (report,) = parsed.reports
    assert report.diagnostic is not None and len(report.diagnostic) == limits.DIAGNOSTIC_CHARS
    assert limits.CUT_DIAGNOSTIC in parsed.truncated


def test_a_message_over_the_size_limit_says_its_end_was_not_read() -> None:
    data = mailgen.dsn("kim@example.jp", serial=1) + b"x" * limits.MESSAGE_BYTES
    parsed = parse_message(data)
    assert [r.recipient for r in parsed.reports] == ["kim@example.jp"]
    assert limits.CUT_MESSAGE in parsed.truncated


def test_the_record_of_a_truncated_reading_says_so(analyser: Analyser) -> None:
    (outcome,) = analyser.analyse(hostile.blank_status(2_000_000), "hostile.eml")
    assert outcome_record(outcome)["truncated"] is True


def test_a_record_read_whole_has_no_truncated_key(analyser: Analyser) -> None:
    (outcome,) = analyser.analyse(mailgen.dsn("kim@example.jp", serial=1), "bounce.eml")
    assert "truncated" not in outcome_record(outcome)


def test_a_message_not_read_whole_in_which_nothing_was_found_is_unparsed_not_a_non_bounce(analyser: Analyser) -> None:
    # what was not read may have been the bounce: a person decides (the worker quarantines it)
    head = b"From: MAILER-DAEMON@mail.example.com\nSubject: Undelivered Mail Returned to Sender\n\n"
    (outcome,) = analyser.analyse(head + b"x" * (limits.TEXT_CHARS + 10) + b"\n", "big.eml")
    assert outcome.message.format == "error"
    assert (outcome.verdict.reason, outcome.verdict.action) == ("undefined", "review")
    assert "not read whole" in outcome.verdict.details["error"]
    assert limits.CUT_TEXT in outcome.verdict.details["error"]


@pytest.mark.parametrize("name", sorted(hostile.SHAPES))
def test_every_hostile_shape_analyses_to_an_outcome_within_the_watchdog(name: str, analyser: Analyser) -> None:
    with watchdog(HANG, f"{name} at 4 MB"):
        outcomes = analyser.analyse(hostile.SHAPES[name](4_000_000), name)
    assert outcomes
    assert all(o.message.format != "error" or o.message.truncated for o in outcomes)
