"""Unit specifications of the core: line endings, charsets, RFC 3464, the returned message, the
structural cases (complaint, auto-reply, success DSN, personal mail) and the address module.
"""

from __future__ import annotations

import textwrap

import pytest

from dsnworker.analyser import Analyser
from dsnworker.model import Kind
from dsnworker.output import outcome_record
from dsnworker.parse import parse_message, returned
from dsnworker.parse.address import address_info
from dsnworker.parse.mail import Mail, decode_bytes, decode_header, normalise_line_endings
from dsnworker.parse.returned import KEPT_NAMES_MAX
from dsnworker.parse.rfc3464 import parse_fields
from dsnworker.parse.text import decode_xtext, find_reply_code


def mail(text: str) -> bytes:
    """A message written in a test: dedented, LF line endings, UTF-8."""
    return textwrap.dedent(text).lstrip("\n").encode("utf-8")


def dsn(status_fields: str, extra_headers: str = "", returned: str = "") -> bytes:
    """A minimal RFC 3464 report around the given message/delivery-status text."""
    parts = [
        "From: MAILER-DAEMON@mail.example.com (Mail Delivery System)\n"
        "To: bounces@example.com\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        f"{extra_headers}"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n'
        "\n"
        "--B\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n"
        "--B\nContent-Type: message/delivery-status\n\n" + textwrap.dedent(status_fields).lstrip("\n") + "\n",
    ]
    if returned:
        parts.append("--B\nContent-Type: text/rfc822-headers\n\n" + textwrap.dedent(returned).lstrip("\n") + "\n")
    parts.append("--B--\n")
    return "".join(parts).encode("utf-8")


USER_UNKNOWN_DSN = dsn(
    """
    Reporting-MTA: dns; mail.example.com

    Final-Recipient: rfc822; ichiro@example.jp
    Action: failed
    Status: 5.1.1
    Remote-MTA: dns; mx1.example.jp
    Diagnostic-Code: smtp; 550 5.1.1 <ichiro@example.jp>: User unknown
    """
)


# --- line endings ---------------------------------------------------------------------------------


def test_crlf_becomes_lf() -> None:
    assert normalise_line_endings(b"Subject: a\r\n\r\nbody\r\n") == b"Subject: a\n\nbody\n"


def test_cr_only_becomes_lf() -> None:
    assert normalise_line_endings(b"Subject: a\r\rbody\r") == b"Subject: a\n\nbody\n"


def test_mixed_line_endings_become_lf() -> None:
    assert normalise_line_endings(b"a\r\nb\rc\n") == b"a\nb\nc\n"


@pytest.mark.parametrize("ending", [b"\r\n", b"\r"], ids=["crlf", "cr-only"])
def test_line_endings_do_not_change_the_parse(ending: bytes) -> None:
    converted = USER_UNKNOWN_DSN.replace(b"\n", ending)
    assert parse_message(converted) == parse_message(USER_UNKNOWN_DSN)


# --- charsets -------------------------------------------------------------------------------------


def test_iso_2022_jp_is_decoded() -> None:
    assert decode_bytes("宛先不明".encode("iso-2022-jp"), "iso-2022-jp") == "宛先不明"


def test_iso_2022_jp_is_recognised_whatever_the_label_says() -> None:
    assert decode_bytes("宛先不明".encode("iso-2022-jp"), "us-ascii") == "宛先不明"


def test_shift_jis_label_decodes_cp932_extensions() -> None:
    # ① and 髙 exist only in Microsoft's cp932, which is what "Shift_JIS" means in real mail
    assert decode_bytes("①髙橋".encode("cp932"), "Shift_JIS") == "①髙橋"


def test_unlabelled_shift_jis_is_guessed() -> None:
    assert decode_bytes("ユーザが存在しません".encode("cp932")) == "ユーザが存在しません"


def test_unknown_charset_label_falls_back_to_utf8() -> None:
    assert decode_bytes("São Paulo".encode(), "x-no-such-charset") == "São Paulo"


def test_undecodable_bytes_never_raise() -> None:
    assert isinstance(decode_bytes(bytes(range(256)), "utf-8"), str)


def test_rfc2047_base64_word_is_decoded() -> None:
    assert decode_header("=?UTF-8?B?6YWN5L+h44Ko44Op44O8?=") == "配信エラー"


def test_rfc2047_iso_2022_jp_word_is_decoded() -> None:
    assert decode_header("=?ISO-2022-JP?B?GyRCMDhAaElUTEAbKEI=?=") == "宛先不明"


def test_rfc2047_quoted_printable_word_next_to_plain_text() -> None:
    assert decode_header("Returned: =?iso-8859-1?q?Zustellung_fehlgeschlagen=E4?=") == (
        "Returned: Zustellung fehlgeschlagenä"
    )


def test_malformed_rfc2047_word_is_kept_as_text() -> None:
    assert decode_header("=?utf-8?B?not base64!?=") == "=?utf-8?B?not base64!?="


def test_raw_8bit_utf8_header_is_decoded() -> None:
    message = Mail("Subject: 配信エラー: メールを送れませんでした\n\nbody\n".encode())
    assert message.subject == "配信エラー: メールを送れませんでした"


def test_raw_8bit_shift_jis_header_is_decoded() -> None:
    message = Mail(b"Subject: " + "配信エラー".encode("cp932") + b"\n\nbody\n")
    assert message.subject == "配信エラー"


def test_folded_header_is_unfolded() -> None:
    assert Mail(b"Subject: Undelivered\n Mail Returned\n\tto Sender\n\n").subject == (
        "Undelivered Mail Returned to Sender"
    )


def test_iso_2022_jp_body_is_decoded() -> None:
    data = b"Subject: x\nContent-Type: text/plain; charset=ISO-2022-JP\n\n" + "宛先不明です".encode("iso-2022-jp")
    assert "宛先不明です" in Mail(data).body_text


def test_base64_shift_jis_body_is_decoded() -> None:
    import base64

    body = base64.encodebytes("このアドレスは存在しません".encode("cp932"))
    data = b"Subject: x\nContent-Type: text/plain; charset=shift_jis\nContent-Transfer-Encoding: base64\n\n" + body
    assert "このアドレスは存在しません" in Mail(data).body_text


# --- RFC 3464 -------------------------------------------------------------------------------------


def test_folded_diagnostic_code_is_unfolded() -> None:
    (report,) = parse_fields(
        "Reporting-MTA: dns; mail.example.com\n\n"
        "Final-Recipient: rfc822; kim@example.jp\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <kim@example.jp>:\n    Recipient address rejected:\n\tUser unknown\n"
    )
    assert report.diagnostic == "550 5.1.1 <kim@example.jp>: Recipient address rejected: User unknown"


def test_repeated_diagnostic_code_keeps_every_value() -> None:
    (report,) = parse_fields(
        "Final-Recipient: rfc822; kim@example.jp\nAction: failed\nStatus: 5.2.2\n"
        "Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\nDiagnostic-Code: X-Local; quota 100% used\n"
    )
    assert report.diagnostic is not None
    assert "Mailbox full" in report.diagnostic and "quota 100% used" in report.diagnostic


def test_repeated_status_field_keeps_the_first() -> None:
    (report,) = parse_fields("Final-Recipient: rfc822; kim@example.jp\nAction: failed\nStatus: 5.1.1\nStatus: 4.4.1\n")
    assert report.status == "5.1.1"


def test_every_recipient_group_becomes_one_report_in_order() -> None:
    groups = "\n".join(
        f"Final-Recipient: rfc822; user{n}@example.jp\nAction: failed\nStatus: 5.1.1\n" for n in range(1, 26)
    )
    reports = parse_fields("Reporting-MTA: dns; mail.example.com\n\n" + groups)
    assert [r.recipient for r in reports] == [f"user{n}@example.jp" for n in range(1, 26)]


def test_per_message_reporting_mta_applies_to_every_recipient() -> None:
    reports = parse_fields(
        "Reporting-MTA: dns; mail.example.com\nArrival-Date: Mon, 13 May 2024 11:02:16 +0900\n\n"
        "Final-Recipient: rfc822; a@example.jp\nAction: failed\nStatus: 5.1.1\n\n"
        "Final-Recipient: rfc822; b@example.jp\nAction: failed\nStatus: 5.2.2\n"
    )
    assert [r.reporting_mta for r in reports] == ["mail.example.com", "mail.example.com"]


def test_remote_mta_is_a_host_name() -> None:
    (report,) = parse_fields("Final-Recipient: rfc822; a@example.jp\nAction: failed\nRemote-MTA: dns; mx.example.jp.\n")
    assert report.remote_mta == "mx.example.jp"


def test_original_recipient_is_kept_when_it_differs() -> None:
    (report,) = parse_fields(
        "Original-Recipient: rfc822; sales@example.jp\nFinal-Recipient: rfc822; kim@example.jp\nAction: failed\n"
    )
    assert (report.recipient, report.original_recipient) == ("kim@example.jp", "sales@example.jp")


def test_rfc6533_utf8_address_escapes_are_decoded() -> None:
    (report,) = parse_fields("Final-Recipient: utf-8; \\x{7530}\\x{4E2D}@example.jp\nAction: failed\nStatus: 5.1.1\n")
    assert report.recipient == "田中@example.jp"


def test_xtext_plus_is_decoded() -> None:
    (report,) = parse_fields("Original-Recipient: rfc822; taro+2Bnews@example.jp\nAction: failed\n")
    assert report.recipient == "taro+news@example.jp"


def test_plus_tag_that_looks_like_xtext_is_left_alone() -> None:
    assert decode_xtext("taro+2024@example.jp") == "taro+2024@example.jp"


def test_out_of_range_utf8_escape_is_left_as_written() -> None:
    assert decode_xtext("\\x{D800}a@example.jp") == "\\x{D800}a@example.jp"


def test_delivery_status_in_a_text_part_is_read() -> None:
    parsed = parse_message(
        mail(
            """
            From: MAILER-DAEMON@mail.example.com
            Subject: Returned mail: see transcript for details
            Content-Type: text/plain

            The original message was received at Mon, 13 May 2024 11:02:16 +0900

            Final-Recipient: RFC822; kim@example.jp
            Action: failed
            Status: 5.1.1
            Diagnostic-Code: SMTP; 550 5.1.1 <kim@example.jp>... User unknown
            """
        )
    )
    assert parsed.kind is Kind.BOUNCE
    assert [r.recipient for r in parsed.reports] == ["kim@example.jp"]


def test_raw_utf8_diagnostic_code_in_a_delivery_status_is_decoded() -> None:
    parsed = parse_message(
        dsn(
            """
            Reporting-MTA: dns; mail.example.com

            Final-Recipient: rfc822; kim@example.jp
            Action: failed
            Status: 5.1.1
            Diagnostic-Code: smtp; 550 5.1.1 <kim@example.jp>: ユーザが存在しません
            """
        )
    )
    assert parsed.reports[0].diagnostic == "550 5.1.1 <kim@example.jp>: ユーザが存在しません"


def test_rfc6533_global_delivery_status_in_raw_utf8_is_read() -> None:
    data = dsn(
        """
        Reporting-MTA: dns; mail.example.com

        Final-Recipient: utf-8; 田中@example.jp
        Action: failed
        Status: 5.1.1
        Diagnostic-Code: smtp; 550 5.1.1 <田中@example.jp>: ユーザが存在しません
        """
    ).replace(b"message/delivery-status", b"message/global-delivery-status")
    (report,) = parse_message(data).reports
    assert (report.recipient, report.status, report.reporting_mta) == ("田中@example.jp", "5.1.1", "mail.example.com")
    assert report.diagnostic == "550 5.1.1 <田中@example.jp>: ユーザが存在しません"


def test_reply_code_is_read_from_the_diagnostic() -> None:
    assert parse_message(USER_UNKNOWN_DSN).reports[0].reply_code == "550"


# --- the returned message ---------------------------------------------------------------------------


RETURNED_HEADERS = """
    Received: from app1.example.com (app1.example.com [192.0.2.10]) by mail.example.com
    From: Example Shop <newsletter@example.com>
    To: ichiro@example.jp
    Subject: =?UTF-8?B?5pil44Gu44K744O844Or?=
    Message-ID: <spring-sale-2024.8f3a1c@app1.example.com>
    X-Campaign-Id: spring-sale-2024
    X-MS-Exchange-Organization-SCL: 1
    X-Mailer: ExampleMailer 2.1
    """


def test_original_message_id_comes_from_the_returned_headers() -> None:
    parsed = parse_message(dsn("Final-Recipient: rfc822; ichiro@example.jp\nAction: failed\n", "", RETURNED_HEADERS))
    assert parsed.original_message_id == "<spring-sale-2024.8f3a1c@app1.example.com>"


def test_original_recipient_falls_back_to_the_returned_messages_single_to() -> None:
    parsed = parse_message(dsn("Final-Recipient: rfc822; ichiro@example.jp\nAction: failed\n", "", RETURNED_HEADERS))
    assert [r.original_recipient for r in parsed.reports] == ["ichiro@example.jp"]


def test_original_recipient_field_wins_over_the_returned_to() -> None:
    fields = "Original-Recipient: rfc822; sales@example.jp\nFinal-Recipient: rfc822; kim@example.jp\nAction: failed\n"
    parsed = parse_message(dsn(fields, "", RETURNED_HEADERS))
    assert [r.original_recipient for r in parsed.reports] == ["sales@example.jp"]


def test_campaign_header_of_the_returned_message_is_kept() -> None:
    parsed = parse_message(dsn("Final-Recipient: rfc822; ichiro@example.jp\nAction: failed\n", "", RETURNED_HEADERS))
    assert parsed.original_headers["X-Campaign-Id"] == "spring-sale-2024"


def test_returned_subject_is_decoded() -> None:
    parsed = parse_message(dsn("Final-Recipient: rfc822; ichiro@example.jp\nAction: failed\n", "", RETURNED_HEADERS))
    assert parsed.original_headers["Subject"] == "春のセール"


def test_transport_noise_of_the_returned_message_is_dropped() -> None:
    parsed = parse_message(dsn("Final-Recipient: rfc822; ichiro@example.jp\nAction: failed\n", "", RETURNED_HEADERS))
    assert "X-MS-Exchange-Organization-SCL" not in parsed.original_headers
    assert "X-Mailer" not in parsed.original_headers
    assert "Received" not in parsed.original_headers


def test_made_up_header_names_do_not_grow_the_kept_names_without_bound() -> None:
    # the keep-or-drop decision is remembered per header name; a flood of made-up names must not
    # grow it past its bound, and past the bound the decisions are still right
    made_up = "".join(f"X-Made-Up-{number}: {number}\n" for number in range(KEPT_NAMES_MAX + 500))
    parsed = parse_message(dsn("Final-Recipient: rfc822; ichiro@example.jp\nAction: failed\n", "", made_up))
    assert len(parsed.original_headers) == KEPT_NAMES_MAX + 500
    assert len(returned._KEPT_NAMES) <= KEPT_NAMES_MAX
    again = parse_message(dsn("Final-Recipient: rfc822; ichiro@example.jp\nAction: failed\n", "", RETURNED_HEADERS))
    assert "X-Campaign-Id" in again.original_headers and "X-Mailer" not in again.original_headers


def test_returned_message_rfc822_part_is_read() -> None:
    data = mail(
        """
        From: MAILER-DAEMON@mail.example.com
        Subject: Undelivered Mail Returned to Sender
        Content-Type: multipart/report; report-type=delivery-status; boundary="B"

        --B
        Content-Type: message/delivery-status

        Final-Recipient: rfc822; ichiro@example.jp
        Action: failed
        Status: 5.1.1

        --B
        Content-Type: message/rfc822

        From: newsletter@example.com
        To: ichiro@example.jp
        Message-ID: <abc.123@app1.example.com>
        X-Campaign-Id: c-42

        Hello.
        --B--
        """
    )
    parsed = parse_message(data)
    assert (parsed.original_message_id, parsed.original_headers.get("X-Campaign-Id")) == (
        "<abc.123@app1.example.com>",
        "c-42",
    )


# --- structural cases: complaint, auto-reply, success, personal mail ------------------------------------


ARF = mail(
    """
    From: abuse@example.net
    To: feedback@example.com
    Subject: Complaint about message from 192.0.2.10
    MIME-Version: 1.0
    Content-Type: multipart/report; report-type=feedback-report; boundary="arf"

    --arf
    Content-Type: text/plain

    This is an email abuse report for an email message received from IP 192.0.2.10.

    --arf
    Content-Type: message/feedback-report

    Feedback-Type: abuse
    User-Agent: ExampleFBL/1.0
    Version: 1
    Original-Mail-From: <newsletter@example.com>
    Original-Rcpt-To: <hanako@example.net>
    Source-IP: 192.0.2.10

    --arf
    Content-Type: text/rfc822-headers

    From: Example Shop <newsletter@example.com>
    To: hanako@example.net
    Message-ID: <sale.1@app1.example.com>

    --arf--
    """
)


def test_arf_complaint_is_feedback_with_its_type(analyser: Analyser) -> None:
    (record,) = [outcome_record(o) for o in analyser.analyse(ARF, "arf")]
    assert (record["reason"], record["feedback_type"], record["recipient"]) == (
        "feedback",
        "abuse",
        "hanako@example.net",
    )
    assert record["action"] == "suppress"


def test_arf_complaint_carries_the_original_message_id(analyser: Analyser) -> None:
    (record,) = [outcome_record(o) for o in analyser.analyse(ARF, "arf")]
    assert record["original_message_id"] == "<sale.1@app1.example.com>"


def test_auto_submitted_reply_is_vacation(analyser: Analyser) -> None:
    data = mail(
        """
        From: Kenji Sato <kenji.sato@example.jp>
        To: newsletter@example.com
        Subject: Re: Spring sale
        Auto-Submitted: auto-replied

        I am out of the office until Monday.
        """
    )
    (outcome,) = analyser.analyse(data, "ooo")
    assert (outcome.verdict.reason, outcome.verdict.action) == ("vacation", "ignore")
    assert outcome.report is not None and outcome.report.recipient == "kenji.sato@example.jp"


def test_out_of_office_subject_is_vacation(analyser: Analyser) -> None:
    data = mail(
        """
        From: kenji.sato@example.jp
        Subject: Out of Office: Spring sale

        Back on Monday.
        """
    )
    (outcome,) = analyser.analyse(data, "ooo")
    assert outcome.verdict.reason == "vacation"


def test_japanese_auto_reply_subject_is_vacation(analyser: Analyser) -> None:
    data = b"From: kenji.sato@example.jp\nSubject: =?UTF-8?B?6Ieq5YuV5b+c562U?=\n\nfuzai\n"  # 自動応答
    (outcome,) = analyser.analyse(data, "ooo")
    assert outcome.verdict.reason == "vacation"


def test_success_dsn_is_delivered_and_ignored(analyser: Analyser) -> None:
    data = dsn(
        """
        Reporting-MTA: dns; mail.example.com

        Final-Recipient: rfc822; kim@example.jp
        Action: delivered
        Status: 2.0.0
        Remote-MTA: dns; mx1.example.jp
        Diagnostic-Code: smtp; 250 2.0.0 OK queued as 4VbT0x
        """
    )
    (outcome,) = analyser.analyse(data, "ok")
    assert (outcome.verdict.reason, outcome.verdict.hard, outcome.verdict.action) == ("delivered", False, "ignore")


def test_delayed_dsn_is_not_hard(analyser: Analyser) -> None:
    data = dsn(
        """
        Final-Recipient: rfc822; kim@example.jp
        Action: delayed
        Status: 4.4.1
        Diagnostic-Code: X-Postfix; connect to mx1.example.jp[198.51.100.25]:25: Connection timed out
        """
    )
    (outcome,) = analyser.analyse(data, "delay")
    assert outcome.verdict.hard is False
    assert outcome.verdict.status == "4.4.1"


def test_personal_mail_is_one_not_bounce_line_without_recipient(analyser: Analyser) -> None:
    data = mail(
        """
        From: Kenji Sato <kenji.sato@example.jp>
        To: newsletter@example.com
        Subject: Re: Spring sale
        Content-Type: text/plain; charset=utf-8

        Does the discount apply to items already in my cart? My last order was delivered fine.
        """
    )
    (record,) = [outcome_record(o) for o in analyser.analyse(data, "personal")]
    assert (record["reason"], record["recipient"], record["action"]) == ("not_bounce", None, "ignore")


def test_empty_input_is_not_a_bounce(analyser: Analyser) -> None:
    (outcome,) = analyser.analyse(b"", "empty")
    assert outcome.verdict.reason == "not_bounce"


def test_user_unknown_dsn_is_suppressed(analyser: Analyser) -> None:
    (record,) = [outcome_record(o) for o in analyser.analyse(USER_UNKNOWN_DSN, "dsn")]
    assert (record["reason"], record["hard"], record["action"], record["status"]) == (
        "user_unknown",
        True,
        "suppress",
        "5.1.1",
    )


# --- addresses ------------------------------------------------------------------------------------


def test_quoted_local_part_is_detected() -> None:
    assert address_info('"taro.yamada"@outlook.jp').quoted_local_part is True


def test_plain_local_part_is_not_quoted() -> None:
    info = address_info("taro.yamada@outlook.jp")
    assert (info.quoted_local_part, info.suggested_address) == (False, None)


def test_quoted_local_part_that_is_a_valid_dot_atom_gets_a_suggestion() -> None:
    assert address_info('"taro.yamada"@outlook.jp').suggested_address == "taro.yamada@outlook.jp"


def test_consecutive_dots_cannot_be_written_unquoted() -> None:
    info = address_info('"taro..yamada"@outlook.jp')
    assert (info.quoted_local_part, info.suggested_address) == (True, None)


def test_trailing_dot_cannot_be_written_unquoted() -> None:
    assert address_info('"taro.yamada."@docomo.ne.jp').suggested_address is None


def test_quoted_local_part_with_a_space_cannot_be_written_unquoted() -> None:
    assert address_info('"taro yamada"@example.jp').suggested_address is None


def test_a_providers_own_local_part_rules_come_from_the_packs(analyser: Analyser) -> None:
    # Outlook.com local parts start with a letter: RFC 5321 alone would allow "-taro" unquoted
    assert address_info('"-taro"@outlook.jp').suggested_address == "-taro@outlook.jp"
    assert address_info('"-taro"@outlook.jp', analyser.classifier.mailbox_syntax).suggested_address is None
    assert analyser.classifier.mailbox_syntax["outlook.jp"] == "hotmail"


def test_a_tenant_domain_of_a_provider_keeps_the_rfc_rules(analyser: Analyser) -> None:
    # onmicrosoft.com is a Microsoft pack domain, but its mailboxes are tenants', not Outlook.com's
    info = address_info('"-taro"@contoso.onmicrosoft.com', analyser.classifier.mailbox_syntax)
    assert info.suggested_address == "-taro@contoso.onmicrosoft.com"


def test_domain_is_lower_cased() -> None:
    assert address_info("Kim@Example.JP").domain == "example.jp"


def test_no_recipient_gives_an_empty_address() -> None:
    info = address_info(None)
    assert (info.address, info.domain, info.quoted_local_part) == (None, None, False)


def test_unparseable_recipient_keeps_the_text() -> None:
    info = address_info("not an address")
    assert info.address == "not an address"


def test_the_last_group_of_an_ipv6_address_is_not_a_reply_code() -> None:
    assert find_reply_code("Access denied, the sending IPv6 address [2001:db8:f200:2004::240] must have a PTR") is None
    assert find_reply_code("host mx.example.com [192.0.2.25]: 550 5.1.1 unknown") == "550"
