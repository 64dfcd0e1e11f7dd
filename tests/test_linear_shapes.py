"""The regexes and loops rewritten to read hostile text once read real text as before.

Each rewrite is checked against the shape it replaced, on generated text of the pieces that shape
reacts to; `bench/linearity.py` shows the cost, the watchdog here only stops a hang.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from dsnworker.parse.formats import biglobe, plaintext, sendmail
from dsnworker.parse.mail import strip_html
from dsnworker.parse.text import clean_address, field_blocks
from tests.watchdog import watchdog

HANG = 60.0
SHAPES = settings(max_examples=300, deadline=None)

# the shapes replaced, kept here as the specification of what the new code must return
OLD_CODE_LINE = re.compile(r"(?m)^.*(?:(?:^|[\s:(\[])[45]\d\d[ \-]|\b[45]\.\d{1,3}\.\d{1,3}\b).*$")
OLD_ERROR_LINE = re.compile(r"(?im)^.*(?:error|fail|unknown|reject|denied|refused).*$")


def old_first_error(text: str) -> str | None:
    match = OLD_CODE_LINE.search(text) or OLD_ERROR_LINE.search(text)
    return match.group(0).strip() if match else None


def old_strip_html(html: str) -> str:
    import html as html_lib

    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", html)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</tr>|</li>", "\n", text)
    text = re.sub(r"<[^>]{0,2000}>", " ", text)
    return html_lib.unescape(text)


PIECES = ["550 ", "5.1.1", "\n", "\n\n", " ", "x", "error", "FAIL", "(", "[", ":", "-", "450-", "\t", "a550 ", "\x0c"]
HTML_PIECES = [
    "<script>",
    "</script>",
    "<STYLE>",
    "</style>",
    "<br/>",
    "<p>",
    "</p>",
    "<",
    ">",
    "a",
    " ",
    "&amp;",
    "\n",
]
LONG = "y" * 1999  # around the longest tag strip_html takes


@SHAPES
@given(st.lists(st.sampled_from(PIECES), max_size=14).map("".join))
def test_the_first_error_line_is_the_one_the_line_regex_found(text: str) -> None:
    assert plaintext._first_error(text) == old_first_error(text)


@SHAPES
@given(st.lists(st.sampled_from([*HTML_PIECES, LONG]), max_size=14).map("".join))
def test_html_is_stripped_as_the_regexes_stripped_it(html: str) -> None:
    assert strip_html(html) == old_strip_html(html)


def test_a_script_tag_written_with_a_long_s_is_stripped_without_error() -> None:
    # (?i) reads 'ſ' as 's': the opening must not be looked up by its own spelling
    assert strip_html("a<ſcript>x</script>b<ſtyle>y</STYLE>c") == "a b c"


def test_unclosed_script_tags_are_not_read_to_the_end_once_each() -> None:
    html = "<script>" * 200_000 + "<p>User unknown</p>"
    with watchdog(HANG, "200,000 unclosed <script> tags"):
        assert "User unknown" in strip_html(html)


def test_a_run_of_angle_brackets_is_not_read_as_a_tag_once_each() -> None:
    with watchdog(HANG, "a megabyte of '<'"):
        assert (
            strip_html("<" * 1_000_000 + "b>x") == "<" * (1_000_000 - 2000) + " x"
        )  # the tag: 2000 characters inside at most


def test_an_angle_bracket_before_a_run_of_at_signs_finds_no_address_quickly() -> None:
    # `<([^<>\s]*@[^<>\s]*)>` tried every '@' of the run, with the rest of the run after it
    with watchdog(HANG, "'<' and 200,000 '@'"):
        assert clean_address("<" + "@" * 200_000) == "@" * 200_000


def test_a_run_of_dashes_finds_the_headings_that_follow_it() -> None:
    run = "-" * 500_000
    with watchdog(HANG, "a run of '-' before the headings"):
        found = sendmail._FATAL.search(run + " The following addresses had permanent fatal errors -----")
        assert found is not None and found.start() == 0
        assert biglobe._INFORMATION.search(run + "x") is None
        assert biglobe._PROBLEMS.search(run + " The following addresses had delivery problems ---") is not None


def test_a_field_folded_over_many_lines_is_joined_once() -> None:
    # adding each folded line to the value copied the value every time
    text = "Diagnostic-Code: smtp; 550 5.1.1\n" + " more\n" * 300_000
    with watchdog(HANG, "a field folded over 300,000 lines"):
        ((name, value),) = field_blocks(text)[0]
    assert name == "diagnostic-code"
    assert value == "smtp; 550 5.1.1" + " more" * 300_000


def test_folded_and_repeated_fields_keep_their_order_and_values() -> None:
    blocks = field_blocks("Action: failed\nDiagnostic-Code:\n x\n\ty\n\nStatus: 5.1.1\n")
    assert blocks == [[("action", "failed"), ("diagnostic-code", " x y")], [("status", "5.1.1")]]
