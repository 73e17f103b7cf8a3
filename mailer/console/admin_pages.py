"""The admin pages of the console (API.md §12, #24); importing them adds their views to the blueprint."""

from mailer.console import (
    api_keys,
    audit_page,
    broadcasts,
    domains,
    settings,
    suppressions,
    templates_page,
    users,
    webhooks,
)

PAGES = (api_keys, audit_page, broadcasts, domains, settings, suppressions, templates_page, users, webhooks)
