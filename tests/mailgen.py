"""Messages made to order for the worker's tests and benches: DSNs, auto-replies, personal mail, garbage.

Each call with a different `serial` gives different bytes (the worker recognises a message by a
hash of its bytes, so two identical messages would be one).
"""

from __future__ import annotations

DIAGNOSTICS = {
    "user_unknown": ("5.1.1", "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in local recipient table"),
    "mailbox_full": ("4.2.2", "452 4.2.2 <{rcpt}>: Mailbox full: quota exceeded"),
    "delivered": ("2.0.0", "250 2.0.0 OK"),
    "spamhaus": (
        "5.7.1",
        "550 5.7.1 Service unavailable, Client host [192.0.2.25] blocked using Spamhaus. To request removal "
        "from this list see https://www.spamhaus.org/query/ip/192.0.2.25 AS(1450)",
    ),
}


def dsn(
    recipient: str,
    kind: str = "user_unknown",
    serial: int = 0,
    remote_mta: str = "mx1.example.jp",
    action: str | None = None,
    date: str = "Mon, 13 May 2024 11:02:17 +0900",
    to: str = "bounces@example.com",
) -> bytes:
    """An RFC 3464 report from Postfix about one recipient (`action`: failed, or delivered for that
    kind; `delayed` makes it a delay notice; `date`: its Date header), sent `to` the return path (a
    VERP address, say)."""
    status, diagnostic = DIAGNOSTICS[kind]
    diagnostic = diagnostic.format(rcpt=recipient)
    if kind == "spamhaus":
        remote_mta = "example-jp.mail.protection.outlook.com"
    action = action or ("delivered" if kind == "delivered" else "failed")
    boundary = f"B{serial:08d}.1715565737/mail.example.com"
    return (
        f"Return-Path: <>\r\n"
        f"Date: {date}\r\n"
        f"From: MAILER-DAEMON@mail.example.com (Mail Delivery System)\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\n"
        f"To: {to}\r\n"
        f"Auto-Submitted: auto-replied\r\n"
        f"MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        f"Message-Id: <{serial}.bounce@mail.example.com>\r\n"
        f"\r\n"
        f"--{boundary}\r\n"
        f"Content-Type: text/plain; charset=us-ascii\r\n"
        f"\r\n"
        f"This is the mail system at host mail.example.com.\r\n"
        f"\r\n"
        f"<{recipient}>: host {remote_mta}[198.51.100.25] said: {diagnostic} (in reply to RCPT TO command)\r\n"
        f"\r\n"
        f"--{boundary}\r\n"
        f"Content-Type: message/delivery-status\r\n"
        f"\r\n"
        f"Reporting-MTA: dns; mail.example.com\r\n"
        f"\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        f"Remote-MTA: dns; {remote_mta}\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n"
        f"\r\n"
        f"--{boundary}\r\n"
        f"Content-Type: text/rfc822-headers\r\n"
        f"\r\n"
        f"From: Example Shop <newsletter@example.com>\r\n"
        f"To: {recipient}\r\n"
        f"Subject: Spring sale\r\n"
        f"Message-ID: <send.{serial}@app1.example.com>\r\n"
        f"X-Campaign-Id: spring-sale-2024\r\n"
        f"\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def anonymous_bounce(to: str, serial: int = 0, named: str | None = None) -> bytes:
    """A plain-text refusal that names no address: nobody at all, or only `named` (a screen name, a
    display name). Only the address it was sent `to` (a VERP return path) says whom it is about."""
    who = f"{named}: " if named else ""
    return (
        f"Return-Path: <>\r\n"
        f"Date: Mon, 13 May 2024 11:02:17 +0900\r\n"
        f"From: MAILER-DAEMON@mx.example.jp (Mail Delivery System)\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\n"
        f"To: {to}\r\n"
        f"Message-Id: <{serial}.anonymous@mx.example.jp>\r\n"
        f"\r\n"
        f"This is the mail system at host mx.example.jp.\r\n"
        f"\r\n"
        f"Your message could not be delivered to one or more recipients.\r\n"
        f"\r\n"
        f"{who}550 5.1.1 User unknown\r\n"
    ).encode()


def auto_reply(serial: int = 0) -> bytes:
    return (
        "From: Kenji Sato <kenji.sato@example.jp>\r\n"
        "To: newsletter@example.com\r\n"
        "Subject: Out of office: Spring sale\r\n"
        f"Message-ID: <ooo.{serial}@mail.example.jp>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "Date: Mon, 13 May 2024 11:30:01 +0900\r\n"
        "\r\n"
        "I am out of the office until 17 May with limited access to email.\r\n"
    ).encode()


def personal(serial: int = 0) -> bytes:
    return (
        "From: Hanako <hanako@example.jp>\r\n"
        "To: bounces@example.com\r\n"
        "Subject: lunch?\r\n"
        f"Message-ID: <lunch.{serial}@example.jp>\r\n"
        "Date: Mon, 13 May 2024 12:00:00 +0900\r\n"
        "\r\n"
        "Are you free for lunch on Friday?\r\n"
    ).encode()


def garbage(serial: int = 0) -> bytes:
    return b"\x00\x01\x02 this is not mail at all " + str(serial).encode() + b"\xff\xfe\r\n"
