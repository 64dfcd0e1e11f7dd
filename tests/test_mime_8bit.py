"""8-bit bytes where compat32's own views of a part fail: the MIME layer reads them without raising.

compat32's `get_payload()` decodes 8-bit text with the part's charset (U+FFFD where it does not
fit) and raises where it cannot use that charset; it hands an 8-bit header value back as a
`Header`, not a str. Each of these once made a parser raise (found by mangling corpus messages).
"""

from __future__ import annotations

from dsnworker.parse import parse_message


def bounce(content_type: bytes, body: bytes, top_type: bytes = b'multipart/mixed; boundary="B"') -> bytes:
    """A Postfix-style plain-text bounce in one part of a multipart message."""
    return (
        b"From: MAILER-DAEMON@mail.example.org (Mail Delivery System)\n"
        b"To: sender@example.org\n"
        b"Subject: Undelivered Mail Returned to Sender\n"
        b"MIME-Version: 1.0\n"
        b"Content-Type: " + top_type + b"\n\n"
        b"--B\nContent-Type: " + content_type + b"\n\n" + body + b"\n--B--\n"
    )


USER_UNKNOWN = (
    b"<alice@example.com>: host mx.example.com[192.0.2.26] said: 550 5.1.1\n"
    b"    Benutzer unbekannt, \xc3\xbcberpr\xc3\xbcfen Sie die Adresse (in reply to RCPT TO command)\n"
)


def test_an_8bit_part_whose_charset_is_written_the_rfc2231_way_is_read() -> None:
    # get_param gives RFC 2231 values as a tuple, which get_payload() hands to bytes.decode: TypeError
    parsed = parse_message(bounce(b"text/plain; charset*=us-ascii''utf-8", USER_UNKNOWN))
    assert parsed.parser_errors == ()
    assert [r.recipient for r in parsed.reports] == ["alice@example.com"]


def test_an_8bit_part_whose_charset_name_holds_a_nul_is_read() -> None:
    parsed = parse_message(bounce(b'text/plain; charset="utf-8\x00"', USER_UNKNOWN))
    assert parsed.parser_errors == ()
    assert [r.recipient for r in parsed.reports] == ["alice@example.com"]


def test_a_multipart_without_boundary_holding_8bit_text_is_read_by_the_standard_parser_too() -> None:
    # its raw text is where the RFC 3464 parser looks for fields; get_payload() gave it U+FFFD,
    # which the bytes it is turned back into cannot hold
    data = bounce(b"text/plain; charset=utf-8", USER_UNKNOWN, top_type=b"multipart/mixed")
    parsed = parse_message(data)
    assert parsed.parser_errors == ()
    assert parsed.kind == "bounce"


def test_a_delivery_status_part_with_an_8bit_transfer_encoding_header_is_read() -> None:
    data = (
        b"From: MAILER-DAEMON@mail.example.org (Mail Delivery System)\n"
        b"To: sender@example.org\n"
        b"Subject: Undelivered Mail Returned to Sender\n"
        b"MIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        b"--B\nContent-Type: message/delivery-status\nContent-Transfer-Encoding: 7bit\xa0\n\n"
        b"Reporting-MTA: dns; mail.example.org\n\n"
        b"Final-Recipient: rfc822; alice@example.com\nAction: failed\nStatus: 5.1.1\n\n"
        b"--B--\n"
    )
    parsed = parse_message(data)
    assert parsed.parser_errors == ()
    assert (parsed.format, parsed.reports[0].recipient, parsed.reports[0].status) == (
        "rfc3464",
        "alice@example.com",
        "5.1.1",
    )


def test_a_multipart_without_boundary_whose_charset_name_holds_a_nul_is_read() -> None:
    data = bounce(b"text/plain; charset=utf-8", USER_UNKNOWN, top_type=b'multipart/mixed; charset="utf-8\x00"')
    parsed = parse_message(data)
    assert parsed.parser_errors == ()
    assert [r.recipient for r in parsed.reports] == ["alice@example.com"]


def test_the_8bit_text_of_a_multipart_without_boundary_is_decoded_not_replaced() -> None:
    data = bounce(b"text/plain; charset=utf-8", USER_UNKNOWN, top_type=b"multipart/mixed")
    (report,) = parse_message(data).reports
    assert report.diagnostic is not None
    assert "überprüfen Sie die Adresse" in report.diagnostic
