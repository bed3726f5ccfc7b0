"""Real softphones, driven headless on their consoles against `pushinject serve`.

`ConsolePhone` is what both have in common: a program with a configuration folder of its own,
its console output gathered as it comes (`wait_for`), commands written to its console
(`command`), stopped by its quit command, then by PID (`stop`), or killed as a phone that
vanishes (`kill`).

`Baresip` runs one `baresip` (Debian's `baresip-core`, version 1.0) with its own configuration
folder: no sound card (the `aubridge` module as audio source and player), its SIP socket on a
free loopback port (`sip_listen 127.0.0.1:0`), its `stdio` console reading long commands
(`/dial URI`, `/hangup`, `/quit`) from a pipe. `account_line` writes the one account line of
its `accounts` file: UDP, or TCP with RFC 5626 outbound (`sipnat=outbound`: the Contact carries
`+sip.instance` and `reg-id`), auto-answering or not. The phone also stops by itself after
`lifetime` seconds (`-t`), so a test that dies cannot leave it running.

`Linphone` runs one `linphonec` (Debian's `linphone-cli`, liblinphone 5.1), the console client
of the SIP stack behind Linphone's mobile apps, as a mobile app registers: its Contact carries
RFC 8599 push parameters (liblinphone's `contact_uri_parameters`) and a `+sip.instance` that
stays the same from one start to the next (the configuration's `uuid`), it answers every call
(`-a`), and its UDP port is given, so that a phone woken by a push comes back on another one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

__all__ = ["CONFIG", "Baresip", "ConsolePhone", "Linphone", "account_line", "baresip_path",
           "linphone_path"]

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


class ConsolePhone:
    """A softphone program driven on its console (see the module docstring): `argv` run with
    `env` added to the environment, its output (stdout and stderr) gathered in `output` as it
    comes; `name` names it in errors."""

    #: the console command that makes the phone stop (after unregistering)
    quit_command = "quit"

    def __init__(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.name = name
        self.output = ""
        self._changed = threading.Condition()
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})})
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
                    raise TimeoutError(f"{self.name} did not print {text!r} within {timeout} s:"
                                       f"\n{self.output[-4000:]}")
                self._changed.wait(min(left, 0.2))
            return found + len(text)

    def console_line(self, text: str) -> str:
        """How the console takes command `text`."""
        return f"{text}\n"

    def command(self, text: str) -> int:
        """Send one command to the console; the output's length before it, to wait for what
        follows."""
        assert self.proc.stdin is not None
        with self._changed:
            mark = len(self.output)
        self.proc.stdin.write(self.console_line(text).encode())
        self.proc.stdin.flush()
        return mark

    def stop(self, timeout: float = 5.0) -> int:
        """The quit command (the phone unregisters), then SIGTERM and SIGKILL by PID if it
        lingers; its exit status."""
        if self.proc.poll() is None:
            try:
                self.command(self.quit_command)
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
        connections (a phone whose network went away, or an app the phone put to sleep, as far
        as the proxy can tell)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=timeout)
        return self.stop(timeout)

    def __enter__(self) -> ConsolePhone:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Baresip(ConsolePhone):
    """One headless baresip with its configuration in `folder`; its console output is
    gathered in `output` (ANSI colours and all) as it comes."""

    def __init__(self, folder: Path, account: str, lifetime: float = 60.0,
                 program: str = "baresip") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config").write_text(CONFIG, encoding="utf-8")
        (folder / "accounts").write_text(account + "\n", encoding="utf-8")
        (folder / "contacts").write_text("", encoding="utf-8")
        self.folder = folder
        super().__init__(f"baresip in {folder}", [program, "-f", str(folder), "-t",
                                                   str(int(lifetime))])

    def console_line(self, text: str) -> str:
        """A long command: `/dial URI`, `/hangup`, `/quit`."""
        return f"/{text}\n"


def linphone_path() -> str | None:
    """The `linphonec` program on PATH, or None."""
    return shutil.which("linphonec")


#: liblinphone's configuration of a headless phone on loopback: IPv4 UDP only on a given port,
#: no network monitor (with only a loopback interface it would find no network and open no
#: socket), register at once, and the push parameters and instance of a mobile app; GRUU left
#: out of Supported, so that its Contact in a dialog is its own address, which any proxy
#: reaches, and not a GRUU, which only a registrar that resolves GRUUs does
LINPHONERC = """\
[sip]
auto_net_state_mon=0
use_ipv6=0
sip_port={port}
sip_tcp_port=0
sip_tls_port=0
guess_hostname=0
register_only_when_network_is_up=0
default_proxy=0
supported=replaces, outbound

[net]
auto_net_state_mon=0

[proxy_0]
reg_proxy=<sip:{proxy}>
reg_identity=sip:{user}@{domain}
reg_expires=600
reg_sendregister=1
publish=0
contact_uri_parameters={push}

[rtp]
audio_rtp_port={rtp}

[misc]
uuid={uuid}
"""


class Linphone(ConsolePhone):
    """One headless `linphonec` registering `user`@`domain` at `proxy` from UDP `port` of
    127.0.0.1, with RFC 8599 push parameters `push` in its Contact (``pn-provider=...;pn-prid=
    ...;pn-param=...``) and answering every call; its home, database and configuration in
    `folder`. Its `+sip.instance` is made from `user`, so a phone started again in the same
    folder is the same device."""

    def __init__(self, folder: Path, user: str, proxy: tuple[str, int], port: int,
                 push: str, domain: str = "example.com", program: str = "linphonec") -> None:
        (folder / ".local" / "share" / "linphone").mkdir(parents=True, exist_ok=True)
        rc = folder / "linphonerc"
        rc.write_text(LINPHONERC.format(
            port=port, proxy=f"{proxy[0]}:{proxy[1]}", user=user, domain=domain, push=push,
            rtp=20_000 + port % 20_000, uuid=uuid.uuid5(uuid.NAMESPACE_URL, f"pushinject:{user}"),
        ), encoding="utf-8")
        self.folder = folder
        super().__init__(f"linphonec in {folder}", [program, "-c", str(rc), "-a", "-d", "0"],
                         {"HOME": str(folder)})

    def wait_registered(self, timeout: float = 10.0) -> None:
        """Ask the console for the registration's state until it says registered; TimeoutError
        when it does not within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            mark = self.command("status register")
            try:
                self.wait_for("\nregistered, identity=", min(1.0, timeout), mark)
                return
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise
