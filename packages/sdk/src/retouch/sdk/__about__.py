"""The version of retouch-sdk (read by Hatch)."""

__version__ = "0.1.0"
