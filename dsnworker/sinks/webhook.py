"""The webhook client: one signed HTTP POST of one event or a batch, and what came of it.

Requests follow the Standard Webhooks spec: headers `webhook-id`, `webhook-timestamp` (unix seconds)
and `webhook-signature` (`v1,<base64 HMAC-SHA256 of id.timestamp.body>`, one per secret, so a
consumer that knows either the old or the new secret accepts during a rotation), computed with the
`standardwebhooks` package that consumers verify with. One event is sent as itself; several go as
`{"type": "batch", "timestamp": ..., "data": {"events": [...]}}` and consumers dedupe by each
event's own id.

This module never retries and never raises for HTTP or network trouble: `post` answers a
`PostResult` (delivered, retry, gone) and the delivery engine owns the schedule, ordering and dead
letters.

Why urllib3: a thread-safe keep-alive connection pool (hundreds of posts per second over one
connection), separate connect and read timeouts, TLS verified against the system CAs by default,
and no dependencies of its own. httpx would bring httpcore, h11, anyio, certifi and idna for
features (async, HTTP/2) this job does not need; the standard library's urllib opens a new
connection for every request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import socket
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal

import standardwebhooks
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.exceptions import SSLError as Urllib3SSLError

from dsnworker import __version__
from dsnworker.errors import DsnworkerError
from dsnworker.worker.credentials import variable_in_errors
from dsnworker.worker.events import timestamp as iso_timestamp
from dsnworker.worker.settings import SinkSettings

SECRET_PREFIX = "whsec_"
CONNECT_TIMEOUT = 5.0  # seconds, at most: a reachable host answers a TCP handshake well within this
DETAIL_CHARS = 200  # of a response body, in PostResult.detail
DRAIN_LIMIT = 1 << 20  # bytes of a response body read to keep the connection; beyond, it is closed
USER_AGENT = f"dsnworker/{__version__}"

Outcome = Literal["delivered", "retry", "gone"]


class WebhookError(DsnworkerError):
    """A webhook sink cannot be used as configured; names the sink and the problem, never a secret."""

    def __init__(self, sink: str, problem: str) -> None:
        self.sink, self.problem = sink, problem
        super().__init__(f"sink {sink!r}: {problem}")


@dataclass(frozen=True)
class PostResult:
    """What one POST came to. `retry_after` (seconds) is the endpoint's Retry-After on 429/503, if any."""

    outcome: Outcome
    status: int | None  # None: no HTTP answer (timeout, refused, TLS)
    retry_after: float | None
    detail: str  # short, for logs and the dead-letter list


def load_secrets(sink: SinkSettings) -> list[str]:
    """The sink's signing secrets: each `secret_env` variable, then each `secret_file` (stripped), in order.

    Each must be a Standard Webhooks secret, `whsec_` followed by base64. A webhook sink must sign, so
    having none is an error too. Errors name the sink and the variable or file, never the value.
    """
    found: list[tuple[str, str]] = []  # (where, value)
    for name in sink.secret_env:
        value = os.environ.get(name)
        if value is None:
            raise WebhookError(sink.name, f"secret_env: {variable_in_errors(name, 'secret')} is not set")
        found.append((f"secret_env: {variable_in_errors(name, 'secret')}", value))
    for path in sink.secret_file:
        try:
            value = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise WebhookError(sink.name, f"secret_file: file {path} cannot be read: {why}") from None
        found.append((f"secret_file: file {path}", value))
    if not found:
        raise WebhookError(sink.name, "a webhook sink must sign its requests: set secret_env or secret_file")
    secrets = []
    for where, value in found:
        secret = value.strip()
        problem = _secret_problem(secret)
        if problem:
            raise WebhookError(sink.name, f"{where} {problem}")
        secrets.append(secret)
    return secrets


def _secret_problem(secret: str) -> str | None:
    """Why `secret` is not a Standard Webhooks secret, or None. Never quotes the secret."""
    if not secret:
        return "is empty"
    if not secret.startswith(SECRET_PREFIX):
        return f"is not a Standard Webhooks secret: it must start with {SECRET_PREFIX}"
    encoded = secret[len(SECRET_PREFIX) :]
    try:
        # standardwebhooks decodes leniently (it skips stray characters); be strict, then let it check too
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        standardwebhooks.Webhook(secret)
    except (binascii.Error, ValueError):
        return f"is not a Standard Webhooks secret: what follows {SECRET_PREFIX} is not valid base64"
    except standardwebhooks.webhooks.EmptyWebhookSecretError:
        key = b""
    if not key:
        return f"is not a Standard Webhooks secret: nothing follows {SECRET_PREFIX}"
    return None


class WebhookClient:
    """Signed POSTs to one sink's URL over a keep-alive pool; thread-safe. `clock` gives unix seconds."""

    def __init__(self, sink: SinkSettings, secrets: list[str], clock: Callable[[], float] = time.time) -> None:
        if not sink.url:
            raise WebhookError(sink.name, "a webhook sink needs a url")
        if not secrets:
            raise WebhookError(sink.name, "a webhook sink must sign its requests: no secret given")
        self.sink = sink
        self.url = sink.url
        self.clock = clock
        self._signers = [standardwebhooks.Webhook(secret) for secret in secrets]
        self._timeout = urllib3.Timeout(connect=min(CONNECT_TIMEOUT, sink.timeout), read=sink.timeout)
        # retries=False: the engine retries, on its own schedule; TLS is always verified, against the
        # system CAs or the sink's own `ca_file`
        ca_certs = str(sink.ca_file) if sink.ca_file is not None else None
        self._pool = urllib3.PoolManager(
            num_pools=1, maxsize=4, retries=False, timeout=self._timeout, ca_certs=ca_certs
        )

    def post(self, events: Sequence[Mapping[str, Any]]) -> PostResult:
        """POST one event (the body is the event) or several (one batch body); never raises for HTTP or network."""
        if not events:
            raise ValueError("post() needs at least one event")
        now = self.clock()
        if len(events) == 1:
            msg_id, payload = str(events[0]["id"]), events[0]
        else:
            msg_id = batch_id([str(event["id"]) for event in events])
            moment = iso_timestamp(datetime.fromtimestamp(now, UTC))
            payload = {"type": "batch", "timestamp": moment, "data": {"events": list(events)}}
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            **self.sign(msg_id, int(now), body),
        }
        try:
            response = self._pool.request(
                "POST", self.url, body=body.encode("utf-8"), headers=headers, redirect=False, preload_content=False
            )
        except HTTPError as exc:
            return PostResult("retry", None, None, self._network_detail(exc))
        head = _read_head(response)
        return self._result(response.status, response.headers.get("retry-after"), head)

    def sign(self, msg_id: str, timestamp: int, body: str) -> dict[str, str]:
        """The three Standard Webhooks headers; one `v1,` signature per secret, space-separated."""
        # sign() reads the datetime's wall clock as UTC: give it an aware UTC datetime
        moment = datetime.fromtimestamp(timestamp, UTC)
        signatures = " ".join(signer.sign(msg_id, moment, body) for signer in self._signers)
        return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signatures}

    def close(self) -> None:
        """Close the pooled connections."""
        self._pool.clear()

    def __enter__(self) -> WebhookClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _result(self, status: int, retry_after: str | None, head: bytes) -> PostResult:
        text = " ".join(head.decode("utf-8", "replace").split())[:DETAIL_CHARS]
        detail = f"HTTP {status}: {text}" if text else f"HTTP {status}"
        if 200 <= status < 300:
            return PostResult("delivered", status, None, detail)
        if status == 410:
            return PostResult("gone", status, None, detail)
        wait = parse_retry_after(retry_after, self.clock()) if status in (429, 503) and retry_after else None
        return PostResult("retry", status, wait, detail)

    def _network_detail(self, exc: HTTPError) -> str:
        host = urllib3.util.parse_url(self.url).host
        if isinstance(exc, ReadTimeoutError):
            return f"timed out after {self._timeout.read_timeout:g} s waiting for {host}'s answer"
        if isinstance(exc, NameResolutionError):
            return f"host name {host} cannot be resolved"
        if isinstance(exc, NewConnectionError):  # before ConnectTimeoutError: it is a subclass
            cause = _root_cause(exc)
            if isinstance(cause, ConnectionRefusedError):
                return f"connection refused by {host}"
            why = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(cause)
            return f"cannot connect to {host}: {why}"
        if isinstance(exc, ConnectTimeoutError):
            return f"timed out after {self._timeout.connect_timeout:g} s connecting to {host}"
        if isinstance(exc, Urllib3SSLError):
            cause = _root_cause(exc)
            if isinstance(cause, ssl.SSLCertVerificationError):
                return f"TLS: {host}'s certificate is not trusted: {cause.verify_message}"
            return f"TLS with {host} failed: {cause}"
        cause = _root_cause(exc)
        if isinstance(cause, ConnectionResetError | BrokenPipeError):  # http.client's RemoteDisconnected too
            return f"connection to {host} closed before an answer"
        if isinstance(cause, socket.timeout):
            return f"timed out after {self._timeout.read_timeout:g} s waiting for {host}'s answer"
        return f"no answer from {host}: {_short(cause)}"


def batch_id(event_ids: Sequence[str]) -> str:
    """`batch_` + 32 hex of the SHA-256 of the sorted event ids: a retried batch keeps its id."""
    return "batch_" + hashlib.sha256(",".join(sorted(event_ids)).encode()).hexdigest()[:32]


def parse_retry_after(value: str, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None if unreadable."""
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": HTTP dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def _read_head(response: urllib3.BaseHTTPResponse) -> bytes:
    """The first bytes of the body (for the detail); the rest is read and dropped so the connection is reused."""
    head = b""
    try:
        head = response.read(DETAIL_CHARS * 4)
        drained = 0
        while drained <= DRAIN_LIMIT:
            chunk = response.read(64 * 1024)
            if not chunk:
                response.release_conn()
                return head
            drained += len(chunk)
    except (HTTPError, OSError):
        pass
    response.close()  # a huge or broken body: drop this connection rather than read on
    response.release_conn()
    return head


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception that `exc` was raised from (the OSError behind urllib3's wrappers)."""
    seen = {id(exc)}
    while (inner := exc.__cause__ or exc.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        exc = inner
    return exc


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:DETAIL_CHARS]
