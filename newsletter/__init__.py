"""newsletter: email newsletters and alerts for a school leaders' association."""

__version__ = "0.1.0"
