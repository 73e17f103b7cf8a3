"""Feedback (API.md §8): VERP return paths, the inbound receiver, bounce/complaint processing,
suppressions and one-click unsubscribe.

The blueprint (``mailer.feedback.routes.bp``) serves ``/v1/suppressions…`` (admin) and
``/unsubscribe/<token>`` (no auth, form posts). This package module imports nothing, so the pipeline's
imports of feedback modules (tokens, suppressions, unsubscribe headers) never pull the HTTP side in.
"""
