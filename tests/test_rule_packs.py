"""The provider rule packs (rules/<provider>.yaml), decided through the real engine.

Microsoft's seed cases (../shared/docs/providers-microsoft.md) go through the whole path: a synthetic
RFC 3464 DSN as a Postfix MTA would write it, parsed, classified and turned into the output record.
The other packs' key decisions are checked with `example_verdict`, as a report with these fields.
"""

from __future__ import annotations

from typing import Any

import pytest

from dsnworker.analyser import Analyser
from dsnworker.classify.examples import example_verdict
from dsnworker.model import Verdict
from dsnworker.output import outcome_record

EOP = "contoso-com.mail.protection.outlook.com"


def dsn(recipient: str, status: str, diagnostic: str, remote_mta: str = EOP) -> bytes:
    """A multipart/report DSN for one failed recipient, with the returned message's headers."""
    text = f"""From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: sender@example.net
Subject: Undelivered Mail Returned to Sender
Date: Sat, 28 Nov 2026 09:00:00 +0900
Message-ID: <20261128000000.4A1B2C3D@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B0UNDARY"

--B0UNDARY
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

--B0UNDARY
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
Arrival-Date: Sat, 28 Nov 2026 08:59:58 +0900

Final-Recipient: rfc822; {recipient}
Action: failed
Status: {status}
Remote-MTA: dns; {remote_mta}
Diagnostic-Code: smtp; {diagnostic}

--B0UNDARY
Content-Type: text/rfc822-headers

From: sender@example.net
To: {recipient}
Subject: Newsletter
Message-ID: <campaign-1@example.net>

--B0UNDARY--
"""
    return text.replace("\n", "\r\n").encode()


def record(analyser: Analyser, recipient: str, status: str, diagnostic: str, remote_mta: str = EOP) -> dict[str, Any]:
    outcomes = analyser.analyse(dsn(recipient, status, diagnostic, remote_mta), "test.eml")
    assert len(outcomes) == 1
    return outcome_record(outcomes[0])


def verdict(analyser: Analyser, provider: str, **fields: Any) -> Verdict:
    """Classify a report with these fields (diagnostic, status, recipient, command, ...) for a provider's pack."""
    pack = next(p for p in analyser.classifier.packs if p.provider == provider)
    return example_verdict(analyser.classifier, pack, fields)


# --- Microsoft: the seed cases, each as a full DSN -----------------------------------------------

MAILBOX_UNAVAILABLE = (
    "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). "
    "[PU1APC01FT044.eop-APC01.prod.protection.outlook.com]"
)


def test_microsoft_mailbox_unavailable_suppresses_the_unknown_recipient(analyser: Analyser) -> None:
    got = record(
        analyser, "taro.yamada@outlook.jp", "5.5.0", MAILBOX_UNAVAILABLE, "outlook-jp.olc.protection.outlook.com"
    )
    assert (got["reason"], got["hard"], got["action"]) == ("user_unknown", True, "suppress")
    assert (got["provider"], got["rule"]) == ("microsoft", "microsoft.mailbox-unavailable")
    assert got["ref"] == "S2017062302"
    assert got.get("suggested_address") is None


def test_microsoft_quoted_local_part_is_fixed_not_suppressed(analyser: Analyser) -> None:
    got = record(analyser, '"taro.yamada"@outlook.jp', "5.5.0", MAILBOX_UNAVAILABLE)
    assert (got["reason"], got["hard"], got["action"]) == ("quoted_local_part", False, "fix_address")
    assert (got["provider"], got["rule"]) == ("microsoft", "microsoft.quoted-local-part")
    assert got["suggested_address"] == "taro.yamada@outlook.jp"
    assert got["unquotable"] is False


def test_microsoft_quoted_local_part_that_cannot_be_unquoted_says_so(analyser: Analyser) -> None:
    got = record(analyser, '"taro..yamada"@outlook.jp', "5.5.0", MAILBOX_UNAVAILABLE)
    assert (got["reason"], got["hard"], got["action"]) == ("quoted_local_part", False, "fix_address")
    assert got["rule"] == "microsoft.quoted-local-part"
    assert got["suggested_address"] is None
    assert got["unquotable"] is True


def test_microsoft_quoted_local_part_at_a_tenant_edge_block_is_fixed_too(analyser: Analyser) -> None:
    got = record(
        analyser,
        '"hanako"@contoso.com',
        "5.4.1",
        "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) "
        "[SG2APC01FT012.eop-APC01.prod.protection.outlook.com]",
    )
    assert (got["reason"], got["action"], got["suggested_address"]) == (
        "quoted_local_part",
        "fix_address",
        "hanako@contoso.com",
    )


def test_microsoft_spamhaus_listed_ip_is_the_senders_to_fix(analyser: Analyser) -> None:
    got = record(
        analyser,
        "kijitora@contoso.com",
        "5.7.1",
        "550 5.7.1 Service unavailable, Client host [192.0.2.25] blocked using Spamhaus. "
        "To request removal from this list see https://www.spamhaus.org/query/ip/192.0.2.25",
    )
    assert (got["reason"], got["hard"], got["action"]) == ("blocked", False, "sender_fix")
    assert (got["provider"], got["rule"]) == ("microsoft", "microsoft.spamhaus-ip")
    assert (got["blocklist"], got["listed_ip"]) == ("spamhaus", "192.0.2.25")
    assert got["delist_url"] == "https://www.spamhaus.org/query/ip/192.0.2.25"


def test_microsoft_own_block_list_names_the_ip_and_reference(analyser: Analyser) -> None:
    got = record(
        analyser,
        "kijitora@hotmail.com",
        "5.7.1",
        "550 5.7.1 Unfortunately, messages from [192.0.2.33] weren't sent. Please contact your Internet "
        "service provider since part of their network is on our block list (AS3140). You can also refer "
        "your provider to http://mail.live.com/mail/troubleshooting.aspx#errors.",
        "hotmail-com.olc.protection.outlook.com",
    )
    assert (got["reason"], got["hard"], got["action"]) == ("blocked", False, "sender_fix")
    assert (got["provider"], got["rule"]) == ("microsoft", "microsoft.own-blocklist")
    assert (got["blocklist"], got["listed_ip"], got["ref"]) == ("microsoft", "192.0.2.33", "AS3140")
    assert got["delist_url"] == "http://mail.live.com/mail/troubleshooting.aspx#errors"


def test_microsoft_helo_on_spamhaus_dbl_is_the_senders_to_fix(analyser: Analyser) -> None:
    got = record(
        analyser,
        "kijitora@contoso.com",
        "5.7.1",
        "550 5.7.1 Service unavailable, Helo domain is listed in Spamhaus. To request removal from this "
        "list see https://www.spamhaus.org/query/lookup/ (S8001) [HK2APC01FT056.eop-APC01.prod.protection.outlook.com]",
    )
    assert (got["reason"], got["hard"], got["action"]) == ("blocked", False, "sender_fix")
    assert (got["provider"], got["rule"]) == ("microsoft", "microsoft.spamhaus-helo")
    assert (got["blocklist"], got["ref"]) == ("spamhaus", "S8001")
    assert got.get("listed_ip") is None


def test_microsoft_helo_listing_names_the_host_when_the_text_gives_it(analyser: Analyser) -> None:
    got = record(
        analyser,
        "kijitora@contoso.com",
        "5.7.1",
        "550 5.7.1 Service unavailable, Helo domain [mail.example.net] is listed in Spamhaus. "
        "To request removal from this list see https://www.spamhaus.org/query/lookup/ (S8001)",
    )
    assert (got["reason"], got["listed_host"], got["blocklist"]) == ("blocked", "mail.example.net", "spamhaus")


def test_microsoft_listing_of_a_quoted_recipient_is_still_a_listing(analyser: Analyser) -> None:
    got = record(
        analyser,
        '"taro.yamada"@outlook.jp',
        "5.7.1",
        "550 5.7.1 Service unavailable, Client host [192.0.2.25] blocked using Spamhaus. "
        "To request removal from this list see https://www.spamhaus.org/query/ip/192.0.2.25",
    )
    assert (got["reason"], got["action"], got["blocklist"]) == ("blocked", "sender_fix", "spamhaus")


@pytest.mark.parametrize(
    ("status", "diagnostic", "reason", "action", "rule"),
    [
        (
            "5.7.606",
            "550 5.7.606 Access denied, banned sending IP [198.51.100.222]. To request removal from this list "
            "please visit https://sender.office.com/ and follow the directions. For more information please go "
            "to http://go.microsoft.com/fwlink/?LinkID=526655 (AS16012609)",
            "blocked",
            "sender_fix",
            "microsoft.own-blocklist",
        ),
        (
            "5.4.1",
            "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) "
            "[SG2APC01FT012.eop-APC01.prod.protection.outlook.com]",
            "user_unknown",
            "suppress",
            "microsoft.edge-blocked-recipient",
        ),
        (
            "5.1.10",
            "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
            "user_unknown",
            "suppress",
            "microsoft.recipient-not-found",
        ),
        (
            "5.2.2",
            "554 5.2.2 mailbox full; "
            "STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded",
            "mailbox_full",
            "retry",
            "microsoft.mailbox-full",
        ),
        (
            "4.7.650",
            "451 4.7.650 The mail server [192.0.2.80] has been temporarily rate limited due to IP reputation. "
            "For e-mail delivery information, see https://postmaster.live.com (S775)",
            "bad_reputation",
            "sender_fix",
            "microsoft.ip-reputation",
        ),
        (
            "5.7.509",
            "550 5.7.509 Access denied, sending domain [EXAMPLE.NET] does not pass DMARC verification "
            "and has a DMARC policy of reject.",
            "auth_failure",
            "sender_fix",
            "microsoft.authentication",
        ),
        (
            "4.7.500",
            "451 4.7.500 Server busy. Please try again later from [192.0.2.44]. (S77714)",
            "bad_reputation",  # microsoft.md, 4.7.500-699: our IP throttled for suspicious activity
            "sender_fix",
            "microsoft.ip-reputation",
        ),
    ],
)
def test_microsoft_exchange_online_answers(
    analyser: Analyser, status: str, diagnostic: str, reason: str, action: str, rule: str
) -> None:
    got = record(analyser, "kijitora@contoso.com", status, diagnostic)
    assert (got["reason"], got["action"], got["provider"], got["rule"]) == (reason, action, "microsoft", rule)


def test_microsoft_banned_sending_ip_gives_the_delisting_portal(analyser: Analyser) -> None:
    got = record(
        analyser,
        "kijitora@contoso.com",
        "5.7.606",
        "550 5.7.606 Access denied, banned sending IP [198.51.100.222]. To request removal from this list "
        "please visit https://sender.office.com/ and follow the directions. (AS16012609)",
    )
    assert (got["listed_ip"], got["delist_url"], got["blocklist"]) == (
        "198.51.100.222",
        "https://sender.office.com/",
        "microsoft",
    )


def test_microsoft_is_recognised_by_its_reference_code_without_host_or_domain(analyser: Analyser) -> None:
    got = verdict(analyser, "microsoft", recipient="user@example.org", diagnostic=MAILBOX_UNAVAILABLE)
    assert (got.provider, got.rule) == ("microsoft", "microsoft.mailbox-unavailable")


# --- Google --------------------------------------------------------------------------------------


def test_google_no_such_user_is_suppressed(analyser: Analyser) -> None:
    got = verdict(
        analyser,
        "google",
        remote_mta="gmail-smtp-in.l.google.com",
        diagnostic="550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 "
        "double-checking the recipient's email address for typos or 550-5.1.1 unnecessary spaces. Learn more "
        "at 550 5.1.1 https://support.google.com/mail/?p=NoSuchUser y3si675602plr.1 - gsmtp",
    )
    assert (got.reason, got.hard, got.action, got.rule) == ("user_unknown", True, "suppress", "google.no-such-user")


def test_google_over_quota_is_retried(analyser: Analyser) -> None:
    got = verdict(
        analyser,
        "google",
        diagnostic="452-4.2.2 The email account that you tried to reach is over quota. Please direct 452-4.2.2 "
        "the recipient to 452 4.2.2 https://support.google.com/mail/?p=OverQuotaTemp q2si123 - gsmtp",
    )
    assert (got.reason, got.hard, got.action) == ("mailbox_full", False, "retry")


def test_google_dmarc_rejection_is_the_senders_to_fix(analyser: Analyser) -> None:
    got = verdict(
        analyser,
        "google",
        diagnostic="550-5.7.26 Unauthenticated email from example.jp is not accepted due to domain's 550-5.7.26 "
        "DMARC policy. Please contact the administrator of example.jp domain if 550-5.7.26 this was a legitimate "
        "mail. 550 5.7.26 https://support.google.com/mail/?p=DmarcRejection - gsmtp",
    )
    assert (got.reason, got.action) == ("auth_failure", "sender_fix")


def test_google_unusual_rate_from_the_ip_is_the_senders_reputation_not_the_recipient(analyser: Analyser) -> None:
    # google.md, 421 4.7.0 "Our system has detected an unusual rate of unsolicited mail originating
    # from your IP address." (the 2023 page): bad_reputation, sender_fix
    got = verdict(
        analyser,
        "google",
        diagnostic="421-4.7.0 [192.0.2.15 15] Our system has detected an unusual rate of 421-4.7.0 unsolicited "
        "mail originating from your IP address. To protect our 421-4.7.0 users from spam, mail sent from your IP "
        "address has been temporarily 421-4.7.0 rate limited. - gsmtp",
    )
    assert (got.reason, got.hard, got.action) == ("bad_reputation", False, "sender_fix")


def test_google_missing_ptr_is_require_ptr(analyser: Analyser) -> None:
    got = verdict(
        analyser,
        "google",
        diagnostic="550-5.7.25 [192.0.2.202] The IP address sending this message does not have a 550-5.7.25 PTR "
        "record setup, or the corresponding forward DNS entry does not 550-5.7.25 point to the sending IP. - gsmtp",
    )
    assert (got.reason, got.rule) == ("require_ptr", "google.ptr")


# --- Yahoo ---------------------------------------------------------------------------------------


def test_yahoo_dd_no_account_is_user_unknown(analyser: Analyser) -> None:
    got = verdict(
        analyser,
        "yahoo",
        recipient="nobody@yahoo.com",
        remote_mta="mta6.am0.yahoodns.net",
        diagnostic="554 delivery error: dd This user doesn't have a yahoo.com account (nobody@yahoo.com) [0] - "
        "mta1061.mail.ne1.yahoo.com",
    )
    assert (got.reason, got.hard, got.action, got.provider) == ("user_unknown", True, "suppress", "yahoo")


def test_yahoo_tss04_deferral_is_reputation_not_the_recipient(analyser: Analyser) -> None:
    got = verdict(
        analyser,
        "yahoo",
        diagnostic="421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume or "
        "user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
    )
    assert (got.reason, got.hard, got.action) == ("bad_reputation", False, "sender_fix")


def test_yahoo_spamhaus_listing_names_the_list_and_ip(analyser: Analyser) -> None:
    got = verdict(
        analyser,
        "yahoo",
        diagnostic="553 5.7.1 [BL21] Connections will not be accepted from 192.0.2.25, because the ip is in "
        "Spamhaus's list; see https://postmaster.yahooinc.com/error-codes",
    )
    assert (got.reason, got.details["blocklist"], got.details["listed_ip"]) == ("blocked", "spamhaus", "192.0.2.25")


# --- Apple ---------------------------------------------------------------------------------------


def test_apple_user_does_not_exist(analyser: Analyser) -> None:
    got = verdict(analyser, "apple", diagnostic="550 5.1.1 <nobody@icloud.com>: user does not exist")
    assert (got.reason, got.hard, got.provider) == ("user_unknown", True, "apple")


def test_apple_blocked_sender_ip(analyser: Analyser) -> None:
    got = verdict(
        analyser,
        "apple",
        remote_mta="mx01.mail.icloud.com",
        diagnostic="550 5.7.0 Blocked - see https://support.apple.com/en-us/HT204137",
    )
    assert (got.reason, got.action) == ("blocked", "sender_fix")


# --- docomo, au, SoftBank, J:COM: filter refusals are not unknown users -----------------------------


def test_docomo_unknown_user_after_data_is_the_recipients_filter(analyser: Analyser) -> None:
    got = verdict(
        analyser,
        "docomo",
        command="DATA",
        remote_mta="mfsmax.docomo.ne.jp",
        diagnostic="550 Unknown user someone@docomo.ne.jp",
    )
    # japan.md, docomo's second `Unknown user` row: the recipient's refusal settings, filtered/review
    assert (got.reason, got.hard, got.action) == ("filtered", False, "review")


def test_docomo_unknown_user_at_rcpt_is_suppressed(analyser: Analyser) -> None:
    got = verdict(
        analyser,
        "docomo",
        command="RCPT",
        remote_mta="mfsmax.docomo.ne.jp",
        diagnostic="550 Unknown user nobody@docomo.ne.jp",
    )
    assert (got.reason, got.hard, got.action) == ("user_unknown", True, "suppress")


def test_au_colon_user_unknown_without_address_is_the_domain_filter(analyser: Analyser) -> None:
    got = verdict(analyser, "au", remote_mta="lsean.ezweb.ne.jp", diagnostic="550 : User unknown")
    assert (got.reason, got.hard, got.rule) == ("filtered", False, "au.filtered")


def test_au_user_unknown_with_address_is_suppressed(analyser: Analyser) -> None:
    got = verdict(
        analyser,
        "au",
        recipient="nobody@au.com",
        remote_mta="msmx.au.com",
        diagnostic="550 <nobody@au.com>: User unknown",
    )
    assert (got.reason, got.hard, got.action) == ("user_unknown", True, "suppress")


def test_softbank_refusal_after_data_is_filtered(analyser: Analyser) -> None:
    got = verdict(analyser, "softbank", command="DATA", diagnostic="550 Invalid recipient: <someone@softbank.ne.jp>")
    assert (got.reason, got.hard, got.provider) == ("filtered", False, "softbank")


def test_softbank_invalid_recipient_at_rcpt_is_user_unknown(analyser: Analyser) -> None:
    got = verdict(
        analyser,
        "softbank",
        recipient="nobody@i.softbank.jp",
        command="RCPT",
        diagnostic="550 Invalid recipient: <nobody@i.softbank.jp>",
    )
    assert (got.reason, got.hard, got.provider) == ("user_unknown", True, "softbank")


def test_jcom_unknown_user_is_suppressed(analyser: Analyser) -> None:
    got = verdict(
        analyser,
        "jcom",
        recipient="nobody@zaq.ne.jp",
        diagnostic="550 5.1.1 <nobody@zaq.ne.jp>: Recipient address rejected: User unknown in local recipient table",
    )
    assert (got.reason, got.hard, got.provider) == ("user_unknown", True, "jcom")


def test_jcom_mailbox_full_is_retried(analyser: Analyser) -> None:
    got = verdict(
        analyser, "jcom", diagnostic="452 4.2.2 <someone@jcom.home.ne.jp>: Recipient address rejected: Mailbox full"
    )
    assert (got.reason, got.action) == ("mailbox_full", "retry")


# --- recognition: every pack claims the bounces of its inbound MX and its consumer domains ---------


@pytest.mark.parametrize(
    ("provider", "remote_mta"),
    [
        ("microsoft", "contoso-com.mail.protection.outlook.com"),
        ("microsoft", "outlook-com.olc.protection.outlook.com"),
        ("google", "aspmx.l.google.com"),
        ("google", "gmail-smtp-in.l.google.com"),
        ("yahoo", "mta7.am0.yahoodns.net"),
        ("yahoo", "mx-aol.mail.gm0.yahoodns.net"),
        ("apple", "mx01.mail.icloud.com"),
        ("docomo", "mfsmax.docomo.ne.jp"),
        ("au", "lsean.ezweb.ne.jp"),
        ("au", "msmx.au.com"),
    ],
)
def test_provider_is_recognised_by_its_inbound_mx(analyser: Analyser, provider: str, remote_mta: str) -> None:
    got = verdict(
        analyser,
        provider,
        recipient="someone@example.org",
        remote_mta=remote_mta,
        diagnostic="550 5.1.1 <someone@example.org>: Recipient address rejected: User unknown",
    )
    assert got.provider == provider


@pytest.mark.parametrize(
    ("provider", "recipient"),
    [
        ("microsoft", "someone@hotmail.co.jp"),
        ("microsoft", "someone@contoso.onmicrosoft.com"),
        ("google", "someone@googlemail.com"),
        ("yahoo", "someone@yahoo.co.jp"),
        ("apple", "someone@me.com"),
        ("docomo", "someone@docomo.ne.jp"),
        ("au", "someone@biz.ezweb.ne.jp"),
        ("softbank", "someone@d.vodafone.ne.jp"),
        ("jcom", "someone@ccn.zaq.ne.jp"),
    ],
)
def test_provider_is_recognised_by_its_consumer_domains(analyser: Analyser, provider: str, recipient: str) -> None:
    got = verdict(analyser, provider, recipient=recipient, diagnostic="550 5.1.1 User unknown")
    assert got.provider == provider
