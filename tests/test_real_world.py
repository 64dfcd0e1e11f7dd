"""Real-world refusals, end to end: the replies mailing systems (newsletters, transactional mail,
many senders in Japan) meet most, as the receiving servers write them, wrapped in the bounces the
sending MTAs really produce (RFC 3464 reports from Postfix, plain-text Exim/qmail/Postfix/Sendmail
notices, Japanese-language notices in ISO-2022-JP and Shift_JIS). Each case runs with LF, CRLF and
CR-only line endings and checks reason, hard and action (and provider, list and IP where they apply).

Addresses and IPs are documentation ones (example.com/.jp, 192.0.2.x, 198.51.100.x, 203.0.113.x),
except the receiving providers' own domains, which decide which rule pack applies.
"""

from __future__ import annotations

from email.header import Header

import pytest

from dsnworker.analyser import Analyser
from dsnworker.output import outcome_record

ANALYSER = Analyser.with_rules()


def fold(diagnostic: str) -> str:
    """Fold a long Diagnostic-Code the way MTAs write it (continuation lines of 4 blanks)."""
    words, lines, line = diagnostic.split(" "), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > 72:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\n    ".join(lines)


def postfix_dsn(
    recipient: str,
    status: str,
    diagnostic: str,
    remote_mta: str | None = None,
    action: str = "failed",
    original_recipient: str | None = None,
) -> bytes:
    """A Postfix-style multipart/report (RFC 3464) around one recipient's failure."""
    human = (
        "This is the mail system at host mta1.example.com.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients. It's attached below.\n\n"
        "For further assistance, please send mail to postmaster.\n\n"
        "                   The mail system\n\n"
        f"<{recipient}>: host {remote_mta or 'mx.example.net'}[203.0.113.25] said: {diagnostic}\n"
    )
    fields = [
        f"Final-Recipient: rfc822; {recipient}",
        f"Original-Recipient: rfc822;{original_recipient or recipient}",
        f"Action: {action}",
        f"Status: {status}",
    ]
    if remote_mta:
        fields.append(f"Remote-MTA: dns; {remote_mta}")
    fields.append(f"Diagnostic-Code: smtp; {fold(diagnostic)}")
    text = (
        "Return-Path: <>\n"
        "Received: by mta1.example.com (Postfix)\n"
        "\tid 4XyZ1Q2kzGz9sWq; Tue, 24 Nov 2026 10:15:02 +0900 (JST)\n"
        "Date: Tue, 24 Nov 2026 10:15:02 +0900 (JST)\n"
        "From: MAILER-DAEMON@mta1.example.com (Mail Delivery System)\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "To: bounce+c1@example.com\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status;\n"
        '\tboundary="4XyZ1Q2kzGz9sWq.1732410902/mta1.example.com"\n'
        "Message-Id: <20261124011502.4XyZ1Q2kzGz9sWq@mta1.example.com>\n"
        "\n"
        "This is a MIME-encapsulated message.\n\n"
        "--4XyZ1Q2kzGz9sWq.1732410902/mta1.example.com\n"
        "Content-Description: Notification\n"
        "Content-Type: text/plain; charset=us-ascii\n\n"
        f"{human}\n"
        "--4XyZ1Q2kzGz9sWq.1732410902/mta1.example.com\n"
        "Content-Description: Delivery report\n"
        "Content-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mta1.example.com\n"
        "X-Postfix-Queue-ID: 4XyZ1Q2kzGz9sWq\n"
        "X-Postfix-Sender: rfc822; bounce+c1@example.com\n"
        "Arrival-Date: Tue, 24 Nov 2026 10:14:58 +0900 (JST)\n\n"
        + "\n".join(fields)
        + "\n\n"
        "--4XyZ1Q2kzGz9sWq.1732410902/mta1.example.com\n"
        "Content-Description: Undelivered Message Headers\n"
        "Content-Type: text/rfc822-headers\n\n"
        "Return-Path: <bounce+c1@example.com>\n"
        "From: News <news@example.com>\n"
        f"To: {recipient}\n"
        "Subject: November newsletter\n"
        "Message-ID: <c1.20261124@example.com>\n"
        "X-Campaign-Id: c1\n\n"
        "--4XyZ1Q2kzGz9sWq.1732410902/mta1.example.com--\n"
    )
    return text.encode("utf-8")


def rcpt(diagnostic: str) -> str:
    return f"{diagnostic} (in reply to RCPT TO command)"


def data(diagnostic: str) -> str:
    return f"{diagnostic} (in reply to end of DATA command)"


# (id, recipient, remote MTA, status, diagnostic, expected)
DSN_CASES = [
    # --- Gmail / Google Workspace ----------------------------------------------------------------
    ("gmail-nosuchuser", "nobody.here@gmail.com", "gmail-smtp-in.l.google.com", "5.1.1",
     rcpt("550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1 unnecessary spaces. For more information, go to 550 5.1.1 https://support.google.com/mail/?p=NoSuchUser 41be03b00d2f7-7fd1a2b3c4si.412 - gsmtp"),
     {"reason": "user_unknown", "hard": True, "action": "suppress", "provider": "google"}),
    ("gmail-overquota", "full.box@gmail.com", "gmail-smtp-in.l.google.com", "5.2.2",
     rcpt("552-5.2.2 The recipient's inbox is out of storage space and inactive. Please direct 552-5.2.2 the recipient to 552 5.2.2 https://support.google.com/mail/?p=OverQuotaPerm 5b1f17b1804b1-43a1b2c3si.5 - gsmtp"),
     {"reason": "mailbox_full", "hard": False, "action": "retry", "provider": "google"}),
    ("gmail-overquota-temp", "full.box@gmail.com", "gmail-smtp-in.l.google.com", "4.2.2",
     rcpt("452-4.2.2 The recipient's inbox is out of storage space. Please direct the 452-4.2.2 recipient to 452 4.2.2 https://support.google.com/mail/?p=OverQuotaTemp d9443c01a7336-21a1si.3 - gsmtp"),
     {"reason": "mailbox_full", "hard": False, "action": "retry"}),
    ("gmail-dmarc", "someone@gmail.com", "gmail-smtp-in.l.google.com", "5.7.26",
     data("550-5.7.26 Unauthenticated email from example.com is not accepted due to domain's 550-5.7.26 DMARC policy. Please contact the administrator of example.com domain if 550-5.7.26 this was a legitimate mail. To learn about the DMARC initiative, go 550-5.7.26 to 550 5.7.26 https://support.google.com/mail/?p=DmarcRejection 41be03b00d2f7-7fd1si.1 - gsmtp"),
     {"reason": "auth_failure", "hard": False, "action": "sender_fix", "provider": "google"}),
    ("gmail-5.7.26-neither", "someone@gmail.com", "gmail-smtp-in.l.google.com", "5.7.26",
     data("550-5.7.26 This mail has been blocked because the sender is unauthenticated. 550-5.7.26 Gmail requires all senders to authenticate with either SPF or DKIM. 550-5.7.26 550-5.7.26 Authentication results: 550-5.7.26 DKIM = did not pass 550-5.7.26 SPF [example.com] with ip: [192.0.2.10] = did not pass 550-5.7.26 550-5.7.26 For instructions on setting up authentication, go to 550 5.7.26 https://support.google.com/mail/answer/81126#authentication d2si.12 - gsmtp"),
     {"reason": "auth_failure", "action": "sender_fix"}),
    ("gmail-5.7.27-spf", "someone@gmail.com", "gmail-smtp-in.l.google.com", "5.7.27",
     rcpt("550-5.7.27 The sender hit SPF 'fail' condition. Please check the SPF policy of 550-5.7.27 example.com. To learn more, go to 550 5.7.27 https://support.google.com/mail/answer/81126#authentication e1si.3 - gsmtp"),
     {"reason": "auth_failure", "action": "sender_fix"}),
    ("gmail-4.7.28-domain-rate", "someone@gmail.com", "gmail-smtp-in.l.google.com", "4.7.28",
     data("421-4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from 421-4.7.28 your SPF domain [example.com 30]. To protect our users from spam, mail 421-4.7.28 sent from your domain has been temporarily rate limited. For more 421-4.7.28 information, go to 421-4.7.28 https://support.google.com/mail/?p=UnsolicitedRateLimitError to 421 4.7.28 review our Bulk Email Senders Guidelines. a2si.9 - gsmtp"),
     {"reason": "bad_reputation", "hard": False, "action": "sender_fix"}),
    ("gmail-5.7.28-ip", "someone@gmail.com", "gmail-smtp-in.l.google.com", "5.7.28",
     data("550-5.7.28 [192.0.2.10] Our system has detected an unusual rate of 550-5.7.28 unsolicited mail originating from your IP address. To protect our 550-5.7.28 users from spam, mail sent from your IP address has been blocked. 550-5.7.28 Please visit 550-5.7.28 https://support.google.com/mail/?p=UnsolicitedIPError to review our 550 5.7.28 Bulk Email Senders Guidelines. a3si.1 - gsmtp"),
     # google.md: 550 5.7.28 / 550 5.7.1 (2023) "unusual rate of unsolicited mail ... from your IP address": bad_reputation
     {"reason": "bad_reputation", "hard": False, "action": "sender_fix", "listed_ip": "192.0.2.10"}),
    ("gmail-likely-unsolicited", "someone@gmail.com", "gmail-smtp-in.l.google.com", "5.7.1",
     data("550-5.7.1 [192.0.2.10      12] Gmail has detected that this message is 550-5.7.1 likely unsolicited mail. To reduce the amount of spam sent to Gmail, 550-5.7.1 this message has been blocked. For more information, go to 550 5.7.1 https://support.google.com/mail/?p=UnsolicitedMessageError 7si.2 - gsmtp"),
     # google.md: 550 5.7.1 "likely unsolicited mail" is ours to fix: spam_detected, sender_fix
     {"reason": "spam_detected", "hard": False, "action": "sender_fix"}),
    ("gmail-ptr", "someone@gmail.com", "gmail-smtp-in.l.google.com", "5.7.25",
     rcpt("550-5.7.25 [2001:db8::25] The IP address sending this message does not have a 550-5.7.25 PTR record setup, or the corresponding forward DNS entry does not 550-5.7.25 point to the sending IP. As a policy, Gmail does not accept messages 550-5.7.25 from IPs with missing PTR records. For more information, go to 550 5.7.25 https://support.google.com/mail/answer/81126#ip-practices 8si.4 - gsmtp"),
     {"reason": "require_ptr", "hard": False, "action": "sender_fix"}),
    ("gmail-tls-required", "someone@example-workspace.jp", "aspmx.l.google.com", "4.7.0",
     rcpt("421-4.7.0 TLS required for RCPT domain, closing connection. For more 421-4.7.0 information, go to 421 4.7.0 https://support.google.com/a/answer/2520500 7si.5 - gsmtp"),
     {"reason": "security_error", "hard": False, "action": "sender_fix", "provider": "google"}),
    ("workspace-5.4.1-access-denied", "former.staff@example-workspace.jp", "aspmx.l.google.com", "5.4.1",
     rcpt("550 5.4.1 Recipient address rejected: Access denied. For more information, see https://support.google.com/a/answer/7040263 d9si.8 - gsmtp"),
     {"reason": "user_unknown", "hard": True, "action": "suppress", "provider": "google"}),
    ("gmail-size", "someone@gmail.com", "gmail-smtp-in.l.google.com", "5.3.4",
     data("552-5.3.4 Your message exceeded Google's message size limits. For more 552-5.3.4 information, go to 552 5.3.4 https://support.google.com/mail/?p=MaxSizeError 9si.1 - gsmtp"),
     # google.md: 552 5.3.4 "Your message exceeded Google's message size limits": message_too_big, sender_fix
     {"reason": "message_too_big", "hard": False, "action": "sender_fix"}),
    ("gmail-disabled", "closed.acct@gmail.com", "gmail-smtp-in.l.google.com", "5.2.1",
     rcpt("550-5.2.1 The email account that you tried to reach is disabled. Learn more at 550 5.2.1 https://support.google.com/mail/?p=DisabledUser 4si.6 - gsmtp"),
     {"reason": "suspend", "hard": False, "action": "retry"}),
    ("gmail-receiving-rate", "busy@gmail.com", "gmail-smtp-in.l.google.com", "4.2.1",
     rcpt("450-4.2.1 The user you are trying to contact is receiving mail at a rate that 450-4.2.1 prevents additional messages from being delivered. Please resend your 450-4.2.1 message at a later time. If the user is able to receive mail at that 450-4.2.1 time, your message will be delivered. For more information, go to 450-4.2.1 https://support.google.com/mail/?p=ReceivingRate 5si.7 - gsmtp"),
     {"reason": "speeding", "hard": False, "action": "retry"}),
    # --- Microsoft: Outlook.com / Hotmail / Microsoft 365 -----------------------------------------
    ("ms-5.5.0-unknown", "taro.yamada@outlook.jp", "outlook-jp.olc.protection.outlook.com", "5.5.0",
     rcpt("550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [PU1APC01FT044.eop-APC01.prod.protection.outlook.com]"),
     {"reason": "user_unknown", "hard": True, "action": "suppress", "provider": "microsoft"}),
    ("ms-quoted", '"taro.yamada"@outlook.jp', "outlook-jp.olc.protection.outlook.com", "5.5.0",
     rcpt("550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [PU1APC01FT044.eop-APC01.prod.protection.outlook.com]"),
     {"reason": "quoted_local_part", "hard": False, "action": "fix_address", "suggested_address": "taro.yamada@outlook.jp"}),
    ("ms-quoted-unquotable", '"taro..yamada"@outlook.jp', "outlook-jp.olc.protection.outlook.com", "5.5.0",
     rcpt("550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [TYCP286MB2418.JPNP286.PROD.OUTLOOK.COM]"),
     {"reason": "quoted_local_part", "hard": False, "action": "fix_address", "suggested_address": None, "unquotable": True}),
    ("ms-quoted-trailing-dot", '"hanako."@hotmail.co.jp', "hotmail-co-jp.olc.protection.outlook.com", "5.5.0",
     rcpt("550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [OS0P286MB0123.JPNP286.PROD.OUTLOOK.COM]"),
     {"reason": "quoted_local_part", "hard": False, "action": "fix_address", "suggested_address": None}),
    ("ms-spamhaus-ip", "someone@outlook.com", "outlook-com.olc.protection.outlook.com", "5.7.1",
     rcpt("550 5.7.1 Service unavailable, Client host [192.0.2.25] blocked using Spamhaus. To request removal from this list see https://www.spamhaus.org/query/ip/192.0.2.25 (AS3130). [BN1NAM02FT011.eop-nam02.prod.protection.outlook.com]"),
     {"reason": "blocked", "hard": False, "action": "sender_fix", "blocklist": "spamhaus", "listed_ip": "192.0.2.25"}),
    ("ms-own-blocklist", "someone@hotmail.com", "hotmail-com.olc.protection.outlook.com", "5.7.1",
     rcpt("550 5.7.1 Unfortunately, messages from [198.51.100.33] weren't sent. Please contact your Internet service provider since part of their network is on our block list (AS3140). You can also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors. [DB5EUR03FT010.eop-EUR03.prod.protection.outlook.com]"),
     {"reason": "blocked", "action": "sender_fix", "blocklist": "microsoft", "listed_ip": "198.51.100.33"}),
    ("ms-helo-dbl", "someone@outlook.jp", "outlook-jp.olc.protection.outlook.com", "5.7.1",
     rcpt("550 5.7.1 Service unavailable, Helo domain is listed in Spamhaus. To request removal from this list see https://www.spamhaus.org/query/lookup/ (S8001) [HK2APC01FT056.eop-APC01.prod.protection.outlook.com]"),
     {"reason": "blocked", "action": "sender_fix", "blocklist": "spamhaus"}),
    ("ms-resolver-notfound", "left.company@contoso.example.com", "contoso-example-com.mail.protection.outlook.com", "5.1.10",
     rcpt("550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient left.company@contoso.example.com not found by SMTP address lookup"),
     {"reason": "user_unknown", "hard": True, "action": "suppress", "provider": "microsoft"}),
    ("ms-5.4.1-dbeb", "left.company@example.co.jp", "example-co-jp.mail.protection.outlook.com", "5.4.1",
     rcpt("550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [TYZAPC01FT031.eop-APC01.prod.protection.outlook.com 2026-11-24T01:15:01.123Z 08DD0C1A2B3C4D5E]"),
     {"reason": "user_unknown", "hard": True, "action": "suppress", "provider": "microsoft"}),
    ("ms-4.7.650", "someone@outlook.com", "outlook-com.olc.protection.outlook.com", "4.7.650",
     rcpt("451 4.7.650 The mail server [192.0.2.80] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://postmaster.live.com (S775) [Name=Protocol Filter Agent][AGT=PFA][MxId=11BB4A4C1E3C1570] [BN1NAM02FT011.eop-nam02.prod.protection.outlook.com]"),
     {"reason": "bad_reputation", "hard": False, "action": "sender_fix", "listed_ip": "192.0.2.80"}),
    ("ms-5.7.708", "someone@example.com", "example-com.mail.protection.outlook.com", "5.7.708",
     rcpt("550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP. For more information please go to http://go.microsoft.com/fwlink/?LinkId=526653 AS(7230) [DM3NAM03FT043.eop-NAM03.prod.protection.outlook.com]"),
     # microsoft.md, 5.7.708: a low-reputation IP, not a listing
     {"reason": "bad_reputation", "hard": False, "action": "sender_fix", "provider": "microsoft"}),
    ("ms-5.7.606", "someone@example.com", "example-com.mail.protection.outlook.com", "5.7.606",
     rcpt("550 5.7.606 Access denied, banned sending IP [198.51.100.222]. To request removal from this list please visit https://sender.office.com/ and follow the directions. For more information please go to http://go.microsoft.com/fwlink/?LinkID=526655 AS(1430) [AM4PEPF00027A5F.eurprd04.prod.outlook.com]"),
     {"reason": "blocked", "hard": False, "action": "sender_fix", "blocklist": "microsoft", "listed_ip": "198.51.100.222"}),
    ("ms-5.7.649", "someone@example.com", "example-com.mail.protection.outlook.com", "5.7.649",
     rcpt("550 5.7.649 Access denied, banned sending IP [203.0.113.7]. To request removal from this list please visit https://sender.office.com/ and follow the directions. AS(1440)"),
     {"reason": "blocked", "action": "sender_fix", "listed_ip": "203.0.113.7"}),
    ("ms-mailbox-full", "full.box@hotmail.co.jp", "hotmail-co-jp.olc.protection.outlook.com", "5.2.2",
     data("554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded; Failed to process message due to a permanent exception with message [BeginDiagnosticData]Cannot open mailbox. [OS3P286MB1234.JPNP286.PROD.OUTLOOK.COM]"),
     {"reason": "mailbox_full", "hard": False, "action": "retry"}),
    ("ms-5.7.509-dmarc", "someone@outlook.com", "outlook-com.olc.protection.outlook.com", "5.7.509",
     data("550 5.7.509 Access denied, sending domain [EXAMPLE.COM] does not pass DMARC verification and has a DMARC policy of reject. [BL02EPF0001A0FF.namprd09.prod.outlook.com 2026-11-24T01:15:01.123Z 08DD0C1A2B3C4D5E] [BN1PEPF00004680.namprd05.prod.outlook.com]"),
     {"reason": "auth_failure", "hard": False, "action": "sender_fix"}),
    ("ms-5.2.252-sendas", "customer@example.net", "example-net.mail.protection.outlook.com", "5.2.252",
     data("554 5.2.252 SendAsDenied; news@example.com not allowed to send as info@example.org; STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message [BeginDiagnosticData]Cannot submit message."),
     {"reason": "rejected", "hard": False, "action": "sender_fix"}),
    ("ms-5.7.520-forwarding", "someone@example.co.jp", "example-co-jp.mail.protection.outlook.com", "5.7.520",
     data("550 5.7.520 Access denied, Your organization does not allow external forwarding. Please contact your administrator for further assistance. AS(7555)"),
     {"reason": "policy_violation", "hard": False, "action": "review"}),
    # --- Yahoo / AOL / Yahoo! JAPAN ----------------------------------------------------------------
    ("yahoo-dd", "nobody.here@yahoo.com", "mta6.am0.yahoodns.net", "5.0.0",
     rcpt("554 delivery error: dd This user doesn't have a yahoo.com account (nobody.here@yahoo.com) [0] - mta4004.mail.gq1.yahoo.com"),
     {"reason": "user_unknown", "hard": True, "action": "suppress", "provider": "yahoo"}),
    ("yahoo-tss04", "someone@yahoo.com", "mta6.am0.yahoodns.net", "4.7.0",
     rcpt("421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes"),
     {"reason": "bad_reputation", "hard": False, "action": "sender_fix"}),
    ("yahoo-tss09", "someone@yahoo.com", "mta6.am0.yahoodns.net", "5.7.2",
     rcpt("553 5.7.2 [TSS09] All messages from 192.0.2.25 will be permanently deferred; Retrying will NOT succeed. See https://postmaster.yahooinc.com/error-codes"),
     # yahoo.md: [TS03] "All messages from x.x.x.x permanently deferred" (SLN3436), the TS* family: bad_reputation
     {"reason": "bad_reputation", "hard": False, "action": "sender_fix", "listed_ip": "192.0.2.25"}),
    ("yahoo-5.7.9-policy", "someone@yahoo.com", "mta6.am0.yahoodns.net", "5.7.9",
     data("554 5.7.9 Message not accepted for policy reasons.  See https://postmaster.yahooinc.com/error-codes"),
     # yahoo.md: 554 5.7.9 "Message not accepted for policy reasons" (SLN7253) is failed SPF/DKIM/DMARC
     {"reason": "auth_failure", "hard": False, "action": "sender_fix"}),
    ("aol-552-1", "nobody.here@aol.com", "mx-aol.mail.gm0.yahoodns.net", "5.0.0",
     rcpt("552 1 Requested mail action aborted, mailbox not found"),
     {"reason": "user_unknown", "hard": True, "action": "suppress", "provider": "yahoo"}),
    ("yahoo-unauthenticated", "someone@yahoo.com", "mta6.am0.yahoodns.net", "5.7.9",
     data("550 5.7.9 This mail has been blocked because the sender is unauthenticated. Yahoo requires all senders to authenticate with either SPF or DKIM."),
     {"reason": "auth_failure", "action": "sender_fix"}),
    ("yahoo-jp-policy", "someone@yahoo.co.jp", "mx1.mail.yahoo.co.jp", "5.0.0",
     data("554 Message not allowed - DM Email not accepted for policy reasons. Please visit https://www.yahoo-help.jp/app/answers/detail/a_id/80870/p/622 [895]"),
     {"reason": "policy_violation", "hard": False, "action": "review", "provider": "yahoo"}),
    ("yahoo-jp-headers", "someone@yahoo.co.jp", "mx1.mail.yahoo.co.jp", "5.0.0",
     data("554 Message not allowed - Headers are not RFC compliant[291]"),
     {"reason": "not_compliant_rfc", "hard": False}),
    ("yahoo-jp-unknown", "nobody.here@yahoo.co.jp", "mx1.mail.yahoo.co.jp", "5.1.1",
     rcpt("550 5.1.1 <nobody.here@yahoo.co.jp>: Recipient address rejected: User unknown"),
     {"reason": "user_unknown", "hard": True, "action": "suppress"}),
    # --- iCloud ---------------------------------------------------------------------------------
    ("icloud-unknown", "nobody.here@icloud.com", "mx01.mail.icloud.com", "5.1.1",
     rcpt("550 5.1.1 <nobody.here@icloud.com>: user does not exist"),
     {"reason": "user_unknown", "hard": True, "action": "suppress", "provider": "apple"}),
    ("icloud-cs01", "someone@icloud.com", "mx01.mail.icloud.com", "5.7.1",
     data("554 5.7.1 [CS01] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137"),
     {"reason": "policy_violation", "hard": False, "action": "review"}),
    ("icloud-blocked", "someone@me.com", "mx02.mail.icloud.com", "5.7.0",
     rcpt("550 5.7.0 Blocked - see https://support.apple.com/en-us/HT204137"),
     {"reason": "blocked", "hard": False, "action": "sender_fix"}),
    ("icloud-over-quota", "someone@icloud.com", "mx01.mail.icloud.com", "5.2.2",
     rcpt("552 5.2.2 <someone@icloud.com>: user is over quota"),
     {"reason": "mailbox_full", "hard": False, "action": "retry"}),
    # --- Japanese carriers -----------------------------------------------------------------------
    ("docomo-rcpt", "nobody-here@docomo.ne.jp", "mfsmax.docomo.ne.jp", "5.0.0",
     rcpt("550 Unknown user nobody-here@docomo.ne.jp"),
     {"reason": "user_unknown", "hard": True, "action": "suppress", "provider": "docomo"}),
    ("docomo-data", "someone@docomo.ne.jp", "mfsmax.docomo.ne.jp", "5.0.0",
     data("550 Unknown user someone@docomo.ne.jp"),
     {"reason": "filtered", "hard": False, "action": "review", "provider": "docomo"}),
    ("au-filtered", "someone@ezweb.ne.jp", "lsean.ezweb.ne.jp", "5.0.0",
     data("550 : User unknown"),
     {"reason": "filtered", "hard": False, "action": "retry", "provider": "au"}),
    ("au-unknown", "nobody-here@ezweb.ne.jp", "lsean.ezweb.ne.jp", "5.0.0",
     rcpt("550 <nobody-here@ezweb.ne.jp>: User unknown"),
     {"reason": "user_unknown", "hard": True, "action": "suppress", "provider": "au"}),
    ("au-com-unknown", "nobody-here@au.com", "msmx.au.com", "5.1.1",
     rcpt("550 5.1.1 <nobody-here@au.com>: User unknown"),
     {"reason": "user_unknown", "hard": True, "action": "suppress", "provider": "au"}),
    ("softbank-rcpt", "nobody-here@softbank.ne.jp", "mx.softbank.ne.jp", "5.0.0",
     rcpt("550 Invalid recipient: <nobody-here@softbank.ne.jp>"),
     {"reason": "user_unknown", "hard": True, "action": "suppress", "provider": "softbank"}),
    ("softbank-data", "someone@softbank.ne.jp", "mx.softbank.ne.jp", "5.0.0",
     data("550 Invalid recipient: <someone@softbank.ne.jp>"),
     {"reason": "filtered", "hard": False, "action": "retry", "provider": "softbank"}),
    ("isoftbank-unknown", "nobody-here@i.softbank.jp", "mx.i.softbank.jp", "5.1.1",
     rcpt("550 5.1.1 <nobody-here@i.softbank.jp>: Recipient address rejected: User unknown"),
     {"reason": "user_unknown", "hard": True, "action": "suppress", "provider": "softbank"}),
    ("jcom-unknown", "nobody-here@jcom.home.ne.jp", "mx.jcom.home.ne.jp", "5.1.1",
     rcpt("550 5.1.1 <nobody-here@jcom.home.ne.jp>: Recipient address rejected: User unknown in virtual mailbox table"),
     {"reason": "user_unknown", "hard": True, "action": "suppress", "provider": "jcom"}),
    ("jcom-full", "someone@zaq.ne.jp", "mx.zaq.ne.jp", "4.2.2",
     rcpt("452 4.2.2 <someone@zaq.ne.jp>: Recipient address rejected: Mailbox full"),
     {"reason": "mailbox_full", "hard": False, "action": "retry", "provider": "jcom"}),
    # --- common MTAs and filters ------------------------------------------------------------------
    ("postfix-virtual", "nobody@example.jp", "mx.example.jp", "5.1.1",
     rcpt("550 5.1.1 <nobody@example.jp>: Recipient address rejected: User unknown in virtual alias table"),
     {"reason": "user_unknown", "hard": True, "action": "suppress"}),
    ("postfix-local", "nobody@example.jp", "mx.example.jp", "5.1.1",
     rcpt("550 5.1.1 <nobody@example.jp>: Recipient address rejected: User unknown in local recipient table"),
     {"reason": "user_unknown", "hard": True, "action": "suppress"}),
    ("postfix-greylist", "someone@example.jp", "mx.example.jp", "4.7.1",
     rcpt("450 4.7.1 <someone@example.jp>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.jp.html"),
     {"reason": "speeding", "hard": False, "action": "retry"}),
    ("postfix-greylist-delayed", "someone@example.jp", "mx.example.jp", "4.7.1",
     rcpt("450 4.7.1 <someone@example.jp>: Recipient address rejected: Greylisted for 300 seconds"),
     {"reason": "speeding", "hard": False, "action": "retry"}),
    ("postfix-relay", "someone@example.org", "mx.example.org", "5.7.1",
     rcpt("554 5.7.1 <someone@example.org>: Relay access denied"),
     {"reason": "no_relaying", "hard": False}),
    ("postfix-host-not-found", "someone@no-such-domain.example", None, "5.4.4",
     "Host or domain name not found. Name service error for name=no-such-domain.example type=MX: Host not found",
     {"reason": "host_unknown", "hard": True, "action": "suppress"}),
    ("postfix-host-not-found-try-again", "someone@example.jp", None, "4.4.3",
     "Host or domain name not found. Name service error for name=example.jp type=MX: Host not found, try again",
     {"reason": "network_error", "hard": False, "action": "retry"}),
    ("postfix-timed-out", "someone@example.jp", None, "4.4.1",
     "connect to mx.example.jp[203.0.113.5]:25: Connection timed out",
     {"reason": "expired", "hard": False, "action": "retry"}),
    ("postfix-sender-domain", "someone@example.jp", "mx.example.jp", "5.7.1",
     rcpt("554 5.7.1 <news@example.com>: Sender address rejected: Domain not found"),
     {"reason": "rejected", "hard": False, "action": "sender_fix"}),
    ("postfix-null-mx", "someone@nullmx.example", None, "5.1.10",
     "Recipient address has null MX",
     {"reason": "not_accept", "hard": True, "action": "suppress"}),
    ("null-mx-556", "someone@nullmx.example", "mx.example.net", "5.1.10",
     rcpt("556 5.1.10 Recipient address has null MX"),
     {"reason": "not_accept", "hard": True, "action": "suppress"}),
    ("dovecot-over-quota", "someone@example.jp", "mx.example.jp", "4.2.2",
     data("452 4.2.2 <someone@example.jp>: Quota exceeded (mailbox for user is full)"),
     {"reason": "mailbox_full", "hard": False, "action": "retry"}),
    ("insufficient-storage", "someone@example.jp", "mx.example.jp", "4.3.1",
     rcpt("452 4.3.1 Insufficient system storage"),
     {"reason": "system_full", "hard": False, "action": "retry"}),
    ("too-many-concurrent", "someone@example.jp", "mx.example.jp", "4.7.0",
     "421 4.7.0 Try again later, closing connection. (Too many concurrent connections) (in reply to MAIL FROM command)",
     {"reason": "too_many_conn", "hard": False, "action": "retry"}),
    ("message-too-big", "someone@example.jp", "mx.example.jp", "5.3.4",
     data("552 5.3.4 Message size exceeds fixed limit"),
     {"reason": "message_too_big", "hard": False}),
    ("virus", "someone@example.jp", "mx.example.jp", "5.7.0",
     data("554 5.7.0 Reject, id=12345-01 - INFECTED: Eicar-Signature"),
     {"reason": "virus_detected", "hard": False}),
    ("spam-content", "someone@example.jp", "mx.example.jp", "5.7.1",
     data("550 5.7.1 Message rejected as spam by Content Filtering."),
     {"reason": "spam_detected", "hard": False}),
    ("content-restrictions", "someone@example.jp", "mx.example.jp", "5.7.1",
     data("550 5.7.1 Message rejected due to content restrictions"),
     {"reason": "policy_violation", "hard": False, "action": "review"}),
    ("sendmail-user-unknown", "nobody@example.jp", "mail.example.jp", "5.1.1",
     rcpt("550 5.1.1 <nobody@example.jp>... User unknown"),
     {"reason": "user_unknown", "hard": True, "action": "suppress"}),
    ("proofpoint-rbl", "someone@example.com", "mx0a-001234.pphosted.com", "5.7.1",
     rcpt("550 5.7.1 Mail from 192.0.2.44 refused, see RBL report at https://ipcheck.proofpoint.com/?ip=192.0.2.44"),
     {"reason": "blocked", "hard": False, "action": "sender_fix"}),
    ("barracuda-reputation", "someone@example.com", "mx.example.com", "5.7.1",
     rcpt("554 5.7.1 Service unavailable; Client host [192.0.2.44] blocked using Barracuda Reputation; http://www.barracudanetworks.com/reputation/?r=1&ip=192.0.2.44"),
     {"reason": "blocked", "hard": False, "action": "sender_fix", "blocklist": "barracuda", "listed_ip": "192.0.2.44"}),
    ("barracuda-cloud", "someone@example.com", "d123456a.ess.barracudanetworks.com", "5.7.1",
     data("550 permanent failure for one or more recipients (someone@example.com:blocked)"),
     {"hard": False}),
    ("mimecast-spoofing", "someone@example.com", "eu-smtp-inbound-1.mimecast.com", "5.0.0",
     data("550 Rejected by header based Anti-Spoofing policy: news@example.com - https://community.mimecast.com/docs/DOC-1369#550 [AbCdEfGhIjKlMnOp.uk123]"),
     {"reason": "policy_violation", "hard": False}),
    ("mimecast-unknown", "nobody@example.com", "us-smtp-inbound-1.mimecast.com", "5.0.0",
     rcpt("550 Invalid Recipient - https://community.mimecast.com/docs/DOC-1369#550 [AbCdEfGh.us123]"),
     {"reason": "user_unknown", "hard": True, "action": "suppress"}),
    ("ironport-sbrs", "someone@example.com", "esa1.example.iphmx.com", "5.0.0",
     rcpt("554 Your access to this mail system has been rejected due to the sending MTA's poor reputation. If you believe that this failure is in error, please contact the intended recipient via alternate means."),
     {"reason": "bad_reputation", "hard": False, "action": "sender_fix"}),
    ("spamhaus-zen", "someone@example.jp", "mx.example.jp", "5.7.1",
     rcpt("554 5.7.1 Service unavailable; Client host [192.0.2.44] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.44"),
     {"reason": "blocked", "hard": False, "action": "sender_fix", "blocklist": "spamhaus", "listed_ip": "192.0.2.44"}),
    ("spamcop", "someone@example.jp", "mx.example.jp", "5.7.1",
     rcpt("554 5.7.1 Service unavailable; Client host [198.51.100.3] blocked using bl.spamcop.net; Blocked - see https://www.spamcop.net/bl.shtml?198.51.100.3"),
     {"reason": "blocked", "hard": False, "action": "sender_fix", "blocklist": "spamcop", "listed_ip": "198.51.100.3"}),
    ("spf-fail-postfix", "someone@example.jp", "mx.example.jp", "5.7.23",
     rcpt("550 5.7.23 <someone@example.jp>: Recipient address rejected: Message rejected due to: SPF fail - not authorized. Please see http://www.openspf.net/Why?s=mfrom;id=news@example.com;ip=192.0.2.44;r=<UNKNOWN>"),
     {"reason": "auth_failure", "hard": False, "action": "sender_fix"}),
    ("dkim-fail", "someone@example.jp", "mx.example.jp", "5.7.1",
     data("550 5.7.1 Email rejected per DMARC policy for example.com"),
     {"reason": "auth_failure", "hard": False, "action": "sender_fix"}),
    ("rate-limit-421", "someone@example.jp", "mx.example.jp", "4.7.0",
     rcpt("421 4.7.0 mx.example.jp Error: too many messages from 192.0.2.44, rate limit exceeded"),
     {"reason": "speeding", "hard": False, "action": "retry"}),
    ("exim-unrouteable", "someone@example.jp", None, "5.0.0",
     "Unrouteable address",
     {"hard": False}),
    ("exim-quota", "someone@example.jp", "mx.example.jp", "5.2.2",
     data("552 5.2.2 Mailbox quota exceeded"),
     {"reason": "mailbox_full", "hard": False, "action": "retry"}),
    # --- more of what bulk senders meet -------------------------------------------------------------
    ("postgrey-4.2.0", "someone@example.jp", "mx.example.jp", "4.2.0",
     rcpt("450 4.2.0 <someone@example.jp>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.jp.html"),
     {"reason": "speeding", "hard": False, "action": "retry"}),
    ("exim-greylisting", "someone@example.org", "mx.example.org", "4.7.1",
     rcpt("451 4.7.1 Greylisting in action, please come back later"),
     {"reason": "speeding", "hard": False, "action": "retry"}),
    ("greylist-try-in", "someone@example.org", "mx.example.org", "4.7.0",
     rcpt("421 4.7.0 Greylisted, please try again in 180 seconds"),
     {"reason": "speeding", "hard": False, "action": "retry"}),
    ("gmail-low-reputation-domain", "someone@gmail.com", "gmail-smtp-in.l.google.com", "5.7.1",
     data("550-5.7.1 [192.0.2.10] Gmail has detected that this message is likely suspicious due to 550-5.7.1 the very low reputation of the sending domain. To best protect our 550-5.7.1 users from spam, the message has been blocked. For more information, 550 5.7.1 go to https://support.google.com/mail/answer/188131 5si.1 - gsmtp"),
     {"reason": "bad_reputation", "hard": False, "action": "sender_fix"}),
    ("gmail-multiple-from", "someone@gmail.com", "gmail-smtp-in.l.google.com", "5.7.1",
     data("550-5.7.1 [192.0.2.10] Messages with multiple addresses in From: header are not 550 5.7.1 accepted. 5si.2 - gsmtp"),
     {"reason": "not_compliant_rfc", "hard": False}),
    ("ms-5.7.750-unregistered", "someone@example.com", "example-com.mail.protection.outlook.com", "5.7.750",
     rcpt("550 5.7.750 Service unavailable. Client blocked from sending from unregistered domains. For more information please go to http://go.microsoft.com/fwlink/?LinkId=526653 AS(1600)"),
     # microsoft.md, 5.7.750: our sending domains are not registered in the tenant
     {"reason": "rejected", "hard": False, "action": "sender_fix"}),
    ("ms-5.7.350-spam", "someone@example.com", "example-com.mail.protection.outlook.com", "5.7.350",
     data("550 5.7.350 Remote server returned message detected as spam -> 554 5.7.1 The message from (<news@example.com>) with the subject of (November newsletter) matches a profile the Internet community may consider spam."),
     {"reason": "spam_detected", "hard": False}),
    ("ms-5.7.129-restricted", "group@example.com", "example-com.mail.protection.outlook.com", "5.7.129",
     rcpt("550 5.7.129 RESOLVER.RST.RestrictedToRecipientsPermission; not authorized to send to this recipient"),
     # microsoft.md, RESOLVER.RST.* / 5.7.124: the recipient's own sender restriction, a policy to review
     {"reason": "policy_violation", "hard": False, "action": "review"}),
    ("ms-s3150-blocklist", "someone@outlook.com", "outlook-com.olc.protection.outlook.com", "5.7.1",
     rcpt("550 5.7.1 Unfortunately, messages from [203.0.113.70] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150). You can also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors. [AM2PEPF0001C70F.eurprd05.prod.outlook.com 2026-11-24T01:15:01.123Z 08DD0C1A2B3C4D5E]"),
     {"reason": "blocked", "action": "sender_fix", "blocklist": "microsoft", "listed_ip": "203.0.113.70"}),
    ("ms-hop-count", "someone@example.com", "example-com.mail.protection.outlook.com", "5.4.14",
     data("554 5.4.14 Hop count exceeded - possible mail loop ATTR34 [TYCP286MB1234.JPNP286.PROD.OUTLOOK.COM 2026-11-24T01:15:01.123Z 08DD0C1A2B3C4D5E]"),
     # microsoft.md, 5.4.14: a mail loop is a configuration fault to look at
     {"reason": "system_error", "hard": False, "action": "review"}),
    ("yahoo-bl21-spamhaus", "someone@yahoo.com", "mta6.am0.yahoodns.net", "5.7.1",
     rcpt("553 5.7.1 [BL21] Connections will not be accepted from 192.0.2.25, because the ip is in Spamhaus's list; see https://postmaster.yahooinc.com/error-codes"),
     {"reason": "blocked", "hard": False, "action": "sender_fix", "blocklist": "spamhaus", "listed_ip": "192.0.2.25"}),
    ("yahoo-disabled", "closed@yahoo.com", "mta6.am0.yahoodns.net", "5.0.0",
     rcpt("554 30 Sorry, your message to closed@yahoo.com cannot be delivered. This mailbox is disabled (554.30)."),
     {"reason": "suspend", "hard": False, "action": "retry"}),
    ("icloud-dmarc", "someone@icloud.com", "mx01.mail.icloud.com", "5.7.1",
     data("554 5.7.1 Your message was rejected due to example.com's DMARC policy. See https://support.apple.com/en-us/HT204137 for info"),
     {"reason": "auth_failure", "hard": False, "action": "sender_fix"}),
    ("barracuda-central-listed", "someone@example.org", "mx.example.org", "5.7.1",
     rcpt("550 5.7.1 Rejected: 192.0.2.44 listed at b.barracudacentral.org"),
     {"reason": "blocked", "hard": False, "action": "sender_fix", "listed_ip": "192.0.2.44"}),
    ("spamhaus-sbl-junkmail", "someone@example.org", "mx.example.org", "5.7.1",
     rcpt("550 5.7.1 JunkMail rejected - mta1.example.com [192.0.2.44]:41234 is in an RBL: Blocked - see https://www.spamhaus.org/query/ip/192.0.2.44"),
     {"reason": "blocked", "hard": False, "action": "sender_fix", "blocklist": "spamhaus", "listed_ip": "192.0.2.44"}),
    ("ironport-address-rejected", "nobody.here@example.com", "esa2.example.iphmx.com", "5.1.0",
     rcpt("550 #5.1.0 Address rejected."),
     {"reason": "user_unknown", "hard": True, "action": "suppress"}),
    ("ironport-sender-domain", "someone@example.com", "esa2.example.iphmx.com", "5.1.8",
     "553 #5.1.8 Domain of sender address <news@example.com> does not exist (in reply to MAIL FROM command)",
     {"reason": "rejected", "hard": False, "action": "sender_fix"}),
    ("mimecast-internal", "someone@example.com", "us-smtp-inbound-1.mimecast.com", "4.0.0",
     rcpt("451 Internal resource temporarily unavailable - https://community.mimecast.com/docs/DOC-1369#451 [AbCdEfGh.us123]"),
     {"hard": False, "action": "retry"}),
    ("dmarc-reject-generic", "someone@example.org", "mx.example.org", "5.7.1",
     data("550 5.7.1 Unauthenticated email from example.com is not accepted due to domain's DMARC policy"),
     {"reason": "auth_failure", "hard": False, "action": "sender_fix"}),
    ("pdns-rcpt-dnsbl", "someone@example.org", "mx.example.org", "5.7.1",
     rcpt("554 5.7.1 Rejected because 192.0.2.44 is in a black list at b.barracudacentral.org"),
     {"reason": "blocked", "hard": False, "action": "sender_fix", "listed_ip": "192.0.2.44"}),
    ("expired-4.4.7", "someone@example.org", None, "4.4.7",
     "delivery temporarily suspended: connect to mx.example.org[203.0.113.9]:25: Connection timed out",
     {"reason": "expired", "hard": False, "action": "retry"}),
    ("gmail-4.7.0-tls-helo", "someone@gmail.com", "gmail-smtp-in.l.google.com", "4.7.0",
     "454 4.7.0 TLS not available due to local problem (in reply to STARTTLS command)",
     {"hard": False}),
    # --- refusals that must not suppress the recipient (found misclassified, fixed in the rules) -------
    ("not-accepting-from-you", "someone@example.org", "mx.example.org", "5.7.1",
     rcpt("550 5.7.1 Recipient is not accepting mail from you"),
     {"reason": "filtered", "hard": False, "action": "retry"}),
    ("not-accept-unauthenticated", "someone@example.org", "mx.example.org", "5.0.0",
     "550 This domain does not accept mail from unauthenticated senders (in reply to MAIL FROM command)",
     {"reason": "security_error", "hard": False, "action": "sender_fix"}),
    ("not-accept-from-your-domain", "someone@example.org", "mx.example.org", "5.7.1",
     rcpt("554 5.7.1 <someone@example.org>: Recipient address rejected: This mailbox does not accept mail from your domain"),
     {"hard": False}),
    ("null-mx-postfix-reject", "someone@nullmx.example", "mx.example.net", "5.1.10",
     rcpt("556 5.1.10 <someone@nullmx.example>: Recipient address rejected: Domain nullmx.example does not accept mail (nullMX)"),
     {"reason": "not_accept", "hard": True, "action": "suppress"}),
    ("esmtp-not-accepting", "someone@example.org", "mx.example.org", "5.0.0",
     "554 mx.example.org ESMTP not accepting messages",
     {"reason": "blocked", "hard": False, "action": "sender_fix"}),
    ("ms-5.7.510-ipv6", "someone@example.com", "example-com.mail.protection.outlook.com", "5.7.510",
     rcpt("550 5.7.510 Access denied, the recipient does not accept email over IPv6 [2001:db8::25]"),
     # microsoft.md, 5.7.510: resend over IPv4
     {"reason": "network_error", "hard": False, "action": "sender_fix"}),
    ("helo-host-not-found", "someone@example.org", "mx.example.org", "4.7.1",
     rcpt("450 4.7.1 <mta1.example.com>: Helo command rejected: Host not found"),
     # mtas.md (Postfix smtpd_check.c): our HELO name does not resolve, a site policy -> policy_violation
     {"reason": "policy_violation", "hard": False, "action": "sender_fix"}),
    ("helo-invalid", "someone@example.org", "mx.example.org", "5.0.0",
     rcpt("550 Access denied - Invalid HELO name (See RFC2821 4.1.1.1)"),
     {"reason": "blocked", "hard": False, "action": "sender_fix"}),
    ("no-spf-record", "someone@example.org", "mx.example.org", "5.7.1",
     rcpt("550 5.7.1 Rejected by policy: sender domain example.com has no SPF record"),
     {"reason": "auth_failure", "hard": False, "action": "sender_fix"}),
    ("ses-not-verified", "someone@example.org", "email-smtp.us-east-1.amazonaws.com", "5.0.0",
     "554 Message rejected: Email address is not verified. The following identities failed the check in region US-EAST-1: news@example.com (in reply to end of DATA command)",
     {"reason": "rejected", "hard": False, "action": "sender_fix"}),
    ("qmail-rcpthosts", "someone@example.org", "mx.example.org", "5.7.1",
     rcpt("553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"),
     {"reason": "no_relaying", "hard": False}),
    ("ironport-access-rejected", "someone@example.com", "esa1.example.iphmx.com", "5.7.1",
     rcpt("550 5.7.1 Your access to submit messages to this e-mail system has been rejected."),
     {"reason": "blocked", "hard": False, "action": "sender_fix"}),
    ("ms-5.1.90-daily-limit", "someone@example.org", "example-com.mail.protection.outlook.com", "5.1.90",
     "550 5.1.90 Your message can't be sent because you've reached your daily limit for message recipients",
     # microsoft.md, 5.1.90: our own sending limit; retrying the recipient does not help
     {"reason": "speeding", "hard": False, "action": "sender_fix"}),
    ("ms-5.7.57-anonymous", "someone@example.org", "example-com.mail.protection.outlook.com", "5.7.57",
     "530 5.7.57 Client not authenticated to send mail (in reply to MAIL FROM command)",
     {"reason": "security_error", "hard": False, "action": "sender_fix"}),
    ("ms-customer-block-domain", "someone@example.com", "example-com.mail.protection.outlook.com", "5.7.1",
     rcpt("550 5.7.1 Service unavailable, Sender domain is listed in Customer Block list (AS16012605)"),
     {"reason": "blocked", "hard": False, "action": "sender_fix", "blocklist": "tenant"}),
    # --- Japanese ISPs, Japanese texts, Yahoo list hygiene ----------------------------------------
    ("biglobe-relay-table", "nobody-here@biglobe.ne.jp", "mx.biglobe.ne.jp", "5.0.0",
     rcpt("550 <nobody-here@biglobe.ne.jp>: Recipient address rejected: User unknown in relay recipient table"),
     {"reason": "user_unknown", "hard": True, "action": "suppress"}),
    ("nifty-sendmail-unknown", "nobody-here@nifty.com", "mx.nifty.com", "5.1.1",
     rcpt("550 5.1.1 <nobody-here@nifty.com>... User Unknown"),
     {"reason": "user_unknown", "hard": True, "action": "suppress"}),
    ("ja-utf8-not-found", "nobody-here@example.jp", "mx.example.jp", "5.1.1",
     rcpt("550 5.1.1 <nobody-here@example.jp>: 宛先のメールアドレスが見つかりません"),
     {"reason": "user_unknown", "hard": True, "action": "suppress"}),
    ("ja-utf8-full", "someone@example.jp", "mx.example.jp", "5.0.0",
     rcpt("552 <someone@example.jp>: メールボックスの容量が超過しています"),
     {"reason": "mailbox_full", "hard": False, "action": "retry"}),
    ("ja-utf8-refused", "someone@example.jp", "mx.example.jp", "5.7.1",
     rcpt("550 5.7.1 <someone@example.jp>: Recipient address rejected: 受信拒否"),
     {"reason": "filtered", "hard": False, "action": "retry"}),
    ("ja-utf8-spam", "someone@example.jp", "mx.example.jp", "5.7.1",
     data("550 5.7.1 迷惑メールと判断されたため受信を拒否しました"),
     {"reason": "spam_detected", "hard": False, "action": "review"}),
    ("ja-utf8-unavailable", "someone@example.jp", "mx.example.jp", "5.0.0",
     rcpt("550 このメールアドレスは現在利用できません"),
     {"reason": "suspend", "hard": False, "action": "retry"}),
    ("yahoo-tss11", "someone@yahoo.com", "mta7.am0.yahoodns.net", "4.7.0",
     rcpt("421 4.7.0 [TSS11] Excessive unknown recipients - possible Open Relay (#4.7.0)"),
     # yahoo.md: "Excessive unknown recipients - possible Open Relay" (VS1-IP/VS1-MF, Sender Hub category): blocked
     {"reason": "blocked", "hard": False, "action": "sender_fix"}),
    ("yahoo-jp-ph01", "someone@yahoo.co.jp", "mx1.mail.yahoo.co.jp", "5.0.0",
     data("554 Message not allowed - [PH01] Email not accepted for policy reasons. Please visit https://www.yahoo-help.jp/"),
     {"reason": "policy_violation", "hard": False, "provider": "yahoo"}),
    ("icloud-spamhaus-sbl", "someone@icloud.com", "mx01.mail.icloud.com", "5.7.1",
     "550 5.7.1 Mail from IP 192.0.2.44 was rejected due to listing in Spamhaus SBL. For details please see http://www.spamhaus.org/query/bl?ip=192.0.2.44 (in reply to MAIL FROM command)",
     {"reason": "blocked", "hard": False, "action": "sender_fix", "blocklist": "spamhaus", "listed_ip": "192.0.2.44"}),
    ("icloud-hme1", "someone@icloud.com", "mx01.mail.icloud.com", "5.7.1",
     data("554 5.7.1 [HME1] This message was blocked for failing both SPF and DKIM authentication checks."),
     {"reason": "auth_failure", "hard": False, "action": "sender_fix", "provider": "apple"}),
    # --- more generic MTA texts --------------------------------------------------------------------
    ("postfix-verify-in-progress", "someone@example.jp", "mx.example.jp", "4.1.1",
     rcpt("451 4.1.1 <someone@example.jp>: Recipient address rejected: unverified address: Address verification in progress"),
     {"reason": "on_hold", "hard": False, "action": "retry"}),
    ("sender-blocked-by-recipient", "someone@example.jp", "mx.example.jp", "5.2.0",
     rcpt("550 5.2.0 Mailbox unavailable. Sender blocked by recipient"),
     {"reason": "filtered", "hard": False, "action": "retry"}),
    ("ip-blocked-complaints", "someone@example.jp", "mx.example.jp", "5.7.1",
     "550 5.7.1 Your IP address 192.0.2.44 has been blocked due to excessive spam complaints (in reply to MAIL FROM command)",
     {"reason": "blocked", "hard": False, "action": "sender_fix", "listed_ip": "192.0.2.44"}),
    ("postfix-local-unknown", "taro@example.jp", None, "5.1.1",
     'unknown user: "taro"',
     {"reason": "user_unknown", "hard": True, "action": "suppress"}),
    ("postfix-loops-back", "someone@example.jp", None, "5.4.6",
     "mail for example.jp loops back to myself",
     # mtas.md (Postfix smtp client): the MX points back to the sender, for its administrator
     {"reason": "system_error", "hard": False, "action": "review"}),
    ("spamhaus-pbl", "someone@example.jp", "mx.example.jp", "5.7.1",
     "554 5.7.1 Rejected: IP 192.0.2.44 in Spamhaus PBL (in reply to MAIL FROM command)",
     {"reason": "blocked", "hard": False, "action": "sender_fix", "blocklist": "spamhaus", "listed_ip": "192.0.2.44"}),
    ("exim-sender-verify", "someone@example.jp", "mx.example.jp", "5.0.0",
     rcpt("550-Verification failed for <news@example.com> 550-Unrouteable address 550 Sender verify failed"),
     {"reason": "rejected", "hard": False, "action": "sender_fix"}),
    # --- the sender's own account or limits, said by the receiving side ----------------------------
    ("ms-5.7.501-sender-banned", "someone@example.com", "example-com.mail.protection.outlook.com", "5.7.501",
     data("550 5.7.501 Access denied, spam abuse detected. The sending account has been banned due to detected spam activity. For details, see Fix email delivery issues for error code 451 5.7.500-699 (ASxxx) in Exchange Online."),
     {"reason": "rejected", "hard": False, "action": "sender_fix"}),
    ("gmail-mail-sending-denied", "someone@gmail.com", "gmail-smtp-in.l.google.com", "5.7.0",
     "550-5.7.0 Mail Sending denied. This error occurs if the sender account is disabled or not registered within your Google Workspace domain. - gsmtp (in reply to MAIL FROM command)",
     {"reason": "rejected", "hard": False, "action": "sender_fix"}),
    ("gmail-policy-size-per-transaction", "someone@gmail.com", "gmail-smtp-in.l.google.com", "4.5.3",
     rcpt("452-4.5.3 Domain policy size per transaction exceeded, please try this recipient in a separate transaction. - gsmtp"),
     # google.md: 452 4.5.3 "Domain policy size per transaction exceeded": exceed_limit, retry
     {"reason": "exceed_limit", "hard": False, "action": "retry"}),
    ("aol-521", "someone@aol.com", "mx-aol.mail.gm0.yahoodns.net", "5.2.1",
     data("521 5.2.1 : AOL will not accept delivery of this message."),
     {"reason": "blocked", "hard": False, "action": "sender_fix"}),
    ("policyd-quota", "someone@example.org", "mx.example.org", "4.7.1",
     rcpt("450 4.7.1 <someone@example.org>: Recipient address rejected: Policy Rejection- Quota Exceeded"),
     {"reason": "speeding", "hard": False, "action": "retry"}),
    ("user-not-local-please-try", "someone@example.org", "mx.example.org", "5.1.6",
     rcpt("551 5.1.6 User not local; please try <taro@example.net>"),
     {"reason": "has_moved", "hard": True, "action": "suppress"}),
    ("sender-domain-no-mx", "someone@example.org", "mx.example.org", "5.7.1",
     "550 5.7.1 Sender domain has no MX or A record (in reply to MAIL FROM command)",
     {"reason": "rejected", "hard": False, "action": "sender_fix"}),
    ("postfix-too-much-mail", "someone@example.org", "mx.example.org", "4.7.1",
     "450 4.7.1 Error: too much mail from 192.0.2.44 (in reply to MAIL FROM command)",
     {"reason": "speeding", "hard": False, "action": "retry"}),
    ("server-configuration-problem", "someone@example.org", "mx.example.org", "4.3.5",
     rcpt("451 4.3.5 Server configuration problem"),
     {"reason": "system_error", "hard": False, "action": "retry"}),
    ("uceprotect", "someone@example.org", "mx.example.org", "5.7.1",
     rcpt("554 5.7.1 Service unavailable; Client host [192.0.2.44] blocked using dnsbl-1.uceprotect.net; IP 192.0.2.44 is UCEPROTECT-Level 1 listed."),
     {"reason": "blocked", "hard": False, "action": "sender_fix", "blocklist": "uceprotect", "listed_ip": "192.0.2.44"}),
    ("spamhaus-dbl-sender", "someone@example.org", "mx.example.org", "5.7.1",
     rcpt("550 5.7.1 Service unavailable; Sender address [news@example.com] blocked using dbl.spamhaus.org; https://www.spamhaus.org/query/domain/example.com"),
     {"reason": "blocked", "hard": False, "action": "sender_fix", "blocklist": "spamhaus"}),
    ("450-mailbox-unavailable", "someone@example.org", "mx.example.org", "4.0.0",
     rcpt("450 Requested mail action not taken: mailbox unavailable"),
     {"reason": "user_unknown", "hard": False, "action": "retry"}),
    ("450-user-unknown-no-status", "someone@example.org", "mx.example.org", "4.0.0",
     rcpt("450 <someone@example.org>: User unknown"),
     {"reason": "user_unknown", "hard": False, "action": "retry"}),
    ("message-rejected-by-recipient", "someone@example.org", "mx.example.org", "5.7.1",
     rcpt("550 5.7.1 <someone@example.org>: Recipient address rejected: Message rejected by recipient"),
     {"reason": "filtered", "hard": False, "action": "retry"}),
    ("ms-quoted-tenant-notfound", '"hanako"@contoso.example.com', "contoso-example-com.mail.protection.outlook.com", "5.1.10",
     rcpt("550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient \"hanako\"@contoso.example.com not found by SMTP address lookup"),
     {"reason": "quoted_local_part", "hard": False, "action": "fix_address", "suggested_address": "hanako@contoso.example.com"}),
    ("mimecast-host-network", "someone@example.com", "us-smtp-inbound-1.mimecast.com", "5.0.0",
     rcpt("554 Host network not allowed - https://community.mimecast.com/docs/DOC-1369#554 [AbCdEfGh.us222]"),
     {"reason": "policy_violation", "hard": False, "action": "review"}),
    ("ja-utf8-box-full", "someone@example.jp", "mx.example.jp", "5.0.0",
     rcpt("552 メールボックスがいっぱいです"),
     {"reason": "mailbox_full", "hard": False, "action": "retry"}),
    ("ja-utf8-over-capacity", "someone@example.jp", "mx.example.jp", "5.0.0",
     rcpt("552 メールボックスの容量を超えています"),
     {"reason": "mailbox_full", "hard": False, "action": "retry"}),
    ("ja-utf8-refused-by-settings", "someone@example.jp", "mx.example.jp", "5.0.0",
     data("550 受信者の設定により受信を拒否されました"),
     {"reason": "filtered", "hard": False, "action": "retry"}),
    ("ja-utf8-sender-unknown", "someone@example.jp", "mx.example.jp", "5.0.0",
     rcpt("550 差出人のメールアドレスが存在しません"),
     {"reason": "rejected", "hard": False, "action": "sender_fix"}),
    ("ja-utf8-virus", "someone@example.jp", "mx.example.jp", "5.0.0",
     data("554 ウイルスが検出されました"),
     {"reason": "virus_detected", "hard": False}),
    ("ja-utf8-blacklist", "someone@example.jp", "mx.example.jp", "5.0.0",
     "550 送信元IPアドレスがブラックリストに登録されています (in reply to MAIL FROM command)",
     {"reason": "blocked", "hard": False, "action": "sender_fix"}),
]


@pytest.fixture(params=["lf", "crlf", "cr"])
def eol(request):
    return request.param


def convert(data_: bytes, eol_: str) -> bytes:
    if eol_ == "crlf":
        return data_.replace(b"\n", b"\r\n")
    if eol_ == "cr":
        return data_.replace(b"\n", b"\r")
    return data_


def records(data_: bytes) -> list[dict]:
    return [outcome_record(o) for o in ANALYSER.analyse(data_, "x")]


def check(record: dict, expected: dict) -> None:
    got = {key: record.get(key) for key in expected}
    assert got == expected, f"{record.get('rule')}: {record.get('diagnostic')!r}"


XFAIL: dict[str, str] = {}


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c[0], marks=[pytest.mark.xfail(strict=True, reason=XFAIL[c[0]])] if c[0] in XFAIL else [])
     for c in DSN_CASES],
)
def test_dsn(case, eol):
    _id, recipient, remote_mta, status, diagnostic, expected = case
    out = records(convert(postfix_dsn(recipient, status, diagnostic, remote_mta), eol))
    assert len(out) == 1
    assert out[0]["recipient"] == recipient
    check(out[0], expected)


# --- bounces that are not RFC 3464 reports: the sending MTA writes plain text -----------------------


def plain(subject: str, sender: str, body: str, charset: str = "us-ascii", encoding: str | None = None) -> bytes:
    """A plain-text bounce notice; `encoding` (iso-2022-jp, cp932) encodes a Japanese body."""
    head = (
        "Return-Path: <>\n"
        "Received: from localhost by mta1.example.com; Tue, 24 Nov 2026 10:15:02 +0900\n"
        "Date: Tue, 24 Nov 2026 10:15:02 +0900\n"
        f"From: {sender}\n"
        "To: bounce+c1@example.com\n"
        f"Subject: {Header(subject, 'iso-2022-jp').encode() if not subject.isascii() else subject}\n"
        "Message-Id: <E1tE5Ra-000123-AB@mta1.example.com>\n"
        "MIME-Version: 1.0\n"
        f"Content-Type: text/plain; charset={charset}\n"
        f"Content-Transfer-Encoding: {'7bit' if charset.lower() in ('us-ascii', 'iso-2022-jp') else '8bit'}\n"
        "\n"
    )
    returned = (
        "\n------ This is a copy of the message, including all the headers. ------\n\n"
        "Return-Path: <bounce+c1@example.com>\n"
        "From: News <news@example.com>\n"
        "Subject: November newsletter\n"
        "Message-ID: <c1.20261124@example.com>\n\n"
        "Hello\n"
    )
    return head.encode("ascii") + (body + returned).encode(encoding or "utf-8")


EXIM_HEAD = (
    "This message was created automatically by mail delivery software.\n\n"
    "A message that you sent could not be delivered to one or more of its\n"
    "recipients. This is a permanent error. The following address(es) failed:\n\n"
)

TEXT_CASES = [
    ("exim-rcpt-unknown", "someone@example.jp", plain(
        "Mail delivery failed: returning message to sender", "Mail Delivery System <Mailer-Daemon@mta1.example.com>",
        EXIM_HEAD + "  someone@example.jp\n    host mx.example.jp [203.0.113.5]\n"
        "    SMTP error from remote mail server after RCPT TO:<someone@example.jp>:\n"
        "    550 5.1.1 <someone@example.jp>: Recipient address rejected: User unknown in virtual mailbox table\n"),
     {"reason": "user_unknown", "hard": True, "action": "suppress"}),
    ("exim-quota", "someone@example.jp", plain(
        "Mail delivery failed: returning message to sender", "Mail Delivery System <Mailer-Daemon@mta1.example.com>",
        EXIM_HEAD + "  someone@example.jp\n    host mx.example.jp [203.0.113.5]\n"
        "    SMTP error from remote mail server after end of data:\n"
        "    552 5.2.2 Mailbox quota exceeded\n"),
     {"reason": "mailbox_full", "hard": False, "action": "retry"}),
    ("exim-retry-timeout", "someone@example.jp", plain(
        "Mail delivery failed: returning message to sender", "Mail Delivery System <Mailer-Daemon@mta1.example.com>",
        EXIM_HEAD + "  someone@example.jp\n    retry timeout exceeded\n"),
     {"reason": "expired", "hard": False, "action": "retry"}),
    ("exim-unrouteable", "someone@nosuch.example", plain(
        "Mail delivery failed: returning message to sender", "Mail Delivery System <Mailer-Daemon@mta1.example.com>",
        EXIM_HEAD + "  someone@nosuch.example\n    Unrouteable address\n"),
     {"reason": "host_unknown", "hard": True, "action": "suppress"}),
    ("exim-blocked-spamhaus", "someone@example.jp", plain(
        "Mail delivery failed: returning message to sender", "Mail Delivery System <Mailer-Daemon@mta1.example.com>",
        EXIM_HEAD + "  someone@example.jp\n    host mx.example.jp [203.0.113.5]\n"
        "    SMTP error from remote mail server after RCPT TO:<someone@example.jp>:\n"
        "    554 5.7.1 Service unavailable; Client host [192.0.2.44] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.44\n"),
     {"reason": "blocked", "hard": False, "action": "sender_fix", "blocklist": "spamhaus", "listed_ip": "192.0.2.44"}),
    ("qmail-local", "nobody@example.jp", plain(
        "failure notice", "MAILER-DAEMON@mail.example.jp",
        "Hi. This is the qmail-send program at mail.example.jp.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        "<nobody@example.jp>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n--- Below this line is a copy of the message.\n"),
     {"reason": "user_unknown", "hard": True, "action": "suppress"}),
    ("qmail-remote", "nobody@example.org", plain(
        "failure notice", "MAILER-DAEMON@mail.example.jp",
        "Hi. This is the qmail-send program at mail.example.jp.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        "<nobody@example.org>:\n203.0.113.9 does not like recipient.\n"
        "Remote host said: 550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in local recipient table\n"
        "Giving up on 203.0.113.9.\n\n--- Below this line is a copy of the message.\n"),
     {"reason": "user_unknown", "hard": True, "action": "suppress"}),
    ("postfix-plain", "nobody@example.org", plain(
        "Undelivered Mail Returned to Sender", "MAILER-DAEMON@mta1.example.com (Mail Delivery System)",
        "This is the mail system at host mta1.example.com.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients. It's attached below.\n\n"
        "                   The mail system\n\n"
        "<nobody@example.org>: host mx.example.org[203.0.113.9] said: 550 5.1.1\n"
        "    <nobody@example.org>: Recipient address rejected: User unknown in virtual\n"
        "    alias table (in reply to RCPT TO command)\n"),
     {"reason": "user_unknown", "hard": True, "action": "suppress"}),
    ("postfix-plain-greylist-expired", "someone@example.org", plain(
        "Undelivered Mail Returned to Sender", "MAILER-DAEMON@mta1.example.com (Mail Delivery System)",
        "This is the mail system at host mta1.example.com.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients. It's attached below.\n\n"
        "                   The mail system\n\n"
        "<someone@example.org>: connect to mx.example.org[203.0.113.9]:25: Connection\n"
        "    timed out\n"),
     {"reason": "expired", "hard": False, "action": "retry"}),
    ("sendmail-plain", "nobody@example.jp", plain(
        "Returned mail: see transcript for details", "Mail Delivery Subsystem <MAILER-DAEMON@mail.example.com>",
        "The original message was received at Tue, 24 Nov 2026 10:15:00 +0900\n"
        "from localhost [127.0.0.1]\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<nobody@example.jp>\n    (reason: 550 5.1.1 <nobody@example.jp>... User unknown)\n\n"
        "   ----- Transcript of session follows -----\n"
        "... while talking to mx.example.jp.:\n>>> RCPT To:<nobody@example.jp>\n"
        "<<< 550 5.1.1 <nobody@example.jp>... User unknown\n550 5.1.1 <nobody@example.jp>... User unknown\n"),
     {"reason": "user_unknown", "hard": True, "action": "suppress"}),
    ("ja-iso2022jp-unknown", "yamada.taro@example.jp", plain(
        "配信エラー", "MAILER-DAEMON@mail.example.jp",
        "以下の宛先へのメールは配信できませんでした。\n\n"
        "宛先: <yamada.taro@example.jp>\n理由: 550 5.1.1 宛先不明 (ユーザが存在しません)\n",
        charset="iso-2022-jp", encoding="iso-2022-jp"),
     {"reason": "user_unknown", "hard": True, "action": "suppress"}),
    ("ja-sjis-full", "someone@example.jp", plain(
        "配信エラー", "MAILER-DAEMON@mail.example.jp",
        "以下の宛先へのメールは配信できませんでした。\n\n"
        "宛先: <someone@example.jp>\n理由: 552 5.2.2 メールボックス容量超過\n",
        charset="Shift_JIS", encoding="cp932"),
     {"reason": "mailbox_full", "hard": False, "action": "retry"}),
    ("ja-iso2022jp-refused", "someone@example.jp", plain(
        "配信エラー", "MAILER-DAEMON@mail.example.jp",
        "以下の宛先へのメールは配信できませんでした。\n\n"
        "宛先: <someone@example.jp>\n理由: 550 5.7.1 受信者の受信拒否設定により配信できませんでした\n",
        charset="iso-2022-jp", encoding="iso-2022-jp"),
     {"reason": "filtered", "hard": False, "action": "retry"}),
    ("ja-sjis-expired", "someone@example.jp", plain(
        "配信エラー", "MAILER-DAEMON@mail.example.jp",
        "以下の宛先へのメールは配信できませんでした。\n\n"
        "宛先: <someone@example.jp>\n理由: 配送期限切れのため送信できませんでした (接続タイムアウト)\n",
        charset="Shift_JIS", encoding="cp932"),
     {"reason": "expired", "hard": False, "action": "retry"}),
    ("ja-iso2022jp-box-full", "someone@example.jp", plain(
        "配信エラー", "MAILER-DAEMON@mail.example.jp",
        "以下の宛先へのメールは配信できませんでした。\n\n"
        "宛先: <someone@example.jp>\n理由: 552 メールボックスがいっぱいです\n",
        charset="iso-2022-jp", encoding="iso-2022-jp"),
     {"reason": "mailbox_full", "hard": False, "action": "retry"}),
]


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c[0], marks=[pytest.mark.xfail(strict=True, reason=XFAIL[c[0]])] if c[0] in XFAIL else [])
     for c in TEXT_CASES],
)
def test_text_bounce(case, eol):
    _id, recipient, message, expected = case
    out = records(convert(message, eol))
    assert [r["recipient"] for r in out] == [recipient]
    check(out[0], expected)


def multi_dsn(entries: list[tuple[str, str, str, str, str, str | None]]) -> bytes:
    """One Postfix report for several recipients: (recipient, action, status, remote MTA, reply,
    command). As Postfix writes it, the command answered ("in reply to RCPT TO command") is in the
    human-readable part, per recipient; the Diagnostic-Code field carries the reply alone."""
    human = "".join(
        f"<{r}>: host {m}[203.0.113.25] said: {d}" + (f" (in reply to {c} command)" if c else "") + "\n\n"
        for r, _a, _st, m, d, c in entries
    )
    blocks = "\n".join(
        f"Final-Recipient: rfc822; {r}\nOriginal-Recipient: rfc822;{r}\nAction: {a}\nStatus: {st}\n"
        f"Remote-MTA: dns; {m}\nDiagnostic-Code: smtp; {fold(d)}\n"
        for r, a, st, m, d, _c in entries
    )
    text = (
        "Return-Path: <>\n"
        "Date: Tue, 24 Nov 2026 10:15:02 +0900 (JST)\n"
        "From: MAILER-DAEMON@mta1.example.com (Mail Delivery System)\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "To: bounce+c1@example.com\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="BB"\n'
        "\n--BB\nContent-Type: text/plain; charset=us-ascii\n\n"
        "This is the mail system at host mta1.example.com.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients.\n\n"
        "                   The mail system\n\n"
        f"{human}"
        "--BB\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mta1.example.com\nX-Postfix-Queue-ID: 4XyZ1Q2kzGz9sWq\n"
        "Arrival-Date: Tue, 24 Nov 2026 10:14:58 +0900 (JST)\n\n"
        f"{blocks}\n"
        "--BB\nContent-Type: text/rfc822-headers\n\n"
        "From: News <news@example.com>\nSubject: November newsletter\nMessage-ID: <c1.20261124@example.com>\n\n"
        "--BB--\n"
    )
    return text.encode("utf-8")


def test_one_report_several_recipients(eol):
    out = records(convert(multi_dsn([
        ("nobody-here@docomo.ne.jp", "failed", "5.0.0", "mfsmax.docomo.ne.jp",
         "550 Unknown user nobody-here@docomo.ne.jp", "RCPT TO"),
        ('"taro..yamada"@outlook.jp', "failed", "5.5.0", "outlook-jp.olc.protection.outlook.com",
         "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [TYCP286MB2418.JPNP286.PROD.OUTLOOK.COM]", "RCPT TO"),
        ("full.box@gmail.com", "failed", "5.2.2", "gmail-smtp-in.l.google.com",
         "552-5.2.2 The recipient's inbox is out of storage space. Please direct the 552-5.2.2 recipient to 552 5.2.2 https://support.google.com/mail/?p=OverQuotaPerm d9si.3 - gsmtp", "RCPT TO"),
    ]), eol))
    got = {r["recipient"]: (r["reason"], r["hard"], r["action"], r["provider"]) for r in out}
    assert got == {
        "nobody-here@docomo.ne.jp": ("user_unknown", True, "suppress", "docomo"),
        '"taro..yamada"@outlook.jp': ("quoted_local_part", False, "fix_address", "microsoft"),
        "full.box@gmail.com": ("mailbox_full", False, "retry", "google"),
    }


def test_one_report_rcpt_and_data_refusals(eol):
    out = records(convert(multi_dsn([
        ("nobody-here@docomo.ne.jp", "failed", "5.0.0", "mfsmax.docomo.ne.jp",
         "550 Unknown user nobody-here@docomo.ne.jp", "RCPT TO"),
        ("someone@docomo.ne.jp", "failed", "5.0.0", "mfsmax.docomo.ne.jp",
         "550 Unknown user someone@docomo.ne.jp", "end of DATA"),
    ]), eol))
    got = {r["recipient"]: (r["reason"], r["hard"], r["action"]) for r in out}
    assert got == {
        "nobody-here@docomo.ne.jp": ("user_unknown", True, "suppress"),
        "someone@docomo.ne.jp": ("filtered", False, "review"),  # japan.md: docomo's refusal settings
    }


def test_command_only_in_diagnostic_code(eol):
    """'(in reply to RCPT TO command)' written inside the Diagnostic-Code itself is the command."""
    data_ = postfix_dsn("nobody-here@docomo.ne.jp", "5.0.0", "550 Unknown user nobody-here@docomo.ne.jp",
                        "mfsmax.docomo.ne.jp")
    data_ = data_.replace(b"<nobody-here@docomo.ne.jp>: host mfsmax.docomo.ne.jp[203.0.113.25] said: 550 Unknown user nobody-here@docomo.ne.jp\n", b"")
    data_ = data_.replace(b"Diagnostic-Code: smtp; 550 Unknown user nobody-here@docomo.ne.jp",
                          b"Diagnostic-Code: smtp; 550 Unknown user nobody-here@docomo.ne.jp (in reply to RCPT TO command)")
    out = records(convert(data_, eol))
    assert [(r["reason"], r["hard"]) for r in out] == [("user_unknown", True)]


def test_delay_warning_greylisted(eol):
    """A Postfix delay warning (Action: delayed) for a greylisting server: retry, nobody suppressed."""
    out = records(convert(multi_dsn([
        ("someone@example.jp", "delayed", "4.7.1", "mx.example.jp",
         "450 4.7.1 <someone@example.jp>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.jp.html", "RCPT TO"),
    ]).replace(b"Undelivered Mail Returned to Sender", b"Delayed Mail (still being retried)"), eol))
    assert [(r["reason"], r["hard"], r["action"]) for r in out] == [("speeding", False, "retry")]


def test_delay_warning_timeout(eol):
    out = records(convert(multi_dsn([
        ("someone@example.jp", "delayed", "4.4.1", "mx.example.jp",
         "connect to mx.example.jp[203.0.113.5]:25: Connection timed out", None),
    ]).replace(b"Undelivered Mail Returned to Sender", b"Delayed Mail (still being retried)"), eol))
    assert [(r["reason"], r["hard"], r["action"]) for r in out] == [("expired", False, "retry")]


def japanese_dsn(recipient: str, status: str, diagnostic: str, remote_mta: str, charset: str) -> bytes:
    """A Japanese ISP's RFC 3464 report: the human-readable part in Japanese (ISO-2022-JP or
    Shift_JIS), the delivery-status part in ASCII as the RFC requires."""
    codec = {"iso-2022-jp": "iso-2022-jp", "shift_jis": "cp932"}[charset]
    human = (
        "このメールは、送信されたメールが配送できなかったことをお知らせするものです。\n"
        "以下の宛先に送信できませんでした。\n\n"
        f"  宛先: {recipient}\n  理由: {diagnostic}\n"
    ).encode(codec)
    head = (
        "Return-Path: <>\n"
        "Date: Tue, 24 Nov 2026 10:15:02 +0900\n"
        "From: MAILER-DAEMON@mail.example.jp\n"
        f"Subject: {Header('配送エラーのお知らせ', 'iso-2022-jp').encode()}\n"
        "To: bounce+c1@example.com\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="JP"\n\n'
        f"--JP\nContent-Type: text/plain; charset={charset}\n"
        f"Content-Transfer-Encoding: {'7bit' if codec == 'iso-2022-jp' else '8bit'}\n\n"
    ).encode("ascii")
    tail = (
        "\n--JP\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mail.example.jp\n\n"
        f"Final-Recipient: rfc822; {recipient}\nAction: failed\nStatus: {status}\n"
        f"Remote-MTA: dns; {remote_mta}\nDiagnostic-Code: smtp; {diagnostic}\n\n"
        "--JP\nContent-Type: text/rfc822-headers\n\n"
        "From: news@example.com\nSubject: =?ISO-2022-JP?B?GyRCJF4kaSQ3GyhC?=\nMessage-ID: <c1.20261124@example.com>\n\n"
        "--JP--\n"
    ).encode("ascii")
    return head + human + tail


@pytest.mark.parametrize("charset", ["iso-2022-jp", "shift_jis"])
@pytest.mark.parametrize(
    "recipient,status,diagnostic,remote_mta,expected",
    [
        ("nobody-here@example.jp", "5.1.1", "550 5.1.1 <nobody-here@example.jp>... User unknown", "mx.example.jp",
         ("user_unknown", True, "suppress")),
        ("someone@ezweb.ne.jp", "5.0.0", "550 : User unknown", "lsean.ezweb.ne.jp", ("filtered", False, "retry")),
        ("someone@example.jp", "4.2.2", "452 4.2.2 <someone@example.jp>: Mailbox full", "mx.example.jp",
         ("mailbox_full", False, "retry")),
    ],
    ids=["unknown", "au-filter", "full"],
)
def test_japanese_human_part(charset, recipient, status, diagnostic, remote_mta, expected, eol):
    out = records(convert(japanese_dsn(recipient, status, diagnostic, remote_mta, charset), eol))
    assert [(r["recipient"], r["reason"], r["hard"], r["action"]) for r in out] == [(recipient, *expected)]
