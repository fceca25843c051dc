"""Writes x509-limbo's vendored chains (tests/conformance/limbo/cases.json.gz)
as seeds for fuzz_verify (its input format is in fuzz_verify.c). Standard
library only, so that scripts/fuzz can run it with any python3.

    python3 tests/fuzz/limbo_seeds.py OUT_DIR
"""

import calendar
import datetime
import gzip
import json
import os
import ssl
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "..", "conformance", "limbo", "cases.json.gz")
NOW = calendar.timegm((2025, 1, 1, 0, 0, 0))  # inside the vendored chains' validity


def seed(case):
    anchors = case["trusted_certs"][:2]
    if not anchors or len(case["untrusted_intermediates"]) > 8:
        return None
    flags = 16 if len(anchors) == 2 else 0
    flags |= 2 if case["validation_kind"] == "CLIENT" else 0
    name = case.get("expected_peer_name") or {}
    if name.get("kind") == "IP":
        flags |= 4
    elif name.get("kind") != "DNS":
        flags |= 8 | 32
    if case.get("max_chain_depth") is not None:
        flags |= 64
    at = NOW
    if case.get("validation_time"):
        when = datetime.datetime.fromisoformat(case["validation_time"].replace("Z", "+00:00"))
        at = max(0, min(int(when.timestamp()), 2**32 - 1))
    out = struct.pack(">BI", flags, at)
    for pem in anchors + case["untrusted_intermediates"] + [case["peer_certificate"]]:
        der = ssl.PEM_cert_to_DER_cert(pem)
        if len(der) > 0xFFFF:
            return None
        out += struct.pack(">H", len(der)) + der
    return out


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    with gzip.open(CASES, "rt") as fh:
        data = json.load(fh)
    written = 0
    for case in data["testcases"]:
        body = seed(case)
        for strict in (0, 1) if body else ():
            name = case["id"].replace(":", "_") + ("-strict" if strict else "")
            with open(os.path.join(out_dir, name), "wb") as fh:
                fh.write(bytes([body[0] | strict]) + body[1:])
            written += 1
    print("limbo_seeds: %d seeds in %s" % (written, out_dir))


if __name__ == "__main__":
    main()
