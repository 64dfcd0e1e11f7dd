"""`fetch_reader` against answers Dovecot does not send: a scripted peer on a socket pair, read by a
real imaplib connection (tests/test_imap_source.py reads Dovecot's own answers).

Each answer is read whole, by the fast path or by imaplib, whatever its shape and wherever the read
buffer cuts it; what is not a body stays in imaplib's untagged list; a connection lost in the middle
of a literal is imaplib's `abort`, as with imaplib alone.
"""

from __future__ import annotations

import imaplib
import socket
import threading

import pytest

from dsnworker.worker.fetch_reader import read_bodies, read_sizes

BIG = b"0123456789abcdef\r\n" * 600  # larger than any read buffer: read past it

ANSWER = (
    b"* 1 FETCH (UID 11 BODY[] {5}\r\nhello)\r\n"
    b"* 9 EXISTS\r\n"  # another client delivered meanwhile
    b"* 2 FETCH (BODY[] {5}\r\nworld UID 12)\r\n"  # UID after the body
    b"* 3 FETCH (UID 13 BODY[] {3}\r\nabc FLAGS (\\Seen))\r\n"  # another item after the body
    b"* 4 FETCH (UID 14 BODY[] {%d}\r\n%s)\r\n" % (len(BIG), BIG) + b"* 5 FETCH (UID 15 BODY[] {0}\r\n)\r\n"
    b"* 6 FETCH (UID 16 BODY[] {7}\r\n{3}\r\nab FLAGS ({2}\r\nxy))\r\n"  # literals after the body too
)
EXPECTED = {11: b"hello", 12: b"world", 13: b"abc", 14: BIG, 15: b"", 16: b"{3}\r\nab"}


class ScriptedImap(imaplib.IMAP4):
    """imaplib over one end of a socket pair; `buffering` is the size of its read buffer."""

    def __init__(self, sock: socket.socket, buffering: int) -> None:
        self._peer, self._buffering = sock, buffering
        super().__init__()

    def open(self, host: str = "", port: int = 0, timeout: float | None = None) -> None:
        self.host, self.port = host, port
        self.sock = self._peer
        self.file = self.sock.makefile("rb", buffering=self._buffering)


def serve(sock: socket.socket, body: bytes, ending: bytes) -> None:
    """Greet, then answer the one command with `body` and its completion (`ending` after the tag)."""
    sock.sendall(b"* OK scripted\r\n")
    commands = sock.makefile("rb")
    while (command := commands.readline()).split()[1:2] == [b"CAPABILITY"]:  # imaplib asks at connect
        sock.sendall(b"* CAPABILITY IMAP4rev1\r\n" + command.split(b" ", 1)[0] + b" OK done\r\n")
    sock.sendall(body + command.split(b" ", 1)[0] + b" " + ending)


def fetch(body: bytes, ending: bytes = b"OK done\r\n", buffering: int = 8192, close: bool = False, read=read_bodies):
    ours, theirs = socket.socketpair()
    peer = threading.Thread(target=serve, args=(theirs, body, ending), daemon=True)
    peer.start()
    imap = ScriptedImap(ours, buffering)
    imap.state = "SELECTED"  # as after LOGIN and SELECT, which the script leaves out
    try:
        tag = imap._command("UID", "FETCH", "11:16", "(BODY.PEEK[])")
        peer.join(timeout=10)
        if close:
            theirs.close()
        return imap, read(imap, tag)
    finally:
        ours.close()
        theirs.close()


@pytest.mark.parametrize("buffering", [8192, 100, 37, 2])
def test_every_body_is_read_whatever_its_shape_and_wherever_the_buffer_cuts(buffering: int) -> None:
    imap, (status, _, bodies) = fetch(ANSWER, buffering=buffering)
    assert status == "OK"
    assert bodies == EXPECTED
    assert imap.untagged_responses.get("EXISTS") == [b"9"]  # left for whoever asks, as imaplib does
    assert "FETCH" not in imap.untagged_responses  # nothing left over for the next command's answer


def test_a_refused_fetch_gives_the_server_s_words() -> None:
    _, (status, text, bodies) = fetch(b"", ending=b"NO [SERVERBUG] damaged file\r\n")
    assert (status, bodies) == ("NO", {})
    assert b"damaged file" in text[0]


def test_a_bad_fetch_is_imaplib_s_error() -> None:
    with pytest.raises(imaplib.IMAP4.error, match="FETCH command error: BAD"):
        fetch(b"", ending=b"BAD unknown command\r\n")


@pytest.mark.parametrize("buffering", [8192, 37])
def test_a_connection_lost_in_a_literal_is_imaplib_s_abort(buffering: int) -> None:
    cut = b"* 1 FETCH (UID 11 BODY[] {500}\r\nonly part of it"
    with pytest.raises(imaplib.IMAP4.abort, match="EOF"):
        fetch(cut, ending=b"", buffering=buffering, close=True)


SIZES = (
    b"* 1 FETCH (UID 11 RFC822.SIZE 5)\r\n"
    b"* 2 FETCH (UID 12 RFC822.SIZE 70000)\r\n"
    b"* 9 EXISTS\r\n"
    b"* 3 FETCH (RFC822.SIZE 3 UID 13)\r\n"  # another order
    b"* 4 FETCH (UID 14 RFC822.SIZE 12 FLAGS (\\Seen))\r\n"  # another item
    + b"".join(b"* %d FETCH (UID %d RFC822.SIZE %d)\r\n" % (n, n + 10, n * 3) for n in range(5, 400))
)


@pytest.mark.parametrize("buffering", [8192, 100, 37, 2])
def test_every_size_is_read_whatever_its_shape_and_wherever_the_buffer_cuts(buffering: int) -> None:
    imap, (status, _, sizes) = fetch(SIZES, buffering=buffering, read=read_sizes)
    assert status == "OK"
    assert sizes == {11: 5, 12: 70000, 13: 3, 14: 12} | {n + 10: n * 3 for n in range(5, 400)}
    assert imap.untagged_responses.get("EXISTS") == [b"9"]
    assert "FETCH" not in imap.untagged_responses
