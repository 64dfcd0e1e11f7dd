"""Secrets the worker has read never reach its log, whoever echoes them (a server, a token endpoint)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from dsnworker.worker import credentials, logs, redaction
from dsnworker.worker.settings import MailboxSettings, PasswordAuth, ServerSettings, Settings, SinkSettings

SECRET = "whsec_c2VjcmV0LXZhbHVlLWZvci10ZXN0cw=="


@pytest.fixture(autouse=True)
def _nothing_remembered():
    redaction.forget_all()
    yield
    redaction.forget_all()
    logging.getLogger().handlers[:] = []


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_remembered_secret_is_masked_in_messages_tracebacks_and_summaries(capsys, log_format):
    logs.configure(log_format, "INFO")
    redaction.remember(SECRET)
    log = logging.getLogger("dsnworker.test")
    log.error("token endpoint answered: invalid_client: %s", f"bad secret {SECRET}")
    try:
        raise ValueError(f"echoed {SECRET}")
    except ValueError:
        log.exception("failed")
    log.warning("pass", extra={"summary": {"errors": [f"login failed: {SECRET}"]}})
    err = capsys.readouterr().err
    assert SECRET not in err
    assert err.count("***") == (2 if log_format == "text" else 3)  # text lines do not show the summary
    if log_format == "json":
        lines = [json.loads(line) for line in err.splitlines()]
        assert lines[0]["message"] == "token endpoint answered: invalid_client: bad secret ***"
        assert lines[2]["summary"] == {"errors": ["login failed: ***"]}


def test_secrets_the_configuration_names_are_masked_from_the_start(tmp_path: Path, monkeypatch, capsys):
    # a webhook secret and a mailbox password, neither used yet when something echoes them
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    password_file = tmp_path / "pw"
    password_file.write_text("mailbox-password-1\n")
    password_file.chmod(0o600)
    settings = Settings(
        path=tmp_path / "config.toml",
        state=tmp_path / "state.sqlite",
        mailboxes=(
            MailboxSettings(
                name="jp",
                source="imap",
                server=ServerSettings(host="127.0.0.1", port=993),
                auth=PasswordAuth(username="u", password_file=password_file),
            ),
        ),
        sinks=(SinkSettings(name="crm", kind="webhook", url="https://crm.example/", secret_env=("HOOK_SECRET",)),),
    )
    credentials.remember_configured(settings)
    logs.configure("text", "INFO")
    logging.getLogger("dsnworker.test").error("echo: %s and %s", SECRET, "mailbox-password-1")
    assert capsys.readouterr().err.rstrip().endswith("echo: *** and ***")


def test_a_secret_too_short_to_mask_usefully_is_left_alone(capsys):
    logs.configure("text", "INFO")
    redaction.remember("ab")
    logging.getLogger("dsnworker.test").error("about the tables")
    assert "about the tables" in capsys.readouterr().err
