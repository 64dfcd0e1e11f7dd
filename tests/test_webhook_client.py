"""The webhook client against a real consumer on 127.0.0.1 (tests/webhook_server.py) that verifies every signature."""

from __future__ import annotations

import base64
import json
import re
import time
from email.utils import formatdate

import pytest
import urllib3

import dsnworker
from dsnworker.sinks.webhook import WebhookClient, WebhookError, batch_id, load_secrets
from dsnworker.worker.settings import SinkSettings
from tests.webhook_server import WebhookServer

SECRET = "whsec_" + base64.b64encode(b"the current secret, 32 bytes ok").decode()
OLD_SECRET = "whsec_" + base64.b64encode(b"the previous secret, 32 bytes!!").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"somebody else's secret, 32 byte").decode()


def event(n: int = 1, **data: object) -> dict:
    return {
        "id": f"evt_{n:032x}",
        "type": "recipient.suppressed",
        "timestamp": "2026-11-28T02:30:00Z",
        "data": {"recipient": f"user{n}@example.jp", "reason": "user_unknown", **data},
    }


def webhook_sink(url: str = "http://127.0.0.1:9/hooks", **fields: object) -> SinkSettings:
    return SinkSettings(name="crm", kind="webhook", url=url, **fields)


@pytest.fixture
def server():
    with WebhookServer(SECRET, keep_bodies=True) as consumer:
        yield consumer


@pytest.fixture
def client(server):
    with WebhookClient(webhook_sink(server.url, timeout=2.0), [SECRET]) as webhook:
        yield webhook


# -- one event, signed ---------------------------------------------------------------------------


def test_one_event_is_delivered_and_verified_by_the_consumer(server, client):
    sent = event(1, diagnostic="550 5.1.1 ユーザーが存在しません")

    result = client.post([sent])

    assert (result.outcome, result.status, result.retry_after) == ("delivered", 200, None)
    assert server.received == [sent]
    assert server.rejected == []


def test_one_event_is_sent_as_itself_in_compact_utf8_json(server, client):
    sent = event(1, diagnostic="550 ユーザー不明")

    client.post([sent])

    (request,) = server.seen
    assert request.body == json.dumps(sent, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert "ユーザー不明".encode() in request.body
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == sent["id"]


def test_the_timestamp_header_is_now_in_unix_seconds(server):
    now = float(int(time.time()))
    with WebhookClient(webhook_sink(server.url), [SECRET], clock=lambda: now + 0.75) as client:
        client.post([event()])

    assert server.seen[0].headers["webhook-timestamp"] == str(int(now))


def test_the_user_agent_names_dsnworker_and_its_version(server, client):
    client.post([event()])

    assert server.seen[0].headers["user-agent"] == f"dsnworker/{dsnworker.__version__}"


# -- rotation ------------------------------------------------------------------------------------


def test_with_two_secrets_each_signs_and_consumers_knowing_either_one_accept():
    with WebhookServer(OLD_SECRET) as old_consumer, WebhookServer(SECRET) as new_consumer:
        for consumer in (old_consumer, new_consumer):
            with WebhookClient(webhook_sink(consumer.url), [SECRET, OLD_SECRET]) as client:
                assert client.post([event()]).outcome == "delivered"
            signatures = consumer.seen[0].headers["webhook-signature"].split(" ")
            assert len(signatures) == 2
            assert all(re.fullmatch(r"v1,[A-Za-z0-9+/]{43}=", s) for s in signatures)
            assert consumer.received == [event()]


# -- the consumer's check is real ----------------------------------------------------------------


def test_the_consumer_rejects_a_tampered_body(server, client):
    body = json.dumps(event(), separators=(",", ":"))
    headers = client.sign(event()["id"], int(time.time()), body)
    tampered = body.replace("user_unknown", "mailbox_full")

    answer = urllib3.request("POST", server.url, body=tampered.encode(), headers=headers, retries=False)

    assert answer.status == 401
    assert server.received == []
    assert [r.body for r in server.rejected] == [tampered.encode()]
    assert server.rejected[0].reason == "No matching signature found"


def test_the_consumer_rejects_another_secret_and_the_client_retries(server):
    with WebhookClient(webhook_sink(server.url), [OTHER_SECRET]) as client:
        result = client.post([event()])

    assert (result.outcome, result.status) == ("retry", 401)
    assert server.received == []
    assert len(server.rejected) == 1


def test_the_consumer_rejects_a_stale_timestamp(server):
    ten_minutes_ago = time.time() - 600
    with WebhookClient(webhook_sink(server.url), [SECRET], clock=lambda: ten_minutes_ago) as client:
        result = client.post([event()])

    assert (result.outcome, result.status) == ("retry", 401)
    assert server.rejected[0].reason == "Message timestamp too old"


# -- batches -------------------------------------------------------------------------------------


def test_several_events_go_as_one_batch_the_consumer_takes_apart(server):
    now = float(int(time.time()))
    events = [event(1), event(2), event(3)]
    with WebhookClient(webhook_sink(server.url, batch_size=100), [SECRET], clock=lambda: now) as client:
        result = client.post(events)

    assert result.outcome == "delivered"
    body = json.loads(server.seen[0].body)
    moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    assert body == {"type": "batch", "timestamp": moment, "data": {"events": events}}
    assert server.received == events
    assert server.seen[0].events == 3


def test_a_batch_id_is_stable_for_the_same_events_and_differs_for_others(server, client):
    events = [event(1), event(2), event(3)]

    client.post(events)
    client.post(events)
    client.post([event(1), event(2), event(4)])

    ids = [request.headers["webhook-id"] for request in server.seen]
    assert re.fullmatch(r"batch_[0-9a-f]{32}", ids[0])
    assert ids[0] == ids[1] == batch_id([e["id"] for e in events])
    assert ids[2] != ids[0]


def test_a_redelivered_batch_is_deduplicated_by_event_id(server, client):
    client.post([event(1), event(2)])
    client.post([event(1), event(2)])

    assert len(server.received) == 4
    assert list(server.unique) == [event(1)["id"], event(2)["id"]]


# -- what the endpoint answered ------------------------------------------------------------------


def test_500_is_retried_with_the_start_of_the_body_in_the_detail(server, client):
    server.fail_next(1, status=500)

    result = client.post([event()])

    assert (result.outcome, result.status, result.retry_after) == ("retry", 500, None)
    assert result.detail == "HTTP 500: planned failure 500"
    assert server.received == []


def test_a_long_error_body_is_cut_to_200_characters_and_the_connection_kept(server, client):
    server.respond(502, body=b"x" * 100_000)

    result = client.post([event()])
    client.post([event()])

    assert result.detail == "HTTP 502: " + "x" * 200
    assert server.connections == 1


def test_429_with_retry_after_seconds(server, client):
    server.respond(429, {"Retry-After": "120"})

    result = client.post([event()])

    assert (result.outcome, result.status, result.retry_after) == ("retry", 429, 120.0)


def test_429_with_retry_after_as_an_http_date(server):
    now = float(int(time.time()))
    server.respond(429, {"Retry-After": formatdate(now + 30, usegmt=True)})
    with WebhookClient(webhook_sink(server.url), [SECRET], clock=lambda: now) as client:
        result = client.post([event()])

    assert (result.outcome, result.retry_after) == ("retry", 30.0)


def test_503_is_retried_and_its_retry_after_kept(server, client):
    server.respond(503)
    server.respond(503, {"Retry-After": "5"})

    assert (client.post([event()]).outcome, client.post([event()]).retry_after) == ("retry", 5.0)
    assert client.post([event()]).outcome == "delivered"


def test_an_unreadable_retry_after_is_ignored(server, client):
    server.respond(429, {"Retry-After": "soon"})

    assert client.post([event()]).retry_after is None


def test_410_means_the_endpoint_is_gone(server, client):
    server.gone()

    result = client.post([event()])

    assert (result.outcome, result.status) == ("gone", 410)


@pytest.mark.parametrize("status", [400, 404, 413, 301])
def test_any_other_status_is_retried_and_redirects_are_not_followed(server, client, status):
    server.respond(status, {"Location": "http://127.0.0.1:9/elsewhere"})

    result = client.post([event()])

    assert (result.outcome, result.status) == ("retry", status)
    assert server.requests == 1


# -- network trouble: retry, never raise ---------------------------------------------------------


def test_a_timeout_is_retried_with_a_readable_detail(server):
    server.hang(5)
    with WebhookClient(webhook_sink(server.url, timeout=0.3), [SECRET]) as client:
        started = time.monotonic()
        result = client.post([event()])
        elapsed = time.monotonic() - started

    assert (result.outcome, result.status, result.retry_after) == ("retry", None, None)
    assert result.detail.startswith("timed out after 0.3 s")
    assert elapsed < 2


def test_connection_refused_is_retried_and_delivery_resumes_on_restart(server, client):
    assert client.post([event(1)]).outcome == "delivered"
    server.stop()

    refused = client.post([event(2)])
    server.start()
    resumed = client.post([event(2)])

    assert (refused.outcome, refused.status) == ("retry", None)
    assert "connection refused" in refused.detail
    assert resumed.outcome == "delivered"
    assert list(server.unique) == [event(1)["id"], event(2)["id"]]


def test_a_connection_closed_without_an_answer_is_retried(server, client):
    server.drop()

    result = client.post([event()])

    assert (result.outcome, result.status) == ("retry", None)
    assert result.detail == "connection to 127.0.0.1 closed before an answer"
    assert client.post([event()]).outcome == "delivered"


def test_a_tls_failure_is_retried_with_a_readable_detail(server):
    plain_http = server.url.replace("http://", "https://")
    with WebhookClient(webhook_sink(plain_http), [SECRET]) as client:
        result = client.post([event()])

    assert (result.outcome, result.status) == ("retry", None)
    assert result.detail.startswith("TLS")


def test_many_posts_reuse_one_connection(server, client):
    for n in range(50):
        assert client.post([event(n)]).outcome == "delivered"

    assert server.requests == 50
    assert server.connections == 1


# -- secrets -------------------------------------------------------------------------------------


def test_secrets_come_from_the_variables_then_the_files_stripped(monkeypatch, tmp_path):
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    (tmp_path / "old").write_text(OLD_SECRET + "\n")
    sink = webhook_sink(secret_env=("HOOK_SECRET",), secret_file=(tmp_path / "old",))

    assert load_secrets(sink) == [SECRET, OLD_SECRET]


def test_an_unset_variable_is_named_with_the_sink(monkeypatch):
    monkeypatch.delenv("HOOK_SECRET", raising=False)

    with pytest.raises(WebhookError, match=r"^sink 'crm': secret_env: environment variable HOOK_SECRET is not set$"):
        load_secrets(webhook_sink(secret_env=("HOOK_SECRET",)))


def test_a_secret_env_not_written_like_a_variable_name_is_not_repeated(monkeypatch):
    # the operator wrote the secret where its variable's name belongs: the error must not print it
    monkeypatch.delenv("whsec_bXlzZWNyZXRrZXk", raising=False)
    with pytest.raises(WebhookError) as caught:
        load_secrets(webhook_sink(secret_env=("whsec_bXlzZWNyZXRrZXk",)))
    assert "whsec_bXlzZWNyZXRrZXk" not in str(caught.value)
    assert "secret_env names" in str(caught.value) and "is not set" in str(caught.value)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("whsec_not*base64!", "what follows whsec_ is not valid base64"),
        ("whsec_abcde", "what follows whsec_ is not valid base64"),
        (SECRET[len("whsec_") :], "it must start with whsec_"),
        ("whsec_", "nothing follows whsec_"),
        ("", "is empty"),
    ],
)
def test_a_malformed_secret_is_named_but_never_shown(monkeypatch, value, problem):
    monkeypatch.setenv("HOOK_SECRET", value)

    with pytest.raises(WebhookError) as caught:
        load_secrets(webhook_sink(secret_env=("HOOK_SECRET",)))

    message = str(caught.value)
    assert message.startswith("sink 'crm': secret_env: environment variable HOOK_SECRET ")
    assert problem in message
    secret_part = value.removeprefix("whsec_")
    assert not secret_part or secret_part not in message


def test_an_unreadable_file_is_named_with_the_sink(tmp_path):
    missing = tmp_path / "nope"

    with pytest.raises(WebhookError, match=r"^sink 'crm': secret_file: file .*nope cannot be read: No such file"):
        load_secrets(webhook_sink(secret_file=(missing,)))


def test_a_bad_secret_in_a_file_is_named_but_never_shown(tmp_path):
    path = tmp_path / "secret"
    path.write_text("whsec_s3cr3t$value\n")

    with pytest.raises(WebhookError) as caught:
        load_secrets(webhook_sink(secret_file=(path,)))

    assert f"secret_file: file {path} is not a Standard Webhooks secret" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


def test_a_webhook_sink_without_secrets_is_refused():
    with pytest.raises(WebhookError, match="must sign"):
        load_secrets(webhook_sink())
