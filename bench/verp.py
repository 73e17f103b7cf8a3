"""What a return path per recipient (VERP) costs: one message to N recipients as one SMTP transaction
(no BOUNCE_DOMAIN) against N transactions, each with its own MAIL FROM (BOUNCE_DOMAIN set).

    .venv/bin/python bench/verp.py [--recipients 50] [--messages 40]

Both go through the SmtpSender on one pooled connection to an aiosmtpd sink in its own process;
the message is ~5 KB. The baseline is the shared transaction, in the same run. The last line
printed is one JSON object. A benchmark, not a test: it reports, it does not assert.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mailer.smtp.handler import OutgoingMail, SmtpSender
from mailer.smtp.pool import ConnectionPool
from mailer.smtp.settings import Encryption, SmtpServer

HOST = "127.0.0.1"


class Sink:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


def run_sink(port_queue: multiprocessing.Queue) -> None:
    import socket
    import threading

    from aiosmtpd.controller import Controller

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
    controller = Controller(Sink(), hostname=HOST, port=port)
    controller.start()
    port_queue.put(port)
    threading.Event().wait()


def timed(handler: SmtpSender, server: SmtpServer, batches: list[list[OutgoingMail]]) -> float:
    started = time.perf_counter()
    for mails in batches:
        results = handler.send_batch(server, mails)
        assert all(r.outcome.value == "sent" for rs in results for r in rs)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=50)
    parser.add_argument("--messages", type=int, default=40)
    args = parser.parse_args()
    ports: multiprocessing.Queue = multiprocessing.Queue()
    sink = multiprocessing.Process(target=run_sink, args=(ports,), daemon=True)
    sink.start()
    server = SmtpServer(host=HOST, port=ports.get(timeout=30), encryption=Encryption.NONE, timeout=10, owner="bench")
    body = (b"From: news@acme.test\r\nTo: undisclosed-recipients:;\r\nSubject: hello\r\n"
            b"Message-ID: <bench@acme.test>\r\n\r\n" + (b"y" * 76 + b"\r\n") * 64)
    rcpts = [f"r{i}@example.com" for i in range(args.recipients)]
    shared = [[OutgoingMail("news@acme.test", tuple(rcpts), body, "<bench@acme.test>")]
              for _ in range(args.messages)]
    verp = [[OutgoingMail(f"b-{uuid.uuid4().hex}{'a' * 10}@bounces.acme.test", (rcpt,), body, "<bench@acme.test>")
             for rcpt in rcpts] for _ in range(args.messages)]
    handler = SmtpSender(ConnectionPool())
    timed(handler, server, shared[:2])  # warm the connection
    shared_s = min(timed(handler, server, shared) for _ in range(3))
    verp_s = min(timed(handler, server, verp) for _ in range(3))
    handler.close()
    sink.terminate()
    deliveries = args.messages * args.recipients
    per_shared, per_verp = shared_s / deliveries * 1e6, verp_s / deliveries * 1e6
    print(f"one transaction, {args.recipients} RCPT: {deliveries / shared_s:9.0f} recipients/s "
          f"({per_shared:.0f} µs each)", flush=True)
    print(f"VERP, a transaction each:     {deliveries / verp_s:9.0f} recipients/s ({per_verp:.0f} µs each)",
          flush=True)
    print(f"VERP costs {verp_s / shared_s:.1f}x the shared transaction's time per recipient", flush=True)
    print(json.dumps({"recipients": args.recipients, "messages": args.messages,
                      "shared_per_s": round(deliveries / shared_s), "verp_per_s": round(deliveries / verp_s),
                      "verp_cost_ratio": round(verp_s / shared_s, 2)}))


if __name__ == "__main__":
    main()
