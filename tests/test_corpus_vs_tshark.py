"""The external corpus of third-party captures: the decoder against tshark, and sweeps of the
decoder, the record reader, the listing fields, `pushinject check` and `pushinject flow` over it.

Third-party captures stay outside the repository (their licences vary). This module reads the
folder named by the environment variable PUSHINJECT_CORPUS (`.ci/run` sets it); without it the
whole module skips, even under PUSHINJECT_REQUIRE_TOOLS=1, and no other test depends on it. The
corpus it was written against holds 30 captures (744 SIP messages) from the test suites of
sngrep, heplify, nDPI, Zeek, PcapPlusPlus and Suricata, one folder per source project.

Differences with tshark that are not disagreements, handled explicitly below:

- `ntop__nDPI/http_on_sip_port.pcap`: tshark's SIP dissector claims the two HTTP frames on TCP
  port 5060 as SIP "Continuation" rows with no method, status, Call-ID or CSeq; they are not SIP
  messages (no request or status line, RFC 3261 §7), so rows without a method and without a
  status are not counted as messages. The decoder must find none there.
- `sip_ipv4_tcp_fragmented.pcap` is SIP on TCP port 6060: tshark needs `-d tcp.port==6060,sip`;
  the decoder recognises SIP by content on any port.
- tshark reports a message split over several TCP segments (or IP fragments, WebSocket frames)
  in the frame that completes it; so does the decoder, so frame numbers are compared as well.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from scapy.utils import rdpcap

from pushinject.capture import Decoder
from pushinject.capture.calls import calls
from pushinject.capture.decoder import decode
from pushinject.capture.records import RecordReader
from pushinject.capture.sip_layer import SIP
from pushinject.capture.sipscan import fields_of, scan
from pushinject.capture.transactions import dialogs, transactions
from pushinject.core.registrar_replay import replay_registers
from tests.conftest import require_tool
from tests.test_capture_json_lines import both
from tests.test_capture_records import our_rows, scapy_rows
from tests.test_location import service
from tests.tshark_rows import decoder_rows, tshark_rows

#: the environment variable naming the corpus folder
CORPUS = "PUSHINJECT_CORPUS"

if not os.environ.get(CORPUS):
    pytest.skip(f"{CORPUS} is not set; to run these tests on a folder of third-party captures: "
                f"{CORPUS}=/path/to/pcaps .venv/bin/python -m pytest "
                "tests/test_corpus_vs_tshark.py", allow_module_level=True)


@pytest.fixture(scope="module")
def pcaps_dir() -> Path:
    """The corpus folder named by PUSHINJECT_CORPUS (relative to the current directory)."""
    folder = Path(os.environ[CORPUS]).resolve()
    if not folder.is_dir():
        pytest.fail(f"{CORPUS}={os.environ[CORPUS]} is not a folder")
    return folder


def corpus(pcaps_dir: Path) -> list[Path]:
    return sorted(p for p in pcaps_dir.rglob("*") if p.suffix in (".pcap", ".pcapng"))


@pytest.mark.tshark
def test_every_corpus_capture_agrees_with_tshark(pcaps_dir: Path) -> None:
    tshark = require_tool("tshark")
    files = corpus(pcaps_dir)
    assert len(files) == 30
    total = 0
    for path in files:
        ours, _ = decoder_rows(path)
        assert ours == tshark_rows(tshark, path), path.name
        total += len(ours)
    assert total == 744  # the sum of the "SIP msgs" column of PROVENANCE.md


def test_fast_and_full_paths_agree_on_every_corpus_capture(pcaps_dir: Path) -> None:
    for path in corpus(pcaps_dir):
        fast, fast_decoder = decoder_rows(path)
        full, full_decoder = decoder_rows(path, full=True)
        assert fast == full, path.name
        assert fast_decoder.summary == full_decoder.summary, path.name


def test_every_frame_of_the_corpus_is_accounted_for(pcaps_dir: Path) -> None:
    for path in corpus(pcaps_dir):
        _, decoder = decoder_rows(path)
        s = decoder.summary
        assert s.frames == s.accounted, (path.name, s.line())


def test_http_on_the_sip_port_yields_no_sip(pcaps_dir: Path) -> None:
    rows, decoder = decoder_rows(pcaps_dir / "ntop__nDPI" / "http_on_sip_port.pcap")
    assert rows == []
    assert decoder.summary.skipped == {"no-payload": 2, "not-sip": 2}


def test_port_6060_capture_reassembles_406_messages(pcaps_dir: Path) -> None:
    """RFC 3261 §18.3: TCP messages framed by Content-Length, on a non-standard port."""
    rows, decoder = decoder_rows(pcaps_dir / "sipcapture__heplify" / "sip_ipv4_tcp_fragmented.pcap")
    assert len(rows) == 406
    assert len({r[3] for r in rows}) == 70
    assert decoder.summary.carried == 522


def test_websocket_capture_marks_ws_transport(pcaps_dir: Path) -> None:
    """RFC 7118: SIP messages carried in WebSocket frames."""
    decoder = Decoder()
    msgs = list(decoder.decode_file(pcaps_dir / "sipcapture__heplify" / "sip_tcp_websocket.pcap"))
    assert len(msgs) == 39
    assert sorted({m.transport for m in msgs}) == ["UDP", "WS"]
    assert decoder.summary.skipped["websocket-control"] == 2


# -- records: the classic pcap reader against Scapy's ---------------------------------------------

def test_same_records_as_scapy_on_the_corpus(pcaps_dir: Path) -> None:
    files = [p for p in sorted(pcaps_dir.rglob("*.pcap")) if RecordReader(p).format == "pcap"]
    assert len(files) >= 20
    for path in files:
        assert our_rows(path) == scapy_rows(path), path.name


# -- the Scapy SIP layer against the decoder ------------------------------------------------------

def test_rdpcap_decodes_the_same_udp_messages_as_the_decoder(pcaps_dir: Path) -> None:
    """aaa.pcap: 81 SIP messages on UDP 5060 (PROVENANCE.md row 1)."""
    path = pcaps_dir / "irontec__sngrep" / "aaa.pcap"
    layered = []
    for pkt in rdpcap(str(path)):
        if SIP in pkt and pkt[SIP].data.strip():  # a few 5060 datagrams are blank keep-alives
            layered.append(pkt[SIP].message)
    decoded = [m.message for m in Decoder().decode_file(path)]
    assert len(layered) == len(decoded) == 81
    assert [m.call_id for m in layered] == [m.call_id for m in decoded]


# -- pushinject check on third-party captures -----------------------------------------------------

def test_every_third_party_capture_is_judged_without_a_traceback(pcaps_dir: Path) -> None:
    """Real captures from other projects (damaged, IPv6 with malformed URIs, SCTP, WebSocket):
    each is judged, none stops the checker."""
    from pushinject.conformance import CheckOptions, check_capture

    files = corpus(pcaps_dir)
    assert len(files) >= 20
    for path in files:
        check_capture(path, CheckOptions(preset="opensips"))


def test_third_party_proxy_that_rewrites_the_to_tag(pcaps_dir: Path) -> None:
    """sngrep's ipv6frag.pcap: a proxy on [..:3519]:5062 forks one branch; the device's 200
    reaches the caller with another To tag, so that 200 was never forwarded (RFC 3261 §16.7
    step 5); a UA-to-UA capture (PcapPlusPlus sip_ipv4_tcp) has no proxy at all."""
    from pushinject.conformance import CheckOptions, check_capture

    [frag] = [p for p in corpus(pcaps_dir) if p.name == "ipv6frag.pcap"]
    result = check_capture(frag, CheckOptions(preset=None))
    assert result.proxy == ("fd17:625c:f037:2:a00:27ff:feb9:3519", 5062)
    [call] = result.calls
    assert [(v.rule, v.frame) for v in call.violations] == [("forward-2xx", 26)]
    [plain] = [p for p in corpus(pcaps_dir) if p.name == "sip_ipv4_tcp.pcap"]
    assert check_capture(plain, CheckOptions(preset=None)).calls == ()


# -- decode --json lines against decode_file ------------------------------------------------------

def test_json_lines_on_every_corpus_capture(pcaps_dir: Path) -> None:
    total = 0
    for path in corpus(pcaps_dir):
        lines, _ = both(path)
        total += len(lines)
    assert total == 744


# -- transactions and dialogs ---------------------------------------------------------------------

def test_aaa_capture_transactions(pcaps_dir: Path) -> None:
    """aaa.pcap: its 7 ACKs all acknowledge non-2xx finals (PROVENANCE.md: ACK x7)."""
    txns = transactions(Decoder().decode_file(pcaps_dir / "irontec__sngrep" / "aaa.pcap"))
    invites = [t for t in txns if t.method == "INVITE"]
    assert sum(1 for t in invites if t.ack_frame is not None) == 7
    assert all(t.final_status is None or t.final_status >= 300 for t in invites)
    assert not any(t.method == "ACK" for t in txns)


def test_ipv6frag_has_two_early_dialogs_on_one_branch(pcaps_dir: Path) -> None:
    """RFC 3261 §12.1/§13.2.2.4: each To tag in a 1xx is its own early dialog; the call's 200
    carries Tag01 (confirmed, later ended by BYE) while the UAS also confirmed Tag02
    (PROVENANCE.md row 3: the proxy relays the 200 with Tag01 after the UAS sent Tag02)."""
    found = dialogs(Decoder().decode_file(pcaps_dir / "irontec__sngrep" / "ipv6frag.pcap"))
    assert [(d.remote_tag, d.state, d.frames[0]) for d in found] == [
        ("1632476SIPpTag0171847", "terminated", 6),
        ("1632476SIPpTag0271847", "confirmed", 16),
    ]


# -- pushinject flow ------------------------------------------------------------------------------

def test_flow_command_on_sctp(pcaps_dir: Path) -> None:
    """heplify's sip_sctp.pcap: a 403 over SCTP, the long Via branch shown as a legend (the
    SVG and error paths are tested on the project's own capture in tests/test_ladder.py)."""
    capture = pcaps_dir / "sipcapture__heplify" / "sip_sctp.pcap"
    cmd = [sys.executable, "-m", "pushinject", "flow", str(capture)]
    text = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()
    assert text[0].split() == ["time", "10.249.30.11:57098", "10.108.207.113:5060",
                               "10.249.30.11:5060"]
    assert [("INVITE" in t, "403 (INVITE)" in t) for t in text[1:5]] == [
        (True, False), (True, False), (True, True), (False, False)]
    assert text[5:] == ["g1 = z9hG4bKXfVD0C87Be5AV626"]  # the long Via branch, as a legend


# -- the fast listing fields against the full parser ----------------------------------------------

def test_fast_fields_agree_with_the_parser_on_the_whole_corpus(pcaps_dir: Path) -> None:
    """Every message of the corpus but those of sip_ipv6_udp.pcap must agree exactly.

    sip_ipv6_udp.pcap writes bare IPv6 addresses in its URIs and Via sent-by
    (`sip:4321@fec0:0:0:0:216:d3ff:fe0d:22c:5060`); RFC 3261 §19.1.1/§25.1 require brackets
    (IPv6reference). The message layer refuses the Request-URI even leniently (3 requests) and
    records From/To/Via as malformed defects (all 6 messages), so its typed From/To/Via cannot
    be read there; `scan` still reads the tags and branch as tshark does. For that file only
    Call-ID and CSeq are compared, and the refusals and defects are checked to be those.
    """
    count = 0
    refused = []
    for path in corpus(pcaps_dir):
        for msg in Decoder().decode_file(path):
            count += 1
            try:
                parsed = msg.message
            except ValueError as exc:
                assert "Request-URI" in str(exc)
                refused.append((path.name, msg.frame, msg.label))
                continue
            fast, full = scan(msg.raw), fields_of(parsed)
            if path.name == "sip_ipv6_udp.pcap":
                assert any(d.startswith("From: malformed") for d in parsed.defects)
                assert fast[:5] == full[:5]
                continue
            assert fast == full, (path.name, msg.frame)
    assert count == 744
    assert refused == [("sip_ipv6_udp.pcap", 1, "INVITE"), ("sip_ipv6_udp.pcap", 4, "ACK"),
                       ("sip_ipv6_udp.pcap", 5, "BYE")]


# -- calls through a proxy ------------------------------------------------------------------------

def test_ipv6frag_proxy_call(pcaps_dir: Path) -> None:
    """ipv6frag.pcap: one call through the stateful proxy, two early dialogs on one branch."""
    [call] = calls(Decoder().decode_file(pcaps_dir / "irontec__sngrep" / "ipv6frag.pcap"))
    assert call.final_status == 200 and not call.cancelled_by_caller
    [branch] = call.branches
    assert (branch.provisional, branch.final_status, branch.injected) == ((183, 183), 200, False)


# -- the registrar against third-party registrars -------------------------------------------------

@pytest.mark.parametrize(
    ("capture", "accepted"),
    [
        ("OISF__suricata-verify/sip-tcp.pcap", 1),
        ("ntop__nDPI/sip_hello.pcapng", 2),
        ("irontec__sngrep/aaa.pcap", 3),
    ],
)
def test_10_3_step8_our_200_lists_what_third_party_registrars_listed(
    pcaps_dir: Path, capture: str, accepted: int
) -> None:
    """Third-party registrars: after each accepted REGISTER, the same bindings, q and
    remaining expires as the registrar that answered it."""
    rows = replay_registers(decode(pcaps_dir / capture), service())
    assert len(rows) == accepted
    for row in rows:
        assert row.agrees, (row.ours.get_all("Contact"), row.theirs.get_all("Contact"))
