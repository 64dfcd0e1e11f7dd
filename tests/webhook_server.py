"""A webhook consumer on 127.0.0.1 for tests and benchmarks, careful the way a real one should be.

Every request is verified with `standardwebhooks.Webhook(secret).verify(body, headers)`; a tampered,
unsigned or stale one (timestamp more than 5 minutes off) is answered 401 and recorded in `rejected`.
A batch (`"type": "batch"`) is verified as a whole, then each of its events is taken. Accepted events
are kept in arrival order in `received` (duplicates included) and by id in `unique` (first copy).

It can be told to misbehave: `fail_next(n, status)`, `respond(status, headers)`, `hang(seconds)` (to
make clients time out), `drop()` (close without answering), `gone()` (410 from now on), `stop()` /
`start()` on the same port (connection refused meanwhile), `fail_recipient(address)` (every request
carrying an event of that recipient fails, as a consumer whose handler chokes on one event does),
`chaos(rng, fail=, hang=, reset=)` (each request at random: a 5xx, a hang, a TCP reset), `recover()`.
It counts requests and TCP connections (keep-alive checks), and keeps when each event was first
taken (`arrived_at`).

HTTP/1.1 with keep-alive, one thread per connection, no logging and no per-request sleeps, so a
benchmark can use it too:

    with WebhookServer("whsec_...") as server:
        post to server.url ...
        server.wait_for(lambda s: len(s.unique) == 100)
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import ssl
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import standardwebhooks

ACCEPTED = 200


@dataclass(frozen=True)
class _Plan:
    """How to answer one request instead of accepting it: a status, or a wait before accepting."""

    status: int | None = None  # None: handle normally (after `hang`)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    hang: float = 0.0
    drop: bool = False  # close the connection without an answer
    reset: bool = False  # abort the connection (TCP RST) without an answer


@dataclass(frozen=True)
class Seen:
    """One request as the consumer saw it: its headers, the status it answered, its body if kept."""

    headers: dict[str, str]  # names lower-cased
    status: int  # 0: dropped without an answer
    events: int  # how many events it accepted (0 unless status is 200)
    body: bytes | None  # with keep_bodies=True


@dataclass(frozen=True)
class Rejected:
    headers: dict[str, str]
    reason: str
    body: bytes


class WebhookServer:
    def __init__(
        self,
        secrets: str | Sequence[str],
        host: str = "127.0.0.1",
        port: int = 0,
        keep_bodies: bool = False,
        tls: tuple[str, str] | None = None,  # (certificate, key) files: HTTPS
    ) -> None:
        self.tls = tls
        self._verifiers = [standardwebhooks.Webhook(s) for s in ([secrets] if isinstance(secrets, str) else secrets)]
        self.host = host
        self.port = port
        self.path = "/hooks"
        self.keep_bodies = keep_bodies  # in `seen`; off for benchmarks
        self._lock = threading.Lock()
        self._changed = threading.Condition()  # notified after each request
        self._plans: deque[_Plan] = deque()
        self._gone = False
        self._failing: dict[str, _Plan] = {}  # recipient -> how its requests are answered
        self._chaos: _Chaos | None = None
        self._arrived_at: dict[str, float] = {}  # event id -> time.monotonic() when first taken
        self._received: list[dict[str, Any]] = []
        self._unique: dict[str, dict[str, Any]] = {}
        self._rejected: list[Rejected] = []
        self._seen: list[Seen] = []
        self._requests = 0
        self._connections = 0
        self._open: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}{self.path}"

    def start(self) -> WebhookServer:
        """Listen (again, on the same port after `stop`)."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _Server((self.host, self.port), _Handler)
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self.tls)
            httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        httpd.consumer = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="webhook-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop every open connection: clients get 'connection refused' until `start`."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # ends any hang at once
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    close = stop

    def __enter__(self) -> WebhookServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- misbehaviour ------------------------------------------------------------------------------

    def fail_next(self, n: int, status: int = 500, headers: dict[str, str] | None = None) -> None:
        """Answer the next `n` requests with `status` (and a short body) without taking their events."""
        self.respond(status, headers, body=f"planned failure {status}".encode(), times=n)

    def respond(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"", times: int = 1) -> None:
        """Answer the next `times` requests with `status` and `headers` (e.g. 429 + Retry-After), events not taken."""
        with self._lock:
            self._plans.extend([_Plan(status, dict(headers or {}), body)] * times)

    def hang(self, seconds: float, times: int = 1) -> None:
        """Wait `seconds` before handling the next `times` requests (then accept them, as a slow consumer does)."""
        with self._lock:
            self._plans.extend([_Plan(hang=seconds)] * times)

    def drop(self, times: int = 1) -> None:
        """Read the next `times` requests, then close their connections without answering (events not taken)."""
        with self._lock:
            self._plans.extend([_Plan(drop=True)] * times)

    def fail_recipient(self, recipient: str, status: int = 500, hang: float = 0.0) -> None:
        """From now on (until `recover`), answer `status` to every request that carries an event of
        `recipient`, after waiting `hang` seconds first if given; the other events are taken."""
        with self._lock:
            self._failing[recipient] = _Plan(status, {}, f"cannot handle {recipient}".encode(), hang=hang)

    def chaos(
        self, rng: random.Random, fail: float = 0.0, hang: float = 0.0, hang_seconds: float = 0.0, reset: float = 0.0
    ) -> _Chaos:
        """From now on (until `recover`), misbehave at random: each request is answered 500 or 503
        (chance `fail`), waits `hang_seconds` before it is taken (chance `hang`; make it longer than
        the client's timeout), or has its connection reset (chance `reset`). Its `counts` tell what it did."""
        chaos = _Chaos(rng, fail, hang, hang_seconds, reset)
        with self._lock:
            self._chaos = chaos
        return chaos

    def gone(self) -> None:
        """Answer 410 Gone to every request from now on (until `recover`)."""
        with self._lock:
            self._gone = True

    def recover(self) -> None:
        """Forget planned failures and `gone`: accept every valid request again."""
        with self._lock:
            self._plans.clear()
            self._failing.clear()
            self._chaos = None
            self._gone = False

    # -- what it saw -------------------------------------------------------------------------------

    @property
    def received(self) -> list[dict[str, Any]]:
        """Every accepted event, in arrival order, duplicates included."""
        with self._lock:
            return list(self._received)

    @property
    def unique(self) -> dict[str, dict[str, Any]]:
        """Accepted events by id (the first copy), in order of first arrival."""
        with self._lock:
            return dict(self._unique)

    @property
    def rejected(self) -> list[Rejected]:
        with self._lock:
            return list(self._rejected)

    @property
    def seen(self) -> list[Seen]:
        """Every request answered, in order."""
        with self._lock:
            return list(self._seen)

    @property
    def arrived_at(self) -> dict[str, float]:
        """Event id -> `time.monotonic()` when the consumer first took it."""
        with self._lock:
            return dict(self._arrived_at)

    @property
    def requests(self) -> int:
        with self._lock:
            return self._requests

    @property
    def connections(self) -> int:
        """TCP connections accepted since creation (across restarts)."""
        with self._lock:
            return self._connections

    def wait_for(self, condition: Callable[[WebhookServer], bool], timeout: float = 10.0) -> bool:
        """Wait until `condition(self)` holds (checked again after each request); False on timeout."""
        deadline = time.monotonic() + timeout
        while not condition(self):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with self._changed:
                self._changed.wait(min(left, 0.05))
        return True

    # -- the consumer ------------------------------------------------------------------------------

    def _next_plan(self, body: bytes) -> _Plan | None:
        with self._lock:
            self._requests += 1
            if self._plans:
                return self._plans.popleft()
            if self._gone:
                return _Plan(410, {}, b"endpoint gone")
            if self._chaos is not None and (plan := self._chaos.draw()) is not None:
                return plan
            failing = dict(self._failing)
        if failing:
            for recipient in _recipients(body):
                if recipient in failing:
                    return failing[recipient]
        return None

    def _consume(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes, int]:
        """Verify, then take the events: the answer's status and body, and how many events were taken."""
        reason = None
        payload: Any = None
        for verifier in self._verifiers:
            try:
                payload = verifier.verify(body, headers)
                break
            except standardwebhooks.webhooks.WebhookVerificationError as exc:
                reason = str(exc)
            except (ValueError, UnicodeDecodeError) as exc:  # a signature that is not base64, a body not UTF-8
                reason = f"malformed: {exc}"
        else:
            with self._lock:
                self._rejected.append(Rejected(headers, reason or "no secret", body))
            return 401, b"signature not verified", 0
        if isinstance(payload, dict) and payload.get("type") == "batch":
            events = (payload.get("data") or {}).get("events")
        else:
            events = [payload]
        if not isinstance(events, list) or not all(
            isinstance(e, dict) and isinstance(e.get("id"), str) for e in events
        ):
            return 400, b"not an event or a batch of events", 0
        now = time.monotonic()
        with self._lock:
            self._received.extend(events)
            for event in events:
                self._unique.setdefault(event["id"], event)
                self._arrived_at.setdefault(event["id"], now)
        return ACCEPTED, b"", len(events)

    def _record(self, headers: dict[str, str], status: int, events: int, body: bytes) -> None:
        with self._lock:
            self._seen.append(Seen(headers, status, events, body if self.keep_bodies else None))
        with self._changed:
            self._changed.notify_all()


@dataclass
class _Chaos:
    """Random misbehaviour: the chance of each kind per request."""

    rng: random.Random
    fail: float
    hang: float
    hang_seconds: float
    reset: float
    counts: Counter[str] = field(default_factory=Counter)  # "5xx", "hang", "reset": how often each was done

    def draw(self) -> _Plan | None:
        roll = self.rng.random()
        if roll < self.fail:
            self.counts["5xx"] += 1
            status = self.rng.choice((500, 503))
            return _Plan(status, {}, f"chaos {status}".encode())
        if roll < self.fail + self.hang:
            self.counts["hang"] += 1
            return _Plan(hang=self.hang_seconds)
        if roll < self.fail + self.hang + self.reset:
            self.counts["reset"] += 1
            return _Plan(reset=True)
        return None


def _recipients(body: bytes) -> list[str]:
    """The recipients of the events a request body carries (one event or a batch); none if unreadable."""
    try:
        payload = json.loads(body)
    except ValueError:
        return []
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        return []
    events = data.get("events") if payload.get("type") == "batch" else [payload]
    if not isinstance(events, list):
        return []
    return [
        e["data"]["recipient"]
        for e in events
        if isinstance(e, dict) and isinstance(e.get("data"), dict) and isinstance(e["data"].get("recipient"), str)
    ]


def _is_event(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("id"), str) and isinstance(value.get("type"), str)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    consumer: WebhookServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up (after a timeout) is normal here; stay quiet


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server: _Server

    def setup(self) -> None:
        super().setup()
        consumer = self.server.consumer
        with consumer._lock:
            consumer._connections += 1
            consumer._open.add(self.connection)

    def finish(self) -> None:
        consumer = self.server.consumer
        with consumer._lock:
            consumer._open.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        consumer = self.server.consumer
        length = self.headers.get("content-length")
        if length is None or not length.isdigit():
            self._answer(411, b"content-length required")
            return
        body = self.rfile.read(int(length))
        headers = {name.lower(): value for name, value in self.headers.items()}
        plan = consumer._next_plan(body)
        if plan and plan.hang and consumer._stopping.wait(plan.hang):
            self.close_connection = True  # stopped while hanging: drop the request
            return
        if plan and (plan.drop or plan.reset):
            consumer._record(headers, 0, 0, body)
            self.close_connection = True
            if plan.reset:  # linger 0: close() sends RST, the client reads "connection reset by peer"
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            return
        if plan and plan.status is not None:
            status, answer, extra, events = plan.status, plan.body, plan.headers, 0
        else:
            (status, answer, events), extra = consumer._consume(headers, body), {}
        consumer._record(headers, status, events, body)
        self._answer(status, answer, extra)

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
