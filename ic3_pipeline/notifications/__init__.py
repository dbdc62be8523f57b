"""Failure notifications: a failed run or a failed asset check, told to a webhook, Slack or email.

Plain Python (no Dagster sensor code here) so the channels and messages can be used and tested on their own; the
sensors that feed them live in ``sensors.py`` and are registered by ``defs/notifications``.
"""
