"""Several messages in one frame keep their capture order (CAP-9): a HEP mirror writing over TCP
under load packs the copies it has queued into one segment, so the REGISTER that woke a device
and the INVITE the proxy injected for it may arrive in the same frame. Judged from such a
stream, every call gets the verdict and the branches it gets from the wire."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from pushinject.capture.decoder import Decoder
from pushinject.conformance import CheckOptions
from pushinject.conformance.capture import load_capture
from pushinject.conformance.check import check_messages
from tests.hep_samples import write_hep_capture

DATA = Path(__file__).resolve().parent.parent / "data"
L1 = DATA / "kamailio" / "load" / "L1.pcap"
PRESET = CheckOptions(preset="kamailio-tsilo")


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """L1 mirrored over TCP, the packets stamped within 20 ms of a segment's first in it."""
    return write_hep_capture(L1, tmp_path_factory.mktemp("hep") / "L1-packed.pcap", tcp=True,
                             coalesce=0.020)


def test_the_messages_of_one_frame_are_numbered_in_order(packed: Path) -> None:
    """Each message's place in its frame counts from 0, and the frames of several messages
    are the ones this test is about."""
    decoded = list(Decoder(anomalies=False).decode_file(packed))
    per_frame = Counter(m.frame for m in decoded)
    assert decoded[0].within == 0
    for before, after in zip(decoded, decoded[1:]):
        assert after.within == (before.within + 1 if after.frame == before.frame else 0)
    assert sum(n > 1 for n in per_frame.values()) > 100


def test_a_register_and_its_injected_invite_in_one_segment(packed: Path) -> None:
    """Every call of L1 has the wire's verdict and branches; among them, the injections whose
    REGISTER came in the injected INVITE's own segment (without CAP-9 such a branch was not
    seen as injected, and the registration it followed as never injected)."""
    wire = check_messages(load_capture(L1), PRESET)
    mirrored = check_messages(load_capture(packed), PRESET)
    assert [c.to_json() for c in mirrored.calls] == [c.to_json() for c in wire.calls]
    together = [b for c in mirrored.calls for b in c.call.branches
                if b.registration is not None and b.registration.frame == b.frame]
    assert len(together) > 10
    assert all(b.registration.within < b.within for b in together)  # type: ignore[union-attr]
