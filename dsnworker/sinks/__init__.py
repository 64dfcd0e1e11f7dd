"""Where outcomes go: the suppression file, the events file (and webhooks)."""
