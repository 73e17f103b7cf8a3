"""Feedback (API.md §8): the inbound receiver, bounce/complaint processing, the suppression list's API and
redeeming one-click unsubscribes. It sits above the pipeline: what the pipeline needs of feedback (the
VERP and unsubscribe tokens, the suppression checks) lives in mailer.mail.recipient_tokens and
mailer.mail.suppressions.

The blueprint (``mailer.feedback.routes.bp``) serves ``/v1/suppressions…`` (admin) and
``/unsubscribe/<token>`` (no auth, form posts).
"""
