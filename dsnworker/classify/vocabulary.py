"""The reason vocabulary, which reasons are hard bounces, and the reason -> action defaults.

This is the one place the defaults live; a configuration may override the action map.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# flanker's plugins for providers' own local-part rules, by the name a pack's `mailbox_syntax` uses
MAILBOX_SYNTAXES = frozenset({"hotmail", "gmail", "google", "yahoo", "icloud", "aol"})
ACTIONS = frozenset({"suppress", "retry", "sender_fix", "fix_address", "ignore", "review"})

# reason -> default action. The hard reasons (and `not_accept`) are special-cased: only a 5xx one is
# permanent; a 4xx one is retried.
DEFAULT_ACTIONS: Mapping[str, str] = MappingProxyType(
    {
        "user_unknown": "suppress",
        "host_unknown": "suppress",
        "has_moved": "suppress",
        "not_accept": "suppress",
        "feedback": "suppress",
        "suppressed": "suppress",
        "mailbox_full": "retry",
        "suspend": "retry",
        "exceed_limit": "retry",
        "filtered": "retry",
        "expired": "retry",
        "network_error": "retry",
        "too_many_conn": "retry",
        "speeding": "retry",
        "system_error": "retry",
        "system_full": "retry",
        "mailer_error": "retry",
        "blocked": "sender_fix",
        "bad_reputation": "sender_fix",
        "require_ptr": "sender_fix",
        "auth_failure": "sender_fix",
        "rejected": "sender_fix",
        "security_error": "sender_fix",
        "failed_starttls": "sender_fix",
        "no_relaying": "review",
        "message_too_big": "review",
        "syntax_error": "review",  # a dialogue the server could not read: retrying the same will not help
        "policy_violation": "review",
        "spam_detected": "review",
        "virus_detected": "review",
        "content_error": "review",
        "not_compliant_rfc": "review",
        "on_hold": "review",
        "undefined": "review",
        "quoted_local_part": "fix_address",
        "vacation": "ignore",
        "delivered": "ignore",
        "not_bounce": "ignore",
    }
)
REASONS = frozenset(DEFAULT_ACTIONS)
HARD_REASONS = frozenset({"user_unknown", "host_unknown", "has_moved"})
# what may be hard: the hard reasons, and a domain that accepts no mail (`not_accept`), in a 5xx refusal
CAN_BE_HARD = HARD_REASONS | {"not_accept"}

# The RFC 3463 code a reason stands for, used when a bounce carries no status at all.
# `.0.0`-style codes where no specific code exists; the class (4/5) is decided separately.
DEFAULT_STATUS: Mapping[str, str] = MappingProxyType(
    {
        "user_unknown": "5.1.1",
        "host_unknown": "5.1.2",
        "has_moved": "5.1.6",
        "not_accept": "5.1.10",
        "mailbox_full": "5.2.2",
        "suspend": "5.2.1",
        "exceed_limit": "5.2.3",
        "message_too_big": "5.3.4",
        "filtered": "5.2.0",
        "expired": "5.4.7",
        "network_error": "5.4.0",
        "too_many_conn": "4.7.0",
        "speeding": "4.7.0",
        "system_error": "5.3.0",
        "system_full": "4.3.1",
        "mailer_error": "5.3.0",
        "syntax_error": "5.5.2",
        "blocked": "5.7.1",
        "bad_reputation": "5.7.1",
        "require_ptr": "5.7.25",
        "auth_failure": "5.7.26",
        "rejected": "5.1.8",
        "security_error": "5.7.0",
        "failed_starttls": "5.7.10",
        "no_relaying": "5.7.1",
        "policy_violation": "5.7.0",
        "spam_detected": "5.7.1",
        "virus_detected": "5.7.1",
        "content_error": "5.6.0",
        "not_compliant_rfc": "5.6.0",
        "suppressed": "5.1.1",
        "quoted_local_part": "5.5.0",
        "on_hold": "5.0.0",
        "undefined": "5.0.0",
    }
)


def is_hard(reason: str, status: str | None, reply_code: str | None) -> bool:
    """True only when the address itself is permanently undeliverable (the contract's rule): a hard
    reason in a permanent (5xx) refusal. A 4xx form of it is temporary (provider-texts README)."""
    if reason in CAN_BE_HARD:
        return permanent_class(status, reply_code)
    return False


def permanent_class(status: str | None, reply_code: str | None) -> bool:
    if reply_code and reply_code[0] in "45":
        return reply_code[0] == "5"
    if status and status[0] in "45":
        return status[0] == "5"
    return True


def default_action(reason: str, hard: bool, overrides: Mapping[str, str] | None = None) -> str:
    if overrides and reason in overrides:
        return overrides[reason]
    if not hard and reason in CAN_BE_HARD:
        return "retry"  # a temporary form of a hard reason: the address may yet work
    return DEFAULT_ACTIONS.get(reason, "review")
