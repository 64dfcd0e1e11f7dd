"""A format parser that raises is a bug of ours, and it is said: a WARNING naming the parser and the
message, `parser_errors` in the result, in `explain` and in the record; the parsers after it still
read the message. A message that no parser read after one raised is an error, never `not_bounce`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import ModuleType

import pytest

import dsnworker.parse
import dsnworker.parse.mail
from dsnworker.analyser import Analyser
from dsnworker.explain import explain
from dsnworker.output import outcome_record
from dsnworker.parse import arf, parse_message
from dsnworker.parse.formats import exim
from tests import mailgen

FailingParser = Callable[[ModuleType], None]  # the conftest fixture: makes one parser raise
POSTFIX_DSN = mailgen.dsn("gone@example.jp", "user_unknown", serial=1)
PERSONAL = mailgen.personal(serial=2)


def test_a_parser_that_raises_is_logged_at_warning_naming_it_and_the_message(
    failing_parser: FailingParser, caplog: pytest.LogCaptureFixture
) -> None:
    failing_parser(exim)
    with caplog.at_level(logging.WARNING, logger="dsnworker.parse"):
        parse_message(POSTFIX_DSN, "bounces:17")
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "bounces:17" in record.getMessage()
    assert "exim parser failed" in record.getMessage()
    assert "ValueError: an injected bug" in record.getMessage()


def test_the_parsers_after_a_failing_one_still_read_the_message(failing_parser: FailingParser) -> None:
    failing_parser(exim)  # exim comes before postfix
    parsed = parse_message(POSTFIX_DSN)
    assert parsed.format == "postfix"
    assert [r.recipient for r in parsed.reports] == ["gone@example.jp"]


def test_the_parsed_message_names_the_parser_that_failed(failing_parser: FailingParser) -> None:
    failing_parser(exim)
    assert parse_message(POSTFIX_DSN).parser_errors == ("exim (ValueError: an injected bug)",)


def test_a_message_no_parser_failed_on_has_no_parser_errors() -> None:
    assert parse_message(POSTFIX_DSN).parser_errors == ()


def test_explain_shows_the_parser_that_failed(failing_parser: FailingParser, analyser: Analyser) -> None:
    failing_parser(exim)
    text = explain(analyser, POSTFIX_DSN, "bounce.eml")
    assert "  parser errors: exim (ValueError: an injected bug)\n" in text
    assert "format:   postfix (bounce)" in text
    assert "user_unknown" in text


def test_the_record_carries_the_parser_errors(failing_parser: FailingParser, analyser: Analyser) -> None:
    failing_parser(exim)
    (outcome,) = analyser.analyse(POSTFIX_DSN, "bounce.eml")
    assert outcome_record(outcome)["parser_errors"] == ["exim (ValueError: an injected bug)"]


def test_a_record_without_parser_errors_has_no_such_key(analyser: Analyser) -> None:
    (outcome,) = analyser.analyse(POSTFIX_DSN, "bounce.eml")
    assert "parser_errors" not in outcome_record(outcome)


def test_a_message_no_parser_read_after_one_raised_is_an_error_not_a_non_bounce(
    failing_parser: FailingParser, analyser: Analyser
) -> None:
    # the parser that raised may be the one that knew the format: nobody can say it is no bounce
    failing_parser(arf)
    (outcome,) = analyser.analyse(PERSONAL, "mail.eml")
    assert outcome.message.format == "error"  # what the worker quarantines as unparsed
    assert (outcome.verdict.reason, outcome.verdict.action) == ("undefined", "review")
    assert "arf (ValueError: an injected bug)" in outcome.verdict.details["error"]


def test_a_message_every_parser_declined_without_raising_is_not_a_bounce(analyser: Analyser) -> None:
    (outcome,) = analyser.analyse(PERSONAL, "mail.eml")
    assert (outcome.message.format, outcome.verdict.reason) == ("none", "not_bounce")


def test_reading_the_returned_message_that_raises_is_said_and_the_bounce_still_read(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # it was swallowed without a word: the bounce lost its original's headers and nobody knew why
    def broken(mail: object) -> None:
        raise ValueError("an injected bug")

    monkeypatch.setattr(dsnworker.parse, "returned_message", broken)
    with caplog.at_level(logging.WARNING, logger="dsnworker.parse"):
        parsed = parse_message(POSTFIX_DSN, "bounces:18")
    assert [r.recipient for r in parsed.reports] == ["gone@example.jp"]
    assert parsed.parser_errors == ("returned-message (ValueError: an injected bug)",)
    assert "bounces:18: the returned-message parser failed" in caplog.records[0].getMessage()


def test_a_mime_layer_that_raises_is_said_and_the_message_read_from_its_headers_and_text(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(text: str) -> None:
        raise ValueError("an injected bug")

    monkeypatch.setattr(dsnworker.parse.mail, "_compat32", broken)
    unusual = POSTFIX_DSN.replace(b"This is the mail system", b"\x0cThis is the mail system", 1)  # not for the splitter
    with caplog.at_level(logging.WARNING, logger="dsnworker.parse"):
        parsed = parse_message(unusual, "bounces:19")
    assert parsed.parser_errors == ("MIME (ValueError: an injected bug)",)
    assert parsed.kind.value == "bounce" and [r.recipient for r in parsed.reports] == ["gone@example.jp"]
    assert caplog.records[0].exc_info is not None  # the traceback, for the bug report
