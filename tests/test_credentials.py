"""Where the secrets come from: password variable or file, token command, client credentials grant."""

from __future__ import annotations

import sys

import pytest

from dsnworker.worker import credentials
from dsnworker.worker.credentials import CredentialError, access_token, password
from dsnworker.worker.settings import OAuth2Auth, PasswordAuth
from tests.dovecot import TokenEndpoint, free_port

SECRET = "s3cr3t-client-value"


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    credentials.clear_token_cache()
    yield
    credentials.clear_token_cache()


@pytest.fixture
def endpoint():
    server = TokenEndpoint("app-id", SECRET, token="granted-token-1")
    yield server
    server.close()


def grant(url: str, scope: str = "https://outlook.office365.com/.default") -> OAuth2Auth:
    return OAuth2Auth(
        "bounces@example.com", token_url=url, client_id="app-id", client_secret_env="T_SECRET", scope=scope
    )


def command(code: str) -> OAuth2Auth:
    return OAuth2Auth("bounces@example.com", token_command=(sys.executable, "-c", code))


# -- passwords -----------------------------------------------------------------------------------


def test_password_comes_from_the_environment_variable(monkeypatch):
    monkeypatch.setenv("T_PASSWORD", "hunter2\n")
    assert password("bounces", PasswordAuth("u", password_env="T_PASSWORD")) == "hunter2\n"


def test_unset_password_variable_names_the_mailbox_and_the_variable(monkeypatch):
    monkeypatch.delenv("T_PASSWORD", raising=False)
    with pytest.raises(
        CredentialError, match=r"mailbox 'bounces': password: environment variable T_PASSWORD is not set"
    ):
        password("bounces", PasswordAuth("u", password_env="T_PASSWORD"))


def test_empty_password_variable_is_an_error(monkeypatch):
    monkeypatch.setenv("T_PASSWORD", "")
    with pytest.raises(CredentialError, match="T_PASSWORD is empty"):
        password("bounces", PasswordAuth("u", password_env="T_PASSWORD"))


def test_password_file_loses_one_trailing_newline_only(tmp_path):
    file = tmp_path / "pw"
    file.write_text("pass word \n\n")
    file.chmod(0o600)
    assert password("bounces", PasswordAuth("u", password_file=file)) == "pass word \n"


def test_unreadable_password_file_is_named_with_the_reason(tmp_path):
    file = tmp_path / "absent"
    with pytest.raises(CredentialError, match=f"password: file {file} cannot be read: No such file or directory"):
        password("bounces", PasswordAuth("u", password_file=file))


def test_empty_password_file_is_an_error(tmp_path):
    file = tmp_path / "pw"
    file.write_text("\n")
    file.chmod(0o600)
    with pytest.raises(CredentialError, match="is empty"):
        password("bounces", PasswordAuth("u", password_file=file))


@pytest.mark.parametrize("mode", [0o644, 0o606, 0o602], ids=["644", "606", "602"])
def test_a_password_file_every_user_may_read_or_change_is_refused_with_the_fix(tmp_path, mode):
    file = tmp_path / "pw"
    file.write_text("hunter2-file-secret\n")
    file.chmod(mode)
    with pytest.raises(CredentialError) as caught:
        password("bounces", PasswordAuth("u", password_file=file))
    message = str(caught.value)
    assert f"password: file {file} can be read or changed by every user of this machine (mode {mode:04o})" in message
    assert f"chmod 600 {file}" in message and "hunter2" not in message
    assert not caught.value.retryable


def test_a_password_file_of_the_owner_and_the_workers_group_is_read(tmp_path):
    file = tmp_path / "pw"
    file.write_text("hunter2\n")
    file.chmod(0o640)
    assert password("bounces", PasswordAuth("u", password_file=file)) == "hunter2"


def test_a_password_env_not_written_like_a_variable_name_is_not_repeated(monkeypatch):
    # the password itself, pasted where the variable's name belongs (valid as a name, so config took it)
    monkeypatch.delenv("correcthorsebattery", raising=False)
    with pytest.raises(CredentialError) as caught:
        password("bounces", PasswordAuth("u", password_env="correcthorsebattery"))
    message = str(caught.value)
    assert "correcthorsebattery" not in message
    assert "password: the environment variable that password_env names (19 characters, not repeated here" in message
    assert message.endswith("it may be the password itself; password_env names a variable that holds it) is not set")


# -- token command -------------------------------------------------------------------------------


def test_token_command_output_is_stripped():
    assert access_token("bounces", command("print('  tok.en-1  ')")) == "tok.en-1"


def test_failing_token_command_reports_its_status_and_first_stderr_line():
    code = "import sys; print('token expired, run login', file=sys.stderr); print('more', file=sys.stderr); sys.exit(3)"
    with pytest.raises(CredentialError) as caught:
        access_token("bounces", command(code))
    assert str(caught.value).endswith("exited with status 3: token expired, run login")
    assert "more" not in str(caught.value)


def test_token_command_printing_nothing_is_an_error():
    with pytest.raises(CredentialError, match="printed no token"):
        access_token("bounces", command("pass"))


def test_token_command_that_cannot_run_is_an_error():
    auth = OAuth2Auth("u", token_command=("/nonexistent/get-token",))
    with pytest.raises(CredentialError, match="token_command /nonexistent/get-token cannot be run"):
        access_token("bounces", auth)


# -- client credentials grant --------------------------------------------------------------------


def test_grant_posts_the_client_credentials_and_returns_the_token(monkeypatch, endpoint):
    monkeypatch.setenv("T_SECRET", SECRET)
    assert access_token("bounces", grant(endpoint.url)) == "granted-token-1"
    assert endpoint.requests == [
        {
            "grant_type": "client_credentials",
            "client_id": "app-id",
            "client_secret": SECRET,
            "scope": "https://outlook.office365.com/.default",
        }
    ]


def test_granted_token_is_cached_until_shortly_before_it_expires(monkeypatch, endpoint):
    monkeypatch.setenv("T_SECRET", SECRET)
    access_token("bounces", grant(endpoint.url))
    endpoint.token = "granted-token-2"
    assert access_token("other-mailbox", grant(endpoint.url)) == "granted-token-1"  # same url, client, scope
    assert len(endpoint.requests) == 1
    assert access_token("bounces", grant(endpoint.url, scope="other")) == "granted-token-2"
    assert len(endpoint.requests) == 2


def test_token_expiring_within_a_minute_is_not_reused(monkeypatch, endpoint):
    monkeypatch.setenv("T_SECRET", SECRET)
    endpoint.expires_in = 60
    access_token("bounces", grant(endpoint.url))
    access_token("bounces", grant(endpoint.url))
    assert len(endpoint.requests) == 2


def test_forgotten_token_is_requested_again(monkeypatch, endpoint):
    monkeypatch.setenv("T_SECRET", SECRET)
    access_token("bounces", grant(endpoint.url))
    credentials.forget_token(grant(endpoint.url))
    access_token("bounces", grant(endpoint.url))
    assert len(endpoint.requests) == 2


def test_refused_grant_reports_status_and_oauth_error_but_not_the_secret(monkeypatch, endpoint):
    monkeypatch.setenv("T_SECRET", "wrong-" + SECRET)
    with pytest.raises(CredentialError) as caught:
        access_token("bounces", grant(endpoint.url))
    message = str(caught.value)
    assert message == (
        f"mailbox 'bounces': token endpoint {endpoint.url} answered HTTP 401: invalid_client: "
        "AADSTS7000215: Invalid client secret."
    )
    assert SECRET not in message
    assert not caught.value.retryable


def test_a_token_endpoint_echoing_the_client_secret_has_it_masked(monkeypatch, endpoint):
    monkeypatch.setenv("T_SECRET", SECRET)
    endpoint.fail_with = (400, {"error": "invalid_request", "error_description": f"bad client_secret={SECRET}"})
    with pytest.raises(CredentialError) as caught:
        access_token("bounces", grant(endpoint.url))
    assert str(caught.value).endswith("answered HTTP 400: invalid_request: bad client_secret=***")


def test_server_error_from_the_token_endpoint_is_retryable(monkeypatch, endpoint):
    monkeypatch.setenv("T_SECRET", SECRET)
    endpoint.fail_with = (503, {"error": "temporarily_unavailable"})
    with pytest.raises(CredentialError, match="HTTP 503: temporarily_unavailable") as caught:
        access_token("bounces", grant(endpoint.url))
    assert caught.value.retryable


def test_unreachable_token_endpoint_is_retryable(monkeypatch):
    monkeypatch.setenv("T_SECRET", SECRET)
    url = f"http://127.0.0.1:{free_port()}/token"
    with pytest.raises(CredentialError, match=f"token endpoint {url} cannot be reached") as caught:
        access_token("bounces", grant(url))
    assert caught.value.retryable


def test_answer_without_access_token_is_an_error(monkeypatch, endpoint):
    monkeypatch.setenv("T_SECRET", SECRET)
    endpoint.fail_with = (200, {"token_type": "Bearer"})
    with pytest.raises(CredentialError, match="answered without an access_token"):
        access_token("bounces", grant(endpoint.url))


def test_missing_client_secret_names_the_variable(monkeypatch, endpoint):
    monkeypatch.delenv("T_SECRET", raising=False)
    with pytest.raises(CredentialError, match="client secret: environment variable T_SECRET is not set"):
        access_token("bounces", grant(endpoint.url))
    assert endpoint.requests == []
