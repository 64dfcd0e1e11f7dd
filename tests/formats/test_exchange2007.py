# ruff: noqa: E501  (bounce lines are as long as the provider writes them)
"""Exchange 2007+ / Exchange Online NDR text: "Diagnostic information for administrators"."""

from __future__ import annotations

from dsnworker.parse import parse_message

TEXT_ONLY = b"""From: <postmaster@example.com>
To: <sender@example.org>
Subject: Undeliverable: Nyaan
X-MS-Exchange-Message-Is-Ndr:
Content-Type: text/plain; charset="us-ascii"

Delivery has failed to these recipients or groups:

alice@example.com<mailto:alice@example.com>
The email address wasn't found at the destination domain.

Diagnostic information for administrators:

Generating server: AB1PR01MB1234.eurprd01.prod.outlook.com

alice@example.com
Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'

Original message headers:

Subject: Nyaan
"""

ATTEMPTS = b"""From: <postmaster@example.com>
To: <sender@example.org>
Subject: Undeliverable: Nyaan
Content-Type: text/plain; charset="us-ascii"

Delivery has failed to these recipients or groups:

bob@example.net

Diagnostic information for administrators:

Generating server: mail1.example.com
Receiving server: mx.example.net (192.0.2.3)

bob@example.net
3/09/2016 8:05:56 PM - Remote Server at mx.example.net (192.0.2.3) returned '550 4.4.7 QUEUE.Expired; message expired'
3/09/2016 7:58:27 PM - Remote Server at mx.example.net (192.0.2.3) returned '441 4.4.1 Error encountered while communicating with primary target IP address'

Original message headers:

Subject: Nyaan
"""

LEGACY = b"""From: <postmaster@example.com>
To: <sender@example.org>
Subject: Undeliverable: Nyaan
Content-Type: text/plain; charset="us-ascii"

Diagnostic information for administrators:

Generating server: mail.example.com

carol@example.com
#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##rfc822;carol@example.com

Original message headers:

Subject: Nyaan
"""


def test_text_only_ndr_gives_the_remote_reply_and_the_generating_server() -> None:
    parsed = parse_message(TEXT_ONLY)
    assert parsed.format == "exchange2007"
    report = parsed.reports[0]
    assert report.recipient == "alice@example.com"
    assert report.diagnostic == "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"
    assert (report.status, report.reply_code) == ("5.1.10", "550")
    assert report.reporting_mta == "ab1pr01mb1234.eurprd01.prod.outlook.com"


def test_newest_attempt_is_the_diagnostic_and_its_host_the_remote_mta() -> None:
    report = parse_message(ATTEMPTS).reports[0]
    assert report.diagnostic == "550 4.4.7 QUEUE.Expired; message expired"
    assert report.remote_mta == "mx.example.net"


def test_exchange_2007_hash_form_drops_the_trailing_recipient() -> None:
    report = parse_message(LEGACY).reports[0]
    assert report.diagnostic == "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found"
    assert report.status == "5.1.1"


def test_an_ndr_forwarded_by_a_person_is_not_read_as_exchanges_own() -> None:
    forwarded = TEXT_ONLY.replace(b"Subject: Undeliverable: Nyaan", b"Subject: FW: Undeliverable: Nyaan")
    assert parse_message(forwarded).format != "exchange2007"


LOCALISED = """From: <postmaster@example.jp>
To: <sender@example.org>
Subject: 配信不能: Nyaan
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: 8bit

管理者向けの診断情報:

生成サーバー: mail.example.jp

dave@example.jp
リモート サーバーから '550 5.1.1 RESOLVER.ADR.RecipNotFound; not found' が返されました

元のメッセージ ヘッダー:

Subject: Nyaan
""".encode()


def test_localised_ndr_keeps_the_quoted_remote_reply() -> None:
    report = parse_message(LOCALISED).reports[0]
    assert report.recipient == "dave@example.jp"
    assert report.diagnostic == "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found"


def test_dutch_ndr_is_read_by_its_own_heading() -> None:
    data = (
        TEXT_ONLY.replace(
            b"Delivery has failed to these recipients or groups:",
            b"Uw bericht kan niet worden bezorgd bij de volgende geadresseerden of groepen:",
        )
        .replace(b"Diagnostic information for administrators:", b"Diagnostische gegevens voor beheerders:")
        .replace(b"Generating server:", b"Bronserver:")
        .replace(b"Original message headers:", b"Oorspronkelijke berichtkoppen:")
    )
    parsed = parse_message(data)
    (report,) = parsed.reports
    assert parsed.format == "exchange2007"
    assert (report.recipient, report.status, report.reply_code) == ("alice@example.com", "5.1.10", "550")
