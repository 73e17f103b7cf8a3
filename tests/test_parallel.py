"""tests/parallel.py: how files are dealt to groups and what each group must not share."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.parallel import deal, file_seconds, group_env


def test_the_longest_files_go_first_onto_the_lightest_group() -> None:
    seconds = {"a.py": 10.0, "b.py": 6.0, "c.py": 5.0, "d.py": 1.0}
    groups = deal(["d.py", "c.py", "b.py", "a.py", "new.py"], seconds, 2)
    assert groups == [["a.py", "c.py"], ["b.py", "new.py", "d.py"]]  # new.py counts as the median, 5.5 s
    assert sorted(path for group in groups for path in group) == ["a.py", "b.py", "c.py", "d.py", "new.py"]


def test_each_group_has_its_own_redis_database_and_postgresql_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_REDIS_URL", "redis://127.0.0.1:6379/12")
    monkeypatch.setenv("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    first, second = group_env(0), group_env(1)
    assert (first["TEST_REDIS_URL"], second["TEST_REDIS_URL"]) == ("redis://127.0.0.1:6379/12",
                                                                    "redis://127.0.0.1:6379/11")
    assert first["TEST_DATABASE_URL"].endswith("/test") and second["TEST_DATABASE_URL"].endswith("/test_g1")


def test_seconds_are_summed_per_file_from_a_junit_report(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text('<testsuites><testsuite>'
                      '<testcase classname="tests.mail.test_workers" name="a" time="1.5"/>'
                      '<testcase classname="tests.mail.test_workers" name="b" time="2"/>'
                      '<testcase classname="tests.api.test_send.TestSend" name="c" time="0.5"/>'
                      '</testsuite></testsuites>')
    assert file_seconds(report) == {"tests/mail/test_workers.py": 3.5, "tests/api/test_send.py": 0.5}
