"""JSON shape of a sending domain: never its private key."""

from __future__ import annotations

from typing import Any

from flask import current_app

from mailer.domains.records import records_for
from mailer.http.json import iso
from mailer.models import SendingDomain


def domain_json(domain: SendingDomain) -> dict[str, Any]:
    records = records_for(current_app.config["MAILER"], domain)
    return {
        "id": str(domain.id),
        "name": domain.name,
        "status": domain.status,
        "dkim_selector": domain.keys[-1].selector,
        "dns_records": [{"type": r.type, "name": r.name, "value": r.value, "status": r.status,
                         "purpose": r.purpose.value} for r in records],
        "created_at": iso(domain.created_at),
        "verified_at": iso(domain.verified_at),
        "checked_at": iso(domain.checked_at),
    }
