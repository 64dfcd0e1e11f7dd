"""A charset label that cannot decode mail text is no reason to lose a bounce.

Mail text is ASCII-compatible; a label naming a codec that is not (UTF-16, EBCDIC, Python's
`unicode_escape`, ...) or that refuses all input (`undefined`), or no codec at all, is decoded as an
unlabelled text is. Before, such a text part was decoded to noise and the bounce became `not_bounce`,
without a word (in a fuzz of the corpus, 17 of 6,000 mutated bounces).
"""

from __future__ import annotations

import pytest

from dsnworker.model import Kind
from dsnworker.parse import parse_message
from dsnworker.parse.mail import Mail, decode_bytes

ODD = [b"utf-16", b"utf-16-le", b"utf-32", b"cp037", b"cp500", b"unicode_escape", b"punycode", b"undefined", b"idna"]
ODD += [b"und\x00ef", b"x-no-such-charset", b"a" * 300, b"base64", b"rot13"]


def postfix_bounce(charset: bytes) -> bytes:
    """A Postfix bounce in one text part labelled `charset`, with an 8-bit byte in it."""
    return (
        b"From: MAILER-DAEMON@mail.example.com (Mail Delivery System)\n"
        b"To: bounces@example.com\nSubject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        b"Content-Type: text/plain; charset=" + charset + b"\n\n"
        b"This is the mail system at host mail.example.com.\n\n"
        b"<kim@example.jp>: host mx1.example.jp[192.0.2.25] said: 550 5.1.1 User unknown \xe9\n"
        b"    (in reply to RCPT TO command)\n"
    )


@pytest.mark.parametrize("charset", ODD, ids=lambda c: c.decode("latin-1")[:20].replace("\x00", "NUL"))
def test_a_bounce_whose_text_is_labelled_with_an_odd_charset_is_still_read(charset: bytes) -> None:
    parsed = parse_message(postfix_bounce(charset))
    assert (parsed.kind, parsed.format, parsed.parser_errors) == (Kind.BOUNCE, "postfix", ())
    (report,) = parsed.reports
    assert (report.recipient, report.status, report.command) == ("kim@example.jp", "5.1.1", "RCPT")
    assert report.diagnostic == "550 5.1.1 User unknown é"  # decoded as unlabelled text is: UTF-8, else Latin-1


@pytest.mark.parametrize("charset", ["utf-16", "cp037", "unicode_escape", "undefined", "und\x00ef", "x" * 300])
def test_decoding_with_a_label_no_mail_text_is_written_in_decodes_as_if_unlabelled(charset: str) -> None:
    data = "550 5.1.1 Benutzer unbekannt: Müller\\n".encode()
    assert decode_bytes(data, charset) == decode_bytes(data)


@pytest.mark.parametrize("charset", ["iso-8859-1", "windows-1252", "koi8-r", "shift_jis", "euc-kr", "utf-8", "utf-7"])
def test_labels_of_ascii_compatible_charsets_are_still_used(charset: str) -> None:
    text = "550 5.1.1 <kim@example.jp>: ok"
    assert decode_bytes(text.encode(charset), charset) == text
    assert decode_bytes("Müller".encode("latin-1"), "iso-8859-1") == "Müller"


def test_an_attached_message_left_as_text_with_an_undefined_charset_still_gives_its_headers() -> None:
    # past the MIME limit an attached message stays text; compat32's get_payload() raised on it
    parts = b"--B\nContent-Type: text/plain\n\nx\n" * 600
    data = (
        b"From: MAILER-DAEMON@mail.example.com\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="A"\n\n'
        b"--A\nContent-Type: message/rfc822; charset=undefined\n\nFrom: a@example.com\nTo: kim@example.jp\n\n\xe9\n"
        b'--A\nContent-Type: multipart/mixed; boundary="B"\n\n' + parts + b"--B--\n--A--\n"
    )
    returned = Mail(data).returned
    assert returned is not None and returned["To"] == "kim@example.jp"
