"""`pushinject bench decode [FILE]`: decoder throughput and memory against tshark, same run.

Without FILE a realistic capture is generated first (`generate`): calls through a proxy on UDP
(INVITE, 100, 180, 200, ACK, BYE, 200), REGISTER/200 refreshes, and RTP packets between them,
written with Scapy's raw pcap writer from prebuilt bytes. Then `pushinject decode --json FILE`
and `tshark -r FILE -Y sip -T fields -e frame.time_epoch -e sip.Call-ID -e sip.Method
-e sip.Status-Code -e sip.CSeq` run as whole processes, alternately, `--runs` times each; each
one's fastest wall time, its CPU time and peak resident memory (`os.wait4` rusage of that child)
are reported. A second decoder run on a capture half
the size shows whether memory stays flat as the capture grows. Both then read the capture
compressed with gzip (as ``tcpdump -z gzip`` leaves a rotated part, CAP-6): their times, the
ratio, and what the decompression costs the decoder against the plain file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from pushinject.errors import UsageError

HELP = "time `pushinject decode --json` against tshark on a large capture"

TSHARK_ARGS = ["-Y", "sip", "-T", "fields", "-e", "frame.time_epoch", "-e", "sip.Call-ID",
               "-e", "sip.Method", "-e", "sip.Status-Code", "-e", "sip.CSeq"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", nargs="?",
                        help="capture to time (default: generate one)")
    parser.add_argument("--packets", type=int, default=200_000, metavar="N",
                        help="SIP packets in the generated capture (default 200000)")
    parser.add_argument("--runs", type=int, default=3, metavar="R",
                        help="run each side R times, alternating, and keep its fastest (default 3)")


def _checksum(header: bytes) -> int:
    total = sum(int.from_bytes(header[i : i + 2], "big") for i in range(0, len(header), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _frame(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes, ident: int) -> bytes:
    """Ethernet + IPv4 + UDP around `payload` (UDP checksum 0 = none, RFC 768)."""
    udp = (sport.to_bytes(2, "big") + dport.to_bytes(2, "big")
           + (8 + len(payload)).to_bytes(2, "big") + b"\x00\x00")
    total = 20 + 8 + len(payload)
    head = (b"\x45\x00" + total.to_bytes(2, "big") + (ident & 0xFFFF).to_bytes(2, "big")
            + b"\x40\x00\x40\x11\x00\x00" + src + dst)
    head = head[:10] + _checksum(head).to_bytes(2, "big") + head[12:]
    return b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00" + head + udp + payload


_CALL = (
    ("INVITE sip:bob@example.com SIP/2.0", "a", "INVITE", "", True),
    ("SIP/2.0 100 Trying", "p", "INVITE", "", False),
    ("SIP/2.0 180 Ringing", "p", "INVITE", ";tag=b{n}", False),
    ("SIP/2.0 200 OK", "p", "INVITE", ";tag=b{n}", False),
    ("ACK sip:bob@192.0.2.20:5062 SIP/2.0", "a", "ACK", ";tag=b{n}", True),
    ("BYE sip:bob@192.0.2.20:5062 SIP/2.0", "a", "BYE", ";tag=b{n}", True),
    ("SIP/2.0 200 OK", "p", "BYE", ";tag=b{n}", False),
)
_SDP = (b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n"
        b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


def _sip(start: str, n: int, method: str, to_tag: str, cseq: int, body: bytes) -> bytes:
    text = (f"{start}\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-{method}-{n}\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a{n}\r\n"
            f"To: <sip:bob@example.com>{to_tag.format(n=n)}\r\nCall-ID: call-{n}@bench\r\n"
            f"CSeq: {cseq} {method}\r\nContact: <sip:alice@192.0.2.10:5060>\r\n"
            f"User-Agent: pushinject-bench\r\nContent-Length: {len(body)}\r\n\r\n")
    return text.encode() + body


def generate(path: str, sip_packets: int) -> int:
    """Write a capture with at least `sip_packets` SIP packets; returns its frame count."""
    from scapy.utils import RawPcapWriter

    ua, proxy = bytes([192, 0, 2, 10]), bytes([192, 0, 2, 1])
    rtp_a, rtp_b = bytes([192, 0, 2, 10]), bytes([192, 0, 2, 20])
    rtp = b"\x80\x00" + bytes(10) + bytes(160)
    frames = sip = 0
    stamp = 1_700_000_000.0
    with RawPcapWriter(path, linktype=1) as writer:
        writer.write_header(None)
        write = writer.write_packet
        n = 0
        while sip < sip_packets:
            n += 1
            if n % 5 == 0:
                for k, start in enumerate(("REGISTER sip:example.com SIP/2.0", "SIP/2.0 200 OK")):
                    payload = _sip(start, n, "REGISTER", ";tag=r{n}" if k else "", 1, b"")
                    src, dst = (ua, proxy) if k == 0 else (proxy, ua)
                    stamp += 0.0005
                    write(_frame(src, dst, 5060, 5060, payload, frames), sec=int(stamp),
                          usec=int(stamp % 1 * 1e6))
                    frames += 1
                    sip += 1
            for start, side, method, tag, from_ua in _CALL:
                offer = start.startswith(("INVITE", "SIP/2.0 200")) and method == "INVITE"
                body = _SDP if offer else b""
                cseq = 2 if method == "BYE" else 1
                payload = _sip(start, n, method, tag, cseq, body)
                src, dst = (ua, proxy) if from_ua else (proxy, ua)
                stamp += 0.0005
                write(_frame(src, dst, 5060, 5060, payload, frames), sec=int(stamp),
                      usec=int(stamp % 1 * 1e6))
                frames += 1
                sip += 1
                if method == "ACK":
                    for _ in range(3):
                        stamp += 0.0002
                        write(_frame(rtp_a, rtp_b, 40000, 40002, rtp, frames), sec=int(stamp),
                              usec=int(stamp % 1 * 1e6))
                        frames += 1
    return frames


def measure(argv: list[str]) -> tuple[float, int, int, float]:
    """Run a command to completion: (wall seconds, peak RSS in KiB, exit status, CPU seconds)."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return time.perf_counter() - start, int(usage.ru_maxrss), proc.returncode, cpu


def best_of(runs: int, commands: list[list[str]]) -> list[tuple[float, int, int, float]]:
    """Run the commands in turn `runs` times; keep each one's fastest run (wall time), so a
    burst of load on a shared machine hurts neither side more than the other."""
    best: list[tuple[float, int, int, float] | None] = [None] * len(commands)
    for _ in range(runs):
        for i, argv in enumerate(commands):
            result = measure(argv)
            if result[2]:
                return [result]
            if best[i] is None or result[0] < best[i][0]:  # type: ignore[index]
                best[i] = result
    return [b for b in best if b is not None]


def _gzip(source: str, target: str) -> None:
    """`source` compressed as ``gzip`` (level 6) writes it, a block at a time."""
    import gzip

    with open(source, "rb") as plain, gzip.open(target, "wb", compresslevel=6) as packed:
        shutil.copyfileobj(plain, packed, 1 << 20)


def _count_frames(path: str) -> int:
    from pushinject.capture.records import RecordReader

    return sum(1 for _ in RecordReader(path))


def run(args: argparse.Namespace) -> int:
    tshark = shutil.which("tshark")
    if tshark is None:
        raise UsageError("tshark is not installed (apt-get install tshark)")
    decode = [sys.executable, "-m", "pushinject", "decode", "--json"]
    with tempfile.TemporaryDirectory(prefix="pushinject-bench-") as tmp:
        if args.file is None:
            if args.packets < 2:
                raise UsageError("--packets must be at least 2")
            path, half = os.path.join(tmp, "bench.pcap"), os.path.join(tmp, "half.pcap")
            began = time.perf_counter()
            frames = generate(path, args.packets)
            took = time.perf_counter() - began
            print(f"generated {frames} frames ({args.packets}+ SIP packets) in {took:.1f} s")
            half_frames = generate(half, args.packets // 2)
        else:
            path, half = args.file, None
            frames = _count_frames(path)
            half_frames = 0
        if args.runs < 1:
            raise UsageError("--runs must be at least 1")
        results = best_of(args.runs, [decode + [path], [tshark, "-r", path] + TSHARK_ARGS])
        if len(results) < 2:
            raise UsageError(f"a run failed (exit status {results[0][2]})")
        (ours_t, ours_rss, _, ours_cpu), (theirs_t, theirs_rss, _, theirs_cpu) = results
        ours, theirs = frames / ours_t, frames / theirs_t
        print(f"pushinject decode --json: {ours_t:.2f} s, {ours:,.0f} packets/s, "
              f"peak {ours_rss / 1024:.1f} MiB, CPU {ours_cpu:.2f} s")
        print(f"tshark -Y sip -T fields:  {theirs_t:.2f} s, {theirs:,.0f} packets/s, "
              f"peak {theirs_rss / 1024:.1f} MiB, CPU {theirs_cpu:.2f} s")
        print(f"throughput ratio {ours / theirs:.1f}x "
              f"(CPU time ratio {theirs_cpu / ours_cpu:.1f}x), "
              f"memory ratio {ours_rss / theirs_rss:.2f} (decoder / tshark), best of {args.runs}")
        if half is not None:
            _, half_rss, _, _ = measure(decode + [half])
            print(f"memory flatness: peak {half_rss / 1024:.1f} MiB at {half_frames} frames, "
                  f"{ours_rss / 1024:.1f} MiB at {frames} frames")
        packed = os.path.join(tmp, "bench.pcap.gz")
        _gzip(path, packed)
        gz = best_of(args.runs, [decode + [packed], [tshark, "-r", packed] + TSHARK_ARGS])
        if len(gz) < 2:
            raise UsageError(f"a run on the gzip-compressed capture failed "
                             f"(exit status {gz[0][2]})")
        print(f"gzip-compressed ({os.path.getsize(packed) / 2**20:.1f} MiB, CAP-6): "
              f"pushinject decode --json {gz[0][0]:.2f} s, tshark {gz[1][0]:.2f} s, "
              f"throughput ratio {gz[1][0] / gz[0][0]:.1f}x; "
              f"{gz[0][0] / ours_t:.2f}x the plain file's time")
    print(f"decode: {ours:.0f} packets/s ({ours / theirs:.1f}× tshark)")
    return 0
