"""`dsnworker report`: what the worker saw, per day and provider, from its state (read-only).

`summary` counts, `text` and `html` show (`svg` draws the charts), `command` is the CLI's part.
"""
