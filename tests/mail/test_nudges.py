"""The delivery loop's mark (mail/nudges.py) on a real Redis: a second loop of the same tenant neither
takes over nor takes down the mark of the loop already running."""

from __future__ import annotations

import uuid

from mailer.mail.nudges import (
    LOOP_KEY,
    LOOP_MARK_SECONDS,
    NUDGE_KEY,
    mark_looping,
    nudge_if_looping,
    unmark_looping,
)


def loop_running(redis, owner):
    return bool(redis.exists(LOOP_KEY.format(owner=owner)))


def test_a_second_loop_leaves_the_running_loops_mark_up(redis):
    owner = uuid.uuid4()
    mark_looping(redis, owner, "running")
    mark_looping(redis, owner, "critical-job")
    unmark_looping(redis, owner, "critical-job")
    assert loop_running(redis, owner)

    unmark_looping(redis, owner, "running")
    assert not loop_running(redis, owner)
    mark_looping(redis, owner, "critical-job")  # no loop holds it now: the next one marks
    assert loop_running(redis, owner)


def test_a_loop_refreshes_its_own_mark(redis):
    owner = uuid.uuid4()
    mark_looping(redis, owner, "running")
    redis.expire(LOOP_KEY.format(owner=owner), 1)
    mark_looping(redis, owner, "running")
    assert redis.ttl(LOOP_KEY.format(owner=owner)) > 1


def test_a_nudge_reaches_a_marked_loop_only(redis):
    owner = uuid.uuid4()
    assert not nudge_if_looping(redis, owner)
    assert not redis.exists(NUDGE_KEY.format(owner=owner))

    mark_looping(redis, owner, "running")
    assert nudge_if_looping(redis, owner)
    assert nudge_if_looping(redis, owner)
    key = NUDGE_KEY.format(owner=owner)
    assert redis.llen(key) == 2 and 0 < redis.ttl(key) <= LOOP_MARK_SECONDS
