"""Signed webhooks (API.md §9): endpoints (routes/service), events as rows (events, pipeline),
the SSRF guard (guard), signing (signing), and delivery (transport, dispatcher, jobs)."""
