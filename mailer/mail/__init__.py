"""From a request to rows and jobs: templates, compose (MIME), outbox, sweeper."""
