"""The SMTP client: builds, validates and delivers mail, returning a result
per recipient. It knows nothing of Flask or the database, so it is tested and
benchmarked on its own.

Modules, one job each:

- ``validation``: field checks before anything is queued (MessageValidationError, MessageTooLargeError);
- ``mime``: MessageContent -> EmailMessage -> wire bytes;
- ``settings``: SmtpServer (how to reach a relay; pool key; per-attempt deadline);
- ``connection``: one connection (TLS, AUTH, deadline on every byte);
- ``pool``: connections keyed by tenant and credentials, per process;
- ``transaction``: one message over one connection (MAIL/RCPT/DATA), OutgoingMail, TransactionResult;
- ``replies``: reply parsing and classification; ``results``: RecipientResult;
- ``handler``: SmtpSender.send / send_batch, the entry point for jobs.
"""
