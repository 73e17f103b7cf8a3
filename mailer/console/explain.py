"""What an SMTP reply, a recipient status or a suppression means, in the reader's language.

Enhanced status codes are read by RFC 3463: the class (2 success, 4 persistent transient failure,
5 permanent failure), the subject (x.1 addressing … x.7 security) and, for the common ones, the exact
detail (RFC 3463, RFC 7504, RFC 7505, RFC 8689 and the IANA registry's usual entries).
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l

CLASSES: dict[str, Any] = {
    "2": _l("Success: the receiving server accepted it."),
    "4": _l("Temporary failure: the receiving server asks to try again later."),
    "5": _l("Permanent failure: the receiving server refused it; trying again will not help."),
}
SUBJECTS: dict[str, Any] = {
    "0": _l("Other or undefined status."),
    "1": _l("A problem with the address."),
    "2": _l("A problem with the recipient's mailbox."),
    "3": _l("A problem with the receiving mail system."),
    "4": _l("A problem with the network or routing."),
    "5": _l("A problem in the mail delivery protocol."),
    "6": _l("A problem with the message content or its format."),
    "7": _l("A security or policy problem (for example, the sender is not authorized)."),
}
DETAILS: dict[str, Any] = {
    "0.0": _l("No further detail was given."),
    "1.0": _l("Something about the address is wrong."),
    "1.1": _l("The mailbox does not exist: the address is wrong or was closed."),
    "1.2": _l("The recipient's domain does not exist or does not accept mail."),
    "1.3": _l("The address is not written correctly."),
    "1.6": _l("The mailbox has moved and has no forwarding address."),
    "1.7": _l("The sender's address was refused."),
    "1.8": _l("The sender's domain was refused (it may not exist or may not accept replies)."),
    "1.10": _l("The recipient's domain says it accepts no mail at all (null MX)."),
    "2.0": _l("Something about the mailbox is wrong."),
    "2.1": _l("The mailbox is disabled and does not accept mail."),
    "2.2": _l("The mailbox is full."),
    "2.3": _l("The message is larger than this mailbox accepts."),
    "2.4": _l("Expanding the mailing list failed."),
    "3.0": _l("The receiving mail system has a problem."),
    "3.1": _l("The receiving mail system is out of storage."),
    "3.2": _l("The receiving mail system is not accepting mail now."),
    "3.4": _l("The message is too large for the receiving system."),
    "3.5": _l("The receiving system is configured wrongly."),
    "4.0": _l("A network or routing problem."),
    "4.1": _l("The receiving server did not answer."),
    "4.2": _l("The connection broke or the server is busy; often temporary greylisting."),
    "4.3": _l("A directory (DNS) lookup failed."),
    "4.4": _l("No route to the recipient's domain was found."),
    "4.5": _l("The mail system is congested."),
    "4.6": _l("A routing loop was detected."),
    "4.7": _l("The message was not delivered in time and expired."),
    "5.0": _l("The servers did not understand each other."),
    "5.1": _l("A command was not understood."),
    "5.2": _l("A command was not valid."),
    "5.3": _l("Too many recipients at once."),
    "5.4": _l("A command's arguments were not valid."),
    "6.0": _l("The message content was refused."),
    "6.1": _l("A part of the message was of a type the server does not accept."),
    "6.3": _l("Conversion was needed but not allowed."),
    "6.7": _l("The address is not in a form (non-ASCII) the server accepts."),
    "7.0": _l("Refused by a security or policy rule."),
    "7.1": _l("Delivery not authorized: refused by the receiving server's policy (often spam or reputation)."),
    "7.2": _l("Expanding the mailing list is not allowed."),
    "7.8": _l("Authentication failed."),
    "7.9": _l("The authentication mechanism is too weak."),
    "7.23": _l("SPF check failed: the sending server is not allowed to send for this domain."),
    "7.25": _l("The sending server's reverse DNS is missing or wrong."),
    "7.26": _l("Several authentication checks failed (SPF, DKIM, DMARC)."),
    "7.27": _l("The sender's domain accepts no mail (null MX)."),
}
# Where the class changes what a detail means in practice (what receivers commonly send it for).
EXACT: dict[str, Any] = {
    "4.2.0": _l("The mailbox is not available right now; often greylisting (a first attempt refused on purpose)."),
    "4.2.2": _l("The mailbox is full for now; space may free up."),
    "4.4.1": _l("The receiving server did not answer; it will be tried again."),
    "4.7.0": _l("Refused for now by a security or policy rule (for example, rate limiting)."),
    "4.7.1": _l("Not accepted from this sender for now (often rate limiting or reputation)."),
    "5.2.2": _l("The mailbox is full and the receiving server stopped trying."),
}
BASIC: dict[int, Any] = {
    250: _l("Accepted for delivery."),
    421: _l("The server is closing the connection for now; it will be tried again."),
    450: _l("The mailbox is not available right now."),
    451: _l("The server had a local error and asks to try again."),
    452: _l("The server has too little storage right now."),
    550: _l("The mailbox is not available (it may not exist), or the message was refused."),
    551: _l("The user is not local to this server."),
    552: _l("Storage exceeded: the mailbox is full or the message too large."),
    553: _l("The mailbox name is not allowed."),
    554: _l("The transaction failed (often refused as spam)."),
}
_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})$")


def reply_meaning(smtp_code: int | None, enhanced_code: str | None) -> list[Any]:
    """Sentences saying what a reply means: its class, its subject, its detail (or the basic code's)."""
    match = _ENHANCED.match(enhanced_code or "")
    if match:
        klass, subject, detail = match.groups()
        sentences = [CLASSES[klass]]
        if klass == "2" and subject == "0":  # a plain success says all there is to say
            return sentences
        exact = EXACT.get(f"{klass}.{subject}.{detail}") or DETAILS.get(f"{subject}.{detail}")
        sentences.append(exact if exact is not None else SUBJECTS.get(subject, SUBJECTS["0"]))
        return sentences
    if smtp_code is None:
        return []
    sentences = [CLASSES[str(smtp_code)[0]]] if str(smtp_code)[0] in CLASSES else []
    if smtp_code in BASIC:
        sentences.append(BASIC[smtp_code])
    return sentences


STATUS_MEANING: dict[str, Any] = {
    "queued": _l("Waiting to be sent."),
    "sending": _l("Being sent now."),
    "sent": _l("Accepted by the recipient's mail server."),
    "deferred": _l("Not delivered yet: the receiving server asked to try again later."),
    "failed": _l("Not delivered, and it will not be tried again."),
    "bounced": _l("Accepted at first, then a bounce report came back: not delivered."),
}
ERROR_MEANING: dict[str, Any] = {
    "recipient_rejected": _l("The receiving server refused the recipient."),
    "sender_rejected": _l("The receiving server refused the sender address."),
    "content_rejected": _l("The receiving server refused the content."),
    "message_too_large": _l("The message is larger than the receiving server accepts."),
    "smtputf8_unsupported": _l("The address needs SMTPUTF8, which the receiving server does not support."),
    "retries_exhausted": _l("Every retry failed; the time allowed for delivery ran out."),
    "invalid_message": _l("The message could not be built for this recipient."),
    "suppressed": _l("Not sent: the address is on the organization's suppression list."),
    "bounced": _l("A bounce report came back after the message was accepted."),
}
SUPPRESSION_REASONS: dict[str, Any] = {
    "hard_bounce": _l("an earlier message to it bounced permanently"),
    "complaint": _l("the recipient marked a message as spam"),
    "unsubscribe": _l("the recipient unsubscribed"),
    "manual": _l("an administrator added it"),
}
OUTCOMES: dict[str, Any] = {
    "sent": _l("Sent"),
    "deferred": _l("Deferred"),
    "failed": _l("Failed"),
    "ambiguous": _l("Connection lost after sending"),
    "suppressed": _l("Suppressed"),
    "bounced": _l("Bounced"),
    "delayed": _l("Delay reported"),
    "complained": _l("Complaint"),
    "unsubscribed": _l("Unsubscribed"),
}
LABELS: dict[str, Any] = {
    # message statuses
    "scheduled": _l("Scheduled"),
    "queued": _l("Queued"),
    "sending": _l("Sending"),
    "sent": _l("Sent"),
    "partially_failed": _l("Partly failed"),
    "failed": _l("Failed"),
    # recipient statuses
    "deferred": _l("Deferred"),
    "bounced": _l("Bounced"),
    # kinds
    "verification": _l("Address verification"),
    "password_reset": _l("Password reset"),
    "password_changed": _l("Password changed"),
    "account_exists": _l("Account exists"),
    "custom": _l("Custom"),
    "broadcast": _l("Broadcast"),
}


def labels() -> dict[str, str]:
    """LABELS in the request's language, translated once per page rather than once per row."""
    return {key: str(label) for key, label in LABELS.items()}
