"""The bulk lane's waiting line (mail/turns.py) on a real Redis: who waits, and when a loop hands over."""

from __future__ import annotations

import time
import uuid

from mailer.mail import turns


def _report(redis, owner, loop_id, *, may_hand_over=True, turn_over=False):
    with redis.pipeline(transaction=False) as pipe:
        turns.report_in(pipe, owner, loop_id, 5, may_hand_over=may_hand_over, turn_over=turn_over)
        return turns.as_owner(pipe.execute()[-1])


def test_a_tenant_with_a_second_loop_hands_one_over_to_the_oldest_waiting_tenant(redis):
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert _report(redis, a, "a1") is None  # nobody waits
    turns.wait_in_line(redis, b)
    turns.wait_in_line(redis, c)
    turns.wait_in_line(redis, b)  # already in line: keeps its place
    assert _report(redis, a, "a1") is None  # A's only loop, its turn not over: it stays
    assert _report(redis, a, "a2") == b  # A's second loop goes to B, the first in line
    assert _report(redis, a, "a1") is None  # A is down to one loop again
    assert _report(redis, a, "a1", turn_over=True) == c
    assert turns.take_next(redis) is None


def test_a_loop_holding_urgent_mail_never_hands_over(redis):
    a, b = uuid.uuid4(), uuid.uuid4()
    _report(redis, a, "a1")
    turns.wait_in_line(redis, b)
    assert _report(redis, a, "a2", may_hand_over=False, turn_over=True) is None
    assert turns.take_next(redis) == b


def test_a_tenant_being_served_leaves_the_line(redis):
    a, b = uuid.uuid4(), uuid.uuid4()
    turns.wait_in_line(redis, a)
    turns.wait_in_line(redis, b)
    _report(redis, a, "a1")  # a job of A's reached a worker on its own
    assert turns.take_next(redis) == b
    assert turns.take_next(redis) is None


def test_a_left_loop_no_longer_counts_and_a_lapsed_place_is_dropped(redis):
    a, b = uuid.uuid4(), uuid.uuid4()
    _report(redis, a, "a1", may_hand_over=False)
    turns.leave(redis, a, "a1")
    turns.wait_in_line(redis, b)
    assert _report(redis, a, "a2") is None  # A's only live loop now
    redis.zadd(turns.LINE_KEY, {str(b): time.time() - turns.LINE_SECONDS - 1})
    assert _report(redis, a, "a3") is None
    assert turns.take_next(redis) is None
