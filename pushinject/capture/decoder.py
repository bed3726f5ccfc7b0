"""The streaming capture decoder: records in, `DecodedMessage` values out, every frame counted.

Pipeline per frame: link layer -> IP (fragments reassembled) -> tunnels removed -> UDP, TCP
(stream reassembly, WebSocket) or SCTP (DATA chunks) -> SIP recognised by content on any port.
A UDP datagram or TCP stream that carries HEPv3 (``HEP3`` at the start, see
`pushinject.capture.hep`) is unwrapped: the SIP message inside gets the addresses, transport and
timestamp of the HEP header, so its time is the capturing proxy's clock, not the time the HEP
packet reached the collector (HEP-2). Slicing uses the fast path (`pushinject.capture.layers`)
and falls back to Scapy (`pushinject.capture.scapy_path`) for what it does not know;
`full=True` uses Scapy for every frame. Memory stays flat: only bounded reassembly buffers are
kept, and messages are yielded as they complete.

Accounting (`CaptureSummary`): each frame ends up in exactly one place: `sip_frames` (it
completed at least one SIP message), `carried` (its bytes went into a message completed by a
later frame: fragments, TCP segments), or `skipped[reason]` (reasons in `packets.REASONS`). So
`frames == sip_frames + carried + sum(skipped.values())` once the capture is finished, except
that a file ending inside a record adds one `truncated-file` entry for that record, which is not
counted as a frame. Messages kept despite a fault are counted in `anomalies` (junk before the
message, a Content-Length that disagrees with the body); the lenient parser's list of what is
wrong with a message is its `message.defects`.
"""

from __future__ import annotations

import os
from socket import inet_ntoa
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from json.encoder import encode_basestring_ascii
from typing import Any

from pushinject.capture import layers, scapy_path
from pushinject.capture.hep import (
    HEP_MAGIC, SIP, HEPError, HEPFramer, decode_hep, decode_legacy_hep, is_legacy_hep,
)
from pushinject.capture.ip_reassembly import FragmentBuffer
from pushinject.capture.packets import FALLBACK, REASONS, IPPacket, SCTPPacket, TCPSegment
from pushinject.capture.records import Record, RecordReader
from pushinject.capture.recording import Recording, open_records
from pushinject.capture.sctp import SCTPMessages
from pushinject.capture.sipscan import Fields, find_start, scan
from pushinject.capture.tcp_reassembly import FIN, RST, Stream, TCPStreams
from pushinject.capture.websocket import WebSocketReader, is_upgrade

__all__ = ["DecodedMessage", "CaptureSummary", "Decoder", "decode"]

Address = tuple[str, int]


class DecodedMessage:
    """One SIP message found in a capture.

    `message` is the `Request`/`Response` from `pushinject.sip.parse_message(strict=False)`,
    parsed on first use; `fields` are the listing fields (`sipscan.scan`); `raw` the bytes;
    `junk` the bytes dropped before the message (RFC 3261 §7.5 allows only CRLFs there);
    `within` its place among the messages its frame completes (0 for the first: a TCP segment
    or a HEP stream may carry several), so that (`frame`, `within`) is capture order (CAP-9).
    """

    __slots__ = ("frame", "time", "source", "destination", "transport", "raw", "junk",
                 "within", "_message", "_fields")

    def __init__(self, frame: int, time: float, source: Address, destination: Address,
                 transport: str, raw: bytes, junk: bytes = b"", within: int = 0) -> None:
        self.frame = frame
        self.within = within
        self.time = time
        self.source = source
        self.destination = destination
        self.transport = transport
        self.raw = raw
        self.junk = junk
        self._message: Any = None
        self._fields: Fields | None = None

    @property
    def message(self) -> Any:
        message = self._message
        if message is None:
            if not _PARSE:  # imported on first use: decoding alone never parses
                from pushinject.sip import parse_message

                _PARSE.append(partial(parse_message, strict=False))
            message = self._message = _PARSE[0](self.raw)
        return message

    @property
    def fields(self) -> Fields:
        if self._fields is None:
            self._fields = scan(self.raw)
        return self._fields

    @property
    def label(self) -> str:
        """The method, or the status code as text."""
        f = self.fields
        return f.method if f.method is not None else str(f.status)

    def to_json(self) -> dict[str, Any]:
        f = self.fields
        return {
            "frame": self.frame,
            "time": self.time,
            "source": f"{_host(self.source[0])}:{self.source[1]}",
            "destination": f"{_host(self.destination[0])}:{self.destination[1]}",
            "transport": self.transport,
            "method": f.method,
            "status": f.status,
            "call_id": f.call_id,
            "cseq": f"{f.cseq_number} {f.cseq_method}" if f.cseq_number is not None else None,
            "branch": f.branch,
            "from_tag": f.from_tag,
            "to_tag": f.to_tag,
        }

    def json_line(self) -> str:
        """`to_json()` as one line of JSON (what `json.dumps` gives, built faster)."""
        return _json_line(self.frame, self.time, _address_json(self.source),
                          _address_json(self.destination), self.transport, self.fields)

    def __repr__(self) -> str:
        return (f"<DecodedMessage frame={self.frame} {self.transport} "
                f"{_host(self.source[0])}:{self.source[1]} -> "
                f"{_host(self.destination[0])}:{self.destination[1]} {self.label}>")


def _json_line(frame: int, time: float, source: str, destination: str, transport: str,
               f: Fields) -> str:
    """One message's JSON object on one line; `source` and `destination` are JSON already."""
    esc = encode_basestring_ascii
    method, status, call_id, number, cseq_method, branch, from_tag, to_tag, _ = f
    cseq = None if number is None else f"{number} {cseq_method}"
    return (
        f'{{"frame": {frame}, "time": {time!r}, "source": {source}, '
        f'"destination": {destination}, "transport": "{transport}", '
        f'"method": {"null" if method is None else esc(method)}, '
        f'"status": {"null" if status is None else status}, '
        f'"call_id": {"null" if call_id is None else esc(call_id)}, '
        f'"cseq": {"null" if cseq is None else esc(cseq)}, '
        f'"branch": {"null" if branch is None else esc(branch)}, '
        f'"from_tag": {"null" if from_tag is None else esc(from_tag)}, '
        f'"to_tag": {"null" if to_tag is None else esc(to_tag)}}}'
    )


#: the first byte of a HEPv1 or HEPv2 datagram (HEP-5): such a frame leaves the fast path
_LEGACY_HEP = (b"\x01", b"\x02")
#: `pushinject.sip.parse_message` in lenient mode, once imported
_PARSE: list[Callable[[bytes], Any]] = []
_ADDRESSES: dict[Address, str] = {}


def _address_json(address: Address) -> str:
    """`"host:port"` as JSON text, remembered (captures repeat few addresses; bounded)."""
    text = _ADDRESSES.get(address)
    if text is None:
        text = encode_basestring_ascii(f"{_host(address[0])}:{address[1]}")
        if len(_ADDRESSES) < 65536:
            _ADDRESSES[address] = text
    return text


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass
class CaptureSummary:
    """What happened to every frame of a capture (see the module docstring)."""

    frames: int = 0
    messages: int = 0
    sip_frames: int = 0
    carried: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    anomalies: Counter[str] = field(default_factory=Counter)
    truncated_file: bool = False
    #: packets the file says its recording dropped, never in it (pcapng statistics, CAP-8)
    dropped: int = 0

    @property
    def accounted(self) -> int:
        return self.sip_frames + self.carried + sum(self.skipped.values())

    def line(self) -> str:
        """A one-line report, reasons sorted by name."""
        text = (f"{self.frames} frames: {self.messages} SIP messages in {self.sip_frames} frames"
                f", {self.carried} frames carried parts of them")
        if self.skipped:
            text += "; skipped " + ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items()))
        if self.anomalies:
            text += "; kept with faults " + ", ".join(
                f"{k} {v}" for k, v in sorted(self.anomalies.items()))
        if self.dropped:
            text += f"; the file says {self.dropped} packet(s) were dropped while recording"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "messages": self.messages,
            "sip_frames": self.sip_frames,
            "carried": self.carried,
            "skipped": dict(sorted(self.skipped.items())),
            "anomalies": dict(sorted(self.anomalies.items())),
            "truncated_file": self.truncated_file,
        } | ({"dropped": self.dropped} if self.dropped else {})


class _TCPApp:
    """Per-stream state above TCP: what the stream carries and its framer."""

    __slots__ = ("kind", "buffer", "framer", "ws")

    def __init__(self) -> None:
        self.kind = ""  # "", "sip", "ws", "hep", "not-sip"
        self.buffer = b""
        self.framer: Any = None
        self.ws: WebSocketReader | None = None

    def pending(self) -> int:
        if self.kind in ("sip", "hep"):
            return len(self.framer.pending)
        if self.kind == "ws":
            assert self.ws is not None
            return self.ws.pending
        return len(self.buffer)


class Decoder:
    """Decode records into SIP messages; `summary` counts every frame.

    Use `decode_file(path)` (an iterator), or `feed(record)` per record and `finish()` at the end.
    With `anomalies` off, a message's Content-Length is not compared with its body (no header
    scan for the ``bad-content-length`` count), for a reader that reports no anomalies.
    """

    def __init__(self, *, full: bool = False, anomalies: bool = True) -> None:
        self.full = full
        self.anomalies = anomalies
        self._slicer: Any = scapy_path if full else layers
        self.summary = CaptureSummary()
        self._fragments = FragmentBuffer(self._skip)
        self._streams = TCPStreams(self._skip, on_close=self._close_stream)
        self._sctp = SCTPMessages(self._skip)
        #: the reader of the file being decoded by `decode_file` (its `position` tracks progress)
        self.reader: RecordReader | Recording | None = None
        #: the frame of the last message made, and how many it made before that one (CAP-9)
        self._last_frame = 0
        self._within = 0

    def _skip(self, reason: str, frames: int = 1) -> None:
        assert reason in REASONS, reason
        if frames:
            self.summary.skipped[reason] += frames

    def _close_stream(self, stream: Stream) -> None:
        if stream.pending_frames:
            app = stream.app
            sip = app is not None and app.kind in ("sip", "ws")
            reason = "tcp-incomplete" if sip else "not-sip"
            self._skip(reason, stream.pending_frames)
            stream.pending_frames = 0

    # -- per-frame pipeline ----------------------------------------------------------------

    def feed(self, record: Record) -> Sequence[DecodedMessage]:
        """Decode one record; returns the SIP messages it completes."""
        self.summary.frames += 1
        if record.linktype == 1 and not self.full:
            quick = layers.ether_udp4(record.data)
            if quick is not None:
                src, sport, dst, dport, payload = quick
                return self._datagram(record, (src, sport), (dst, dport), payload, 1)
        slicer = self._slicer
        pkt = slicer.link(record.linktype, record.data)
        if pkt is FALLBACK:
            pkt = scapy_path.link(record.linktype, record.data)
        weight = 1
        while True:
            if isinstance(pkt, str):
                self._skip(pkt, weight)
                return ()
            if pkt.fragment is not None:
                whole, frames = self._fragments.add(pkt, record.time)
                if whole is None:
                    return ()
                pkt, weight = whole, frames
            if pkt.proto not in layers.TUNNELS:
                break
            inner = slicer.tunnel(pkt.proto, pkt.payload)
            pkt = scapy_path.tunnel(pkt.proto, pkt.payload) if inner is FALLBACK else inner
        seg = slicer.transport(pkt.proto, pkt.payload)
        if isinstance(seg, str):
            self._skip(seg, weight)
            return ()
        if isinstance(seg, TCPSegment):
            return self._tcp(record, pkt, seg, weight)
        if isinstance(seg, SCTPPacket):
            return self._sctp_packet(record, pkt, seg, weight)
        return self._datagram(record, (pkt.src, seg.sport), (pkt.dst, seg.dport), seg.payload,
                              weight)

    def feed_datagram(self, frame: int, time: float, source: Address, destination: Address,
                      data: bytes) -> Sequence[DecodedMessage]:
        """Decode one UDP payload received on a socket (a HEP collector's), counted as a frame:
        HEP is unwrapped (HEP-2), plain SIP kept with these addresses and `time`."""
        self.summary.frames += 1
        record = Record(frame, time, -1, data, len(data))
        return self._datagram(record, source, destination, data, 1)

    def _message(self, record: Record, source: Address, destination: Address,
                 transport: str, data: bytes, time: float | None = None
                 ) -> DecodedMessage | None:
        start = find_start(data)
        if start < 0:
            return None
        junk = b""
        if start and data[:start].strip(b"\r\n"):
            junk = data[:start]
            self.summary.anomalies["junk-before-message"] += 1
        frame = record.frame
        if frame == self._last_frame:
            self._within += 1
        else:
            self._last_frame, self._within = frame, 0
        msg = DecodedMessage(frame, record.time if time is None else time, source,
                             destination, transport, data[start:] if start else data, junk,
                             self._within)
        if self.anomalies and not msg.fields.length_ok:
            self.summary.anomalies["bad-content-length"] += 1
        self.summary.messages += 1
        return msg

    def _done(self, frames: int) -> None:
        """The current frame completed a message; `frames` frames are settled by it."""
        self.summary.sip_frames += 1
        self.summary.carried += frames - 1

    def _datagram(self, record: Record, source: Address, destination: Address,
                  data: bytes, weight: int) -> Sequence[DecodedMessage]:
        if data[:4] == HEP_MAGIC or is_legacy_hep(data):
            return self._hep_datagram(record, data, weight)
        msg = self._message(record, source, destination, "UDP", data)
        if msg is None:
            if data and not data.strip(b"\r\n"):
                self._skip("keep-alive", weight)
            else:
                self._skip("not-sip", weight)
            return ()
        self._done(weight)
        return (msg,)

    def _hep_datagram(self, record: Record, data: bytes, weight: int
                      ) -> Sequence[DecodedMessage]:
        """A datagram holding one HEP packet: the SIP message it carries (HEP-2)."""
        msg, reason = self._hep_message(record, data)
        if msg is None:
            self._skip(reason, weight)
            return ()
        self._done(weight)
        return (msg,)

    def _hep_message(self, record: Record, data: bytes) -> tuple[DecodedMessage | None, str]:
        """The SIP message of one HEP packet (HEPv3, or HEPv1/v2 in a datagram: HEP-5), or None
        and the reason it has none."""
        try:
            packet = decode_hep(data) if data[:4] == HEP_MAGIC else decode_legacy_hep(data)
        except HEPError:
            return None, "hep-malformed"
        if packet.proto_type != SIP:
            return None, "hep-not-sip"
        payload = packet.payload
        msg = self._message(record, packet.source, packet.destination, packet.transport,
                            payload, packet.time if packet.stamped else None)
        if msg is not None:
            return msg, ""
        return None, "keep-alive" if payload and not payload.strip(b"\r\n") else "not-sip"

    def _tcp(self, record: Record, pkt: IPPacket, seg: TCPSegment,
             weight: int) -> Sequence[DecodedMessage]:
        key = (pkt.src, seg.sport, pkt.dst, seg.dport)
        stream, data, status = self._streams.segment(key, seg, weight)
        out: list[DecodedMessage] = []
        if status == "no-payload":
            self._skip("no-payload", weight)
        elif status == "retransmission":
            self._skip("tcp-retransmission", weight)
        elif status == "data":
            stream.pending_frames += weight
            out = self._stream_data(record, pkt, seg, stream, data)
        if seg.flags & (FIN | RST):
            self._streams.end(key)
        return out

    def _stream_data(self, record: Record, pkt: IPPacket, seg: TCPSegment, stream: Stream,
                     data: bytes) -> list[DecodedMessage]:
        from pushinject.sip import SIPParseError, StreamFramer

        app = stream.app
        if app is None:
            app = stream.app = _TCPApp()
        if app.kind == "not-sip" and find_start(data) == 0:
            app.kind, app.buffer = "", b""
        if app.kind == "":
            app.buffer += data
            data = b""
            buf = app.buffer
            if buf.startswith((b"GET ", b"HTTP/")):
                head_end = buf.find(b"\r\n\r\n")
                if head_end < 0 and len(buf) < 8192:
                    return []
                if head_end >= 0 and is_upgrade(buf[:head_end]):
                    app.kind, app.ws, data = "ws", WebSocketReader(), buf[head_end + 4 :]
                else:
                    app.kind = "not-sip"
            elif len(buf.lstrip(b"\r\n")) < 8 and buf.find(b"\n") < 0 and len(buf) < 64:
                return []
            elif buf.startswith(HEP_MAGIC):
                app.kind, app.framer, data = "hep", HEPFramer(), buf
            elif find_start(buf) == 0:
                app.kind, app.framer, data = "sip", StreamFramer(), buf
            else:
                app.kind = "not-sip"
            app.buffer = b""
        raws: list[bytes] = []
        controls = 0
        transport = "TCP"
        if app.kind == "sip":
            try:
                raws = app.framer.feed(data)
            except SIPParseError:
                return self._give_up(stream, app, "bad-content-length")
        elif app.kind == "ws":
            assert app.ws is not None
            raws, controls = app.ws.feed(data)
            transport = "WS"
        elif app.kind == "hep":
            return self._hep_stream(record, stream, app, data)
        out = []
        for raw in raws:
            msg = self._message(record, (pkt.src, seg.sport), (pkt.dst, seg.dport), transport, raw)
            if msg is not None:
                out.append(msg)
        if out:
            self._done(stream.pending_frames)
            stream.pending_frames = 0
        elif app.kind == "not-sip":
            self._skip("not-sip", stream.pending_frames)
            stream.pending_frames = 0
        elif app.pending() == 0 and not stream.held:
            reason = "websocket-control" if app.kind == "ws" else "keep-alive"
            self._skip("not-sip" if raws else reason, stream.pending_frames)
            stream.pending_frames = 0
        return out

    def _give_up(self, stream: Stream, app: _TCPApp, reason: str) -> list[DecodedMessage]:
        """The stream's framing broke: its pending frames are skipped for `reason`, and the
        rest of the stream is not SIP until a message starts a segment again."""
        self._skip(reason, stream.pending_frames)
        stream.pending_frames = 0
        app.kind, app.framer = "not-sip", None
        return []

    def _hep_stream(self, record: Record, stream: Stream, app: _TCPApp, data: bytes
                    ) -> list[DecodedMessage]:
        """HEP packets framed by their length over TCP; each carries one SIP message."""
        try:
            packets = app.framer.feed(data)
        except HEPError:
            return self._give_up(stream, app, "hep-malformed")
        out = []
        reason = ""
        for packet in packets:
            msg, why = self._hep_message(record, packet)
            if msg is None:
                reason = why
            else:
                out.append(msg)
        if out:
            self._done(stream.pending_frames)
            stream.pending_frames = 0
        elif packets and not app.framer.pending:
            self._skip(reason, stream.pending_frames)
            stream.pending_frames = 0
        return out

    def _sctp_packet(self, record: Record, pkt: IPPacket, seg: SCTPPacket,
                     weight: int) -> Sequence[DecodedMessage]:
        if not seg.chunks:
            self._skip("no-payload", weight)
            return []
        key = (pkt.src, seg.sport, pkt.dst, seg.dport)
        sctp = self._sctp
        sctp.pending_frames += weight
        out = []
        raws = [raw for chunk in seg.chunks for raw in sctp.chunk(key, chunk)]
        for raw in raws:
            msg = self._message(record, (pkt.src, seg.sport), (pkt.dst, seg.dport), "SCTP", raw)
            if msg is not None:
                out.append(msg)
        if out:
            self._done(sctp.pending_frames)
            sctp.pending_frames = 0
        elif raws:
            self._skip("not-sip", sctp.pending_frames)
            sctp.pending_frames = 0
        return out

    def finish(self) -> list[DecodedMessage]:
        """End of capture: report everything still held in reassembly buffers."""
        self._fragments.flush()
        self._streams.flush()
        self._sctp.flush()
        return []

    def decode_file(self, path: str | os.PathLike[str] | Recording
                    ) -> Iterator[DecodedMessage]:
        """Decode a whole pcap/pcapng file (or a `Recording` of several), yielding messages as
        they complete."""
        reader = self.reader = open_records(path)
        self._last_frame = 0  # its frames count from 1 again
        feed = self.feed
        if self.full:
            for record in reader:
                yield from feed(record)
        else:
            check_length = self.anomalies
            anomalies = self.summary.anomalies
            ends: dict[bytes, tuple[Address, Address]] = {}
            records = self._udp4(reader)
            try:
                for record, payload, junk in records:
                    if payload is None:
                        yield from feed(record)
                        continue
                    data = record[3]
                    pair = ends.get(data[26:38])
                    if pair is None:
                        pair = ((inet_ntoa(data[26:30]), data[34] << 8 | data[35]),
                                (inet_ntoa(data[30:34]), data[36] << 8 | data[37]))
                        if len(ends) < 65536:
                            ends[data[26:38]] = pair
                    msg = DecodedMessage(record[0], record[1], pair[0], pair[1], "UDP", payload,
                                         junk)
                    if check_length and not msg.fields.length_ok:
                        anomalies["bad-content-length"] += 1
                    yield msg
            finally:
                records.close()
        yield from self.finish()
        self.summary.dropped = reader.dropped
        if reader.truncated:
            self.summary.truncated_file = True
            self._skip("truncated-file", 1)

    def _udp4(self, reader: RecordReader | Recording
              ) -> Generator[tuple[Record, bytes | None, bytes], None, None]:
        """The records of `reader`, each with the SIP message of the commonest frame (untagged
        Ethernet, IPv4 without options or fragments, UDP without HEP: what `layers.ether_udp4`
        takes) and the bytes before it, found and counted inline the way `feed`, `_datagram`
        and `_message` would (but for the Content-Length check, left to the caller); such a
        frame without a message is counted and left out. Any other record comes with None,
        for `feed`."""
        summary = self.summary
        anomalies = summary.anomalies
        # counted here, added to the summary at the end: frames, SIP frames, not-sip, keep-alive
        frames = messages = not_sip = keep_alive = 0
        try:
            for record in reader:
                data = record[3]
                if (record[2] == 1 and data[12:15] == b"\x08\x00\x45" and len(data) >= 42
                        and data[23] == 17 and not data[20] & 0x3F and not data[21]):
                    total = data[16] << 8 | data[17]
                    length = data[38] << 8 | data[39]
                    if (28 <= total and 14 + total <= len(data) and 8 <= length <= total - 20
                            and data[42:46] != HEP_MAGIC and data[42:43] not in _LEGACY_HEP):
                        frames += 1
                        payload = data[42 : 34 + length]
                        start = find_start(payload)
                        if start < 0:
                            if payload and not payload.strip(b"\r\n"):
                                keep_alive += 1
                            else:
                                not_sip += 1
                            continue
                        junk = b""
                        if start:
                            if payload[:start].strip(b"\r\n"):
                                junk = payload[:start]
                                anomalies["junk-before-message"] += 1
                            payload = payload[start:]
                        messages += 1
                        yield record, payload, junk
                        continue
                yield record, None, b""
        finally:
            summary.frames += frames
            summary.messages += messages
            summary.sip_frames += messages
            if not_sip:
                self._skip("not-sip", not_sip)
            if keep_alive:
                self._skip("keep-alive", keep_alive)

    def json_lines(self, path: str | os.PathLike[str] | Recording,
                   call_id: str | None = None) -> Iterator[str]:
        """`decode_file` as JSON lines (`DecodedMessage.json_line`), only messages of `call_id`
        when given. The commonest frame (`_udp4`) is decoded inline, the same way `feed` and
        `_datagram` would; every other frame goes through `feed`."""
        if self.full:
            for msg in self.decode_file(path):
                if call_id is None or msg.fields.call_id == call_id:
                    yield msg.json_line()
            return
        reader = self.reader = open_records(path)
        anomalies = self.summary.anomalies
        feed = self.feed
        ends: dict[bytes, tuple[str, str]] = {}
        records = self._udp4(reader)
        try:
            for record, payload, _ in records:
                if payload is None:
                    for msg in feed(record):
                        if call_id is None or msg.fields.call_id == call_id:
                            yield msg.json_line()
                    continue
                fields = scan(payload)
                if not fields[8]:
                    anomalies["bad-content-length"] += 1
                if call_id is not None and fields[2] != call_id:
                    continue
                data = record[3]
                pair = ends.get(data[26:38])
                if pair is None:
                    pair = (_address_json((inet_ntoa(data[26:30]), data[34] << 8 | data[35])),
                            _address_json((inet_ntoa(data[30:34]), data[36] << 8 | data[37])))
                    if len(ends) < 65536:
                        ends[data[26:38]] = pair
                yield _json_line(record[0], record[1], pair[0], pair[1], "UDP", fields)
        finally:
            records.close()
        for msg in self.finish():
            if call_id is None or msg.fields.call_id == call_id:
                yield msg.json_line()
        self.summary.dropped = reader.dropped
        if reader.truncated:
            self.summary.truncated_file = True
            self._skip("truncated-file", 1)


def decode(path: str | os.PathLike[str] | Recording, *, full: bool = False
           ) -> Iterator[DecodedMessage]:
    """The SIP messages of a capture file, in order (use `Decoder` to read the summary too)."""
    return Decoder(full=full).decode_file(path)
