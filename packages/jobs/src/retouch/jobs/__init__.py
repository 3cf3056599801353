"""retouch-jobs: durable async generation jobs (the jobs service).

Build the service with ``retouch.jobs.app.create_app``; importing this package loads nothing else.
"""

from __future__ import annotations

from retouch.jobs.__about__ import __version__

__all__ = ["__version__"]
