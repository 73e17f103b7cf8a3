"""JSON shape of a sending domain: never its private key."""

from __future__ import annotations

from typing import Any

from flask import current_app

from mailer.domains.records import records_for
from mailer.domains.service import Found
from mailer.http.json import iso
from mailer.models import SendingDomain


def domain_json(domain: SendingDomain, found: Found | None = None) -> dict[str, Any]:
    """With ``found`` (a check just made), each record also says what the resolvers returned for it."""
    records = records_for(current_app.config["MAILER"], domain)
    dns_records = [{"type": r.type, "name": r.name, "value": r.value, "status": r.status,
                    "purpose": r.purpose} for r in records]
    if found is not None:
        for record in dns_records:
            record["found"] = found.get((record["type"], record["name"]))
    return {
        "id": str(domain.id),
        "name": domain.name,
        "status": domain.status,
        "dkim_selector": domain.keys[-1].selector,
        "dns_records": dns_records,
        "created_at": iso(domain.created_at),
        "verified_at": iso(domain.verified_at),
        "checked_at": iso(domain.checked_at),
    }
