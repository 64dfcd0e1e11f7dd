"""The fast MIME splitter builds exactly compat32's tree, or declines and leaves it to compat32."""

from __future__ import annotations

import email
from email import policy
from email.message import Message
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dsnworker.parse.mail import Mail, normalise_line_endings
from dsnworker.parse.mime import split_message
from tests.conftest import corpus_dir

DSN = b"""From: MAILER-DAEMON@example.org
To: sender@example.com
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="XX.1"

This is a MIME-encapsulated message.

--XX.1
Content-Type: text/plain; charset=us-ascii

<kijitora@example.jp>: host mx.example.jp[192.0.2.1] said: 550 5.1.1
    User unknown (in reply to RCPT TO command)

--XX.1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; kijitora@example.jp
Action: failed
Status: 5.1.1

--XX.1
Content-Type: message/rfc822

From: sender@example.com
To: kijitora@example.jp
Subject: hello
Message-ID: <1@example.com>

body
--XX.1--
"""


NESTED = b"""From MAILER-DAEMON Thu Apr 29 20:00:00 2021
From: postmaster@example.org
Subject: failure notice
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: text/plain

Sorry.
--outer
Content-Type: multipart/digest; boundary="digest"

--digest

From: a@example.com
Subject: one

first
--digest--

--outer
Content-Type: message/rfc822

From: sender@example.com
Subject: =?UTF-8?B?44GC?=
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

44GC44GE
--alt
Content-Type: text/html

<p>x</p>
--alt--
epilogue text
--outer--
trailing
"""


def shape(msg: Message) -> Any:
    payload = msg._payload
    inner = [shape(p) for p in payload] if isinstance(payload, list) else payload
    return (msg.get_unixfrom(), list(msg._headers), inner, msg.preamble, msg.epilogue, msg.get_default_type())


def compat32(raw: bytes) -> Message:
    return email.message_from_bytes(normalise_line_endings(raw), policy=policy.compat32)


def fast(raw: bytes) -> Message | None:
    return split_message(normalise_line_endings(raw).decode("ascii", "surrogateescape"))


def test_a_well_formed_dsn_takes_the_fast_road_to_the_same_tree():
    tree = fast(DSN)
    assert tree is not None
    assert shape(tree) == shape(compat32(DSN))


def test_delivery_status_is_split_into_field_groups_like_compat32():
    groups = fast(DSN).get_payload(1).get_payload()  # type: ignore[union-attr]
    assert [g.get("Final-Recipient") for g in groups] == [None, "rfc822; kijitora@example.jp"]


def test_a_truncated_bounce_without_close_delimiter_gets_compat32s_tree():
    truncated = DSN.replace(b"--XX.1--", b"")
    tree = fast(truncated)
    assert tree is not None
    assert shape(tree) == shape(compat32(truncated))


def test_a_close_delimiter_before_any_part_is_left_to_compat32():
    assert fast(DSN.replace(b"--XX.1\nContent-Type: text/plain", b"--XX.1--\nContent-Type: text/plain", 1)) is None


def test_a_line_that_is_no_header_starts_the_body_as_in_compat32():
    raw = b"From: a@example.com\nnot a header\nSubject: x\n\nbody\n"
    tree = fast(raw)
    assert tree is not None
    assert tree.items() == [("From", "a@example.com")]
    assert tree.get_payload() == "not a header\nSubject: x\n\nbody\n"
    assert shape(tree) == shape(compat32(raw))


def test_a_boundary_parameter_that_lost_its_indentation_leaves_the_body_whole_as_in_compat32():
    # the shape of some Office 365 bounces: the boundary line is no header line, so the body starts
    # there and the multipart has no boundary
    raw = DSN.replace(b"\n\tboundary=", b"\nboundary=")
    tree = fast(raw)
    assert tree is not None
    assert tree.get_content_type() == "multipart/report" and isinstance(tree.get_payload(), str)
    assert shape(tree) == shape(compat32(raw))


def test_an_attached_message_cut_in_its_headers_gets_compat32s_tree():
    for raw in (DSN[: DSN.index(b"1@example.com>")], DSN[: DSN.index(b"From: sender@")]):
        tree = fast(raw)
        assert tree is not None
        assert shape(tree) == shape(compat32(raw))


def test_a_misplaced_envelope_line_in_the_headers_is_left_to_compat32():
    assert fast(b"From: a@example.com\nFrom someone else\nSubject: x\n\nbody\n") is None


def test_nested_digest_and_attached_multipart_take_the_fast_road_too():
    tree = fast(NESTED)
    assert tree is not None
    assert shape(tree) == shape(compat32(NESTED))


def test_mail_gives_the_same_views_either_way():
    mail = Mail(DSN)
    assert mail.delivery_status is not None and "Final-Recipient" in mail.delivery_status
    assert mail.returned is not None and mail.returned.get("Message-ID") == "<1@example.com>"


def test_every_corpus_message_the_splitter_accepts_equals_compat32():
    accepted = 0
    for path in sorted((corpus_dir() / "emails").iterdir()):
        raw = path.read_bytes()
        tree = fast(raw)
        if tree is not None:
            accepted += 1
            assert shape(tree) == shape(compat32(raw)), path.name
    assert accepted > 300  # most real bounces are well formed: the fast road must be the common one


@settings(max_examples=600, deadline=None)
@given(st.data())
def test_mangled_messages_are_either_declined_or_parsed_exactly(data):
    raw = bytearray(data.draw(st.sampled_from([DSN, NESTED])))
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "delete", "insert", "newline"]))
        if action == "flip":
            raw[at] = data.draw(st.integers(0, 255))
        elif action == "delete":
            del raw[at : at + data.draw(st.integers(1, 40))]
        elif action == "insert":
            raw[at:at] = data.draw(
                st.sampled_from([b"\n", b"\n\n", b"--XX.1\n", b"--outer--\n", b"--alt\n", b" ", b":", b"no header\n"])
            )
        else:
            raw[at:at] = b"\n"
    tree = fast(bytes(raw))
    if tree is not None:
        assert shape(tree) == shape(compat32(bytes(raw)))


def test_a_declined_message_still_gets_its_parts_through_compat32():
    broken = DSN.replace(b"Action: failed\n", b"Action: failed\nnot a field\n")
    assert fast(broken) is None
    mail = Mail(broken)
    assert [ctype for ctype, _ in mail.leaves] == ["text/plain", "message/delivery-status", "message/rfc822"]


def test_truncated_corpus_messages_are_declined_or_parsed_exactly():
    # real bounces arrive cut short (MTAs truncate the returned message): the common damage
    for path in sorted((corpus_dir() / "emails").iterdir()):
        raw = normalise_line_endings(path.read_bytes())
        for cut in (len(raw) // 3, len(raw) // 2, len(raw) * 4 // 5):
            tree = fast(raw[:cut])
            if tree is not None:
                assert shape(tree) == shape(compat32(raw[:cut])), (path.name, cut)
