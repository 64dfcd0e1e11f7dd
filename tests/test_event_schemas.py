"""The event schemas in docs/events/: valid themselves, resolvable, true of every event the worker emits,
and strict enough to refuse a broken one.

The events are the real ones: a maildir holding one message of every kind goes through the pipeline,
and what lands in the events file is validated against the schema of its type.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from dsnworker.classify.vocabulary import ACTIONS, REASONS
from dsnworker.verp import VerpPattern
from dsnworker.worker.delivery import OutboxDelivery
from dsnworker.worker.events import EVENT_TYPES
from dsnworker.worker.lifecycle import expire, unsuppress
from dsnworker.worker.settings import Policy
from tests import mailgen
from tests.test_worker_pipeline import Harness

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_DIR = ROOT / "docs" / "events"
QUOTED_OUTLOOK = ROOT / "examples" / "maildir" / "cur" / "microsoft365-quoted-local-part.eml"
SCHEMAS: dict[str, dict[str, Any]] = {
    path.name.removesuffix(".schema.json"): json.loads(path.read_text()) for path in SCHEMA_DIR.glob("*.schema.json")
}
REGISTRY: Registry = Registry().with_resources(
    (schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012)) for schema in SCHEMAS.values()
)


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(SCHEMAS[name], registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER)


def errors(name: str, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator(name).iter_errors(instance)
    ]


# -- the schemas themselves -------------------------------------------------------------------------


def test_there_is_a_schema_for_every_event_type_and_the_batch() -> None:
    assert set(SCHEMAS) == {*EVENT_TYPES, "batch", "defs"}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_each_schema_is_a_valid_draft_2020_12_schema(name: str) -> None:
    schema = SCHEMAS[name]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith(f"/{name}.schema.json")
    assert schema["title"]


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_every_reference_resolves_through_the_registry(name: str) -> None:
    resolver = REGISTRY.resolver(base_uri=SCHEMAS[name]["$id"])
    for ref in _refs(SCHEMAS[name]):
        # a `#/...` pointer inside defs resolves against defs itself, as the validator does
        assert resolver.lookup(ref).contents is not None, ref


def test_the_vocabularies_are_the_code_s() -> None:
    defs = SCHEMAS["defs"]["$defs"]
    assert set(defs["reason"]["enum"]) == REASONS
    assert len(defs["reason"]["enum"]) == len(REASONS)
    assert set(defs["action"]["enum"]) == ACTIONS
    assert tuple(defs["any_event"]["properties"]["type"]["enum"]) == EVENT_TYPES
    for type_ in EVENT_TYPES:
        assert SCHEMAS[type_]["properties"]["type"] == {"const": type_}


# -- every event the pipeline emits -----------------------------------------------------------------

VERP = "bounces+{local}={domain}@sender.example"
VERP_ADDRESS = "bounces+kim=example.jp@sender.example"
SPAMHAUS_REFUSALS = 4  # one opens the incident, the rest of the batch make an incident.updated


def _every_kind_of_message() -> list[bytes]:
    quoted = QUOTED_OUTLOOK.read_bytes()
    undecided = mailgen.dsn("odd@example.jp", "user_unknown", 7).replace(
        b"550 5.1.1 <odd@example.jp>: Recipient address rejected: User unknown in local recipient table",
        b"550 5.0.0 something went sideways",
    )
    return [
        mailgen.dsn("gone@example.jp", "user_unknown", 1),
        mailgen.dsn("full@example.jp", "mailbox_full", 2),
        mailgen.dsn("late@example.jp", "mailbox_full", 30, action="delayed"),  # retry, delayed, not counted
        mailgen.dsn("fine@example.jp", "delivered", 3),
        *(mailgen.dsn(f"listed{n}@example.jp", "spamhaus", 10 + n) for n in range(SPAMHAUS_REFUSALS)),
        mailgen.auto_reply(4),
        mailgen.personal(5),
        mailgen.garbage(6),
        undecided.replace(b"Status: 5.1.1", b"Status: 5.0.0"),  # reason undefined, action review
        quoted,  # "taro.yamada"@outlook.jp: suggested_address taro.yamada@outlook.jp
        quoted.replace(b'"taro.yamada"', b'"taro..yamada"'),  # unquotable: suggested_address null
        _complaint("angry@example.jp", 8),
        _complaint("Undisclosed Recipients", 9),  # not an address: recipient.bounced, review, invalid_recipient
        mailgen.anonymous_bounce(VERP_ADDRESS, 40),  # names nobody: the VERP address says kim@example.jp
        mailgen.dsn("lee@example.jp", "user_unknown", 41, to=VERP_ADDRESS),  # contradicted: kim, named lee
    ]


def _complaint(recipient: str, serial: int) -> bytes:
    """An ARF abuse report (RFC 5965): recipient.suppressed with feedback_type."""
    return (
        "From: staff@hotmail.example\r\n"
        "To: fbl@example.com\r\n"
        "Subject: complaint about message from 192.0.2.25\r\n"
        f"Message-ID: <arf.{serial}@hotmail.example>\r\n"
        "Date: Mon, 13 May 2024 11:02:17 +0900\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\r\n'
        "\r\n"
        "--F\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n\r\n"
        "--F\r\nContent-Type: message/feedback-report\r\n\r\n"
        f"Feedback-Type: abuse\r\nUser-Agent: FBL/1.0\r\nVersion: 1\r\nOriginal-Rcpt-To: <{recipient}>\r\n\r\n"
        "--F\r\nContent-Type: message/rfc822\r\n\r\n"
        f"From: Example Shop <newsletter@example.com>\r\nTo: {recipient}\r\nSubject: Spring sale\r\n"
        f"Message-ID: <send.{serial}@app1.example.com>\r\nX-Campaign-Id: spring-sale-2024\r\n\r\nBuy now.\r\n"
        "--F--\r\n"
    ).encode()


@pytest.fixture(scope="module")
def emitted(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The events file after two passes: every kind of message, then a soft bounce past the threshold;
    then that suppression expires and an operator removes another."""
    policy = Policy(soft_threshold=2, expire_after={"mailbox_full": 86400.0})
    harness = Harness(
        tmp_path_factory.mktemp("events"),
        _every_kind_of_message(),
        policy=policy,
        verp=VerpPattern.parse(VERP),
    )
    assert harness.mailbox_pass.run().errors == []
    harness.now += timedelta(days=1)
    harness.add(mailgen.dsn("full@example.jp", "mailbox_full", 20))
    assert harness.mailbox_pass.run().errors == []
    delivery = OutboxDelivery.for_settings(harness.store, harness.settings)
    assert len(expire(harness.settings, harness.store, delivery, harness.now + timedelta(days=1))) == 1
    found, _ = unsuppress(harness.settings, harness.store, "gone@example.jp", by="alice", note="n", now=harness.now)
    assert len(found) == 1
    return harness.events()


def test_every_event_type_is_emitted_by_the_pipeline(emitted: list[dict[str, Any]]) -> None:
    assert {event["type"] for event in emitted} == set(EVENT_TYPES)


def test_every_emitted_event_validates_against_the_schema_of_its_type(emitted: list[dict[str, Any]]) -> None:
    failures = {event["id"]: errors(event["type"], event) for event in emitted}
    assert {event_id: found for event_id, found in failures.items() if found} == {}


def test_the_emitted_events_cover_the_schemas_conditional_parts(emitted: list[dict[str, Any]]) -> None:
    """The if/then branches were exercised by real events, not only by the hand-made ones below."""
    datas = {(e["type"], e["data"].get("recipient")): e["data"] for e in emitted if e["type"] != "incident.updated"}
    assert datas["recipient.suppressed", "full@example.jp"]["suppressed_because"] == "soft_bounce_threshold"
    assert datas["recipient.suppressed", "angry@example.jp"]["feedback_type"] == "abuse"
    assert datas["recipient.bounced", "full@example.jp"]["soft_bounces"]["count"] == 1
    assert datas["recipient.bounced", "late@example.jp"]["delayed"] is True
    assert "soft_bounces" not in datas["recipient.bounced", "late@example.jp"]
    assert datas["recipient.bounced", "odd@example.jp"]["action"] == "review"
    assert datas["recipient.bounced", None]["invalid_recipient"] is True
    assert datas["address.fix_needed", '"taro.yamada"@outlook.jp']["suggested_address"] == "taro.yamada@outlook.jp"
    assert datas["address.fix_needed", '"taro..yamada"@outlook.jp']["unquotable"] is True
    updated = [e["data"] for e in emitted if e["type"] == "incident.updated"]
    assert updated[-1]["count"] == SPAMHAUS_REFUSALS
    assert datas["recipient.unsuppressed", "full@example.jp"]["expired"] is True
    assert datas["recipient.unsuppressed", "gone@example.jp"]["by"] == "alice"
    verp = [e["data"] for e in emitted if e["data"].get("recipient_source") == "verp"]
    assert [(d["recipient"], d["verp_recipient"], d.get("named_recipient")) for d in verp] == [
        ("kim@example.jp", "kim@example.jp", None),
        ("kim@example.jp", "kim@example.jp", "lee@example.jp"),
    ]
    assert datas["recipient.suppressed", "gone@example.jp"]["recipient_source"] == "dsn"
    assert datas["recipient.suppressed", "angry@example.jp"]["recipient_source"] == "dsn"
    assert datas["recipient.bounced", None]["recipient_source"] is None


def test_every_recipient_event_says_where_its_recipient_came_from(emitted: list[dict[str, Any]]) -> None:
    # the events a bounce made (an un-suppression is about an address, not a bounce's recipient)
    recipient_events = [
        e for e in emitted if e["type"].startswith(("recipient.", "address.")) and e["type"] != "recipient.unsuppressed"
    ]
    assert recipient_events and all("recipient_source" in e["data"] for e in recipient_events)


# -- batches ----------------------------------------------------------------------------------------


def _batch(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "batch", "timestamp": "2026-11-01T00:00:05Z", "data": {"events": events}}


def test_a_batch_of_the_emitted_events_validates_and_so_does_each_member(emitted: list[dict[str, Any]]) -> None:
    batch = _batch(emitted)
    assert errors("batch", batch) == []
    for event in batch["data"]["events"]:
        assert errors(event["type"], event) == []


def test_a_batch_holding_one_broken_event_is_refused_at_that_event(emitted: list[dict[str, Any]]) -> None:
    events = copy.deepcopy(emitted)
    del events[1]["data"]["reason"]
    found = list(validator("batch").iter_errors(_batch(events)))
    assert found and all(list(e.absolute_path)[:3] == ["data", "events", 1] for e in found)


@pytest.mark.parametrize(
    "batch",
    [
        {"type": "batch", "timestamp": "2026-11-01T00:00:05Z", "data": {"events": []}},
        {"type": "batch", "timestamp": "2026-11-01T00:00:05Z", "data": {}},
        {"type": "batches", "timestamp": "2026-11-01T00:00:05Z", "data": {"events": []}},
        {"type": "batch", "timestamp": "2026-11-01T00:00:05Z", "data": {"events": [{"type": "recipient.deleted"}]}},
    ],
    ids=["no events", "no events key", "wrong type", "unknown event type"],
)
def test_a_malformed_batch_is_refused(batch: dict[str, Any]) -> None:
    assert errors("batch", batch)


# -- the schemas can fail -----------------------------------------------------------------------------


def _first(emitted: list[dict[str, Any]], type_: str, **data: Any) -> dict[str, Any]:
    return copy.deepcopy(
        next(e for e in emitted if e["type"] == type_ and all(e["data"].get(k) == v for k, v in data.items()))
    )


def _without(*path: str) -> Callable[[dict[str, Any]], None]:
    def change(event: dict[str, Any]) -> None:
        *parents, last = path
        node = event
        for key in parents:
            node = node[key]
        del node[last]

    return change


def _setting(value: Any, *path: str) -> Callable[[dict[str, Any]], None]:
    def change(event: dict[str, Any]) -> None:
        *parents, last = path
        node = event
        for key in parents:
            node = node[key]
        node[last] = value

    return change


# case -> (event type, which emitted event (data values), the change, the error it must cause)
BROKEN = {
    "a missing envelope key": ("recipient.suppressed", {}, _without("timestamp"), "(root): 'timestamp' is a required"),
    "a missing contract key": ("recipient.suppressed", {}, _without("data", "rule"), "data: 'rule' is a required"),
    "a contract key absent, not null": (
        "recipient.bounced",
        {},
        _without("data", "original_recipient"),
        "data: 'original_recipient' is a required",
    ),
    "a missing mailbox": ("recipient.bounced", {}, _without("data", "mailbox"), "data: 'mailbox' is a required"),
    "a misspelt reason": ("recipient.suppressed", {}, _setting("user_unkown", "data", "reason"), "data/reason: "),
    "not_bounce as a reason": ("recipient.bounced", {}, _setting("not_bounce", "data", "reason"), "data/reason: "),
    "an unknown reason in an incident": ("incident.opened", {}, _setting("listed", "data", "reason"), "data/reason: "),
    "an id without the evt_ prefix": (
        "recipient.suppressed",
        {},
        _setting("6ac5550a4a856d1dd7bf448ff45e64a1", "id"),
        "id: ",
    ),
    "an id in upper case": ("recipient.suppressed", {}, _setting("evt_6AC5550A4A856D1DD7BF448FF45E64A1", "id"), "id: "),
    "an id one digit short": ("message.unparsed", {}, _setting("evt_6ac5550a4a856d1dd7bf448ff45e64a", "id"), "id: "),
    "a timestamp with an offset": (
        "recipient.bounced",
        {},
        _setting("2026-11-01T09:00:00+09:00", "timestamp"),
        "timestamp: ",
    ),
    "a timestamp that is no date": (
        "recipient.bounced",
        {},
        _setting("2026-13-01T00:00:00Z", "timestamp"),
        "timestamp: ",
    ),
    "a key beside the envelope's": ("recipient.bounced", {}, _setting("v1", "version"), "'version' was unexpected"),
    "the wrong type for the schema": ("recipient.bounced", {}, _setting("recipient.suppressed", "type"), "type: "),
    "an action the type never has": ("recipient.bounced", {}, _setting("suppress", "data", "action"), "data/action: "),
    "hard as a string": ("recipient.suppressed", {}, _setting("true", "data", "hard"), "data/hard: "),
    "a status that is no status": ("recipient.suppressed", {}, _setting("550", "data", "status"), "data/status: "),
    "a counted soft bounce without its count": (
        "recipient.bounced",
        {"action": "retry"},
        _without("data", "soft_bounces"),
        "data: 'soft_bounces' is a required",
    ),
    "a threshold suppression without its count": (
        "recipient.suppressed",
        {"suppressed_because": "soft_bounce_threshold"},
        _without("data", "soft_bounces"),
        "data: 'soft_bounces' is a required",
    ),
    "a quoted local part without a suggestion": (
        "address.fix_needed",
        {},
        _without("data", "suggested_address"),
        "data: 'suggested_address' is a required",
    ),
    "unquotable with a suggestion": (
        "address.fix_needed",
        {"unquotable": True},
        _setting("taro.yamada@outlook.jp", "data", "suggested_address"),
        "data/suggested_address: ",
    ),
    "a header value that is not a string": (
        "recipient.suppressed",
        {},
        _setting(1, "data", "original_headers", "To"),
        "data/original_headers/To: ",
    ),
    "a recipient source outside the vocabulary": (
        "recipient.suppressed",
        {},
        _setting("header", "data", "recipient_source"),
        "data/recipient_source: ",
    ),
    "a VERP-identified recipient without the VERP recipient": (
        "recipient.suppressed",
        {"recipient_source": "verp"},
        _without("data", "verp_recipient"),
        "data: 'verp_recipient' is a required",
    ),
    "an incident without its count": ("incident.updated", {}, _without("data", "count"), "data: 'count' is a required"),
    "an update that counted nothing new": ("incident.updated", {}, _setting(1, "data", "count"), "data/count: "),
    "an expiry without its time": (
        "recipient.unsuppressed",
        {"expired": True},
        _without("data", "expire_after"),
        "data: 'expire_after' is a required",
    ),
    "an operator's removal without a note": (
        "recipient.unsuppressed",
        {"expired": False},
        _setting(None, "data", "note"),
        "data/note: ",
    ),
    "a removal that says expired for an operator": (
        "recipient.unsuppressed",
        {"expired": False},
        _setting(True, "data", "expired"),
        "data/expired: ",
    ),
    "an unparsed message without its key": (
        "message.unparsed",
        {},
        _without("data", "message_key"),
        "data: 'message_key' is a required",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_event_is_refused(emitted: list[dict[str, Any]], case: str) -> None:
    type_, where, change, expected = BROKEN[case]
    event = _first(emitted, type_, **where)
    assert errors(type_, event) == []
    change(event)
    found = errors(type_, event)
    assert any(expected in error for error in found), found


def test_keys_beyond_the_contract_inside_data_are_welcome(emitted: list[dict[str, Any]]) -> None:
    """The contract welcomes more keys, and a rule pack's named captures become keys: `data` stays open."""
    for type_ in EVENT_TYPES:
        event = _first(emitted, type_)
        event["data"]["evidence"] = ["550 5.1.1"]
        event["data"]["campaign"] = "spring-sale-2024"
        assert errors(type_, event) == []


def test_the_sample_event_of_webhook_test_validates() -> None:
    from dsnworker.worker.events import sample_event

    event = sample_event()
    assert errors(event["type"], event) == []


def test_every_suppression_says_why(emitted: list[dict[str, Any]]) -> None:
    reasons = {e["data"]["suppressed_because"] for e in emitted if e["type"] == "recipient.suppressed"}
    assert {"hard_bounce", "complaint", "soft_bounce_threshold"} <= reasons


def test_every_event_from_the_whole_corpus_validates(tmp_path: Path) -> None:
    """The real bounces of the dev corpus through the pipeline: every event it makes fits its schema."""
    from tests.conftest import corpus_dir

    messages = [path.read_bytes() for path in sorted((corpus_dir() / "emails").iterdir())]
    harness = Harness(tmp_path, messages)
    summary = harness.mailbox_pass.run()
    assert summary.errors == [] and summary.new + summary.duplicates == len(messages)
    events = harness.events()
    assert len(events) > 300
    for event in events:
        assert errors(event["type"], event) == [], (event["type"], event["data"].get("rule"))
