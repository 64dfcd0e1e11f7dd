"""The suppression file: one row per address to stop sending to, CSV or JSON lines, never a duplicate.

``recipient.suppressed`` events add a row, only for a valid address: ``Undisclosed Recipients`` is
refused with a warning whatever event carries it. ``recipient.unsuppressed`` events (an operator's
``suppressions remove``, an expiry) take the address's row out: the file is rewritten under the same
lock (see ``rewrite``), and a later suppression adds a new row. Events are applied in outbox order, and
each sets whether its address is in the file, so replaying any suffix after a crash ends the same.

Columns: ``email, reason, status, provider, rule, first_seen, last_seen, mailbox``;
``first_seen``/``last_seen`` are the event's ``timestamp`` unless its ``data`` carries them (a
soft-bounce streak turned into a suppression says since when).

No duplicate across restarts or processes: each instance keeps the set of addresses in the file. It
reads the whole file once, then, each time it takes the exclusive lock, only what was appended since
(by offset: another process may have appended), and skips addresses already present. The file is
only appended to, but for removals: a row is never updated, so ``last_seen`` is that of the event that
added the row.

CSV: a header row (written when the file is empty), ``csv`` module quoting, CRLF record ends (RFC
4180; a lone CR or LF inside a value is then quoted too). A value may hold a newline, so a record
ends at a newline outside quotes, and that is what torn-tail repair and readers look for.

CSV formula injection: a spreadsheet runs a cell that begins with ``=``, ``+``, ``-`` or ``@`` (and
tab or CR, OWASP's list) as a formula, and the address comes from a bounce anyone can send us. Such a
cell is written with a ``'`` before it, which spreadsheets take as "this is text". To keep that
reversible, a cell that itself begins with ``'`` gets one more. ``iter_suppressions`` removes it,
so the round trip is exact; another program reading the CSV must drop one leading ``'`` the same
way. The JSON lines format is not for spreadsheets and carries values as they are.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from dsnworker.parse.address import address_problem
from dsnworker.sinks.files import LockedFile, SinkError, iter_records, locked
from dsnworker.sinks.rewrite import replace_content

log = logging.getLogger(__name__)

Format = Literal["csv", "jsonl"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl")
COLUMNS = ("email", "reason", "status", "provider", "rule", "first_seen", "last_seen", "mailbox")
SUPPRESSED = "recipient.suppressed"
UNSUPPRESSED = "recipient.unsuppressed"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")  # the last one keeps the escape reversible

Row = dict[str, str | None]


def address_key(address: str) -> str:
    """The dedupe key of an address: the local part as written, ``@``, the domain lowercased.

    A domain is case-insensitive (DNS); a local part belongs to the receiving host, which may treat
    ``Taro`` and ``taro`` as two mailboxes (RFC 5321 section 2.4), so lowercasing it could take a
    second dead mailbox for one already suppressed and never suppress it. The cost of the other
    choice is small: the same mailbox written in two cases gets two rows. The split is at the last
    ``@``: a quoted local part may contain one.
    """
    local, at, domain = address.strip().rpartition("@")
    return f"{local}@{domain.lower()}" if at else address.strip()


def suppression_row(event: Mapping[str, Any]) -> Row | None:
    """The row a ``recipient.suppressed`` event gives; None for any other event or one without a recipient."""
    if event.get("type") != SUPPRESSED:
        return None
    data = event.get("data") or {}
    email = data.get("recipient")
    if not isinstance(email, str) or not email.strip():
        log.warning("suppression event %s has no recipient; skipped", event.get("id"))
        return None
    problem = address_problem(email)
    if problem is not None:  # the core makes such outcomes `review`: a second guard, never a row
        log.warning("suppression event %s: %s is not an address (%s); no row written", event.get("id"), email, problem)
        return None
    timestamp = event.get("timestamp")
    return {
        "email": email,
        "reason": _text(data.get("reason")),
        "status": _text(data.get("status")),
        "provider": _text(data.get("provider")),
        "rule": _text(data.get("rule")),
        "first_seen": _text(data.get("first_seen") or timestamp),
        "last_seen": _text(data.get("last_seen") or timestamp),
        "mailbox": _text(data.get("mailbox")),
    }


class SuppressionFile:
    """Appends one row per newly suppressed address to a CSV or JSON-lines file, never twice."""

    def __init__(self, path: Path, format: Format = "csv") -> None:
        if format not in FORMATS:
            raise ValueError(f"suppression file format must be one of {FORMATS}, not {format!r}")
        self.path = Path(path)
        self.format: Format = format
        self._mutex = threading.Lock()  # one instance shared by threads: the memory below is not thread-safe
        self._forget()

    def _forget(self) -> None:
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file read
        self._offset = 0  # how far it was read: always the end of a complete record
        self._seen: set[str] = set()
        self._decoder = _Decoder(self.format)

    def deliver(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Add a row for each suppressed address not yet in the file, take out those unsuppressed, in
        event order; returns once the file on disk says so."""
        changes = [change for change in map(_change, events) if change is not None]
        if not changes:
            return
        with self._mutex, locked(self.path) as file:
            try:
                self._catch_up(file)
                appends: dict[str, Row] = {}
                removals: set[str] = set()
                for key, row in changes:
                    if row is None:  # un-suppressed: whatever came before in this batch
                        appends.pop(key, None)
                        if key in self._seen:
                            removals.add(key)
                    elif key not in appends and (key not in self._seen or key in removals):
                        appends[key] = row
                if removals:
                    self._rewrite(file, lambda row: address_key(row.get("email") or "") in removals, appends)
                elif appends:
                    self._offset = file.append(self._encode(appends.values(), header=self._offset == 0))
                    self._seen |= appends.keys()
            except BaseException:
                self._forget()  # unsure what is in the file now: read it all again next time
                raise

    def remove(self, match: Callable[[Row], bool]) -> list[Row]:
        """Take every row that ``match``es out of the file (rewritten atomically under the lock); the rows removed."""
        with self._mutex, locked(self.path) as file:
            try:
                self._catch_up(file)
                if not any(match(row) for row in self._rows(file)):
                    return []  # nothing to take out: the file is left as it is
                return self._rewrite(file, match, {})
            except BaseException:
                self._forget()
                raise

    def _rows(self, file: LockedFile) -> Iterator[Row]:
        decoder = _Decoder(self.format)
        for record, _ in file.records(0, csv_quotes=self.format == "csv"):
            row = decoder.row(record, self.path)
            if row is not None:
                yield row

    def _rewrite(self, file: LockedFile, drop: Callable[[Row], bool], appends: Mapping[str, Row]) -> list[Row]:
        """The file without the rows to ``drop``, plus ``appends``: one atomic replacement. Unreadable
        records are kept as they are: a removal never loses what it does not understand."""
        decoder = _Decoder(self.format)
        removed: list[Row] = []
        kept: set[str] = set()

        def records() -> Iterator[bytes]:
            for record, _ in file.records(0, csv_quotes=self.format == "csv"):
                row = decoder.row(record, self.path)
                if row is not None and drop(row):
                    removed.append(row)
                    continue
                if row is not None and row.get("email"):
                    kept.add(address_key(row["email"] or ""))
                yield record
            if appends:
                yield self._encode(appends.values(), header=decoder.columns is None, decoder=decoder)

        self._identity, self._offset = replace_content(file, records())
        self._seen = kept | appends.keys()
        self._decoder = decoder
        return removed

    def _catch_up(self, file: LockedFile) -> None:
        """Read what was appended since the last look (all of it the first time); cut a torn tail."""
        size = file.size()
        if file.identity != self._identity or size < self._offset:  # replaced (rotated) or cut by hand
            self._forget()
            self._identity = file.identity
        if size == self._offset:
            return
        end = self._offset
        for record, record_end in file.records(self._offset, csv_quotes=self.format == "csv"):
            end = record_end
            row = self._decoder.row(record, self.path)
            if row is not None and row.get("email"):
                self._seen.add(address_key(row["email"] or ""))
        if end < size:
            if file.read(size - 1, 1) == b"\n":
                # every write ends a record, so a crash leaves a tail without a newline at its end
                # (or, very rarely, one cut just after a newline inside a quoted value); this looks
                # like an unbalanced quote written by someone else: stop rather than cut it away
                raise SinkError(self.path, f"an unbalanced quote in the record at byte {end}; fix the file by hand")
            log.warning(
                "%s: cutting off an incomplete last record of %d bytes (a crash mid-write)", self.path, size - end
            )
            file.truncate(end)
        self._offset = end

    def _encode(self, rows: Iterable[Row], *, header: bool, decoder: _Decoder | None = None) -> bytes:
        decoder = decoder or self._decoder
        if self.format == "jsonl":
            text = "".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows)
            return text.encode("utf-8", "backslashreplace")  # a lone surrogate: a valid JSON escape
        columns = decoder.columns or COLUMNS
        buffer = io.StringIO()
        writer = csv.writer(buffer)  # lineterminator CRLF: a lone CR or LF in a value gets quoted
        if header:
            writer.writerow(COLUMNS)
            decoder.columns = COLUMNS
        for row in rows:
            writer.writerow([_escape_cell(row.get(column)) for column in columns])
        return buffer.getvalue().encode("utf-8", "backslashreplace")


def _change(event: Mapping[str, Any]) -> tuple[str, Row | None] | None:
    """(address key, the row to add, or None to take the address out) for the events this sink takes."""
    if event.get("type") == UNSUPPRESSED:
        recipient = (event.get("data") or {}).get("recipient")
        return (address_key(recipient), None) if isinstance(recipient, str) and recipient.strip() else None
    row = suppression_row(event)
    return None if row is None else (address_key(row["email"] or ""), row)


def iter_suppressions(path: Path, format: Format = "csv") -> Iterator[Row]:
    """The rows of a suppression file, in file order; an incomplete last record (torn, or being written) is
    skipped. Raises FileNotFoundError when there is no file. Takes no lock: appends never change what a
    reader has already been given, and a long listing must not hold up the writers."""
    if format not in FORMATS:
        raise ValueError(f"suppression file format must be one of {FORMATS}, not {format!r}")
    decoder = _Decoder(format)
    with open(path, "rb") as stream:
        end = 0
        for record, record_end in iter_records(stream, 0, csv_quotes=format == "csv"):
            end = record_end
            row = decoder.row(record, Path(path))
            if row is not None:
                yield row
        size = stream.seek(0, io.SEEK_END)
        stream.seek(max(0, size - 1))
        if size > end and stream.read(1) == b"\n":  # a tail that ends a line but not a record
            log.warning("%s: an unbalanced quote in the record at byte %d; the rest of the file is not read", path, end)


class _Decoder:
    """Turns records back into rows; for CSV, the first record is the header and names the columns."""

    def __init__(self, format: Format) -> None:
        self.format = format
        self.columns: tuple[str, ...] | None = None

    def row(self, record: bytes, path: Path) -> Row | None:
        """The row of one record; None for the header and for an unreadable record (logged)."""
        text = record.decode("utf-8", "replace")
        if self.format == "jsonl":
            try:
                value = json.loads(text)
            except ValueError:
                value = None
            if not isinstance(value, dict):
                log.warning("%s: an unreadable line skipped: %.200r", path, text)
                return None
            return {key: _text(value.get(key)) for key in (*COLUMNS, *(k for k in value if k not in COLUMNS))}
        try:
            cells = next(csv.reader(io.StringIO(text, newline="")), [])
        except csv.Error:
            log.warning("%s: an unreadable CSV record skipped: %.200r", path, text)
            return None
        if self.columns is None:
            cells = [cells[0].removeprefix("\ufeff"), *cells[1:]] if cells else cells  # saved by a spreadsheet
            if "email" not in cells:
                raise SinkError(path, f"the first row is not a header with an 'email' column: {cells!r:.200}")
            self.columns = tuple(cells)
            return None
        values = [_unescape_cell(cell) for cell in cells]
        return {column: (values[i] if i < len(values) else None) for i, column in enumerate(self.columns)}


def _text(value: Any) -> str | None:
    return None if value is None else value if isinstance(value, str) else str(value)


def _escape_cell(value: str | None) -> str:
    if value is None:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _unescape_cell(cell: str) -> str | None:
    if not cell:
        return None
    return cell[1:] if cell.startswith("'") else cell
