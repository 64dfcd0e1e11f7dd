"""How much of one message the parsers read at most, so that hostile input costs time linear in its size.

A real bounce is a few kilobytes with a handful of recipients; these bounds sit far above that. Where
one is reached, the rest is not read, and the outcome says so: `truncated` names the limits reached
(`ParsedMessage.truncated`, `"truncated": true` in the record).
"""

from __future__ import annotations

MESSAGE_BYTES = 10_000_000  # of the message; beyond, only its start is read
MIME_OBJECTS = 500  # parts, attached messages and delivery-status field groups built for one message
MIME_LEAVES = 200  # leaf parts whose text is looked at
STATUS_CHARS = 1_000_000  # of a delivery-status part
TEXT_CHARS = 2_000_000  # of the human-readable text (all text parts together)
TEXT_LINES = 3000  # of the text's lines, looked at for the recipients a bounce names in its own words
RECIPIENTS = 100  # reports kept per message
READ_RECIPIENTS = RECIPIENTS + 1  # what a format parser collects at most: one more, so that the cut shows
DIAGNOSTIC_CHARS = 4000  # of one recipient's diagnostic

# the names `truncated` holds, one per limit
CUT_MESSAGE = f"message (over {MESSAGE_BYTES:,} bytes)"
CUT_MIME = f"MIME structure (over {MIME_OBJECTS} parts and field groups, or too deep)"
CUT_LEAVES = f"MIME parts (over {MIME_LEAVES} leaf parts)"
CUT_STATUS = f"delivery-status part (over {STATUS_CHARS:,} characters)"
CUT_TEXT = f"text (over {TEXT_CHARS:,} characters)"
CUT_LINES = f"text lines looked at for recipients (over {TEXT_LINES:,})"
CUT_RECIPIENTS = f"recipients (over {RECIPIENTS})"
CUT_DIAGNOSTIC = f"diagnostic (over {DIAGNOSTIC_CHARS:,} characters)"
