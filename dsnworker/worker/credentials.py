"""The secrets a mailbox logs in with: a password, or an OAuth2 access token (a command's or a grant's).

Secrets are read when needed, never stored in the settings and never written into an error message:
an error names the mailbox and where the secret was looked for (environment variable, file, command,
token URL) and why it was not usable.

Access tokens come either from `token_command` (any program that prints one: `oauth2l`, a vault CLI,
a script) or from the OAuth2 client credentials grant, which is how an application gets IMAP access
to Microsoft 365 mailboxes: POST `grant_type=client_credentials` to the token URL, read `access_token`
and `expires_in` from the JSON answer. Granted tokens are cached in-process until 60 s before they
expire, keyed by (token URL, client id, scope), so several mailboxes of one tenant share one token.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from dsnworker.errors import DsnworkerError
from dsnworker.worker import redaction
from dsnworker.worker.config import secret_file_problem
from dsnworker.worker.settings import OAuth2Auth, PasswordAuth, PostgresState, Settings

TOKEN_COMMAND_TIMEOUT = 30.0  # seconds
TOKEN_REQUEST_TIMEOUT = 30.0  # seconds
EXPIRY_MARGIN = 60.0  # a cached token is renewed this many seconds before it expires

_CONVENTIONAL_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")

_CacheKey = tuple[str, str, str]
_token_cache: dict[_CacheKey, tuple[str, float]] = {}  # key -> (token, monotonic expiry)
_token_lock = threading.Lock()


class CredentialError(DsnworkerError):
    """A secret could not be obtained; names the mailbox and where the secret was looked for, never the secret.

    `retryable` is true when trying again later may succeed (token endpoint unreachable or answering 5xx,
    a token command that timed out); false for configuration problems (variable unset, file missing, 4xx).
    """

    def __init__(self, mailbox: str, problem: str, *, retryable: bool = False) -> None:
        self.mailbox, self.problem, self.retryable = mailbox, problem, retryable
        super().__init__(f"mailbox {mailbox!r}: {problem}")


def password(mailbox: str, auth: PasswordAuth) -> str:
    """The password from the environment variable `password_env`, else from the file `password_file`."""
    return _secret(mailbox, "password", auth.password_env, auth.password_file)


def state_password(state: PostgresState) -> str | None:
    """The PostgreSQL state's password (`state_password_env`, else `state_password_file`); None where
    neither is set: libpq then logs in without one (trust, a client certificate, ~/.pgpass)."""
    if not state.password_env and not state.password_file:
        return None
    return _secret("state", "state password", state.password_env, state.password_file)


def access_token(mailbox: str, auth: OAuth2Auth) -> str:
    """An OAuth2 access token: `token_command`'s output, or one from the client credentials grant (cached)."""
    if auth.token_command:
        return redaction.remember(_token_from_command(mailbox, auth.token_command))
    if auth.token_url:
        return redaction.remember(_token_from_grant(mailbox, auth))
    raise CredentialError(mailbox, "OAuth2 needs token_command or token_url; neither is set")


def remember_configured(settings: Settings) -> None:
    """Read every secret the configuration names that can be read now, only so that the logs redact it
    from the start (a webhook endpoint or a server may echo it before the worker uses it itself)."""
    where: list[tuple[str | None, Path | None]] = []
    for mailbox in settings.mailboxes:
        if isinstance(mailbox.auth, PasswordAuth):
            where.append((mailbox.auth.password_env, mailbox.auth.password_file))
        elif isinstance(mailbox.auth, OAuth2Auth):
            where.append((mailbox.auth.client_secret_env, mailbox.auth.client_secret_file))
    if isinstance(settings.state, PostgresState):
        where.append((settings.state.password_env, settings.state.password_file))
    for sink in settings.sinks:
        where += [(name, None) for name in sink.secret_env] + [(None, path) for path in sink.secret_file]
    for env, file in where:
        with contextlib.suppress(CredentialError):  # said by whatever uses it, with its context
            redaction.remember(_secret("", "", env, file).strip())


def forget_token(auth: OAuth2Auth) -> None:
    """Drop the cached granted token of `auth` (the server refused it: the next login asks for a new one)."""
    if auth.token_url:
        with _token_lock:
            _token_cache.pop(_cache_key(auth), None)


def clear_token_cache() -> None:
    """Forget every cached token (for tests)."""
    with _token_lock:
        _token_cache.clear()


def _secret(mailbox: str, what: str, env: str | None, file: Path | None) -> str:
    return redaction.remember(_read_secret(mailbox, what, env, file))


def _read_secret(mailbox: str, what: str, env: str | None, file: Path | None) -> str:
    if env:
        value = os.environ.get(env)
        if value is None:
            raise CredentialError(mailbox, f"{what}: {variable_in_errors(env, what)} is not set")
        if not value:
            raise CredentialError(mailbox, f"{what}: {variable_in_errors(env, what)} is empty")
        return value
    if file:
        problem = secret_file_problem(Path(file))
        if problem:
            raise CredentialError(mailbox, f"{what}: file {problem}")
        try:
            value = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise CredentialError(mailbox, f"{what}: file {file} cannot be read: {why}") from None
        if value.endswith("\r\n"):
            value = value[:-2]
        elif value.endswith("\n"):
            value = value[:-1]
        if not value:
            raise CredentialError(mailbox, f"{what}: file {file} is empty")
        return value
    raise CredentialError(mailbox, f"{what}: neither an environment variable nor a file is configured")


def variable_in_errors(name: str, what: str) -> str:
    """How an error names an environment variable: by name when it is written like one (UPPER_CASE);
    else not at all, for it may be the secret itself, put where its variable's name belongs."""
    if _CONVENTIONAL_NAME.fullmatch(name):
        return f"environment variable {name}"
    key = what.replace(" ", "_") + "_env"
    return (
        f"the environment variable that {key} names ({len(name)} characters, not repeated here: not written in"
        f" UPPER_CASE like a variable's name, it may be the {what} itself; {key} names a variable that holds it)"
    )


def _token_from_command(mailbox: str, argv: tuple[str, ...]) -> str:
    name = argv[0]
    try:
        done = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=TOKEN_COMMAND_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise CredentialError(
            mailbox, f"token_command {name} did not finish within {TOKEN_COMMAND_TIMEOUT:g} s", retryable=True
        ) from None
    except OSError as exc:
        raise CredentialError(mailbox, f"token_command {name} cannot be run: {exc.strerror or exc}") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = f": {lines[0].strip()}" if lines else " (nothing on stderr)"
        raise CredentialError(mailbox, f"token_command {name} exited with status {done.returncode}{detail}")
    token = done.stdout.decode("utf-8", "replace").strip()
    if not token:
        raise CredentialError(mailbox, f"token_command {name} printed no token")
    return token


def _cache_key(auth: OAuth2Auth) -> _CacheKey:
    return (auth.token_url or "", auth.client_id or "", auth.scope or "")


def _token_from_grant(mailbox: str, auth: OAuth2Auth) -> str:
    key = _cache_key(auth)
    with _token_lock:
        cached = _token_cache.get(key)
        if cached and time.monotonic() < cached[1]:
            return cached[0]
    url = auth.token_url or ""
    if not auth.client_id:
        raise CredentialError(mailbox, f"token_url {url} needs a client_id")
    secret = _secret(mailbox, "client secret", auth.client_secret_env, auth.client_secret_file)
    form = {"grant_type": "client_credentials", "client_id": auth.client_id, "client_secret": secret}
    if auth.scope:
        form["scope"] = auth.scope
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(form).encode("ascii"),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        method="POST",
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=TOKEN_REQUEST_TIMEOUT) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        detail = redaction.redact(_oauth_error(exc.read()), [secret])  # some servers echo what they got
        raise CredentialError(
            mailbox,
            f"token endpoint {url} answered HTTP {exc.code}{detail}",
            retryable=exc.code >= 500 or exc.code == 429,
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise CredentialError(mailbox, f"token endpoint {url} cannot be reached: {reason}", retryable=True) from None
    try:
        answer = json.loads(body)
    except ValueError:
        raise CredentialError(mailbox, f"token endpoint {url} answered something that is not JSON") from None
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise CredentialError(mailbox, f"token endpoint {url} answered without an access_token")
    try:
        lifetime = float(answer.get("expires_in", 0))
    except (TypeError, ValueError):
        lifetime = 0.0
    if lifetime > EXPIRY_MARGIN:
        with _token_lock:
            _token_cache[key] = (token, started + lifetime - EXPIRY_MARGIN)
    return token


def _oauth_error(body: bytes) -> str:
    """': error: description' from an OAuth2 error answer (RFC 6749 5.2), '' when it has neither."""
    try:
        answer = json.loads(body)
    except ValueError:
        return ""
    if not isinstance(answer, dict):
        return ""
    parts = [" ".join(str(answer.get(key) or "").split()) for key in ("error", "error_description")]
    parts = [part[:300] for part in parts if part]
    return ": " + ": ".join(parts) if parts else ""
