"""Webhook domain helpers: verification schemes, delivery ids, templates and rate limits.

Pure library code (no web framework, no I/O); the ingress in ``web`` and the webhook actor use it.
"""

from __future__ import annotations
