"""A private Postfix instance for tests and benchmarks: its own config, queue and data directories under a
temporary folder, listening on loopback ports only, started with ``postfix -c DIR`` and stopped the same way.

Never the system instance (/etc/postfix is not read) and never port 25. Needs root (Postfix's master runs
as root and drops to ``mail_owner``) and Debian's postfix package (``postfix`` in /usr/sbin).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
DAEMONS = "/usr/lib/postfix/sbin"

# The services a queue needs (no chroot: the instance lives in a temp folder), one smtpd per listener.
_MASTER_CF = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def available() -> bool:
    return os.path.exists(POSTFIX) and os.path.isdir(DAEMONS) and os.geteuid() == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class PrivatePostfix:
    """``with PrivatePostfix(port, settings) as postfix:`` — an smtpd on 127.0.0.1:port, queue under a temp dir."""

    def __init__(self, port: int, settings: dict[str, str] | None = None, files: dict[str, str] | None = None,
                 smtpd_options: tuple[str, ...] = ()) -> None:
        self.port = port
        self.root = Path(tempfile.mkdtemp(prefix="mailer-postfix-"))
        self.config_dir = self.root / "etc"
        self.queue_dir = self.root / "queue"
        self.settings = settings or {}
        self.files = files or {}
        self.smtpd_options = smtpd_options

    @property
    def log_file(self) -> Path:
        return self.root / "maillog"

    def _write_config(self) -> None:
        self.root.chmod(0o755)  # mkdtemp's 0700 would keep the postfix user out
        self.config_dir.mkdir(parents=True)
        (self.root / "data").mkdir()
        shutil.chown(self.root / "data", "postfix", "postfix")
        self.queue_dir.mkdir()
        for name, content in self.files.items():
            (self.config_dir / name).write_text(content)
        main = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue_dir),
            "data_directory": str(self.root / "data"),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "myhostname": "postfix.mailer.test",
            "mydestination": "",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "maillog_file": str(self.log_file),
            "maillog_file_prefixes": str(self.root),
            "syslog_name": f"postfix-mailer-{self.port}",
            "alias_maps": "",
            "alias_database": "",
            "biff": "no",
            **self.settings,
        }
        (self.config_dir / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in main.items()))
        options = "".join(f"\n  -o {option}" for option in self.smtpd_options)
        (self.config_dir / "master.cf").write_text(
            f"127.0.0.1:{self.port} inet n - n - - smtpd{options}\n" + _MASTER_CF)

    def _postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        # Postfix prints its errors only to a terminal (else to syslog): `script` gives it one, so they show.
        command = " ".join([POSTFIX, "-c", str(self.config_dir), *args])
        return subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL,
                              timeout=60, check=False)

    def start(self) -> PrivatePostfix:
        self._write_config()
        self.log_file.touch()
        shutil.chown(self.log_file, "postfix")
        for step in (("set-permissions",), ("check",), ("start",)):
            result = self._postfix(*step)
            if result.returncode != 0 and step != ("set-permissions",):
                raise RuntimeError(f"postfix {' '.join(step)} failed: {(result.stdout + result.stderr).strip()}")
        self._wait_listening()
        return self

    def _wait_listening(self, timeout: float = 15.0) -> None:
        import socket

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"private postfix did not listen on {self.port}: {self.log()[-2000:]}")

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def queued_files(self) -> int:
        """Messages in the queue's directories (incoming, active, deferred, hold, maildrop)."""
        total = 0
        for name in ("maildrop", "incoming", "active", "deferred", "hold"):
            for _, _, files in os.walk(self.queue_dir / name):
                total += len(files)
        return total

    def stop(self) -> None:
        pid_file = self.queue_dir / "pid" / "master.pid"
        master = int(pid_file.read_text().strip()) if pid_file.exists() else None
        self._postfix("stop")
        deadline = time.monotonic() + 10
        while master is not None and _alive(master) and time.monotonic() < deadline:
            time.sleep(0.1)
        if master is not None and _alive(master):
            os.kill(master, signal.SIGKILL)  # this instance's own master, by its pid
        if not os.environ.get("MAILER_KEEP_POSTFIX"):
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrivatePostfix:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
