"""SMTP throughput: the handler's batch API against raw smtplib.

    .venv/bin/python bench/smtp_throughput.py [--n 500] [--encryption starttls|none|ssl]

Starts a local aiosmtpd sink (every message answered "250 OK") in a separate process,
so the server does not share our GIL, and sends N messages of two sizes (~1 KB text,
~30 KB multipart) three ways:

- handler: ``SmtpSender.send_batch`` (pooled connection, per-recipient results);
- raw persistent: ``smtplib.SMTP.sendmail`` on one connection (the limit);
- naive: a new smtplib connection (connect, EHLO, STARTTLS, EHLO, send, QUIT) per message.

Both smtplib variants reuse one TLS context, so the naive figure is not inflated by
building a context per connection. The last line is JSON; its headline keys are the
30 KB multipart figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import smtplib
import socket
import ssl
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailer.smtp.handler import OutgoingMail, SmtpSender
from mailer.smtp.mime import Address, Attachment, MessageContent, build_message, make_message_id, to_bytes
from mailer.smtp.pool import ConnectionPool
from mailer.smtp.settings import Encryption, SmtpServer

HOST = "127.0.0.1"


class Sink:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


def run_sink(port_queue: multiprocessing.Queue, cert_dir: str, encryption: str) -> None:
    from aiosmtpd.controller import Controller

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(os.path.join(cert_dir, "server.pem"))
    kwargs: dict[str, object] = {}
    if encryption == "starttls":
        kwargs = {"tls_context": context, "require_starttls": True}
    elif encryption == "ssl":
        kwargs = {"ssl_context": context}
    with _free_port_socket() as probe:
        port = probe.getsockname()[1]
    controller = Controller(Sink(), hostname=HOST, port=port, server_hostname="sink.test", **kwargs)
    controller.start()
    port_queue.put(port)
    time.sleep(3600)


def _free_port_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind((HOST, 0))
    return sock


def make_mails(n: int, size: str) -> list[OutgoingMail]:
    mails = []
    for i in range(n):
        if size == "1k":
            content = MessageContent(
                sender=Address("bench@example.com", "Bench"),
                to=(Address(f"user{i}@example.com"),),
                subject=f"Bench {i}",
                text=("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 16)[:900],
            )
        else:
            html = "<html><body>" + "<p>Lorem <b>ipsum</b> dolor sit amet, consectetur.</p>" * 60 + "</body></html>"
            content = MessageContent(
                sender=Address("bench@example.com", "Bench"),
                to=(Address(f"user{i}@example.com"),),
                subject=f"Bench {i}",
                html=html,
                attachments=(Attachment("data.bin", "application/octet-stream", os.urandom(18_000)),),
            )
        message_id = make_message_id("example.com")
        mails.append(
            OutgoingMail(
                "bench@example.com", tuple(content.envelope_recipients()), to_bytes(build_message(content)), message_id
            )
        )
    return mails


class NoDelaySMTP(smtplib.SMTP):
    """smtplib with TCP_NODELAY, as any serious client sets it (else ~40 ms stalls per message)."""

    def _get_socket(self, host, port, timeout):  # type: ignore[no-untyped-def]
        sock = super()._get_socket(host, port, timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


class NoDelaySMTP_SSL(smtplib.SMTP_SSL):
    def _get_socket(self, host, port, timeout):  # type: ignore[no-untyped-def]
        sock = super()._get_socket(host, port, timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


def raw_connect(server: SmtpServer, context: ssl.SSLContext | None, *, nodelay: bool = True) -> smtplib.SMTP:
    if server.encryption is Encryption.SSL:
        ssl_class = NoDelaySMTP_SSL if nodelay else smtplib.SMTP_SSL
        return ssl_class(server.host, server.port, local_hostname="bench.test", context=context)
    client = (NoDelaySMTP if nodelay else smtplib.SMTP)(server.host, server.port, local_hostname="bench.test")
    if server.encryption is Encryption.STARTTLS:
        client.starttls(context=context)
    return client


def bench_handler(server: SmtpServer, mails: list[OutgoingMail]) -> float:
    pool = ConnectionPool(max_messages=len(mails) + 1)
    handler = SmtpSender(pool)
    started = time.perf_counter()
    results = handler.send_batch(server, mails)
    elapsed = time.perf_counter() - started
    handler.close()
    assert all(r.outcome == "sent" for batch in results for r in batch), results[:1]
    return len(mails) / elapsed


def bench_raw(
    server: SmtpServer, mails: list[OutgoingMail], context: ssl.SSLContext | None, *, nodelay: bool = True
) -> float:
    started = time.perf_counter()
    client = raw_connect(server, context, nodelay=nodelay)
    for mail in mails:
        client.sendmail(mail.sender, list(mail.recipients), mail.wire)
    client.quit()
    return len(mails) / (time.perf_counter() - started)


def bench_naive(server: SmtpServer, mails: list[OutgoingMail], context: ssl.SSLContext | None) -> float:
    started = time.perf_counter()
    for mail in mails:
        client = raw_connect(server, context)
        client.sendmail(mail.sender, list(mail.recipients), mail.wire)
        client.quit()
    return len(mails) / (time.perf_counter() - started)


def best_of(runs: int, measure: Callable[[], float]) -> float:
    return max(measure() for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500, help="messages per size and method (naive: n/5, min 20)")
    parser.add_argument("--encryption", choices=["starttls", "none", "ssl"], default="starttls")
    parser.add_argument("--runs", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()

    import trustme

    with tempfile.TemporaryDirectory() as cert_dir:
        ca = trustme.CA()
        ca.issue_cert(HOST).private_key_and_cert_chain_pem.write_to_path(os.path.join(cert_dir, "server.pem"))
        ca_file = os.path.join(cert_dir, "ca.pem")
        ca.cert_pem.write_to_path(ca_file)
        ports: multiprocessing.Queue = multiprocessing.Queue()
        sink = multiprocessing.Process(target=run_sink, args=(ports, cert_dir, args.encryption), daemon=True)
        sink.start()
        try:
            port = ports.get(timeout=30)
            figures = run_all(args, SmtpServer(HOST, port, encryption=Encryption(args.encryption), ca_file=ca_file))
        finally:
            sink.terminate()
            sink.join()
    print(json.dumps(figures))


def run_all(args: argparse.Namespace, server: SmtpServer) -> dict[str, object]:
    context = ssl.create_default_context(cafile=server.ca_file) if server.encryption is not Encryption.NONE else None
    print(f"encryption={server.encryption} n={args.n} best of {args.runs} runs; sink is aiosmtpd in another process")
    per_size: dict[str, dict[str, float]] = {}
    for size in ("1k", "30k"):
        mails = make_mails(args.n, size)
        naive_mails = mails[: max(20, args.n // 5)]
        bench_handler(server, mails[:20])  # warm-up: imports, TLS context cache, server task
        handler = best_of(args.runs, lambda m=mails: bench_handler(server, m))
        raw = best_of(args.runs, lambda m=mails: bench_raw(server, m, context))
        naive = best_of(args.runs, lambda m=naive_mails: bench_naive(server, m, context))
        few = mails[: max(20, args.n // 10)]
        raw_nagle = bench_raw(server, few, context, nodelay=False)
        per_size[size] = {"handler": handler, "raw": raw, "naive": naive, "raw_without_nodelay": raw_nagle}
        label = "1 KB text" if size == "1k" else f"~{len(mails[0].wire) // 1024} KB multipart"
        print(
            f"{label:>20}: handler {handler:7.1f} msg/s | raw persistent {raw:7.1f} msg/s | "
            f"naive {naive:6.1f} msg/s | handler/raw {handler / raw:.2f} | handler/naive {handler / naive:.1f}"
        )
        print(f"{'':>20}  (raw persistent without TCP_NODELAY: {raw_nagle:.1f} msg/s)")
    big, small = per_size["30k"], per_size["1k"]
    mean = {key: (big[key] + small[key]) / 2 for key in big}
    print(
        f"{'mean of both sizes':>20}: handler/raw {mean['handler'] / mean['raw']:.2f} | "
        f"handler/naive {mean['handler'] / mean['naive']:.1f}"
    )
    print("headline figures (JSON below): the ~30 KB multipart run; mean_* keys: mean msgs/s of both sizes")
    return {
        "handler_msgs_per_s": round(big["handler"], 1),
        "raw_persistent_msgs_per_s": round(big["raw"], 1),
        "naive_msgs_per_s": round(big["naive"], 1),
        "ratio_vs_raw": round(big["handler"] / big["raw"], 3),
        "ratio_vs_naive": round(big["handler"] / big["naive"], 2),
        "size": "30k_multipart",
        "encryption": str(server.encryption),
        "n": args.n,
        "mean_ratio_vs_raw": round(mean["handler"] / mean["raw"], 3),
        "mean_ratio_vs_naive": round(mean["handler"] / mean["naive"], 2),
        "raw_persistent_without_nodelay_msgs_per_s": round(big["raw_without_nodelay"], 1),
        "small_1k": {key: round(value, 1) for key, value in small.items()},
    }


if __name__ == "__main__":
    main()
