"""An IMAP folder as a `MailSource`, with imapclient: incremental by UID, verified TLS, OAuth2 or password.

The commands it sends, and why:

- `open`: connect (implicit TLS, or plain then `STARTTLS`, never falling back to plaintext), `LOGIN` or
  `AUTHENTICATE XOAUTH2|OAUTHBEARER`, then `SELECT` the folder read-write for its UIDVALIDITY.
- `new_uids`: `NOOP` (the server refreshes its view of the folder), then `UID SEARCH UID n+1:*`, never
  `ALL`, so a poll costs the same on 10 or 100,000 messages.
- `fetch`: per batch, `UID FETCH (RFC822.SIZE)` then `UID FETCH (BODY.PEEK[])` (PEEK: reading does not
  set \\Seen; its answer is read off imaplib's buffer by `fetch_reader`); a message over the size
  limit gets `BODY.PEEK[HEADER]` and its first part instead.
- `dispose`: `UID MOVE` (else `UID COPY` + `UID STORE +FLAGS (\\Deleted)` + `UID EXPUNGE`), creating the
  target folder once; `UID STORE +FLAGS (\\Seen)`; `\\Deleted` + `UID EXPUNGE`. 1,000 UIDs per command.
- `wait_for_new`: `IDLE` until the server says EXISTS, or the timeout.
- `folder_status` (for `dsnworker status`): `STATUS folder (MESSAGES UIDNEXT UIDVALIDITY)`, no SELECT.

Every imapclient, socket and TLS error becomes a `SourceError` naming the mailbox: the caller catches
nothing else. After a connection-level failure the source is closed; `open` it again to go on.
"""

from __future__ import annotations

import collections
import contextlib
import email.parser
import email.policy
import logging
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from dsnworker.worker import credentials, fetch_reader
from dsnworker.worker.credentials import CredentialError
from dsnworker.worker.settings import Disposition, MailboxSettings, OAuth2Auth, PasswordAuth
from dsnworker.worker.source import FetchedMessage, SourceError

log = logging.getLogger(__name__)

UIDS_PER_COMMAND = 1_000
FETCH_BYTES_PER_COMMAND = 64_000_000  # a batch of big messages is fetched in several commands, to bound memory
SEEN, DELETED = b"\\Seen", b"\\Deleted"
# OpenSSL's words for a peer that answered a ClientHello with something else (an IMAP greeting)
_NOT_TLS_REASONS = frozenset({"WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"})
_HOSTNAME_MISMATCH = 62  # X509_V_ERR_HOSTNAME_MISMATCH
_IDLE_EARLY_EMPTY_LIMIT = 20  # IDLE checks returning nothing before their timeout: the connection is gone


@dataclass(frozen=True)
class FolderStatus:
    """A folder's `STATUS` answer."""

    messages: int
    uidnext: int
    uidvalidity: int


class ImapSource:
    """One IMAP folder of a configured mailbox. Not thread-safe; use another instance for IDLE."""

    def __init__(self, settings: MailboxSettings) -> None:
        if settings.source != "imap" or settings.server is None or settings.auth is None:
            raise SourceError(settings.name, "an IMAP source needs source 'imap', a server and auth", retryable=False)
        self.name = settings.name
        self.settings = settings
        self.server = settings.server
        self.auth: PasswordAuth | OAuth2Auth = settings.auth
        self.commands: collections.Counter[str] = collections.Counter()  # IMAP commands sent, by name
        self._client: IMAPClient | None = None
        self._uidvalidity: int | None = None
        self._folders_present: set[str] = set()  # move targets known to exist (created once)
        self._warned_no_uidplus = False

    # -- connection ------------------------------------------------------------------------------

    @property
    def uidvalidity(self) -> int | None:
        return self._uidvalidity

    def open(self) -> None:
        """Connect, log in and SELECT the folder read-write. Raises SourceError."""
        self.close()
        try:
            self._connect_and_login()
            with self._errors(f"selecting folder {self.settings.folder!r}"):
                self.commands["SELECT"] += 1
                selected = self._connected().select_folder(self.settings.folder)
        except SourceError:
            self.close()
            raise
        uidvalidity = selected.get(b"UIDVALIDITY")
        self._uidvalidity = int(uidvalidity) if uidvalidity is not None else None

    def folder_status(self) -> FolderStatus:
        """Connect, log in, `STATUS folder (MESSAGES UIDNEXT UIDVALIDITY)`, log out: what the folder holds,
        without selecting it (a running worker's session is not disturbed, nothing is fetched)."""
        self.close()
        try:
            self._connect_and_login()
            with self._errors(f"asking the status of folder {self.settings.folder!r}"):
                self.commands["STATUS"] += 1
                found = self._connected().folder_status(self.settings.folder, [b"MESSAGES", b"UIDNEXT", b"UIDVALIDITY"])
        finally:
            self.close()
        return FolderStatus(int(found[b"MESSAGES"]), int(found[b"UIDNEXT"]), int(found[b"UIDVALIDITY"]))

    def _connect_and_login(self) -> None:
        server = self.server
        where = f"{server.host}:{server.port}"
        try:
            context = ssl.create_default_context(cafile=str(server.ca_file) if server.ca_file else None)
        except OSError as exc:
            raise SourceError(
                self.name, f"CA file {server.ca_file} cannot be used: {_describe(exc)}", retryable=False
            ) from None
        try:
            with self._errors(f"connecting to {where}"):
                self._client = self._connect(context)
                # imapclient turns imaplib's protocol trace on, which formats the repr of every line and
                # literal read even when nobody logs it: keep it only for someone who asked for it
                if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
                    self._client._imap.debug = 0
                if server.tls == "starttls":
                    self.commands["CAPABILITY"] += 1
                    if not self._client.has_capability("STARTTLS"):
                        raise SourceError(
                            self.name,
                            f"{where} does not offer STARTTLS; refusing to log in without TLS",
                            retryable=False,
                        )
                    self.commands["STARTTLS"] += 1
                    self._client.starttls(context)
            self._login()
        except SourceError:
            self.close()
            raise

    def _connect(self, context: ssl.SSLContext) -> IMAPClient:
        """A connection, its greeting read (implicit TLS: after the handshake). A TLS mode that does not
        match the port is no transient fault: said with the fix, not retried."""
        server = self.server
        implicit = server.tls == "implicit"
        try:
            return IMAPClient(
                server.host,
                server.port,
                ssl=implicit,
                ssl_context=context if implicit else None,
                timeout=server.timeout,
            )
        except TimeoutError:
            # an implicit-TLS port waits, silent, for our handshake while we wait for its greeting
            if not implicit and _speaks_tls_at_once(server.host, server.port, min(server.timeout, 5.0)):
                raise SourceError(
                    self.name,
                    f"{server.host}:{server.port} speaks TLS at once (implicit TLS), it sent no IMAP greeting: "
                    'set server.tls = "implicit" for this port, or server.port to its STARTTLS port (usually 143)',
                    retryable=False,
                ) from None
            raise
        except ssl.SSLError as exc:
            if implicit and exc.reason in _NOT_TLS_REASONS:
                raise SourceError(
                    self.name,
                    f"{server.host}:{server.port} does not speak TLS at once ({exc.reason}): if it is a STARTTLS "
                    'port, set server.tls = "starttls"; for implicit TLS, server.port = 993',
                    retryable=False,
                ) from None
            raise

    def _login(self) -> None:
        auth = self.auth
        client = self._connected()
        try:
            secret = (
                credentials.password(self.name, auth)
                if isinstance(auth, PasswordAuth)
                else credentials.access_token(self.name, auth)
            )
        except CredentialError as exc:
            raise SourceError(self.name, exc.problem, retryable=exc.retryable) from None
        try:
            with self._errors(f"logging in as {auth.username!r}"):
                if isinstance(auth, PasswordAuth):
                    self.commands["LOGIN"] += 1
                    client.login(auth.username, secret)
                elif auth.mechanism == "OAUTHBEARER":
                    self.commands["AUTHENTICATE"] += 1
                    client.oauthbearer_login(auth.username, secret)
                else:
                    self.commands["AUTHENTICATE"] += 1
                    client.oauth2_login(auth.username, secret, mech="XOAUTH2")
        except _LoginRefused as refused:
            if isinstance(auth, OAuth2Auth):
                credentials.forget_token(auth)  # perhaps revoked: the next attempt asks for a new one
            text = _server_text(refused.error).replace(secret, "***")
            # [UNAVAILABLE]: the server could not check the credentials now (e.g. its token introspection)
            retryable = "[UNAVAILABLE]" in text.upper()
            raise SourceError(
                self.name, f"login failed for user {auth.username!r}: {text}", retryable=retryable
            ) from None

    def close(self) -> None:
        """LOGOUT and drop the connection; never raises."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            self.commands["LOGOUT"] += 1
            client.logout()
        except Exception:  # closing must not fail; the connection may already be gone
            with contextlib.suppress(Exception):
                client.shutdown()

    def interrupt(self) -> None:
        """From another thread: end a `wait_for_new` at once by shutting the socket (for a quick stop)."""
        client = self._client
        if client is not None:
            with contextlib.suppress(Exception):
                client.socket().shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> ImapSource:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------------

    def new_uids(self, after_uid: int) -> list[int]:
        """UIDs above `after_uid`, ascending: `NOOP`, then `UID SEARCH UID n+1:*` (which also answers the
        last UID when nothing is newer: kept out)."""
        client = self._connected()
        with self._errors("searching for new messages"):
            # Dovecot (and others) update a selected folder's view at NOOP, not at SEARCH: without it a
            # long-lived connection would never see mail that arrived after SELECT.
            self.commands["NOOP"] += 1
            client.noop()
            self.commands["SEARCH"] += 1
            found = client.search(["UID", f"{after_uid + 1}:*"])
        return sorted(uid for uid in found if uid > after_uid)

    def fetch(self, uids: Sequence[int]) -> Iterator[FetchedMessage]:
        """The messages in `uids` order, one batch of `batch_size` in memory at a time; vanished UIDs skipped.

        Per batch: `UID FETCH (RFC822.SIZE)`, then `UID FETCH (BODY.PEEK[])` for those within
        `max_message_bytes`, and `UID FETCH (BODY.PEEK[HEADER] BODY.PEEK[1.MIME] BODY.PEEK[1]<0.limit>)`
        for the others, which come back truncated: the header and the first part.
        """
        batch_size = max(1, self.settings.batch_size)
        for start in range(0, len(uids), batch_size):
            yield from self.fetch_later(uids[start : start + batch_size])()

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        return self._sizes(uids) if uids else {}

    def fetch_later(
        self, uids: Sequence[int], sizes: Mapping[int, int] | None = None
    ) -> Callable[[], list[FetchedMessage]]:
        """Send the FETCH of these messages now, read its answer when the returned function is called.

        IMAP pipelining (RFC 3501 5.5; UID commands are safe to pipeline): the server reads and sends
        the next batch while the worker parses this one, in one thread. The sizes are asked first, and
        waited for: they decide which messages come whole. Until the function is called, only
        `dispose_later` may be used on this source.
        """
        batch = list(uids)
        limit = self.settings.max_message_bytes
        if not batch:
            return list
        sizes = self._sizes(batch) if sizes is None else sizes
        whole = [uid for uid in batch if uid in sizes and sizes[uid] <= limit]
        groups = list(_groups_by_bytes(whole, sizes, FETCH_BYTES_PER_COMMAND))
        # one command in flight, or (a batch of big messages) one command at a time, to bound memory
        sent = self._send_fetch(groups[0]) if len(groups) == 1 else None

        def collect() -> list[FetchedMessage]:
            refused: dict[int, str] = {}
            try:
                bodies = self._collect_fetch(sent) if sent is not None else {}
                if sent is None:
                    for group in groups:
                        bodies.update(self._collect_fetch(self._send_fetch(group)))
            except SourceError as exc:
                if exc.retryable:
                    raise
                bodies, refused = self._fetch_one_by_one(whole)
            fetched = []
            for uid in batch:
                if uid in refused:
                    fetched.append(FetchedMessage(uid=uid, data=b"", size=sizes[uid], unreadable=refused[uid]))
                elif uid in bodies:
                    fetched.append(FetchedMessage(uid=uid, data=bodies.pop(uid), size=sizes[uid]))
                elif uid in sizes and sizes[uid] > limit:
                    message = self._fetch_truncated(uid, sizes[uid], limit)
                    if message is not None:
                        fetched.append(message)
            return fetched

        return collect

    def _fetch_one_by_one(self, uids: Sequence[int]) -> tuple[dict[int, bytes], dict[int, str]]:
        """After the server refused (NO) a batch's FETCH: each message alone, so that one it cannot
        return (a damaged file) is set apart, with the server's words, instead of stopping the mailbox."""
        bodies: dict[int, bytes] = {}
        refused: dict[int, str] = {}
        for uid in uids:
            try:
                bodies.update(self._collect_fetch(self._send_fetch([uid])))
            except SourceError as exc:
                if exc.retryable:
                    raise
                refused[uid] = exc.problem
        return bodies, refused

    def _sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """`UID FETCH uids (RFC822.SIZE)`, its answer read as in `_send_fetch`."""
        with self._errors("fetching message sizes"):
            self.commands["FETCH"] += 1
            imap = self._connected()._imap
            tag = imap._command("UID", "FETCH", _uid_set(uids), "(RFC822.SIZE)")
            status, text, sizes = fetch_reader.read_sizes(imap, tag)
            if status != "OK":
                raise IMAPClientError(f"UID FETCH failed: {_text(tuple(text))}")
        return sizes

    def _send_fetch(self, uids: Sequence[int]) -> bytes:
        """`UID FETCH uids (BODY.PEEK[])`, sent through imaplib under imapclient; returns the tag.

        The hot path of a pass. imapclient's general response parser tokenises every byte of the
        answer in Python (~12,000 messages/s from a local Dovecot); imaplib hands over each literal as
        read (~60,000/s), and lets a command stay in flight; `fetch_reader` reads the usual shape of
        answer off imaplib's buffer, leaving imaplib the rest. `IMAPClient._imap` is the imaplib
        connection imapclient itself drives (private, but there since imapclient's first versions).
        """
        with self._errors("fetching messages"):
            self.commands["FETCH"] += 1
            tag: bytes = self._connected()._imap._command("UID", "FETCH", _uid_set(uids), "(BODY.PEEK[])")
            return tag

    def _collect_fetch(self, tag: bytes) -> dict[int, bytes]:
        with self._errors("fetching messages"):
            status, text, bodies = fetch_reader.read_bodies(self._connected()._imap, tag)
            if status != "OK":
                raise IMAPClientError(f"UID FETCH failed: {_text(tuple(text))}")
        return bodies

    def _fetch_truncated(self, uid: int, size: int, limit: int) -> FetchedMessage | None:
        wanted = ["BODY.PEEK[HEADER]", "BODY.PEEK[1.MIME]", f"BODY.PEEK[1]<0.{limit}>"]
        item = self._fetch([uid], wanted).get(uid)
        if item is None:
            return None  # vanished
        header = item.get(b"BODY[HEADER]") or b""
        first = item.get(b"BODY[1]<0>") or b""
        boundary = _multipart_boundary(header)
        if boundary:  # keep it a well-formed multipart holding its first part, so the parser reads it as such
            part_header = item.get(b"BODY[1.MIME]") or b"\r\n"
            data = b"".join([header, b"--", boundary, b"\r\n", part_header, first, b"\r\n--", boundary, b"--\r\n"])
        else:
            data = header + first
        return FetchedMessage(uid=uid, data=data, size=size, truncated=True)

    def _fetch(self, uids: Sequence[int], items: list[str]) -> dict[int, dict[bytes, Any]]:
        if not uids:
            return {}
        with self._errors("fetching messages"):
            self.commands["FETCH"] += 1
            return self._connected().fetch(list(uids), items)

    # -- acting on messages ----------------------------------------------------------------------

    def dispose(self, uids: Sequence[int], disposition: Disposition) -> None:
        """Apply `disposition` to the messages; UIDs that vanished meanwhile are no error."""
        if not uids or disposition.kind in ("none", "leave"):
            return
        uids = list(uids)
        if disposition.kind == "move":
            folder = disposition.folder or ""
            self._ensure_folder(folder)
            with self._errors("checking the server's capabilities"):
                has_move = self._connected().has_capability("MOVE")
            if not has_move:
                self.move_by_copy(uids, folder)
                return
            for chunk in _chunks(uids):
                with self._errors(f"moving messages to {folder!r}"):
                    self.commands["MOVE"] += 1
                    self._connected().move(chunk, folder)
        elif disposition.kind == "seen":
            for chunk in _chunks(uids):
                self._store(chunk, SEEN)
        elif disposition.kind == "delete":
            for chunk in _chunks(uids):
                self._store(chunk, DELETED)
                self._expunge(chunk)
        else:
            raise SourceError(self.name, f"unknown disposition {disposition}", retryable=False)

    def dispose_later(self, uids: Sequence[int], disposition: Disposition) -> Callable[[], None]:
        """Like `dispose`, done when the returned function is called; a `UID MOVE` to a folder already
        seen is sent at once, and the function waits for its answer.

        The server moves one batch while the worker parses the next (a FETCH may be in flight).
        """
        if not uids or disposition.kind in ("none", "leave"):
            return _nothing
        folder = disposition.folder or ""
        client = self._connected()
        with self._errors("checking the server's capabilities"):
            has_move = client.has_capability("MOVE")  # known since login: no command sent
        if disposition.kind != "move" or not has_move or folder not in self._folders_present:
            # STORE, COPY, LIST and CREATE answers could take a FETCH's answers in flight for theirs
            # (imapclient collects every untagged FETCH): these wait until the FETCH has been read
            return lambda: self.dispose(uids, disposition)
        doing = f"moving messages to {folder!r}"
        with self._errors(doing):
            target = client._normalise_folder(folder)
            tags = []
            for chunk in _chunks(list(uids)):
                self.commands["MOVE"] += 1
                tags.append(client._imap._command("UID", "MOVE", _uid_set(chunk), target))

        def collect() -> None:
            with self._errors(doing):
                for tag in tags:
                    status, answer = client._imap._command_complete("MOVE", tag)
                    if status != "OK":
                        raise IMAPClientError(f"UID MOVE failed: {_text(tuple(answer))}")
            # what MOVE answered besides (EXPUNGE, VANISHED, OK [COPYUID]) is of no use here
            for name in ("EXPUNGE", "VANISHED", "OK"):
                client._imap.untagged_responses.pop(name, None)

        return collect

    def move_by_copy(self, uids: Sequence[int], folder: str) -> None:
        """Move without the MOVE extension: `UID COPY`, `UID STORE +FLAGS (\\Deleted)`, `UID EXPUNGE`.

        Creates the folder when missing. A crash between COPY and EXPUNGE leaves a copy in both folders,
        never none.
        """
        self._ensure_folder(folder)
        for chunk in _chunks(list(uids)):
            with self._errors(f"copying messages to {folder!r}"):
                self.commands["COPY"] += 1
                self._connected().copy(chunk, folder)
            self._store(chunk, DELETED)
            self._expunge(chunk)

    def _store(self, uids: list[int], flag: bytes) -> None:
        with self._errors("setting flags"):
            self.commands["STORE"] += 1
            self._connected().add_flags(uids, [flag], silent=True)

    def _expunge(self, uids: list[int]) -> None:
        client = self._connected()
        with self._errors("checking the server's capabilities"):
            has_uidplus = client.has_capability("UIDPLUS")
        if not has_uidplus:
            # A plain EXPUNGE would also remove messages someone else marked \Deleted: leave ours marked.
            if not self._warned_no_uidplus:
                log.warning("mailbox %r: the server lacks UIDPLUS; messages stay marked \\Deleted", self.name)
                self._warned_no_uidplus = True
            return
        with self._errors("expunging messages"):
            self.commands["EXPUNGE"] += 1
            client.uid_expunge(uids)

    def _ensure_folder(self, folder: str) -> None:
        """Create the folder when missing (`LIST`, then `CREATE` and `SUBSCRIBE`), once per source."""
        if not folder:
            raise SourceError(self.name, "a move needs a folder name", retryable=False)
        if folder in self._folders_present:
            return
        client = self._connected()
        with self._errors(f"looking for folder {folder!r}"):
            self.commands["LIST"] += 1
            exists = client.folder_exists(folder)
        if not exists:
            try:
                with self._errors(f"creating folder {folder!r}"):
                    self.commands["CREATE"] += 1
                    client.create_folder(folder)
            except SourceError:
                self.commands["LIST"] += 1
                if not client.folder_exists(folder):  # another worker may have created it meanwhile
                    raise
            with contextlib.suppress(IMAPClientError):
                self.commands["SUBSCRIBE"] += 1
                client.subscribe_folder(folder)
        self._folders_present.add(folder)

    # -- waiting ---------------------------------------------------------------------------------

    def wait_for_new(self, timeout: float) -> bool:
        """`IDLE` up to `timeout` s; True as soon as the server reports EXISTS (or RECENT > 0)."""
        client = self._connected()
        deadline = time.monotonic() + timeout
        with self._errors("waiting for new mail (IDLE)"):
            self.commands["IDLE"] += 1
            client.idle()
            broken = True  # until the loop ends normally: then DONE ends the IDLE
            try:
                early_empty = 0
                while (remaining := deadline - time.monotonic()) > 0:
                    responses = client.idle_check(timeout=remaining)
                    for response in responses:
                        if _is_new_mail(response):
                            broken = False
                            return True
                        if response and response[0] == b"BYE":
                            raise IMAPClientAbortError(f"the server said BYE: {_text(response[1:])}")
                    if not responses and deadline - time.monotonic() > 0.05:
                        # poll() said readable but no line came: EOF (imapclient swallows it) or a partial line
                        early_empty += 1
                        if early_empty >= _IDLE_EARLY_EMPTY_LIMIT:
                            raise IMAPClientAbortError("closed by the server")
                        time.sleep(0.01)
                    else:
                        early_empty = 0
                broken = False
                return False
            finally:
                if not broken:
                    client.idle_done()

    # -- errors ----------------------------------------------------------------------------------

    def _connected(self) -> IMAPClient:
        if self._client is None:
            raise SourceError(self.name, "not connected (open() the source first)")
        return self._client

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn imapclient, socket and TLS errors into SourceError; drop a connection that failed."""
        try:
            yield
        except SourceError:
            raise
        except ssl.SSLCertVerificationError as exc:
            # the same certificate is refused at every attempt: said with what to set, not retried
            self._drop()
            hint = _certificate_hint(exc, self.server.host, self.server.ca_file)
            raise SourceError(self.name, f"{_describe(exc)} while {doing}; {hint}", retryable=False) from None
        except LoginError as exc:
            # imapclient turns every error during login into LoginError; the original is its context
            if not isinstance(exc.__context__, IMAPClientAbortError | OSError):
                raise _LoginRefused(exc) from None
            self._drop()
            raise SourceError(self.name, f"{_describe(exc.__context__)} while {doing}", retryable=True) from None
        except (IMAPClientAbortError, ssl.SSLError, OSError) as exc:
            # imaplib's abort, TLS and socket errors: the connection is unusable
            self._drop()
            raise SourceError(self.name, f"{_describe(exc)} while {doing}", retryable=True) from None
        except IMAPClientError as exc:
            # the server said NO or BAD to a command: the connection itself is fine, and asking the
            # same again at once would get the same answer
            raise SourceError(
                self.name, f"{doing}: the server answered: {_server_text(exc)}", retryable=False
            ) from None

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.shutdown()


class _LoginRefused(Exception):
    """Internal: the server refused the credentials (turned into a SourceError that hides the secret)."""

    def __init__(self, error: LoginError) -> None:
        super().__init__(str(error))
        self.error = error


def _describe(exc: BaseException) -> str:
    """A readable reason for a connection-level failure."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name: {exc.strerror}"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, IMAPClientAbortError):
        return f"connection lost: {_server_text(exc)}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _certificate_hint(exc: ssl.SSLCertVerificationError, host: str, ca_file: object) -> str:
    if exc.verify_code == _HOSTNAME_MISMATCH:
        return f"the certificate does not name {host}: set server.host to a name the certificate carries"
    if ca_file:
        return f"server.ca_file ({ca_file}) does not hold the CA that signed the server's certificate"
    return "if the server's certificate comes from a private CA, set server.ca_file to that CA's certificate (PEM)"


def _speaks_tls_at_once(host: str, port: int, timeout: float) -> bool:
    """Whether `host:port` completes a TLS handshake on connect (an implicit-TLS port). A probe only:
    nothing is sent over it, so the certificate is not checked here (the real connection checks it)."""
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    probe.check_hostname = False
    probe.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, probe.wrap_socket(raw):
            return True
    except (OSError, ssl.SSLError):
        return False


_BYTES_REPR = re.compile(r"""^b(['"])(.*)\1$""", re.DOTALL)
_COMMAND_PREFIX = re.compile(r"^[a-z]+ failed: ", re.IGNORECASE)


def _server_text(exc: BaseException) -> str:
    """The server's words from an imapclient error ("b'[AUTHENTICATIONFAILED] ...'" -> "[AUTHENTICATIONFAILED] ...")."""
    text = str(exc).strip()
    text = _COMMAND_PREFIX.sub("", text)
    match = _BYTES_REPR.match(text)
    return (match.group(2) if match else text) or type(exc).__name__


def _text(parts: tuple[object, ...]) -> str:
    return " ".join(part.decode("utf-8", "replace") if isinstance(part, bytes) else str(part) for part in parts)


def _is_new_mail(response: tuple[object, ...]) -> bool:
    if len(response) < 2 or not isinstance(response[0], int):
        return False
    return response[1] == b"EXISTS" or (response[1] == b"RECENT" and response[0] > 0)


def _nothing() -> None:
    return None


def _uid_set(uids: Sequence[int]) -> str:
    return ",".join(map(str, uids))


def _chunks(uids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(uids), UIDS_PER_COMMAND):
        yield uids[start : start + UIDS_PER_COMMAND]


def _groups_by_bytes(uids: list[int], sizes: dict[int, int], budget: int) -> Iterator[list[int]]:
    """Consecutive groups of UIDs whose sizes add up to at most `budget` (a bigger message goes alone)."""
    group: list[int] = []
    total = 0
    for uid in uids:
        if group and total + sizes[uid] > budget:
            yield group
            group, total = [], 0
        group.append(uid)
        total += sizes[uid]
    if group:
        yield group


def _multipart_boundary(header: bytes) -> bytes | None:
    """The boundary of a multipart message's header, else None."""
    parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(header)
    if parsed.get_content_maintype() != "multipart":
        return None
    boundary = parsed.get_boundary()
    return boundary.encode("ascii", "replace") if boundary else None
