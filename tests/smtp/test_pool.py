"""The connection pool: reuse, NOOP check, isolation by key, bounds, recycling, fork safety."""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import replace

import pytest

from mailer.smtp.handler import SmtpSender
from mailer.smtp.pool import ConnectionPool, default_pool
from mailer.smtp.results import Outcome
from tests.smtp.smtpd import ScriptedServer


def test_reuse_across_sends(handler, server, recorder, make_mail, pool) -> None:
    """Two sends, one connection."""
    handler.send(server, make_mail("a@example.com"))
    handler.send(server, make_mail("b@example.com"))
    assert len(recorder.peers) == 1
    stats = pool.stats()
    assert (stats.opened, stats.reused, stats.idle, stats.in_use) == (1, 1, 1, 0)


def test_a_connection_given_back_moments_ago_is_reused_without_noop(make_server, make_mail) -> None:
    """Within unprobed_reuse_seconds and with nothing to read on its socket: no NOOP round trip; later, NOOP."""
    pool = ConnectionPool(unprobed_reuse_seconds=0.3)
    handler = SmtpSender(pool)
    with ScriptedServer() as smtp:
        server = make_server(smtp.port)
        handler.send(server, make_mail("a@example.com"))
        handler.send(server, make_mail("b@example.com"))
        assert b"NOOP" not in smtp.verbs
        time.sleep(0.4)
        handler.send(server, make_mail("c@example.com"))
        pool.close()
    assert smtp.verbs.count(b"NOOP") == 1 and smtp.connections == 1 and len(smtp.messages) == 3


def test_a_connection_the_server_closed_moments_ago_is_probed_and_replaced(make_server, make_mail) -> None:
    """An unsolicited 421 and close while pooled: the poll sees it, so NOOP, a new connection, one delivery."""
    with ScriptedServer() as smtp:
        server = make_server(smtp.port)
        pool = ConnectionPool()
        handler = SmtpSender(pool)
        handler.send(server, make_mail("a@example.com"))
        for conn in smtp._open:
            conn.sendall(b"421 4.4.2 idle too long\r\n")
            conn.shutdown(socket.SHUT_RDWR)
        time.sleep(0.1)
        [result] = handler.send(server, make_mail("b@example.com"))
        pool.close()
    assert result.outcome is Outcome.SENT
    assert smtp.connections == 2 and len(smtp.messages) == 2
    assert (pool.stats().opened, pool.stats().discarded) == (2, 1)


def test_dead_pooled_connection_replaced_with_exactly_one_delivery(
    handler, smtpd_factory, recorder, make_server, make_mail, pool
) -> None:
    """The server timed out the idle connection: NOOP fails, a new one delivers once."""
    smtpd = smtpd_factory(recorder, timeout=0.2)
    server = make_server(smtpd.port)
    handler.send(server, make_mail("a@example.com"))
    time.sleep(0.5)

    [result] = handler.send(server, make_mail("b@example.com"))

    assert result.outcome is Outcome.SENT
    assert [m.rcpt_tos for m in recorder.messages] == [("a@example.com",), ("b@example.com",)]
    assert (pool.stats().opened, pool.stats().discarded) == (2, 1)


@pytest.mark.parametrize("on_second_mail", ["drop", "421"])
def test_connection_dying_after_the_check_is_retried_on_a_new_one(handler, make_server, make_mail,
                                                                   on_second_mail: str) -> None:
    """Closed unanswered, or told 421, at MAIL just after the pool found it ready: nothing was sent, so one retry
    on a new connection, no deferral."""
    with ScriptedServer(on_second_mail=on_second_mail) as smtp:
        server = make_server(smtp.port)
        handler.send(server, make_mail("a@example.com"))
        [result] = handler.send(server, make_mail("b@example.com"))
    assert result.outcome is Outcome.SENT
    assert smtp.connections == 2 and len(smtp.messages) == 2


def test_a_421_at_mail_on_a_new_connection_is_a_deferral(handler, make_server, make_mail) -> None:
    """Only a reused connection is tried again: a new one told 421 at MAIL defers the mail (once)."""
    with ScriptedServer(on_second_mail="421") as smtp:
        server = make_server(smtp.port)
        [first, second] = handler.send_batch(server, [make_mail("a@example.com"), make_mail("b@example.com")])
    assert first[0].outcome is Outcome.SENT and second[0].outcome is Outcome.DEFERRED
    assert second[0].smtp_code == 421 and smtp.connections == 1 and len(smtp.messages) == 1


def test_no_reuse_across_owners_or_credentials(handler, server, recorder, make_mail, pool) -> None:
    """A connection belongs to one (owner, credentials, TLS settings)."""
    handler.send(server, make_mail("a@example.com"))
    handler.send(replace(server, owner="tenant-2"), make_mail("b@example.com"))
    handler.send(replace(server, password="other"), make_mail("c@example.com"))
    handler.send(replace(server, verify_tls=False), make_mail("d@example.com"))
    assert len(recorder.peers) == 4
    assert pool.stats().opened == 4 and pool.stats().reused == 0


def test_bounded_per_key_under_threads(smtpd_factory, recorder, make_server, make_mail) -> None:
    """Eight threads, max two connections: the server never sees a third; all delivered."""
    pool = ConnectionPool(max_per_key=2)
    handler = SmtpSender(pool)
    recorder.data_delay = 0.02
    server = make_server(smtpd_factory(recorder).port)
    outcomes: list[Outcome] = []

    def work(i: int) -> None:
        for j in range(3):
            outcomes.extend(r.outcome for r in handler.send(server, make_mail(f"u{i}.{j}@example.com")))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pool.close()

    assert outcomes == [Outcome.SENT] * 24
    assert len(recorder.messages) == 24
    assert len(recorder.peers) <= 2
    assert pool.stats().opened <= 2


def test_recycled_by_message_count(server, recorder, make_mail) -> None:
    """After max_messages a connection is closed (QUIT) and a fresh one carries on."""
    pool = ConnectionPool(max_messages=2)
    results = SmtpSender(pool).send_batch(server, [make_mail(f"u{i}@example.com") for i in range(5)])
    pool.close()
    assert [r.outcome for [r] in results] == [Outcome.SENT] * 5
    assert len(recorder.peers) == 3
    assert (pool.stats().opened, pool.stats().recycled) == (3, 2)


def test_recycled_by_age(server, recorder, make_mail) -> None:
    pool = ConnectionPool(max_age=0.0)
    handler = SmtpSender(pool)
    handler.send(server, make_mail("a@example.com"))
    handler.send(server, make_mail("b@example.com"))
    pool.close()
    assert len(recorder.peers) == 2 and pool.stats().reused == 0


def test_close_quits_idle_connections(handler, server, make_mail, pool) -> None:
    handler.send(server, make_mail("a@example.com"))
    handler.close()
    assert pool.stats().idle == 0


def test_forked_child_never_uses_the_parents_connection(server, recorder, make_mail) -> None:
    """The default pool is per process: a child opens its own connection, the parent keeps its own."""
    handler = SmtpSender()
    parent_pool = default_pool()
    handler.send(server, make_mail("parent1@example.com"))
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        ok = default_pool() is not parent_pool and default_pool().stats().opened == 0
        [result] = handler.send(server, make_mail("child@example.com"))
        ok = ok and result.outcome is Outcome.SENT and default_pool().stats().opened == 1
        os.write(write_end, b"1" if ok else b"0")
        os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    child_ok = os.read(read_end, 1)
    os.close(read_end)

    reused_before = parent_pool.stats().reused  # the pool is process-wide: other tests may have used it
    [result] = handler.send(server, make_mail("parent2@example.com"))
    reused_after = parent_pool.stats().reused
    handler.close()

    assert status == 0 and child_ok == b"1"
    assert result.outcome is Outcome.SENT
    assert default_pool() is parent_pool and reused_after == reused_before + 1
    assert len(recorder.peers) == 2
    assert [m.rcpt_tos[0] for m in recorder.messages] == [
        "parent1@example.com",
        "child@example.com",
        "parent2@example.com",
    ]
