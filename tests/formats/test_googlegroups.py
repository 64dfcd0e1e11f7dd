# ruff: noqa: E501  (bounce lines are as long as the provider writes them)
"""Google Groups' refusal letter."""

from __future__ import annotations

from dsnworker.parse import parse_message

REFUSAL = b"""From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: poster@example.org
X-Failed-Recipients: team@googlegroups.com
Subject: Delivery Status Notification (Failure)
Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: 8bit

Hello poster@example.org,

We're writing to let you know that the group you tried to contact (team) may not exist, or you may not have permission to post messages to the group. A few more details on why you weren't able to post:

 * You might have spelled or formatted the group name incorrectly.
 * The owner of the group may have removed this group.
 * You may need to join the group before receiving permission to post.
 * This group may not be open to posting.

If you have questions related to this or any other Google Group, visit the Help Center at https://groups.google.com/support/.

Thanks,

Google Groups

----- Original message -----

To: team@googlegroups.com
Subject: hi
"""


def test_the_refused_address_is_the_group() -> None:
    parsed = parse_message(REFUSAL)
    assert parsed.format == "googlegroups"
    assert [r.recipient for r in parsed.reports] == ["team@googlegroups.com"]


def test_the_letter_states_that_the_post_was_rejected() -> None:
    report = parse_message(REFUSAL).reports[0]
    assert report.hint == "rejected"
    assert "permission to post" in (report.diagnostic or "")
