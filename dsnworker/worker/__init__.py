"""The worker: mailboxes on a schedule, durable state, exactly-once outputs."""
