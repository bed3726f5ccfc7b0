"""Baresip, a real softphone, driven headless against `pushinject serve`.

`Baresip` runs one `baresip` (Debian's `baresip-core`, version 1.0) with its own configuration
folder: no sound card (the `aubridge` module as audio source and player), its SIP socket on a
free loopback port (`sip_listen 127.0.0.1:0`), its `stdio` console reading long commands
(`/dial URI`, `/hangup`, `/quit`) from a pipe. `account_line` writes the one account line of
its `accounts` file: UDP, or TCP with RFC 5626 outbound (`sipnat=outbound`: the Contact carries
`+sip.instance` and `reg-id`), auto-answering or not. The phone also stops by itself after
`lifetime` seconds (`-t`), so a test that dies cannot leave it running.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

__all__ = ["CONFIG", "Baresip", "account_line", "baresip_path"]

#: the configuration of a headless phone: loopback, a free port, no sound card, G.711 only
CONFIG = """\
sip_listen\t\t127.0.0.1:0
audio_player\t\taubridge,nil
audio_source\t\taubridge,nil
audio_alert\t\taubridge,nil
module_path\t\t/usr/lib/baresip/modules
module\t\t\tstdio.so
module\t\t\tg711.so
module\t\t\taubridge.so
module_tmp\t\tuuid.so
module_tmp\t\taccount.so
module_app\t\tmenu.so
"""


def baresip_path() -> str | None:
    """The `baresip` program on PATH, or None."""
    return shutil.which("baresip")


def account_line(user: str, proxy: tuple[str, int], transport: str = "udp",
                 outbound: bool = False, answer: bool = False) -> str:
    """One line of baresip's `accounts`: `user` at the proxy's address over `transport`,
    registering for 600 s; `outbound`: RFC 5626 through the proxy (its Contact then carries
    `+sip.instance` and `reg-id`, RFC 5626 §4.2); `answer`: answer every call at once."""
    host, port = proxy
    params = "" if transport == "udp" else f";transport={transport}"
    line = f"<sip:{user}@{host}:{port}{params}>"
    if outbound:
        line += f';outbound="sip:{host}:{port}{params}";sipnat=outbound'
    line += ";regint=600"
    if answer:
        line += ";answermode=auto"
    return line


class Baresip:
    """One headless baresip with its configuration in `folder`; its console output is
    gathered in `output` (ANSI colours and all) as it comes."""

    def __init__(self, folder: Path, account: str, lifetime: float = 60.0,
                 program: str = "baresip") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config").write_text(CONFIG, encoding="utf-8")
        (folder / "accounts").write_text(account + "\n", encoding="utf-8")
        (folder / "contacts").write_text("", encoding="utf-8")
        self.folder = folder
        self.output = ""
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            [program, "-f", str(folder), "-t", str(int(lifetime))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while chunk := os.read(fd, 65536):
            with self._changed:
                self.output += chunk.decode("utf-8", errors="replace")
                self._changed.notify_all()

    def wait_for(self, text: str, timeout: float = 10.0, start: int = 0) -> int:
        """Wait until `text` appears in the output after offset `start`; the offset just past
        it. TimeoutError (with the output) when it does not come within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while (found := self.output.find(text, start)) < 0:
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise TimeoutError(f"baresip in {self.folder} did not print {text!r} "
                                       f"within {timeout} s:\n{self.output[-4000:]}")
                self._changed.wait(min(left, 0.2))
            return found + len(text)

    def command(self, text: str) -> int:
        """Send one long command (`dial sip:bob@...`, `hangup`) to the console; the output's
        length before it, to wait for what follows."""
        assert self.proc.stdin is not None
        with self._changed:
            mark = len(self.output)
        self.proc.stdin.write(f"/{text}\n".encode())
        self.proc.stdin.flush()
        return mark

    def stop(self, timeout: float = 5.0) -> int:
        """`/quit` (the phone unregisters), then SIGTERM and SIGKILL by PID if it lingers;
        its exit status."""
        if self.proc.poll() is None:
            try:
                self.command("quit")
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        return self.proc.returncode

    def kill(self, timeout: float = 5.0) -> int:
        """SIGKILL by PID: the phone vanishes without unregistering, and the kernel closes its
        connections (a phone whose network went away, as far as the proxy can tell)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=timeout)
        return self.stop(timeout)

    def __enter__(self) -> Baresip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
