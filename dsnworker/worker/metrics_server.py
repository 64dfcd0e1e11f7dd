"""The HTTP endpoints of `run` when [metrics] is set: /metrics (Prometheus), /healthz and /readyz.

- `/metrics`: prometheus_client's own WSGI app (text format; OpenMetrics when asked; gzip).
- `/healthz`: 200 while the scheduler runs its jobs (a heartbeat job ticks), else 503.
- `/readyz`: 200 when every mailbox's last pass went well and ended within three intervals, else 503
  and, one line each, the mailboxes that are not and why.

A thread per request (a slow scraper holds up nobody), in daemon threads; plain HTTP on the configured
address, loopback unless `allow_remote` (see `config.py`).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from dsnworker.errors import DsnworkerError
from dsnworker.worker.metrics import Metrics
from dsnworker.worker.settings import Settings

log = logging.getLogger(__name__)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # the base class's name
        log.debug("metrics: " + format, *args)


class MetricsServer:
    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        alive: Callable[[], bool],
        unready: Callable[[], dict[str, str]],
    ) -> None:
        assert settings.metrics is not None
        self.alive, self.unready = alive, unready
        self._metrics_app = make_wsgi_app(metrics.registry)
        where = settings.metrics
        server_class = _Server6 if ":" in where.host else _Server
        try:
            self._server = make_server(
                where.host, where.port, self._app, server_class=server_class, handler_class=_QuietHandler
            )
        except OSError as exc:
            raise DsnworkerError(
                f"{settings.path}: metrics.listen: cannot listen on {where.host}:{where.port}: {exc.strerror or exc}"
            ) from None
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.5,), name="metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            alive = self.alive()
            return _text(start_response, alive, "alive\n" if alive else "the scheduler is not running its jobs\n")
        if path == "/readyz":
            unready = self.unready()
            lines = "".join(f"mailbox {name}: {problem}\n" for name, problem in sorted(unready.items()))
            return _text(start_response, not unready, lines or "ready\n")
        if path == "/metrics":
            return self._metrics_app(environ, start_response)  # type: ignore[no-any-return]
        return _text(start_response, None, "not found: /metrics, /healthz or /readyz\n")


def _text(start_response: StartResponse, ok: bool | None, body: str) -> list[bytes]:
    status = "404 Not Found" if ok is None else "200 OK" if ok else "503 Service Unavailable"
    data = body.encode("utf-8")
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))])
    return [data]
