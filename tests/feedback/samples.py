"""Realistic reports, as real MTAs and mailbox providers write them (Postfix DSN, Exim, qmail, ARF).

Each builder returns the raw bytes a receiver gets; the original message's headers are returned
inside, as the real ones do.
"""

from __future__ import annotations


def _crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def postfix_dsn(*, to: str, verp: str, recipient: str, original_message_id: str, action: str = "failed",
                status: str = "5.1.1", diagnostic: str = "smtp; 550 5.1.1 <{r}>: Recipient address rejected: "
                "User unknown in virtual mailbox table", report_id: str = "<20261201220001.4F2B51C0A1@mx.example.net>",
                remote_mta: str = "mx.example.com") -> bytes:
    """An RFC 3464 report as Postfix's bounce daemon writes it."""
    diagnostic = diagnostic.format(r=recipient)
    subject = "Undelivered Mail Returned to Sender" if action == "failed" else "Delayed Mail (still being retried)"
    return _crlf(f"""Return-Path: <>
Received: by mx.example.net (Postfix) id 4F2B51C0A1; Tue,  1 Dec 2026 22:00:01 +0000 (UTC)
Date: Tue,  1 Dec 2026 22:00:01 +0000 (UTC)
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
Subject: {subject}
To: {to}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="4F2B51C0A1.1764626401/mx.example.net"
Content-Transfer-Encoding: 8bit
Message-Id: {report_id}

This is a MIME-encapsulated message.

--4F2B51C0A1.1764626401/mx.example.net
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

<{recipient}>: host {remote_mta}[192.0.2.25] said: {diagnostic.removeprefix("smtp; ")}

--4F2B51C0A1.1764626401/mx.example.net
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
X-Postfix-Queue-ID: 4F2B51C0A1
X-Postfix-Sender: rfc822; {verp}
Arrival-Date: Tue,  1 Dec 2026 21:59:58 +0000 (UTC)

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; {remote_mta}
Diagnostic-Code: {diagnostic}

--4F2B51C0A1.1764626401/mx.example.net
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

Return-Path: <{verp}>
From: Acme <news@acme.test>
To: {recipient}
Subject: Hello
Message-ID: {original_message_id}
MIME-Version: 1.0

--4F2B51C0A1.1764626401/mx.example.net--
""")


def multi_dsn(*, to: str, verp: str, failures: list[tuple[str, str]], original_message_id: str) -> bytes:
    """One DSN about several recipients (as from a relay that sent one copy to many)."""
    blocks = "\n".join(
        f"Final-Recipient: rfc822; {r}\nAction: failed\nStatus: {s}\nDiagnostic-Code: smtp; 550 {s} no\n"
        for r, s in failures
    )
    return _crlf(f"""From: MAILER-DAEMON@relay.example.net
To: {to}
Subject: Undelivered Mail Returned to Sender
Message-ID: <multi-{len(failures)}@relay.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Some recipients failed.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example.net

{blocks}
--B
Content-Type: text/rfc822-headers

Return-Path: <{verp}>
Message-ID: {original_message_id}

--B--
""")


def qmail_bounce(*, to: str, recipient: str, original_message_id: str) -> bytes:
    """qmail-send's QSBMF bounce: not RFC 3464; flufl.bounce's Qmail detector reads it."""
    return _crlf(f"""Return-Path: <>
Date: 1 Dec 2026 22:00:03 -0000
From: MAILER-DAEMON@mail.example.org
To: {to}
Subject: failure notice
Message-ID: <20261201220003.1234.qmail@mail.example.org>

Hi. This is the qmail-send program at mail.example.org.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<{recipient}>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

Return-Path: <{to}>
From: Acme <news@acme.test>
To: {recipient}
Subject: Hello
Message-ID: {original_message_id}

Hello there
""")


def exim_bounce(*, to: str, recipient: str, original_message_id: str) -> bytes:
    """Exim's classic plain-text bounce with X-Failed-Recipients (flufl.bounce's Exim detector)."""
    return _crlf(f"""Return-path: <>
From: Mail Delivery System <Mailer-Daemon@smtp.example.co.uk>
To: {to}
Subject: Mail delivery failed: returning message to sender
Message-Id: <E1kXyZa-0001Ab-Cd@smtp.example.co.uk>
X-Failed-Recipients: {recipient}
Auto-Submitted: auto-replied

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {recipient}
    SMTP error from remote mail server after RCPT TO:<{recipient}>:
    550 5.1.1 User unknown

------ This is a copy of the message, including all the headers. ------

From: Acme <news@acme.test>
To: {recipient}
Subject: Hello
Message-ID: {original_message_id}

Hello there
""")


def arf_complaint(*, to: str, recipient: str, original_message_id: str,
                  feedback_type: str = "abuse", report_id: str = "<arf-20261201-0001@fbl.example.net>") -> bytes:
    """An RFC 5965 abuse report as a mailbox provider's feedback loop sends it."""
    return _crlf(f"""From: FBL <staff@fbl.example.net>
To: {to}
Subject: FW: Hello
Message-ID: {report_id}
Date: Tue, 1 Dec 2026 22:05:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="part1_13d.2e68ed54_boundary"

--part1_13d.2e68ed54_boundary
Content-Type: text/plain; charset="US-ASCII"
Content-Transfer-Encoding: 7bit

This is an email abuse report for an email message received from IP
192.0.2.1 on Tue, 1 Dec 2026 21:58:12 +0000.

--part1_13d.2e68ed54_boundary
Content-Type: message/feedback-report

Feedback-Type: {feedback_type}
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <{to}>
Original-Rcpt-To: <{recipient}>
Arrival-Date: Tue, 1 Dec 2026 21:58:12 +0000
Reporting-MTA: dns; mail.fbl.example.net
Source-IP: 192.0.2.1

--part1_13d.2e68ed54_boundary
Content-Type: message/rfc822
Content-Disposition: inline

From: Acme <news@acme.test>
To: {recipient}
Subject: Hello
Message-ID: {original_message_id}
Date: Tue, 1 Dec 2026 21:58:10 +0000

Hello there

--part1_13d.2e68ed54_boundary--
""")


def auto_reply(*, to: str) -> bytes:
    """An out-of-office reply: neither a bounce nor a complaint."""
    return _crlf(f"""From: Ann <ann@example.com>
To: {to}
Subject: Out of office
Message-ID: <ooo-1@example.com>
Auto-Submitted: auto-replied

I am away until Monday.
""")
