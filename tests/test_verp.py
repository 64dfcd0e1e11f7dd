"""Recipients identified by the address a bounce was sent to: VERP, and SRS and BATV wrappings of it.

Decoding is tested on strings; identification through `dsnworker parse --verp` and through
`dsnworker poll` on a maildir whose mailbox has `verp = ...`, with bounces made by `mailgen`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from dsnworker.verp import VerpPattern, VerpPatternError, unwrap
from tests import mailgen, processes
from tests.test_cli import dsnworker as parse_command
from tests.test_worker_cli import write_config
from tests.test_worker_pipeline import make_maildir

PATTERN = "bounces+{local}={domain}@sender.example"
KIM = "bounces+kim=example.jp@sender.example"  # the return path of a message sent to kim@example.jp


# -- decoding ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "recipient"),
    [
        (KIM, "kim@example.jp"),
        ("Bounces+Kim.Tanaka=Example.JP@SENDER.example", "Kim.Tanaka@example.jp"),  # the local part's case kept
        ("bounces+a=b=example.jp@sender.example", "a=b@example.jp"),  # a local part holding the separator
        ("bounces+kim+news=mail.example.co.jp@sender.example", "kim+news@mail.example.co.jp"),
        ("SRS0=HHH=TT=sender.example=" + KIM.replace("@sender.example", "@forwarder.example"), "kim@example.jp"),
        ("SRS0+xGk2=2V=sender.example=bounces+kim=example.jp@forwarder.example", "kim@example.jp"),
        ("SRS1=JJJ=forwarder.example==HHH=TT=sender.example=bounces+kim=example.jp@second.example", "kim@example.jp"),
        ("prvs=4d42ca2f2a=" + KIM, "kim@example.jp"),  # BATV, draft-levine-smtp-batv
        ("PRVS=0123456789=" + KIM, "kim@example.jp"),
    ],
)
def test_a_return_path_of_ours_gives_its_recipient(address: str, recipient: str) -> None:
    assert VerpPattern.parse(PATTERN).decode(address) == recipient


@pytest.mark.parametrize(
    "address",
    [
        "bounces+kim=example.jp@other.example",  # someone else's VERP
        "bounces@sender.example",  # the plain return path
        "bounces+kim@sender.example",  # no domain encoded
        "bounces+kim=localhost@sender.example",  # a domain without a dot is no domain
        "SRS0=HHH=TT=other.example=bounces+kim=example.jp@forwarder.example",  # an SRS address not ours
        "prvs=4d42ca2f2a=bounces+kim=example.jp@other.example",  # a BATV address not ours
        "newsletter@sender.example",
        "bounces+" + "k" * 600 + "=example.jp@sender.example",  # past any real address
    ],
)
def test_an_address_not_ours_gives_nobody(address: str) -> None:
    assert VerpPattern.parse(PATTERN).decode(address) is None


def test_the_separators_and_the_order_are_the_pattern_s() -> None:
    pattern = VerpPattern.parse("bounce-{domain}-{local}@mail.sender.example")
    assert pattern.decode("bounce-example.jp-kim@mail.sender.example") == "kim@example.jp"
    assert pattern.decode(KIM) is None


def test_unwrap_leaves_an_unwrapped_address_alone() -> None:
    assert unwrap("kim@example.jp") == "kim@example.jp"
    assert unwrap("SRS0=HHH=TT=example.jp=kim@forwarder.example") == "kim@example.jp"


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        ("bounces@sender.example", 'got "bounces@sender.example"'),
        ("bounces+{local}@sender.example", "one {local} and one {domain}"),
        ("bounces+{local}={domain}={local}@sender.example", "one {local} and one {domain}"),
        ("bounces+{local}=x@{domain}", 'before the "@"'),
        ("bounces+{local}={domain}", "one {local} and one {domain}"),
        ("bounces+{local}={domain}@localhost", "domain name after the"),
        ("bounces+{local}{domain}@sender.example", "a separator"),
        ("bounces {local}={domain}@sender.example", "letters, digits"),
        ("bounces+{Local}={domain}@sender.example", "one {local} and one {domain}"),
    ],
)
def test_a_pattern_that_cannot_work_is_refused_with_what_is_expected(pattern: str, says: str) -> None:
    with pytest.raises(VerpPatternError, match=r"expected") as refused:
        VerpPattern.parse(pattern)
    assert says in str(refused.value)


# -- through `dsnworker parse --verp` -------------------------------------------------------------


def _parsed(tmp_path: Path, message: bytes, *options: str) -> list[dict[str, object]]:
    path = tmp_path / "bounce.eml"
    path.write_bytes(message)
    result = parse_command("parse", *options, path)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_a_verp_addressed_bounce_naming_nobody_gives_the_verp_recipient(tmp_path: Path) -> None:
    message = mailgen.anonymous_bounce(KIM, 1)
    (without,) = _parsed(tmp_path, message)
    assert without["recipient"] is None and without["action"] == "review"  # the bounce alone: nobody
    (line,) = _parsed(tmp_path, message, "--verp", PATTERN)
    assert line["recipient"] == "kim@example.jp"
    assert (line["recipient_source"], line["verp_recipient"]) == ("verp", "kim@example.jp")
    assert (line["reason"], line["hard"], line["action"]) == ("user_unknown", True, "suppress")
    assert "named_recipient" not in line and "invalid_recipient" not in line


@pytest.mark.parametrize("named", ["kimtaro", "Kim Tanaka"], ids=["screen name", "display name"])
def test_a_bounce_naming_no_address_gets_the_verp_recipient_and_keeps_what_it_named(tmp_path: Path, named: str) -> None:
    (line,) = _parsed(tmp_path, mailgen.dsn(named, to=KIM), "--verp", PATTERN)
    assert (line["recipient"], line["recipient_source"], line["named_recipient"]) == ("kim@example.jp", "verp", named)
    assert line["action"] == "suppress"


def test_a_named_recipient_the_verp_address_contradicts_is_reported_with_both(tmp_path: Path) -> None:
    (line,) = _parsed(tmp_path, mailgen.dsn("lee@example.jp", to=KIM), "--verp", PATTERN)
    assert line["recipient"] == "kim@example.jp"  # the address the sender mailed: the one to suppress
    assert line["named_recipient"] == "lee@example.jp"
    assert (line["recipient_source"], line["verp_recipient"]) == ("verp", "kim@example.jp")


def test_a_named_recipient_the_verp_address_confirms_keeps_its_source(tmp_path: Path) -> None:
    (line,) = _parsed(tmp_path, mailgen.dsn("KIM@example.jp", to=KIM), "--verp", PATTERN)
    assert (line["recipient"], line["recipient_source"], line["verp_recipient"]) == (
        "KIM@example.jp",
        "dsn",
        "kim@example.jp",
    )
    assert "named_recipient" not in line


def test_the_envelope_fields_are_read_where_the_to_header_says_nothing(tmp_path: Path) -> None:
    """A bounce delivered through an alias: its To is the plain bounce address, the envelope kept the VERP one."""
    message = mailgen.anonymous_bounce("bounces@sender.example", 2)
    forwarded = b"Delivered-To: bounces@sender.example\r\nX-Original-To: " + KIM.encode() + b"\r\n" + message
    (line,) = _parsed(tmp_path, forwarded, "--verp", PATTERN)
    assert (line["recipient"], line["recipient_source"]) == ("kim@example.jp", "verp")


def test_an_srs_rewritten_return_path_of_ours_is_decoded(tmp_path: Path) -> None:
    srs = "SRS0=abcd=2V=sender.example=bounces+kim=example.jp@forwarder.example"
    (line,) = _parsed(tmp_path, mailgen.anonymous_bounce(srs, 3), "--verp", PATTERN)
    assert (line["recipient"], line["recipient_source"]) == ("kim@example.jp", "verp")


def test_a_bounce_to_another_senders_verp_address_is_read_from_its_text(tmp_path: Path) -> None:
    message = mailgen.dsn("lee@example.jp", to="bounces+kim=example.jp@other.example")
    (line,) = _parsed(tmp_path, message, "--verp", PATTERN)
    assert (line["recipient"], line["recipient_source"]) == ("lee@example.jp", "dsn")
    assert "verp_recipient" not in line and "named_recipient" not in line


def test_without_verp_the_output_is_the_contract_s_alone(tmp_path: Path) -> None:
    (line,) = _parsed(tmp_path, mailgen.dsn("lee@example.jp", to=KIM))
    assert line["recipient"] == "lee@example.jp"
    assert not {"recipient_source", "verp_recipient", "named_recipient"} & line.keys()


def test_parse_refuses_a_bad_pattern_saying_which_option(tmp_path: Path) -> None:
    path = tmp_path / "bounce.eml"
    path.write_bytes(mailgen.dsn("kim@example.jp"))
    result = parse_command("parse", "--verp", "bounces@sender.example", path)
    assert result.returncode == 2
    assert result.stderr.startswith("dsnworker: --verp: expected an address with one {local} and one {domain}")


# -- through `dsnworker poll` on a maildir -----------------------------------------------------------


def test_poll_suppresses_the_verp_recipient_and_its_events_say_how_it_was_found(tmp_path: Path) -> None:
    make_maildir(
        tmp_path / "jp",
        [
            mailgen.anonymous_bounce(KIM, 1),  # names nobody
            mailgen.dsn("lee@example.jp", serial=2, to="bounces+sato=example.jp@sender.example"),  # contradicted
            mailgen.dsn("ito@example.jp", serial=3, to="bounces+ito=example.jp@sender.example"),  # confirmed
        ],
    )
    config = write_config(tmp_path, ["jp"], extra=f'verp = "{PATTERN}"\n')
    result = processes.run("poll", "-c", config)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line)["data"] for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    found = {(d["recipient"], d["recipient_source"], d["verp_recipient"], d.get("named_recipient")) for d in events}
    assert found == {
        ("kim@example.jp", "verp", "kim@example.jp", None),
        ("sato@example.jp", "verp", "sato@example.jp", "lee@example.jp"),
        ("ito@example.jp", "dsn", "ito@example.jp", None),
    }
    with open(tmp_path / "suppressions.csv", newline="") as handle:
        suppressed = sorted(row["email"] for row in csv.DictReader(handle))
    assert suppressed == ["ito@example.jp", "kim@example.jp", "sato@example.jp"]  # never lee, never nobody


def test_poll_without_verp_still_says_where_each_recipient_came_from(tmp_path: Path) -> None:
    make_maildir(tmp_path / "jp", [mailgen.dsn("lee@example.jp", serial=2, to=KIM), mailgen.anonymous_bounce(KIM, 1)])
    result = processes.run("poll", "-c", write_config(tmp_path, ["jp"]))
    assert result.returncode == 0, result.stderr
    events = [json.loads(line)["data"] for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert sorted((d["recipient"] or "", d["recipient_source"] or "") for d in events) == [
        ("", ""),
        ("lee@example.jp", "dsn"),
    ]
    assert not any("verp_recipient" in d for d in events)


def test_a_bad_pattern_in_the_config_names_the_file_the_mailbox_and_the_key(tmp_path: Path) -> None:
    make_maildir(tmp_path / "jp", [])
    config = write_config(tmp_path, ["jp"], extra='verp = "bounces+{local}@sender.example"\n')
    result = processes.run("poll", "-c", config)
    assert result.returncode == 2
    assert result.stderr.startswith(f'dsnworker: {config}: mailbox "jp" verp: expected an address with one {{local}}')


# -- the bundled examples/verp, as the README shows them ---------------------------------------------

EXAMPLE_PATTERN = "bounces+{local}={domain}@example.com"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "verp"


def test_the_verp_examples_say_what_the_readme_shows() -> None:
    result = parse_command("parse", "--verp", EXAMPLE_PATTERN, EXAMPLES)
    assert result.returncode == 0, result.stderr
    found = [
        (Path(r["source"]).name, r["recipient"], r["recipient_source"], r.get("named_recipient"), r["action"])
        for r in map(json.loads, result.stdout.splitlines())
    ]
    assert found == [
        ("forwarded-through-srs.eml", "sato@example.jp", "verp", "sato.h@mail.example.net", "suppress"),
        ("no-address-in-the-text.eml", "kenji@example.jp", "verp", None, "suppress"),
    ]
    plain = [json.loads(line) for line in parse_command("parse", EXAMPLES).stdout.splitlines()]
    assert [(r["recipient"], r["action"]) for r in plain] == [("sato.h@mail.example.net", "suppress"), (None, "review")]
