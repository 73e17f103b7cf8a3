"""What DKIM signing costs: `python bench/signing.py [--n 2000] [--pipeline-n 3000]`.

1. sign        — ``sign_wire`` alone (dkimpy canonicalization and tags, OpenSSL RSA-2048) on a 1 KB text
                 mail and a ~30 KB multipart one, against dkimpy's own ``dkim.sign`` (pure-Python RSA).
2. compose     — ``mail.compose.compose`` in an app (what POST /v1/messages does per message), From a
                 verified domain (signed: key lookup in the database + signature) and From an unverified one.
3. pipeline    — bench/pipeline.py's end-to-end run (outbox → 2 rq workers → SMTP sink) with every mail
                 signed as compose signs it, against the same run unsigned (--pipeline-n 0 skips it).

Uses a temp SQLite database; Redis --redis-url (default BENCH_REDIS_URL or db 13) is FLUSHED by part 3.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import pipeline  # noqa: E402

DOMAIN = "acme.test"


def _per_message_ms(function: Any, n: int) -> float:
    function()  # warm caches (key parsing) as a running process has them
    started = time.perf_counter()
    for _ in range(n):
        function()
    return (time.perf_counter() - started) / n * 1000


def _mails() -> dict[str, bytes]:
    from mailer.smtp.mime import Address, Attachment, MessageContent, build_message, to_bytes

    def build(text: str, html: str | None, attachments: tuple[Attachment, ...] = ()) -> bytes:
        content = MessageContent(sender=Address(f"news@{DOMAIN}", "Acme"), to=(Address("ann@example.com"),),
                                 subject="Your receipt", text=text, html=html, attachments=attachments)
        return to_bytes(build_message(content))

    return {
        "1kb_text": build("Hello Ann, thanks for your order.\n" * 28, None),
        "30kb_multipart": build("Hello\n" * 500, "<p>Hello</p>" * 1500,
                                (Attachment("r.pdf", "application/pdf", os.urandom(12_000)),)),
    }


def run_sign(n: int) -> dict[str, float]:
    import dkim

    from mailer.domains.keys import new_dkim_key
    from mailer.domains.signing import Signer, sign_wire

    key = new_dkim_key()
    signer = Signer(DOMAIN, key.selector, key.private_pem.encode())
    figures = {}
    for name, wire in _mails().items():
        figures[f"sign_{name}_ms"] = _per_message_ms(lambda wire=wire: sign_wire(signer, wire), n)
        figures[f"dkimpy_pure_python_{name}_ms"] = _per_message_ms(
            lambda wire=wire: dkim.sign(wire, key.selector.encode(), DOMAIN.encode(), key.private_pem.encode(),
                                        canonicalize=(b"relaxed", b"relaxed")), max(20, n // 50))
    return figures


def _seed_verified_domain(app: Any) -> uuid.UUID:
    from sqlalchemy import select

    from mailer.domains.keys import new_dkim_key
    from mailer.extensions import db
    from mailer.models import DkimKey, RecordStatus, SendingDomain, Tenant
    from mailer.security.secret_box import secret_box

    with app.app_context():
        tenant = db.session.scalars(select(Tenant)).one()
        key = new_dkim_key()
        domain = SendingDomain(tenant_id=tenant.id, name=DOMAIN, status=RecordStatus.VERIFIED.value)
        domain.keys.append(DkimKey(tenant_id=tenant.id, selector=key.selector, public_key=key.public_key,
                                   status=RecordStatus.VERIFIED.value,
                                   private_key_sealed=secret_box(app.config["MAILER"].SECRETS_KEY).seal(key.private_pem)))
        db.session.add(domain)
        db.session.commit()
        return tenant.id


def run_compose(app: Any, n: int) -> dict[str, float]:
    from mailer.extensions import db
    from mailer.mail.compose import compose
    from mailer.models import Tenant
    from mailer.smtp.mime import Address

    tenant_id = _seed_verified_domain(app)
    figures = {}
    with app.app_context():
        config = app.config["MAILER"]
        tenant = db.session.get(Tenant, tenant_id)
        for label, sender in (("signed", f"news@{DOMAIN}"), ("unsigned", "news@unverified.test")):
            tenant.mail_from = sender

            def one(signed: bool = label == "signed") -> None:
                composed = compose(config, tenant, to=[Address("ann@example.com")], subject="Your receipt",
                                   text="Hello Ann, thanks for your order.\n" * 28, html=None)
                assert (b"DKIM-Signature" in composed.wire) == signed

            figures[f"compose_{label}_ms"] = _per_message_ms(one, n)
        db.session.rollback()
    return figures


def run_pipelines(app: Any, n: int, redis_url: str, env: dict[str, str], port: int) -> dict[str, float]:
    from mailer.domains.keys import new_dkim_key
    from mailer.domains.signing import Signer, sign_wire

    key = new_dkim_key()
    signer = Signer(DOMAIN, key.selector, key.private_pem.encode())
    unsigned_wire = pipeline._wire
    figures = {}
    sink = pipeline.SinkProcess(port)
    try:
        for label, wire in (("unsigned", unsigned_wire),
                            ("signed", lambda address, index: (sign_wire(signer, unsigned_wire(address, index)[0]),
                                                               "<signed@acme.test>"))):
            pipeline._wire = wire  # the bench builds its mails here; signed as compose would sign them
            rate, _, _ = pipeline.run_pipeline(sink, n, app, redis_url, env, "mailer.worker.MailerWorker", 3600)
            figures[f"pipeline_{label}_msgs_per_s"] = rate
            print(f"pipeline {label}: {rate:.1f} msgs/s ({n} mails)", flush=True)
    finally:
        pipeline._wire = unsigned_wire
        sink.stop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="messages signed / composed per measurement")
    parser.add_argument("--pipeline-n", type=int, default=3000, help="mails per end-to-end run (0: skip)")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    args = parser.parse_args()

    figures = run_sign(args.n)
    for name, value in figures.items():
        print(f"{name}: {value:.3f}", flush=True)
    tmp = tempfile.mkdtemp(prefix="mailer-bench-dkim-")
    url = f"sqlite:///{tmp}/bench.db"
    app = pipeline._prepare_database(url, args.redis_url)
    composed = run_compose(app, args.n)
    for name, value in composed.items():
        print(f"{name}: {value:.3f}", flush=True)
    figures.update(composed)
    if args.pipeline_n:
        port = pipeline._free_port()
        env = dict(os.environ, DATABASE_URL=url, REDIS_URL=args.redis_url, JWT_SECRET_KEY=pipeline.JWT_KEY,
                   SECRETS_KEY=pipeline.SECRETS_KEY, SMTP_HOST="127.0.0.1", SMTP_PORT=str(port),
                   PYTHONPATH=str(ROOT), LOG_FORMAT="text")
        figures.update(run_pipelines(app, args.pipeline_n, args.redis_url, env, port))
        figures["pipeline_signed_ratio"] = (figures["pipeline_signed_msgs_per_s"]
                                            / figures["pipeline_unsigned_msgs_per_s"])
    print(json.dumps({name: round(value, 3) for name, value in figures.items()}))


if __name__ == "__main__":
    main()
