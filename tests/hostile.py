"""Hostile message shapes of about a given size, for the bounded-work tests and `bench/linearity.py`.

Each maker takes a size in bytes and returns a whole message of roughly that size whose cost, on a
parser that is not careful, grows faster than the size: a long run that a regex backtracks on, a
delivery-status part of empty field groups, thousands of recipients, deep or wide MIME trees, one
endless line.
"""

from __future__ import annotations

from collections.abc import Callable

_HEAD = (
    b"From: MAILER-DAEMON@mail.example.com (Mail Delivery Subsystem)\n"
    b"To: bounces@example.com\n"
    b"Subject: Returned mail: see transcript for details\n"
    b"MIME-Version: 1.0\n"
)


def dash_run(size: int) -> bytes:
    """Sendmail's fatal-errors heading, then a run of '-' (which `-{3,} The ...` once backtracked on)."""
    body = b"----- The following addresses had permanent fatal errors -----\n<kim@example.jp>\n\n"
    return _HEAD + b"Content-Type: text/plain\n\n" + body + b"-" * max(0, size - len(body)) + b"\n"


def blank_status(size: int) -> bytes:
    """A delivery-status part that is one recipient group, then blank lines (one empty field group each)."""
    head = (
        _HEAD + b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        b"--B\nContent-Type: text/plain\n\nDelivery failed.\n\n"
        b"--B\nContent-Type: message/delivery-status\n\n"
        b"Reporting-MTA: dns; mail.example.com\n\n"
        b"Final-Recipient: rfc822; kim@example.jp\nAction: failed\nStatus: 5.1.1\n\n"
    )
    return head + b"\n" * max(0, size - len(head)) + b"--B--\n"


def many_recipients(size: int) -> bytes:
    """A plain-text bounce that names one recipient a line, as many as the size holds, and no reply
    code or error word anywhere (so nothing ends the search for one early)."""
    head = _HEAD + b"Content-Type: text/plain\n\nYour message could not be sent to these recipients:\n\n"
    line = b"  user%07d@example.jp\n"
    count = max(1, (size - len(head)) // len(line % 0))
    return head + b"".join(line % number for number in range(count))


def deep_mime(size: int) -> bytes:
    """Multiparts nested in one another as deep as the size allows, a bounce text at the bottom."""
    opener = b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n'
    depth = max(1, size // 60)
    opens = b"".join(opener % (level, level) for level in range(depth))
    closes = b"".join(b"\n--b%d--\n" % level for level in reversed(range(depth)))
    leaf = b"Content-Type: text/plain\n\n<kim@example.jp>: 550 5.1.1 User unknown\n"
    return _HEAD + opens + leaf + closes


def many_parts(size: int) -> bytes:
    """One multipart with as many small text parts as the size holds."""
    part = b"--B\nContent-Type: text/plain\n\n<kim@example.jp>: 550 5.1.1 User unknown\n"
    count = max(1, size // len(part))
    return _HEAD + b'Content-Type: multipart/mixed; boundary="B"\n\n' + part * count + b"--B--\n"


def long_line(size: int) -> bytes:
    """A bounce whose text is one line without a newline: words, addresses, codes and punctuation."""
    unit = b"550 5.1.1 <kim@example.jp>: user unknown; host mx.example.jp said: -- "
    return _HEAD + b"Content-Type: text/plain\n\n" + unit * max(1, size // len(unit))


SHAPES: dict[str, Callable[[int], bytes]] = {
    "dash run": dash_run,
    "blank-line delivery-status": blank_status,
    "many recipient lines": many_recipients,
    "deep MIME nesting": deep_mime,
    "many parts": many_parts,
    "long line, no newline": long_line,
}
