"""The worker's TOML configuration: what loads, the defaults, and errors that name file, key and expectation."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from dsnworker.worker.config import ALLOWED_KEYS, ConfigError, load_settings, parse_duration, parse_size
from dsnworker.worker.settings import Disposition, OAuth2Auth, PasswordAuth

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config.example.toml"

SERVER = 'host = "imap.example.jp"'
AUTH = 'username = "bounces@example.jp"\npassword_env = "BOUNCES_PASSWORD"'
OAUTH = 'username = "u"\nmechanism = "XOAUTH2"\n'


def config_text(*, top: str = "", mailbox: str = "", server: str = SERVER, auth: str = AUTH, tail: str = "") -> str:
    """One IMAP mailbox named jp-bounces; each argument adds lines to its table."""
    return (
        f"{top}\n"
        f'[[mailbox]]\nname = "jp-bounces"\n{mailbox}\n'
        f"[mailbox.server]\n{server}\n"
        f"[mailbox.auth]\n{auth}\n"
        f"{tail}\n"
    )


def write(folder: Path, text: str, name: str = "config.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return caught.value


SINKS = '[[sink]]\nname = "suppressions"\ntype = "suppression_file"\npath = "s.csv"\n'

# (config text, the key the message names, a fragment of what is expected)
BAD = [
    pytest.param(
        config_text(server=SERVER + '\nport = "abc"'),
        'mailbox "jp-bounces" server.port',
        'expected an integer 1-65535, got "abc"',
        id="port-text",
    ),
    pytest.param(
        config_text(top="jobs = 0"),
        "jobs",
        'expected an integer 1-256 or "auto" (the cores available), got 0',
        id="jobs-0",
    ),
    pytest.param(config_text(top='jobs = "all"'), "jobs", 'or "auto" (the cores available), got "all"', id="jobs-text"),
    pytest.param(config_text(top="jobs = true"), "jobs", "got true", id="jobs-bool"),
    pytest.param(
        config_text(server=SERVER + "\nport = 0"), "server.port", "expected an integer 1-65535, got 0", id="port-zero"
    ),
    pytest.param(config_text(server=SERVER + "\nport = true"), "server.port", "got true", id="port-bool"),
    pytest.param(
        config_text(server=SERVER + "\nprot = 993"),
        "server.prot",
        'unknown key (did you mean "port"?)',
        id="server-typo",
    ),
    pytest.param(config_text(top='stat = "x.sqlite"'), "stat", 'did you mean "state"?', id="top-typo"),
    pytest.param(
        config_text(mailbox='intervall = "5m"'),
        'mailbox "jp-bounces" intervall',
        "allowed here: after, auth,",
        id="mailbox-typo",
    ),
    pytest.param(
        config_text(server=SERVER + '\ntls = "ssl"'),
        "server.tls",
        'expected "implicit" or "starttls" or "none", got "ssl"',
        id="tls-unknown",
    ),
    pytest.param(
        config_text(server=SERVER + '\ntls = "none"'),
        "server.tls",
        "set allow_insecure = true",
        id="tls-none-not-allowed",
    ),
    pytest.param(
        config_text(server=SERVER + "\nallow_insecure = true"),
        "server.allow_insecure",
        "verification is never turned off",
        id="insecure-with-tls",
    ),
    pytest.param(
        config_text(server=SERVER + '\nca_file = "nope.pem"'),
        "server.ca_file",
        "expected an existing file of CA certificates",
        id="ca-file-missing",
    ),
    pytest.param(
        config_text(server='host = "imaps://imap.example.jp"'), "server.host", "no scheme, port or path", id="host-url"
    ),
    pytest.param(config_text(server="port = 993"), "server.host", "is required", id="host-missing"),
    pytest.param(
        config_text(mailbox='server = "imap.example.jp"').replace("[mailbox.server]\n" + SERVER, ""),
        "server",
        "expected a table",
        id="server-not-table",
    ),
    pytest.param(
        config_text(auth=AUTH + '\npassword_file = "pw"'),
        "auth.password_file",
        "set only one of password_env and password_file",
        id="password-both",
    ),
    pytest.param(
        config_text(auth='username = "u"'),
        'mailbox "jp-bounces" auth',
        "expected password_env or password_file",
        id="password-neither",
    ),
    pytest.param(config_text(auth='password_env = "PW"'), "auth.username", "is required", id="username-missing"),
    pytest.param(
        config_text(auth='username = "u"\nmechanism = "PLAIN"'),
        "auth.mechanism",
        'expected "XOAUTH2" or "OAUTHBEARER", got "PLAIN"',
        id="mechanism-unknown",
    ),
    pytest.param(
        config_text(auth=AUTH + '\nmechanism = "XOAUTH2"\ntoken_command = "t"'),
        "auth.password_env",
        "has no use with mechanism = XOAUTH2",
        id="mechanism-with-password",
    ),
    pytest.param(
        config_text(auth=OAUTH),
        "auth",
        "expected token_command or token_url",
        id="oauth-no-token",
    ),
    pytest.param(
        config_text(auth=OAUTH + 'token_command = "t"\ntoken_url = "https://x/t"'),
        "auth.token_url",
        "set only one",
        id="oauth-both-tokens",
    ),
    pytest.param(
        config_text(auth=OAUTH + 'token_url = "http://login.example/t"\nclient_id = "c"\nclient_secret_env = "S"'),
        "auth.token_url",
        "expected an https:// URL",
        id="token-url-http",
    ),
    pytest.param(
        config_text(auth=OAUTH + 'token_url = "https://login.example/t"\nclient_secret_env = "S"'),
        "auth.client_id",
        "is required",
        id="token-url-no-client-id",
    ),
    pytest.param(
        config_text(auth=OAUTH + 'token_url = "https://login.example/t"\nclient_id = "c"'),
        "auth",
        "expected client_secret_env or client_secret_file",
        id="token-url-no-secret",
    ),
    pytest.param(
        config_text(auth=OAUTH + 'token_command = "t"\nscope = "s"'),
        "auth.scope",
        "only to the client credentials grant",
        id="token-command-with-scope",
    ),
    pytest.param(
        config_text(auth=OAUTH + 'token_command = "get-token \'x"'),
        "auth.token_command",
        "cannot be split into words",
        id="token-command-unbalanced",
    ),
    pytest.param(
        config_text(auth=OAUTH + "token_command = []"),
        "auth.token_command",
        "got an empty one",
        id="token-command-empty",
    ),
    pytest.param(
        config_text(auth=AUTH + '\ntoken_url = "https://x/t"'),
        "auth.token_url",
        'only with mechanism = "XOAUTH2" or "OAUTHBEARER"',
        id="token-url-without-mechanism",
    ),
    pytest.param(
        config_text(mailbox='interval = "5 minutes"'),
        "interval",
        'expected a duration such as "60s"',
        id="interval-words",
    ),
    pytest.param(config_text(mailbox='interval = "0s"'), "interval", "longer than 0", id="interval-zero"),
    pytest.param(
        config_text(mailbox='interval = "5m"\ncron = "*/5 * * * *"'),
        "cron",
        "either interval or cron, not both",
        id="interval-and-cron",
    ),
    pytest.param(
        config_text(mailbox='cron = "* * * *"'), "cron", "expected five crontab fields", id="cron-four-fields"
    ),
    pytest.param(
        config_text(mailbox='cron = "*/70 * * * *"'), "cron", "step value (70) is higher", id="cron-step-too-big"
    ),
    pytest.param(
        config_text(mailbox='cron = "0 9 * * 1-5"'),
        "cron",
        "write the day of week with names",
        id="cron-numeric-weekday",
    ),
    pytest.param(config_text(mailbox='jitter = "soon"'), "jitter", "expected a duration", id="jitter-text"),
    pytest.param(config_text(mailbox='idle = "yes"'), "idle", 'expected true or false, got "yes"', id="idle-text"),
    pytest.param(
        config_text(mailbox='after = "archive"'),
        "after",
        'expected "move:FOLDER", "seen", "delete", "none", "leave", got "archive"',
        id="after-unknown",
    ),
    pytest.param(
        config_text(mailbox='after = "move:"'), "after", 'expected a folder name after "move:"', id="after-move-nowhere"
    ),
    pytest.param(config_text(mailbox='after = "move"'), "after", 'expected "move:FOLDER"', id="after-move-bare"),
    pytest.param(
        config_text(mailbox='after = "move:INBOX"'), "after", "moves into the folder being read", id="after-into-itself"
    ),
    pytest.param(
        config_text(mailbox='not_bounce = "delete"'),
        "not_bounce",
        '"delete" is refused: such a message may be personal mail',
        id="not-bounce-delete",
    ),
    pytest.param(config_text(mailbox='unparsed = "delete"'), "unparsed", '"delete" is refused', id="unparsed-delete"),
    pytest.param(
        config_text(mailbox='sinks = ["nope"]', tail=SINKS),
        "sinks",
        'names no [[sink]]: "nope" (defined: "suppressions")',
        id="sinks-undefined",
    ),
    pytest.param(config_text(mailbox="sinks = []"), "sinks", "leave the key out to feed every sink", id="sinks-empty"),
    pytest.param(config_text(mailbox='sinks = "all"'), "sinks", "expected an array of sink names", id="sinks-string"),
    pytest.param(
        config_text(mailbox='rules = ["no-such-rules"]'),
        "rules",
        "expected existing folders of rule packs",
        id="rules-missing",
    ),
    pytest.param(
        config_text(mailbox="batch_size = 0"), "batch_size", "expected an integer >= 1, got 0", id="batch-size-zero"
    ),
    pytest.param(
        config_text(mailbox='max_message_size = "10XB"'),
        "max_message_size",
        'expected a size such as "10MB"',
        id="size-unit",
    ),
    pytest.param(
        config_text(mailbox="max_message_size = 10"), "max_message_size", "at least 1000 bytes", id="size-tiny"
    ),
    pytest.param(
        config_text(tail="[mailbox.policy]\nsoft_threshold = 0"),
        "policy.soft_threshold",
        "expected an integer >= 1",
        id="threshold-zero",
    ),
    pytest.param(
        config_text(tail='[mailbox.policy]\nsoft_window = "a week"'),
        "policy.soft_window",
        "expected a duration",
        id="window-text",
    ),
    pytest.param(
        config_text(tail="[mailbox.policy]\nsoft_treshold = 3"),
        "policy.soft_treshold",
        'did you mean "soft_threshold"?',
        id="policy-typo",
    ),
    pytest.param(
        config_text(tail='[mailbox.policy.actions]\nmailbox_ful = "suppress"'),
        "policy.actions.mailbox_ful",
        'unknown reason (did you mean "mailbox_full"?)',
        id="action-unknown-reason",
    ),
    pytest.param(
        config_text(tail='[mailbox.policy.actions]\nmailbox_full = "drop"'),
        "policy.actions.mailbox_full",
        'expected "fix_address" or "ignore" or "retry" or "review" or "sender_fix" or "suppress", got "drop"',
        id="action-unknown-action",
    ),
    pytest.param('[[mailbox]]\n[mailbox.server]\nhost = "h"', "mailbox #1 name", "is required", id="name-missing"),
    pytest.param(
        config_text().replace('"jp-bounces"', '"jp bounces/1"'),
        "mailbox #1 name",
        "letters, digits, '.', '_' or '-'",
        id="name-unsafe",
    ),
    pytest.param(
        config_text() + config_text(server='host = "other.example.jp"'),
        "mailbox",
        'two [[mailbox]] tables are named "jp-bounces"',
        id="name-duplicate",
    ),
    pytest.param(
        config_text() + config_text().replace("jp-bounces", "again"),
        'mailbox "again" source',
        'reads the same folder as mailbox "jp-bounces"',
        id="same-folder-twice",
    ),
    pytest.param(
        config_text(mailbox='source = "pop3"'),
        "source",
        'expected "imap", "maildir:PATH" or "mbox:PATH", got "pop3"',
        id="source-unknown",
    ),
    pytest.param(
        '[[mailbox]]\nname = "local"\nsource = "maildir:"',
        'mailbox "local" source',
        "the path after maildir: is missing",
        id="source-no-path",
    ),
    pytest.param(
        config_text(mailbox='source = "maildir:Maildir"'),
        'mailbox "jp-bounces" server',
        'applies only to IMAP mailboxes (source = "imap"), not to maildir',
        id="maildir-with-server",
    ),
    pytest.param(
        '[[mailbox]]\nname = "local"\nsource = "maildir:M"\nidle = true',
        'mailbox "local" idle',
        "applies only to IMAP mailboxes",
        id="maildir-with-idle",
    ),
    pytest.param(
        '[[mailbox]]\nname = "local"\nsource = "maildir:M"\nafter = "move:a/b"',
        'mailbox "local" after',
        'expected a Maildir++ subfolder name (no "/"; nest with ".")',
        id="maildir-move-slash",
    ),
    pytest.param(
        '[[mailbox]]\nname = "local"\nsource = "mbox:bounces.mbox"\nafter = "move:Done"',
        'mailbox "local" after',
        'an mbox file is read-only to dsnworker: expected "none" or "leave"',
        id="mbox-move",
    ),
    pytest.param(
        '[[mailbox]]\nname = "local"\nsource = "mbox:bounces.mbox"\nunparsed = "seen"',
        'mailbox "local" unparsed',
        "read-only",
        id="mbox-seen",
    ),
    pytest.param('state = "s.sqlite"', "mailbox", "expected at least one [[mailbox]] table", id="no-mailbox"),
    pytest.param(
        '[mailbox]\nname = "x"', "mailbox", "expected [[mailbox]] (an array of tables", id="mailbox-single-table"
    ),
    pytest.param(
        config_text(top='[log]\nformat = "xml"'), "log.format", 'expected "text" or "json", got "xml"', id="log-format"
    ),
    pytest.param(
        config_text(top='[log]\nlevel = "verbose"'), "log.level", 'expected "DEBUG" or "INFO"', id="log-level"
    ),
    pytest.param(
        config_text(top="state = 1"), "state", "expected a path (a non-empty string), got 1", id="state-not-string"
    ),
    pytest.param(
        config_text(tail='[[sink]]\nname = "s"\npath = "s.csv"'), 'sink "s" type', "is required", id="sink-type-missing"
    ),
    pytest.param(
        config_text(tail='[[sink]]\nname = "s"\ntype = "slack"'),
        'sink "s" type',
        'expected "suppression_file" or "events_file" or "webhook", got "slack"',
        id="sink-type-unknown",
    ),
    pytest.param(
        config_text(tail='[[sink]]\nname = "s"\ntype = "events_file"'),
        'sink "s" path',
        "is required",
        id="sink-path-missing",
    ),
    pytest.param(
        config_text(tail='[[sink]]\nname = "e"\ntype = "events_file"\npath = "e.jsonl"\nformat = "csv"'),
        'sink "e" format',
        'applies only to type = "suppression_file", not "events_file"',
        id="sink-format-on-events",
    ),
    pytest.param(
        config_text(tail=SINKS + 'format = "xlsx"'),
        'sink "suppressions" format',
        'expected "csv" or "jsonl", got "xlsx"',
        id="sink-format-unknown",
    ),
    pytest.param(
        config_text(tail=SINKS + 'url = "https://x/"'),
        'sink "suppressions" url',
        'applies only to type = "webhook"',
        id="sink-url-on-file",
    ),
    pytest.param(
        config_text(tail=SINKS + SINKS.replace("s.csv", "t.csv")),
        "sink",
        'two [[sink]] tables are named "suppressions"',
        id="sink-duplicate",
    ),
    pytest.param(
        config_text(tail=SINKS + SINKS.replace('"suppressions"', '"copy"')),
        'sink "copy" path',
        'is the same file as sink "suppressions"\'s',
        id="sink-same-file",
    ),
    pytest.param(
        config_text(top='state = "s.csv"', tail=SINKS),
        'sink "suppressions" path',
        "is the same file as state's",
        id="sink-is-state",
    ),
    pytest.param(
        config_text(tail='[[sink]]\nname = "w"\ntype = "webhook"'), 'sink "w" url', "is required", id="webhook-no-url"
    ),
    pytest.param(
        config_text(tail='[[sink]]\nname = "w"\ntype = "webhook"\nurl = "ftp://x/"'),
        'sink "w" url',
        'expected an https:// URL, got "ftp://x/"',
        id="webhook-ftp",
    ),
    pytest.param(
        config_text(tail='[[sink]]\nname = "w"\ntype = "webhook"\nurl = "https://x/"\nsecret_env = [1]'),
        'sink "w" secret_env',
        "a string or an array of strings",
        id="webhook-secret-list",
    ),
]


@pytest.mark.parametrize(("text", "key", "expected"), BAD)
def test_each_error_names_the_file_the_key_and_the_expectation(tmp_path, text, key, expected):
    if key not in ("sink", "jobs") and not key.startswith(("mailbox", 'sink "', "stat", "log.")):
        key = f'mailbox "jp-bounces" {key}'  # the cases' shorthand for keys of the one mailbox
    path = write(tmp_path, text)
    error = load_error(path)
    assert str(error).startswith(f"{path}: {key}: "), str(error)
    assert error.file == str(path) and error.key == key
    assert expected in error.problem, str(error)


def test_error_message_reads_file_mailbox_key_and_what_is_expected(tmp_path):
    path = write(tmp_path, config_text(server=SERVER + '\nport = "abc"'))
    assert str(load_error(path)) == f'{path}: mailbox "jp-bounces" server.port: expected an integer 1-65535, got "abc"'


def test_unknown_key_message_lists_the_keys_allowed_there(tmp_path):
    error = load_error(write(tmp_path, config_text(server=SERVER + "\nverify = false")))
    assert error.problem == "unknown key; allowed here: allow_insecure, ca_file, host, port, timeout, tls"


def test_missing_file_is_a_config_error(tmp_path):
    path = tmp_path / "absent.toml"
    assert str(load_error(path)) == f"{path}: cannot read the configuration: no such file"


def test_a_folder_is_not_a_config_file(tmp_path):
    assert "it is a folder" in str(load_error(tmp_path))


def test_toml_syntax_error_gives_line_and_column(tmp_path):
    path = write(tmp_path, '[[mailbox]]\nname = "x"\ninterval = 60s\n')
    error = load_error(path)
    assert str(error).startswith(f"{path}: invalid TOML: ")
    assert "(at line 3, column 14)" in str(error)


def test_non_utf8_file_is_a_config_error(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b'name = "\xff"\n')
    assert "expected UTF-8 text" in str(load_error(path))


# --- secrets ---


@pytest.mark.parametrize(
    ("table", "line", "key", "advice"),
    [
        ("auth", 'password = "hunter2-SECRET"', "auth.password", "password_env"),
        ("auth", 'client_secret = "hunter2-SECRET"', "auth.client_secret", "client_secret_env"),
        ("auth", 'token = "hunter2-SECRET"', "auth.token", "token_command"),
        ("mailbox", 'password = "hunter2-SECRET"', "password", "password_env"),
        ("sink", 'secret = "hunter2-SECRET"', 'sink "w" secret', "secret_env"),
    ],
)
def test_inline_secret_is_refused_without_echoing_it(tmp_path, table, line, key, advice):
    if table == "auth":
        text = config_text(auth=AUTH + "\n" + line)
    elif table == "mailbox":
        text = config_text(mailbox=line)
    else:
        text = config_text(tail=f'[[sink]]\nname = "w"\ntype = "webhook"\nurl = "https://x/"\n{line}')
    error = load_error(write(tmp_path, text))
    assert error.key.endswith(key)
    assert "a secret is never written in the configuration" in error.problem and advice in error.problem
    assert "hunter2" not in str(error) and "hunter2" not in repr(error.args)
    assert error.__cause__ is None and error.__context__ is None  # nothing chained that could hold the value


def test_a_secret_put_where_an_env_name_belongs_is_not_echoed(tmp_path):
    error = load_error(write(tmp_path, config_text(auth='username = "u"\npassword_env = "hunter2 s3cret!"')))
    assert error.key.endswith("auth.password_env")
    assert "name of an environment variable" in error.problem
    assert "hunter2" not in str(error)


def test_credentials_in_a_url_are_refused_without_echoing_them(tmp_path):
    tail = '[[sink]]\nname = "w"\ntype = "webhook"\nurl = "https://bot:hunter2@crm.example.jp/h"'
    error = load_error(write(tmp_path, config_text(tail=tail)))
    assert error.key == 'sink "w" url' and "without user:password@" in error.problem
    assert "hunter2" not in str(error)


def test_password_env_names_one_variable(tmp_path):
    error = load_error(write(tmp_path, config_text(auth='username = "u"\npassword_env = ["A", "B"]')))
    assert error.key.endswith("auth.password_env") and "expected the name of an environment variable" in error.problem


def test_loading_reads_no_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("BOUNCES_PASSWORD", raising=False)
    text = config_text(auth='username = "u"\npassword_file = "secrets/absent"')
    settings = load_settings(write(tmp_path, text))
    assert settings.mailboxes[0].auth == PasswordAuth(username="u", password_file=tmp_path / "secrets" / "absent")


# --- defaults ---


def test_defaults(tmp_path):
    path = write(tmp_path, config_text())
    settings = load_settings(path)
    assert settings.path == path
    assert settings.state == tmp_path / "dsnworker.sqlite"
    assert (settings.log_format, settings.log_level, settings.sinks) == ("text", "INFO", ())
    [mailbox] = settings.mailboxes
    assert (mailbox.name, mailbox.source, mailbox.path, mailbox.folder) == ("jp-bounces", "imap", None, "INBOX")
    assert mailbox.server is not None
    assert (mailbox.server.host, mailbox.server.port, mailbox.server.tls) == ("imap.example.jp", 993, "implicit")
    assert (mailbox.server.ca_file, mailbox.server.timeout) == (None, 30.0)
    assert mailbox.auth == PasswordAuth(username="bounces@example.jp", password_env="BOUNCES_PASSWORD")
    assert (mailbox.schedule.interval, mailbox.schedule.cron, mailbox.schedule.jitter) == (60.0, None, 0.0)
    assert mailbox.idle is False
    assert mailbox.after == Disposition("move", "Processed")
    assert mailbox.not_bounce == Disposition("leave")
    assert mailbox.unparsed == Disposition("move", "Unparsed")
    assert (mailbox.sinks, mailbox.rules, mailbox.batch_size, mailbox.max_message_bytes) == ((), (), 500, 10_000_000)
    assert (mailbox.policy.soft_threshold, mailbox.policy.soft_window_days, mailbox.policy.actions) == (5, 7.0, {})


@pytest.mark.parametrize(
    ("server", "port"),
    [('tls = "implicit"', 993), ('tls = "starttls"', 143), ('tls = "none"\nallow_insecure = true', 143)],
)
def test_default_port_follows_tls(tmp_path, server, port):
    settings = load_settings(write(tmp_path, config_text(server=SERVER + "\n" + server)))
    assert settings.mailboxes[0].server.port == port


def test_mbox_defaults_leave_the_read_only_file_alone(tmp_path):
    settings = load_settings(write(tmp_path, '[[mailbox]]\nname = "local"\nsource = "mbox:bounces.mbox"'))
    [mailbox] = settings.mailboxes
    assert (mailbox.source, mailbox.path, mailbox.server, mailbox.auth) == (
        "mbox",
        tmp_path / "bounces.mbox",
        None,
        None,
    )
    assert (mailbox.after, mailbox.not_bounce, mailbox.unparsed) == (
        Disposition("none"),
        Disposition("leave"),
        Disposition("leave"),
    )


def test_maildir_accepts_maildir_plus_plus_moves_and_seen(tmp_path):
    text = (
        '[[mailbox]]\nname = "local"\nsource = "maildir:Maildir"\nafter = "move:Archive.Bounces"\nnot_bounce = "seen"'
    )
    [mailbox] = load_settings(write(tmp_path, text)).mailboxes
    assert (mailbox.source, mailbox.path) == ("maildir", tmp_path / "Maildir")
    assert (mailbox.after, mailbox.not_bounce) == (Disposition("move", "Archive.Bounces"), Disposition("seen"))


def test_dispositions_as_written(tmp_path):
    text = config_text(mailbox='after = "delete"\nnot_bounce = "move:NotBounce"\nunparsed = "none"')
    [mailbox] = load_settings(write(tmp_path, text)).mailboxes
    assert [str(d) for d in (mailbox.after, mailbox.not_bounce, mailbox.unparsed)] == [
        "delete",
        "move:NotBounce",
        "none",
    ]


# --- paths ---


def test_relative_paths_resolve_against_the_config_folder(tmp_path, monkeypatch):
    folder = tmp_path / "etc"
    (folder / "rules.d" / "shop").mkdir(parents=True)
    (folder / "ca.pem").write_text("")
    monkeypatch.chdir(tmp_path)  # not the config's folder
    text = config_text(
        top='state = "var/state.sqlite"',
        mailbox='rules = ["rules.d/shop"]\nsinks = ["suppressions"]',
        server=SERVER + '\nca_file = "ca.pem"',
        auth='username = "u"\npassword_file = "pw"',
        tail=SINKS,
    )
    settings = load_settings(write(folder, text))
    [mailbox] = settings.mailboxes
    assert settings.state == folder / "var" / "state.sqlite"
    assert settings.sinks[0].path == folder / "s.csv"
    assert mailbox.rules == (folder / "rules.d" / "shop",)
    assert mailbox.server.ca_file == folder / "ca.pem"
    assert mailbox.auth.password_file == folder / "pw"


def test_config_given_as_a_relative_path(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    write(tmp_path / "conf", config_text())
    monkeypatch.chdir(tmp_path)
    settings = load_settings(Path("conf/config.toml"))
    assert settings.path == Path("conf/config.toml")
    assert settings.state == tmp_path / "conf" / "dsnworker.sqlite"


def test_absolute_paths_stay(tmp_path):
    settings = load_settings(write(tmp_path, config_text(top='state = "/var/lib/dsnworker/state.sqlite"')))
    assert settings.state == Path("/var/lib/dsnworker/state.sqlite")


# --- auth ---


def test_token_command_string_is_split_like_a_shell(tmp_path):
    auth = 'username = "u"\nmechanism = "oauthbearer"\ntoken_command = "get-token --account \'jp bounces\'"'
    [mailbox] = load_settings(write(tmp_path, config_text(auth=auth))).mailboxes
    assert mailbox.auth == OAuth2Auth(
        username="u", mechanism="OAUTHBEARER", token_command=("get-token", "--account", "jp bounces")
    )


def test_token_command_array_is_taken_as_argv(tmp_path):
    auth = 'username = "u"\nmechanism = "XOAUTH2"\ntoken_command = ["get token", "-q"]'
    [mailbox] = load_settings(write(tmp_path, config_text(auth=auth))).mailboxes
    assert mailbox.auth.token_command == ("get token", "-q")


def test_client_credentials_grant(tmp_path):
    auth = (
        'username = "bounces@example.com"\nmechanism = "XOAUTH2"\n'
        'token_url = "https://login.microsoftonline.com/t/oauth2/v2.0/token"\nclient_id = "app"\n'
        'client_secret_file = "secret"\nscope = "https://outlook.office365.com/.default"'
    )
    [mailbox] = load_settings(write(tmp_path, config_text(auth=auth))).mailboxes
    assert mailbox.auth == OAuth2Auth(
        username="bounces@example.com",
        mechanism="XOAUTH2",
        token_url="https://login.microsoftonline.com/t/oauth2/v2.0/token",
        client_id="app",
        client_secret_file=tmp_path / "secret",
        scope="https://outlook.office365.com/.default",
    )


def test_token_url_may_be_plain_http_to_this_machine(tmp_path):
    auth = 'username = "u"\nmechanism = "XOAUTH2"\ntoken_url = "http://127.0.0.1:8080/t"\nclient_id = "c"\n'
    auth += 'client_secret_env = "S"'
    [mailbox] = load_settings(write(tmp_path, config_text(auth=auth))).mailboxes
    assert (mailbox.auth.token_url, mailbox.auth.client_secret_env, mailbox.auth.scope) == (
        "http://127.0.0.1:8080/t",
        "S",
        None,
    )


# --- schedule ---


@pytest.mark.parametrize(
    ("line", "seconds"),
    [('interval = "90s"', 90.0), ('interval = "5m"', 300.0), ('interval = "1h30m"', 5400.0), ("interval = 45", 45.0)],
)
def test_interval(tmp_path, line, seconds):
    [mailbox] = load_settings(write(tmp_path, config_text(mailbox=line + '\njitter = "5s"'))).mailboxes
    assert (mailbox.schedule.interval, mailbox.schedule.cron, mailbox.schedule.jitter) == (seconds, None, 5.0)


def test_cron_replaces_the_interval(tmp_path):
    [mailbox] = load_settings(write(tmp_path, config_text(mailbox='cron = "*/5 8-18 * * mon-fri"'))).mailboxes
    assert (mailbox.schedule.interval, mailbox.schedule.cron) == (None, "*/5 8-18 * * mon-fri")


# --- policy and sinks ---


def test_policy_overrides(tmp_path):
    tail = '[mailbox.policy]\nsoft_threshold = 3\nsoft_window = "36h"\n'
    tail += '[mailbox.policy.actions]\nmailbox_full = "suppress"\nfiltered = "review"'
    [mailbox] = load_settings(write(tmp_path, config_text(tail=tail))).mailboxes
    assert mailbox.policy.soft_threshold == 3
    assert mailbox.policy.soft_window_days == 1.5
    assert mailbox.policy.actions == {"mailbox_full": "suppress", "filtered": "review"}


def test_sinks_of_every_type(tmp_path):
    tail = (
        SINKS
        + '[[sink]]\nname = "events"\ntype = "events_file"\npath = "events.jsonl"\n'
        + '[[sink]]\nname = "crm"\ntype = "webhook"\nurl = "https://crm.example.jp/h"\n'
        + 'secret_env = ["NEW", "OLD"]\nsecret_file = "keys/crm"\n'
    )
    settings = load_settings(write(tmp_path, config_text(mailbox='sinks = ["events", "crm"]', tail=tail)))
    suppressions, events, crm = settings.sinks
    assert (suppressions.kind, suppressions.format, suppressions.path) == (
        "suppression_file",
        "csv",
        tmp_path / "s.csv",
    )
    assert (events.kind, events.format, events.path) == ("events_file", "jsonl", tmp_path / "events.jsonl")
    assert (crm.kind, crm.url, crm.path) == ("webhook", "https://crm.example.jp/h", None)
    assert (crm.secret_env, crm.secret_file) == (("NEW", "OLD"), (tmp_path / "keys" / "crm",))
    assert settings.sinks_for(settings.mailboxes[0]) == (events, crm)


# --- durations and sizes ---


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("60s", 60), ("5m", 300), ("2h", 7200), ("7d", 604800), ("1h30m", 5400), ("1.5s", 1.5), (60, 60), ("60", 60)],
)
def test_parse_duration(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "5 minutes", "5w", "-5s", "m5", True, [5], float("inf")])
def test_parse_duration_refuses(value):
    with pytest.raises(ValueError, match=r'expected a duration such as "60s", "5m", "1h30m", "7d"'):
        parse_duration(value)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("10MB", 10_000_000),
        ("512KB", 512_000),
        ("1MiB", 1_048_576),
        ("10 mb", 10_000_000),
        ("2000", 2000),
        (2000, 2000),
    ],
)
def test_parse_size(value, size):
    assert parse_size(value) == size


@pytest.mark.parametrize("value", ["10XB", "MB", "-1", 1.5, True, ""])
def test_parse_size_refuses(value):
    with pytest.raises(ValueError, match=r'expected a size such as "10MB"'):
        parse_size(value)


# --- the example ---


def test_the_example_loads_without_its_secrets(monkeypatch):
    for name in ("DSNWORKER_BOUNCES_PASSWORD", "DSNWORKER_M365_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(EXAMPLE)
    assert [mailbox.name for mailbox in settings.mailboxes] == ["bounces"]
    assert [sink.name for sink in settings.sinks] == ["suppressions", "events"]
    assert settings.state == ROOT / "dsnworker.sqlite"


def test_the_example_documents_every_key():
    text = EXAMPLE.read_text(encoding="utf-8")
    written = set(re.findall(r"^#? ?([a-z_]+) = ", text, re.MULTILINE))
    tables = {"mailbox", "sink", "log", "metrics", "cluster", "server", "auth", "policy", "actions"}
    missing = {key for keys in ALLOWED_KEYS.values() for key in keys} - written - tables
    assert not missing, f"keys not shown in config.example.toml: {sorted(missing)}"
    for header in ("[log]", "[[mailbox]]", "[mailbox.server]", "[mailbox.auth]", "[mailbox.policy]", "[[sink]]"):
        assert f"\n{header}\n" in text
    assert "\n[mailbox.policy.actions]\n" in text


# -- operator mistakes refused at start, before a pass can fail half way --------------------------


@pytest.mark.parametrize(
    ("mailbox", "key", "expected"),
    [
        ('interval = "100000000d"', "interval", 'expected at most 30d (for rarer passes, use cron), got "100000000d"'),
        ('jitter = "100000000d"', "jitter", 'expected at most 1d, got "100000000d"'),
        ('interval = "5m"\njitter = "10m"', "jitter", 'expected less than the interval (5m), got "10m"'),
        ('cron = "0 3 * * *"\njitter = "2d"', "jitter", 'expected at most 1d, got "2d"'),
        ('max_message_size = "100000000000GB"', "max_message_size", "expected a size of at most 1,000,000,000 bytes"),
        ('policy = { soft_window = "100000d" }', "policy.soft_window", "expected at most 365d"),
    ],
    ids=["interval", "jitter", "jitter-over-interval", "cron-jitter", "max-message-size", "window"],
)
def test_values_too_big_to_schedule_or_read_are_refused(tmp_path, mailbox, key, expected):
    error = load_error(write(tmp_path, config_text(mailbox=mailbox)))
    assert error.key == f'mailbox "jp-bounces" {key}' and expected in error.problem


def test_a_server_timeout_of_years_is_refused(tmp_path):
    error = load_error(write(tmp_path, config_text(server=SERVER + '\ntimeout = "3650d"')))
    assert error.key.endswith("server.timeout") and 'expected at most 1h, got "3650d"' in error.problem


@pytest.mark.parametrize(
    ("server", "fix"),
    [
        ('port = 993\ntls = "starttls"', 'is "starttls" but port 993 is IMAP over implicit TLS'),
        ('port = 143\ntls = "implicit"', 'is "implicit" but port 143 is plain IMAP, where TLS starts with STARTTLS'),
    ],
    ids=["starttls-on-993", "implicit-on-143"],
)
def test_a_tls_mode_that_does_not_match_a_well_known_port_is_refused(tmp_path, server, fix):
    error = load_error(write(tmp_path, config_text(server=SERVER + "\n" + server)))
    assert error.key == 'mailbox "jp-bounces" server.tls' and fix in error.problem
    assert 'set tls = "' in error.problem


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda path: __import__("os").mkfifo(path), "a FIFO (named pipe)"),
        (lambda path: path.mkdir(), "a folder"),
    ],
    ids=["fifo", "folder"],
)
def test_an_mbox_source_that_is_no_regular_file_is_refused(tmp_path, make, kind):
    make(tmp_path / "bounces.mbox")
    error = load_error(write(tmp_path, 'state = "s.sqlite"\n[[mailbox]]\nname = "m"\nsource = "mbox:bounces.mbox"\n'))
    assert error.key == 'mailbox "m" source'
    assert (
        error.problem
        == f"expected an mbox file, {tmp_path / 'bounces.mbox'} is {kind} (reading it could block or never end)"
    )


def test_a_device_as_mbox_source_is_refused(tmp_path):
    error = load_error(write(tmp_path, 'state = "s.sqlite"\n[[mailbox]]\nname = "m"\nsource = "mbox:/dev/zero"\n'))
    assert error.problem.startswith("expected an mbox file, /dev/zero is a character device")


def test_a_maildir_source_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "Maildir").write_text("")
    error = load_error(write(tmp_path, 'state = "s.sqlite"\n[[mailbox]]\nname = "m"\nsource = "maildir:Maildir"\n'))
    assert error.problem == f"expected a maildir folder, {tmp_path / 'Maildir'} is a regular file"


@pytest.mark.parametrize("key", ["password_file", "client_secret_file"])
def test_a_secret_file_every_user_may_read_is_refused_naming_the_key_and_the_fix(tmp_path, key):
    secret = tmp_path / "secret"
    secret.write_text("s3cret-value\n")
    secret.chmod(0o644)
    auth = 'username = "u"\npassword_file = "secret"'
    if key == "client_secret_file":
        auth = OAUTH + 'token_url = "https://login.example/token"\nclient_id = "app"\nclient_secret_file = "secret"'
    error = load_error(write(tmp_path, config_text(auth=auth)))
    assert error.key == f'mailbox "jp-bounces" auth.{key}'
    assert error.problem == (
        f"{secret} can be read or changed by every user of this machine (mode 0644): "
        f"restrict it, e.g. chmod 600 {secret} (or 640 with the worker's group)"
    )
    assert "s3cret" not in str(error)
    secret.chmod(0o640)
    load_settings(tmp_path / "config.toml")


def test_a_world_readable_webhook_secret_file_is_refused(tmp_path):
    secret = tmp_path / "hook"
    secret.write_text("whsec_x\n")
    secret.chmod(0o604)
    text = config_text(
        tail='[[sink]]\nname = "crm"\ntype = "webhook"\nurl = "https://crm.example/"\nsecret_file = "hook"'
    )
    error = load_error(write(tmp_path, text))
    assert error.key == 'sink "crm" secret_file' and "(mode 0604)" in error.problem


def test_a_sink_path_that_is_a_folder_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    text = config_text(tail='[[sink]]\nname = "events"\ntype = "events_file"\npath = "out"')
    error = load_error(write(tmp_path, text))
    assert (
        error.key == 'sink "events" path'
        and error.problem == f"expected a file, {tmp_path / 'out'} is a folder: name a file in it"
    )


def test_the_systemd_example_writes_only_where_its_unit_lets_the_worker_write():
    unit = (ROOT / "docs" / "systemd" / "dsnworker.service").read_text()
    writable = [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("ReadWritePaths=")]
    assert "ProtectSystem=strict" in unit and "StateDirectory=dsnworker" in unit and writable == ["/var/lib/dsnworker"]
    settings = load_settings(ROOT / "docs" / "systemd" / "config.toml")
    outputs = [settings.state] + [sink.path for sink in settings.sinks if sink.path is not None]
    assert len(outputs) == 3 and all(path.is_relative_to("/var/lib/dsnworker") for path in outputs)


def test_metrics_are_off_unless_configured_and_on_loopback_by_default(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, config_text())).metrics is None
    on = load_settings(write(tmp_path, config_text(top="[metrics]")))
    assert on.metrics is not None and (on.metrics.host, on.metrics.port) == ("127.0.0.1", 9464)
    port_only = load_settings(write(tmp_path, config_text(top='[metrics]\nlisten = "9100"'))).metrics
    assert port_only is not None and (port_only.host, port_only.port) == ("127.0.0.1", 9100)
    ipv6 = load_settings(write(tmp_path, config_text(top='[metrics]\nlisten = "[::1]:9100"'))).metrics
    assert ipv6 is not None and (ipv6.host, ipv6.port) == ("::1", 9100)


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ('"0.0.0.0:9464"', "0.0.0.0 is not a loopback address"),
        ('"192.0.2.7:9464"', "set allow_remote = true"),
        ('"127.0.0.1:99999"', "a port 1-65535"),
        ('"127.0.0.1:"', "a port 1-65535"),
        ("true", 'expected "HOST:PORT"'),
    ],
)
def test_a_bad_or_remote_metrics_address_names_the_key(tmp_path: Path, listen: str, expected: str) -> None:
    error = load_error(write(tmp_path, config_text(top=f"[metrics]\nlisten = {listen}")))
    assert error.file.endswith("config.toml") and error.key == "metrics.listen" and expected in error.problem


def test_a_remote_metrics_address_is_taken_when_explicitly_allowed(tmp_path: Path) -> None:
    metrics = load_settings(write(tmp_path, config_text(top='[metrics]\nlisten = "0.0.0.0:9464"\nallow_remote = true')))
    assert metrics.metrics is not None and metrics.metrics.host == "0.0.0.0"


def test_jobs_are_one_process_unless_asked_and_auto_is_the_cores_available(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, config_text())).jobs == 1
    assert load_settings(write(tmp_path, config_text(top="jobs = 3"))).jobs == 3
    assert load_settings(write(tmp_path, config_text(top='jobs = "auto"'))).jobs == len(os.sched_getaffinity(0))
