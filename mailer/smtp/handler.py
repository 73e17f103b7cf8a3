"""Delivers mail over pooled SMTP connections and returns a result per recipient."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from mailer.smtp.connection import Connection, ServerFault
from mailer.smtp.pool import ConnectionPool, PoolStats, default_pool
from mailer.smtp.replies import Reply, deferred
from mailer.smtp.results import RecipientResult
from mailer.smtp.settings import SmtpServer
from mailer.smtp.transaction import OutgoingMail, TransactionResult, deliver

__all__ = ["OutgoingMail", "ResultCallback", "SmtpSender"]

ResultCallback = Callable[[int, list[RecipientResult]], None]


class SmtpSender:
    """Sends OutgoingMail to a server; never reports sent without a 250 to the data.

    ``pool`` defaults to this process's pool (see pool.default_pool), so a sender made
    before a fork is safe to use in the child. Nothing here raises for SMTP or network
    trouble: every problem becomes a RecipientResult.
    """

    def __init__(self, pool: ConnectionPool | None = None) -> None:
        self._pool = pool

    @property
    def pool(self) -> ConnectionPool:
        return self._pool if self._pool is not None else default_pool()

    def stats(self) -> PoolStats:
        return self.pool.stats()

    def close(self) -> None:
        """QUIT the pooled idle connections (of this sender's pool)."""
        self.pool.close()

    @staticmethod
    def max_duration(server: SmtpServer, n_mails: int) -> float:
        """Upper bound, in seconds, of ``send_batch(server, <n_mails mails>)``.

        Each message has ``server.attempt_deadline`` (a reused connection that turns
        out dead adds one more attempt for one message), plus one timeout for a QUIT.
        Job timeouts must be longer than this.
        """
        return (n_mails + 1) * server.attempt_deadline + server.timeout

    def send(self, server: SmtpServer, mail: OutgoingMail) -> list[RecipientResult]:
        """One result per envelope recipient of ``mail``, in order."""
        return self.send_batch(server, [mail])[0]

    def send_batch(self, server: SmtpServer, mails: Sequence[OutgoingMail],
                   on_result: ResultCallback | None = None) -> list[list[RecipientResult]]:
        """Results for each mail (one per envelope recipient, in order), sharing one connection.

        A mail's failure does not disturb the others: a connection lost between mails is
        replaced. When the server cannot be reached at all, the remaining mails are
        deferred without trying again (bounding the time a dead server costs).
        ``on_result(index, results)`` is called as soon as each mail's results are known (before
        the next mail is tried), so a caller can make them durable one mail at a time.
        """
        pool = self.pool
        results: list[list[RecipientResult]] = []
        connection: Connection | None = None

        def add(mail_results: list[RecipientResult]) -> None:
            results.append(mail_results)
            if on_result is not None:
                on_result(len(results) - 1, mail_results)

        try:
            for index, mail in enumerate(mails):
                deadline = time.monotonic() + server.attempt_deadline
                try:
                    if connection is None:
                        connection = pool.acquire(server, deadline)
                    result = deliver(connection, mail, deadline)
                    if result.untouched and connection.reused:
                        # Died (or said 421) since the pool checked it, before our MAIL: nothing was sent, try a
                        # fresh one.
                        pool.discard(connection)
                        connection = None
                        deadline = time.monotonic() + server.attempt_deadline
                        connection = pool.acquire(server, deadline)
                        result = deliver(connection, mail, deadline)
                except ServerFault as fault:
                    for later in mails[index:]:
                        add(_defer_all(later, fault.reply))
                    break
                if result.broken:
                    pool.discard(connection)
                    connection = None
                elif pool.worn_out(connection):
                    pool.release(connection)
                    connection = None
                add(_in_order(mail, result))
        except BaseException:
            if connection is not None:
                pool.discard(connection)
            raise
        if connection is not None:
            pool.release(connection)
        return results


def _in_order(mail: OutgoingMail, result: TransactionResult) -> list[RecipientResult]:
    return [result.results[rcpt] for rcpt in mail.recipients]


def _defer_all(mail: OutgoingMail, reply: Reply) -> list[RecipientResult]:
    return [deferred(rcpt, reply, None) for rcpt in mail.recipients]
