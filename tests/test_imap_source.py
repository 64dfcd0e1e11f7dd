"""The IMAP source against a real Dovecot (tests/dovecot.py): TLS, logins, incremental reads, dispositions, IDLE."""

from __future__ import annotations

import email
import socket
import statistics
import sys
import threading
import time

import pytest

from dsnworker.worker import credentials
from dsnworker.worker.imap import ImapSource
from dsnworker.worker.settings import Disposition, MailboxSettings, OAuth2Auth, PasswordAuth, ServerSettings
from dsnworker.worker.source import SourceError
from tests.dovecot import TokenEndpoint


def bounce(n: int, padding: int = 0) -> bytes:
    """A small DSN-shaped message, CRLF line ends (as IMAP serves them), numbered `n`."""
    return (
        f"From: MAILER-DAEMON@mx.example.net\r\nTo: sender@example.com\r\nSubject: Undelivered Mail {n}\r\n"
        f"Message-ID: <bounce-{n}@mx.example.net>\r\n\r\nuser{n}@example.org: 550 5.1.1 no such user\r\n"
        + "x"
        * padding
    ).encode()


def report(padding: int) -> bytes:
    """A multipart/report whose second part is large."""
    return (
        "From: MAILER-DAEMON@mx.example.net\r\nSubject: big bounce\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="BND"\r\n\r\n'
        "--BND\r\nContent-Type: text/plain\r\n\r\nuser@example.org: 550 5.1.1 no such user\r\n"
        "--BND\r\nContent-Type: message/rfc822\r\n\r\nSubject: original\r\n\r\n" + "y" * padding + "\r\n"
        "--BND--\r\n"
    ).encode()


@pytest.fixture
def make_source(imap_account, monkeypatch):
    """make_source(**overrides) -> an ImapSource on `imap_account` (STARTTLS, the CA file, its password)."""
    made: list[ImapSource] = []
    monkeypatch.setenv("DSN_TEST_PASSWORD", imap_account.password)
    credentials.clear_token_cache()

    def make(*, tls="starttls", ca_file=True, auth=None, **settings) -> ImapSource:
        port = imap_account.imaps_port if tls == "implicit" else imap_account.imap_port
        server = ServerSettings(
            imap_account.host, port, tls=tls, ca_file=imap_account.ca_file if ca_file else None, timeout=10
        )
        auth = auth or PasswordAuth(imap_account.username, password_env="DSN_TEST_PASSWORD")
        source = ImapSource(MailboxSettings("bounces", "imap", server=server, auth=auth, **settings))
        made.append(source)
        return source

    yield make
    for source in made:
        source.close()


@pytest.fixture
def source(make_source):
    opened = make_source()
    opened.open()
    return opened


# -- TLS and login -------------------------------------------------------------------------------


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_logs_in_over_tls_verified_with_the_ca_file(make_source, tls):
    source = make_source(tls=tls)
    source.open()
    assert isinstance(source.uidvalidity, int)
    assert source.commands["STARTTLS"] == (1 if tls == "starttls" else 0)
    assert source.new_uids(0) == []


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_certificate_not_trusted_without_the_ca_file(make_source, tls):
    source = make_source(tls=tls, ca_file=False)
    with pytest.raises(SourceError, match="certificate verify failed") as caught:
        source.open()
    assert caught.value.mailbox == "bounces"
    assert not caught.value.retryable  # the same certificate fails again in 1, 2, 4 s
    assert str(caught.value).endswith(
        "if the server's certificate comes from a private CA, set server.ca_file to that CA's certificate (PEM)"
    )


def test_a_ca_file_of_another_ca_is_named_in_the_certificate_failure(make_source, tmp_path):
    import subprocess

    other = tmp_path / "other-ca.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp_path / "key.pem"),
         "-out", str(other), "-days", "1", "-subj", "/CN=Other CA"],
        check=True, capture_output=True,
    )  # fmt: skip
    source = make_source(tls="implicit")
    source.server = ServerSettings(source.server.host, source.server.port, tls="implicit", ca_file=other, timeout=10)
    with pytest.raises(SourceError) as caught:
        source.open()
    assert not caught.value.retryable
    assert f"server.ca_file ({other}) does not hold the CA that signed the server's certificate" in str(caught.value)


def test_starttls_on_an_implicit_tls_port_is_said_with_the_fix_after_one_timeout(imap_account):
    # the imaps port waits silently for a handshake; the worker waited for a greeting, 4 times a pass
    server = ServerSettings(imap_account.host, imap_account.imaps_port, tls="starttls", timeout=2)
    auth = PasswordAuth(imap_account.username, password_env="DSN_TEST_PASSWORD")
    source = ImapSource(MailboxSettings("bounces", "imap", server=server, auth=auth))
    with pytest.raises(SourceError) as caught:
        source.open()
    assert not caught.value.retryable
    assert str(caught.value) == (
        f"mailbox 'bounces': 127.0.0.1:{imap_account.imaps_port} speaks TLS at once (implicit TLS), it sent no IMAP "
        'greeting: set server.tls = "implicit" for this port, or server.port to its STARTTLS port (usually 143)'
    )


def test_implicit_tls_on_a_plain_imap_port_is_said_with_the_fix(imap_account):
    server = ServerSettings(imap_account.host, imap_account.imap_port, tls="implicit", timeout=5)
    auth = PasswordAuth(imap_account.username, password_env="DSN_TEST_PASSWORD")
    source = ImapSource(MailboxSettings("bounces", "imap", server=server, auth=auth))
    with pytest.raises(SourceError) as caught:
        source.open()
    assert not caught.value.retryable
    assert f"127.0.0.1:{imap_account.imap_port} does not speak TLS at once" in str(caught.value)
    assert 'if it is a STARTTLS port, set server.tls = "starttls"' in str(caught.value)


def test_a_silent_plain_server_is_still_a_retryable_timeout():
    listener = socket.create_server(("127.0.0.1", 0))  # accepts, never greets, never speaks TLS
    server = ServerSettings("127.0.0.1", listener.getsockname()[1], tls="starttls", timeout=1)
    source = ImapSource(MailboxSettings("bounces", "imap", server=server, auth=PasswordAuth("u", password_env="X")))
    with pytest.raises(SourceError, match="timed out while connecting") as caught:
        source.open()
    listener.close()
    assert caught.value.retryable


def test_server_without_starttls_is_refused_not_used_in_plaintext(make_source):
    """A plaintext server (or a stripping attacker) that does not offer STARTTLS: no LOGIN is ever sent."""
    received: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"* OK fake server ready\r\n")
            file = conn.makefile("rb")
            while line := file.readline():
                received.append(line)
                tag = line.split(b" ", 1)[0]
                if b"CAPABILITY" in line.upper():
                    conn.sendall(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK done\r\n")
                else:
                    conn.sendall(b"* BYE\r\n" + tag + b" OK bye\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    server = ServerSettings("127.0.0.1", listener.getsockname()[1], tls="starttls", timeout=5)
    auth = PasswordAuth("user", password_env="DSN_TEST_PASSWORD")
    source = ImapSource(MailboxSettings("bounces", "imap", server=server, auth=auth))
    with pytest.raises(SourceError, match="does not offer STARTTLS; refusing to log in without TLS") as caught:
        source.open()
    assert not caught.value.retryable
    thread.join(5)
    listener.close()
    assert not any(b"LOGIN" in line.upper() for line in received)


def test_wrong_password_names_the_mailbox_and_user_but_not_the_password(make_source, monkeypatch, imap_account):
    monkeypatch.setenv("DSN_TEST_PASSWORD", "Wrong-Pa55word")
    source = make_source()
    with pytest.raises(SourceError) as caught:
        source.open()
    message = str(caught.value)
    assert message == (
        f"mailbox 'bounces': login failed for user {imap_account.username!r}: "
        "[AUTHENTICATIONFAILED] Authentication failed."
    )
    assert "Wrong-Pa55word" not in message
    assert not caught.value.retryable


def test_missing_password_variable_is_a_source_error(make_source, monkeypatch):
    monkeypatch.delenv("DSN_TEST_PASSWORD")
    with pytest.raises(SourceError, match="environment variable DSN_TEST_PASSWORD is not set") as caught:
        make_source().open()
    assert not caught.value.retryable


def test_refused_connection_is_a_retryable_source_error(imap_account, monkeypatch):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    auth = PasswordAuth(imap_account.username, password_env="DSN_TEST_PASSWORD")
    settings = MailboxSettings("bounces", "imap", server=ServerSettings("127.0.0.1", port, timeout=5), auth=auth)
    with pytest.raises(SourceError, match=f"connection refused while connecting to 127.0.0.1:{port}") as caught:
        ImapSource(settings).open()
    assert caught.value.retryable


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_oauth2_login_with_a_token_command(make_source, dovecot, imap_account, mechanism):
    token = dovecot.add_token(imap_account.username)
    auth = OAuth2Auth(
        imap_account.username, mechanism=mechanism, token_command=(sys.executable, "-c", f"print('{token}')")
    )
    source = make_source(auth=auth)
    source.open()
    assert source.commands["AUTHENTICATE"] == 1
    assert {"token": token} in dovecot.introspection_requests


def test_xoauth2_login_with_the_client_credentials_grant(make_source, dovecot, imap_account, monkeypatch):
    token = dovecot.add_token(imap_account.username)
    endpoint = TokenEndpoint("app-id", "app-secret", token=token)
    monkeypatch.setenv("DSN_TEST_CLIENT_SECRET", "app-secret")
    auth = OAuth2Auth(
        imap_account.username,
        token_url=endpoint.url,
        client_id="app-id",
        client_secret_env="DSN_TEST_CLIENT_SECRET",
        scope="https://outlook.office365.com/.default",
    )
    try:
        make_source(auth=auth).open()
        make_source(auth=auth).open()
    finally:
        endpoint.close()
    assert len(endpoint.requests) == 1  # the second login reused the cached token


def test_inactive_token_is_a_login_failure_without_the_token(make_source, dovecot, imap_account):
    token = "revoked-token-value"
    auth = OAuth2Auth(imap_account.username, token_command=(sys.executable, "-c", f"print('{token}')"))
    with pytest.raises(SourceError, match="login failed for user .*AUTHENTICATIONFAILED") as caught:
        make_source(auth=auth).open()
    assert token not in str(caught.value)
    assert not caught.value.retryable


def test_introspection_down_is_a_retryable_login_failure(make_source, dovecot, imap_account):
    token = dovecot.add_token(imap_account.username)
    auth = OAuth2Auth(imap_account.username, token_command=(sys.executable, "-c", f"print('{token}')"))
    dovecot.introspection_down = True
    try:
        with pytest.raises(SourceError, match=r"login failed .*\[UNAVAILABLE\]") as caught:
            make_source(auth=auth).open()
    finally:
        dovecot.introspection_down = False
    assert caught.value.retryable


# -- reading -------------------------------------------------------------------------------------


def test_new_uids_are_incremental(source, imap_account):
    assert source.new_uids(0) == []
    imap_account.deliver(bounce(n) for n in range(3))
    assert source.new_uids(0) == [1, 2, 3]
    assert source.new_uids(3) == []  # `UID SEARCH UID 4:*` answers UID 3: not new
    imap_account.deliver(bounce(n) for n in range(3, 5))
    assert source.new_uids(3) == [4, 5]
    assert source.new_uids(1) == [2, 3, 4, 5]


def test_fetch_gives_the_delivered_bytes_in_uid_order_across_batches(make_source, imap_account):
    delivered = [bounce(n, padding=n * 37) for n in range(25)]
    imap_account.deliver(delivered)
    source = make_source(batch_size=10)
    source.open()
    uids = source.new_uids(0)
    fetched = list(source.fetch(uids))
    assert [message.uid for message in fetched] == uids == list(range(1, 26))
    assert [message.data for message in fetched] == delivered
    assert [message.size for message in fetched] == [len(data) for data in delivered]
    assert not any(message.truncated for message in fetched)
    assert source.commands["FETCH"] == 6  # per batch of 10: sizes, then bodies
    assert imap_account.flags() == [""] * 25  # BODY.PEEK: nothing became \Seen


def test_a_batch_s_sizes_and_bodies_are_read_without_imaplib_s_line_parser(make_source, imap_account, monkeypatch):
    """imaplib's reader takes ~15 us a message (four patterns, a trace entry, a list per line): the usual
    FETCH answers are read off its buffer instead; it still reads the completions and whatever else."""
    import imaplib

    delivered = [bounce(n, padding=n % 300) for n in range(400)]
    imap_account.deliver(delivered)
    source = make_source(batch_size=400)
    source.open()
    uids = source.new_uids(0)
    sizes = source.sizes(uids)
    read_by_imaplib = []
    original = imaplib.IMAP4._get_response

    def counted(imap):
        read_by_imaplib.append(1)
        return original(imap)

    monkeypatch.setattr(imaplib.IMAP4, "_get_response", counted)
    assert source.sizes(uids) == sizes == {uid: len(data) for uid, data in zip(uids, delivered, strict=True)}
    fetched = source.fetch_later(uids, sizes)()
    assert [message.data for message in fetched] == delivered
    # the completions, and an answer whose first line was not yet whole in the buffer now and then
    assert len(read_by_imaplib) < len(delivered) // 10, len(read_by_imaplib)


def test_fetch_skips_vanished_uids(source, imap_account):
    imap_account.deliver([bounce(1), bounce(2)])
    source.new_uids(0)
    assert [message.uid for message in source.fetch([1, 7, 2])] == [1, 2]


def test_message_over_the_size_limit_comes_as_headers_and_first_part(make_source, imap_account):
    big = report(padding=50_000)
    imap_account.deliver([bounce(1), big, bounce(3)])
    source = make_source(max_message_bytes=10_000)
    source.open()
    first, second, third = source.fetch([1, 2, 3])
    assert (first.truncated, third.truncated) == (False, False)
    assert second.truncated and second.size == len(big) and len(second.data) < 1_000
    parsed = email.message_from_bytes(second.data)
    assert parsed["Subject"] == "big bounce"
    assert parsed.get_content_type() == "multipart/report"
    [part] = parsed.get_payload()
    assert part.get_content_type() == "text/plain"
    assert "550 5.1.1 no such user" in part.get_payload()
    assert b"yyyy" not in second.data


def test_single_part_message_over_the_limit_is_cut_at_the_limit(make_source, imap_account):
    big = bounce(1, padding=30_000)
    imap_account.deliver([big])
    source = make_source(max_message_bytes=5_000)
    source.open()
    [message] = source.fetch([1])
    assert message.truncated and message.size == len(big)
    assert message.data.startswith(big.split(b"\r\n\r\n")[0] + b"\r\n\r\n")
    assert big.startswith(message.data) and 5_000 < len(message.data) < 5_400


# -- dispositions --------------------------------------------------------------------------------


def test_move_creates_the_folder_once_and_moves(source, imap_account):
    delivered = [bounce(n) for n in range(4)]
    imap_account.deliver(delivered)
    source.new_uids(0)
    source.dispose([1, 2], Disposition("move", "Processed"))
    source.dispose([3], Disposition("move", "Processed"))
    assert source.commands["CREATE"] == 1 and source.commands["LIST"] == 1
    assert source.commands["MOVE"] == 2 and source.commands["COPY"] == 0
    assert imap_account.messages("Processed") == delivered[:3]
    assert imap_account.messages() == delivered[3:]
    assert source.new_uids(0) == [4]


def test_move_into_an_existing_folder_creates_nothing(make_source, imap_account):
    imap_account.deliver([bounce(0)], folder="Processed")
    imap_account.deliver([bounce(1)])
    source = make_source()
    source.open()
    source.dispose([1], Disposition("move", "Processed"))
    assert source.commands["CREATE"] == 0
    assert imap_account.messages("Processed") == [bounce(0), bounce(1)]


def test_move_fallback_copies_flags_deleted_and_expunges(source, imap_account):
    delivered = [bounce(n) for n in range(3)]
    imap_account.deliver(delivered)
    source.new_uids(0)
    source.move_by_copy([1, 3], "Unparsed")
    assert source.commands["MOVE"] == 0
    assert (source.commands["COPY"], source.commands["STORE"], source.commands["EXPUNGE"]) == (1, 1, 1)
    assert imap_account.messages("Unparsed") == [delivered[0], delivered[2]]
    assert imap_account.messages() == [delivered[1]]


def test_seen_sets_the_seen_flag_only(source, imap_account):
    imap_account.deliver(bounce(n) for n in range(3))
    source.new_uids(0)
    source.dispose([2, 3], Disposition("seen"))
    assert imap_account.flags() == ["", "S", "S"]


def test_delete_expunges(source, imap_account):
    delivered = [bounce(n) for n in range(3)]
    imap_account.deliver(delivered)
    source.new_uids(0)
    source.dispose([1, 2], Disposition("delete"))
    assert imap_account.messages() == delivered[2:]
    assert source.new_uids(0) == [3]


@pytest.mark.parametrize("kind", ["none", "leave"])
def test_none_and_leave_send_nothing(source, imap_account, kind):
    imap_account.deliver([bounce(1)])
    before = source.commands.copy()
    source.dispose([1], Disposition(kind))
    assert source.commands == before


def test_disposing_of_vanished_uids_is_no_error(source, imap_account):
    imap_account.deliver([bounce(1)])
    source.new_uids(0)
    source.dispose([1], Disposition("delete"))
    for disposition in (Disposition("move", "Processed"), Disposition("seen"), Disposition("delete")):
        source.dispose([1, 99], disposition)
    source.move_by_copy([1], "Processed")


# -- IDLE, failures, scale -----------------------------------------------------------------------


def test_wait_for_new_wakes_on_a_delivery(source, imap_account):
    assert source.wait_for_new(0.3) is False
    timer = threading.Timer(0.3, imap_account.deliver, [[bounce(1)]])
    timer.start()
    started = time.monotonic()
    assert source.wait_for_new(20) is True
    assert time.monotonic() - started < 10
    assert source.new_uids(0) == [1]  # the connection is usable after IDLE


def test_server_restart_is_a_retryable_error_then_open_works_again(source, dovecot, imap_account):
    imap_account.deliver([bounce(1)])
    dovecot.restart()
    with pytest.raises(SourceError) as caught:
        source.new_uids(0)
    assert caught.value.retryable
    source.open()
    assert source.new_uids(0) == [1]


def test_server_restart_during_idle_ends_the_wait_with_a_retryable_error(source, dovecot):
    timer = threading.Timer(0.3, dovecot.restart)
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(SourceError, match="IDLE") as caught:
            source.wait_for_new(30)
    finally:
        timer.join()
    assert time.monotonic() - started < 10
    assert caught.value.retryable
    source.open()
    assert source.new_uids(0) == []


def test_poll_with_nothing_new_on_100k_messages_issues_no_fetch(make_source, imap_account, capsys):
    count = 100_000
    started = time.monotonic()
    imap_account.deliver(bounce(n) for n in range(count))
    delivered_in = time.monotonic() - started
    source = make_source()
    started = time.monotonic()
    source.open()  # Dovecot indexes the new files here
    opened_in = time.monotonic() - started
    source.commands.clear()
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        assert source.new_uids(count) == []
        timings.append(time.perf_counter() - started)
    assert source.commands == {"NOOP": 5, "SEARCH": 5}
    with capsys.disabled():
        print(
            f"\n100k messages: delivered in {delivered_in:.1f} s, first SELECT {opened_in:.1f} s, "
            f"empty poll median {statistics.median(timings) * 1000:.2f} ms (max {max(timings) * 1000:.2f} ms)"
        )
