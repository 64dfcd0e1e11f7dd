"""dsnworker: a bounce (delivery status notification) processor."""

__version__ = "0.1.0"
