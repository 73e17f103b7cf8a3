"""From a request to rows and jobs: templates, compose (MIME), outbox, sweeper; the suppression list
(suppressions) and the per-recipient VERP and unsubscribe tokens (recipient_tokens) every copy carries."""
