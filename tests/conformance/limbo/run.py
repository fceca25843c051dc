"""The x509-limbo conformance runner (docs/conformance.md).

Runs the vendored cases (cases.json.gz: 208 cases of x509-limbo's rfc5280,
webpki, pathlen, pathological, crl, cve, online and invalid namespaces)
through engines, each called the way an application calls it:

  mutls-default, mutls-strict   mutls.Certificate.verify (the check a
                                handshake runs) with the case's time as at=,
                                profile "default" / "strict"
  gnutls                        raw GnuTLS (ctypes): one
                                gnutls_x509_trust_list_verify_crt2 with the
                                name and purpose; the case's time through
                                gnutls_global_set_time_function
  pyca                          pyca/cryptography's x509.verification

and prints, per namespace, how many cases each engine agrees with, accepts
although the suite marks them invalid, rejects although valid, or cannot
run (a parameter it has no way to take).

    python tests/conformance/limbo/run.py [--engine E ...] [--json OUT]
        [--check FLOORS] [--list KIND] [--id GLOB]

--check FLOORS fails (exit 1) when a mutls engine does worse than the
floors file says (fewer agreements, more wrong answers, or a case slower
than the limit): the floors are the measured numbers, to catch regressions.
"""
from __future__ import annotations

import argparse
import collections
import ctypes
import ctypes.util
import datetime
import fnmatch
import gzip
import ipaddress
import json
import pathlib
import sys
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

HERE = pathlib.Path(__file__).resolve().parent
NAMESPACES = ("rfc5280", "webpki", "pathlen", "pathological", "crl", "cve", "online", "invalid")
KINDS = ("agree", "accepts-invalid", "rejects-valid", "cannot-run")


# mutls: the time of the verify call alone (parsing the PEMs not counted)
VERIFY_SECONDS: Dict[str, float] = {}


class CannotRun(Exception):
    """The engine has no way to take one of the case's parameters."""


def load_cases() -> Dict[str, Any]:
    with gzip.open(HERE / "cases.json.gz", "rt") as f:
        return json.load(f)


def case_time(tc: Dict[str, Any]) -> Optional[datetime.datetime]:
    t = tc.get("validation_time")
    return datetime.datetime.fromisoformat(t) if t else None


# ---- mutls ------------------------------------------------------------------

def mutls_engine(profile: str) -> Callable[[Dict[str, Any]], bool]:
    import mutls

    def run(tc: Dict[str, Any]) -> bool:
        kw: Dict[str, Any] = {}
        try:
            trust = [mutls.Certificate.from_pem(p) for p in tc["trusted_certs"]]
            leaf = mutls.Certificate.from_pem(tc["peer_certificate"])
            inter = [mutls.Certificate.from_pem(p) for p in tc["untrusted_intermediates"]]
        except mutls.Error:
            return False  # a certificate mutls refuses to load is a refused chain
        if tc["signature_algorithms"] or tc["key_usage"]:
            # limbo's extra key usage requirement: only digitalSignature occurs,
            # which the TLS purpose check requires anyway
            if tc["key_usage"] not in ([], ["digitalSignature"]) or tc["signature_algorithms"]:
                raise CannotRun("signature_algorithms / key_usage")
        if tc["validation_kind"] == "SERVER":
            kw["purpose"] = "server"
            name = tc.get("expected_peer_name")
            if name:
                kw["hostname"] = name["value"]
        else:
            kw["purpose"] = "client"
            peers = []
            for name in tc.get("expected_peer_names") or []:
                kind = {"DNS": "dns", "IP": "ip", "RFC822": "email"}.get(name["kind"])
                if not kind:
                    raise CannotRun("peer name kind %s" % name["kind"])
                peers.append("%s:%s" % (kind, name["value"]))
            if peers:
                kw["peers"] = peers
        if tc["crls"]:
            kw["crl"] = list(tc["crls"])
        when = case_time(tc)
        if when:
            kw["at"] = when
        if tc["max_chain_depth"] is not None:
            kw["max_chain_depth"] = tc["max_chain_depth"]
        if profile != "default":
            kw["profile"] = profile
        t0 = time.perf_counter()
        try:
            return bool(leaf.verify(trust, intermediates=inter, **kw))
        except mutls.CertificateVerifyError:
            return False
        except TypeError as e:
            if "keyword" in str(e):  # an option this build does not have
                raise CannotRun(str(e))
            raise
        except mutls.ConfigError:
            return False  # a CRL or name mutls refuses to take
        finally:
            VERIFY_SECONDS[tc["id"]] = time.perf_counter() - t0

    return run


# ---- raw GnuTLS (ctypes) ------------------------------------------------------

class _Datum(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("size", ctypes.c_uint)]


class _Vdata(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("data", ctypes.c_char_p), ("size", ctypes.c_uint)]


def gnutls_engine() -> Callable[[Dict[str, Any]], bool]:
    lib = ctypes.CDLL(ctypes.util.find_library("gnutls") or "libgnutls.so.30")
    time_func = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p)
    state = {"now": None}

    def fake_time(ptr: Any) -> int:
        t = state["now"] if state["now"] is not None else int(time.time())
        if ptr:
            ctypes.c_int64.from_address(ptr).value = t
        return t

    clock = time_func(fake_time)
    lib.gnutls_global_set_time_function(clock)
    lib.gnutls_x509_crt_deinit.argtypes = [ctypes.c_void_p]
    lib.gnutls_x509_trust_list_deinit.argtypes = [ctypes.c_void_p, ctypes.c_uint]
    PEM, TL_VERIFY_CRL = 1, 1
    DT_DNS, DT_PURPOSE, DT_EMAIL, DT_IP = 1, 2, 3, 4

    def datum(b: bytes) -> Tuple[_Datum, Any]:
        buf = ctypes.create_string_buffer(b, len(b))
        return _Datum(ctypes.cast(buf, ctypes.c_void_p), len(b)), buf

    def run(tc: Dict[str, Any]) -> bool:
        when = case_time(tc)
        state["now"] = int(when.timestamp()) if when else None
        if tc["max_chain_depth"] is not None:
            raise CannotRun("max_chain_depth")
        tl = ctypes.c_void_p()
        lib.gnutls_x509_trust_list_init(ctypes.byref(tl), 0)
        keep = []
        try:
            cas, b1 = datum("".join(tc["trusted_certs"]).encode())
            crls, b2 = datum("".join(tc["crls"]).encode())
            keep += [b1, b2]
            lib.gnutls_x509_trust_list_add_trust_mem(tl, ctypes.byref(cas),
                ctypes.byref(crls) if tc["crls"] else None, PEM, TL_VERIFY_CRL if tc["crls"] else 0, 0)
            chain_pem, b3 = datum((tc["peer_certificate"] + "".join(tc["untrusted_intermediates"])).encode())
            keep.append(b3)
            crts = ctypes.c_void_p()
            n = ctypes.c_uint()
            if lib.gnutls_x509_crt_list_import2(ctypes.byref(crts), ctypes.byref(n),
                                                ctypes.byref(chain_pem), PEM, 0) < 0:
                return False
            vdata = []
            if tc["validation_kind"] == "SERVER":
                vdata.append(_Vdata(DT_PURPOSE, b"1.3.6.1.5.5.7.3.1", 0))
                name = tc.get("expected_peer_name")
                if name and name["kind"] == "DNS":
                    vdata.append(_Vdata(DT_DNS, name["value"].encode(), 0))
                elif name and name["kind"] == "IP":
                    raw = ipaddress.ip_address(name["value"]).packed
                    vdata.append(_Vdata(DT_IP, raw, len(raw)))
            else:
                vdata.append(_Vdata(DT_PURPOSE, b"1.3.6.1.5.5.7.3.2", 0))
                names = tc.get("expected_peer_names") or []
                if len(names) > 1:
                    raise CannotRun("more than one peer name")
                for name in names:
                    if name["kind"] != "RFC822":
                        raise CannotRun("peer name kind %s" % name["kind"])
                    vdata.append(_Vdata(DT_EMAIL, name["value"].encode(), 0))
            arr = (_Vdata * len(vdata))(*vdata)
            status = ctypes.c_uint()
            flags = 1 << 26  # GNUTLS_PROFILE_TO_VFLAGS(MEDIUM), as mutls uses it
            rc = lib.gnutls_x509_trust_list_verify_crt2(tl, crts, n, arr, len(vdata), flags,
                                                         ctypes.byref(status), None)
            ptrs = ctypes.cast(crts, ctypes.POINTER(ctypes.c_void_p))
            for i in range(n.value):
                lib.gnutls_x509_crt_deinit(ptrs[i])
            return rc >= 0 and status.value == 0
        finally:
            lib.gnutls_x509_trust_list_deinit(tl, 1)

    run.keep_alive = clock  # type: ignore[attr-defined]
    return run


# ---- pyca/cryptography -----------------------------------------------------------

def pyca_engine() -> Callable[[Dict[str, Any]], bool]:
    from cryptography import x509
    from cryptography.x509 import verification as v
    warnings.filterwarnings("ignore", module=".*")  # its deprecation warnings on the invalid serials

    def run(tc: Dict[str, Any]) -> bool:
        if tc["crls"]:
            raise CannotRun("CRLs")
        try:
            trust = [x509.load_pem_x509_certificate(p.encode()) for p in tc["trusted_certs"]]
            leaf = x509.load_pem_x509_certificate(tc["peer_certificate"].encode())
            inter = [x509.load_pem_x509_certificate(p.encode()) for p in tc["untrusted_intermediates"]]
        except ValueError:
            return False
        b = v.PolicyBuilder().store(v.Store(trust))
        when = case_time(tc)
        if when:
            b = b.time(when)
        if tc["max_chain_depth"] is not None:
            b = b.max_chain_depth(tc["max_chain_depth"])
        try:
            if tc["validation_kind"] == "SERVER":
                name = tc.get("expected_peer_name")
                if not name:
                    raise CannotRun("a server check without a name")
                if name["kind"] == "DNS":
                    subject: Any = x509.DNSName(name["value"])
                else:
                    subject = x509.IPAddress(ipaddress.ip_address(name["value"]))
                b.build_server_verifier(subject).verify(leaf, inter)
                return True
            verified = b.build_client_verifier().verify(leaf, inter)
            got = set()
            for san in verified.subjects or []:
                if isinstance(san, x509.RFC822Name):
                    got.add(("RFC822", san.value))
                elif isinstance(san, x509.DNSName):
                    got.add(("DNS", san.value))
            return all((n["kind"], n["value"]) in got for n in tc.get("expected_peer_names") or [])
        except (v.VerificationError, ValueError):
            return False

    return run


# ---- the run --------------------------------------------------------------------

ENGINES: Dict[str, Callable[[], Callable[[Dict[str, Any]], bool]]] = {
    "mutls-default": lambda: mutls_engine("default"),
    "mutls-strict": lambda: mutls_engine("strict"),
    "gnutls": gnutls_engine,
    "pyca": pyca_engine,
}


def classify(expected: str, got: Optional[bool]) -> str:
    if got is None:
        return "cannot-run"
    if got == (expected == "SUCCESS"):
        return "agree"
    return "accepts-invalid" if got else "rejects-valid"


def run_engine(name: str, cases: List[Dict[str, Any]]) -> Dict[str, Any]:
    fn = ENGINES[name]()
    results: Dict[str, str] = {}
    slowest = (0.0, "")
    notes: Dict[str, str] = {}
    for tc in cases:
        t0 = time.perf_counter()
        try:
            got: Optional[bool] = fn(tc)
        except CannotRun as e:
            got = None
            notes[tc["id"]] = str(e)
        dt = VERIFY_SECONDS.pop(tc["id"], time.perf_counter() - t0)
        if dt > slowest[0]:
            slowest = (dt, tc["id"])
        results[tc["id"]] = classify(tc["expected_result"], got)
    return {"results": results, "slowest_ms": round(slowest[0] * 1000, 2),
            "slowest_case": slowest[1], "notes": notes}


def table(cases: List[Dict[str, Any]], runs: Dict[str, Dict[str, Any]]) -> str:
    lines = []
    for name, run in runs.items():
        lines.append("%s (slowest %s %.1f ms: %s)" % (name, "verification" if name.startswith("mutls")
                     else "case", run["slowest_ms"], run["slowest_case"]))
        lines.append("  %-13s %5s %6s %16s %14s %11s" % ("namespace", "cases", *KINDS))
        per: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        for tc in cases:
            ns = tc["id"].split("::")[0]
            per[ns][run["results"][tc["id"]]] += 1
            per["total"][run["results"][tc["id"]]] += 1
        for ns in [*NAMESPACES, "total"]:
            c = per[ns]
            lines.append("  %-13s %5d %6d %16d %14d %11d" % (ns, sum(c.values()), *(c[k] for k in KINDS)))
    return "\n".join(lines)


def totals(run: Dict[str, Any]) -> Dict[str, int]:
    c = collections.Counter(run["results"].values())
    return {k: c[k] for k in KINDS}


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", action="append", choices=sorted(ENGINES))
    ap.add_argument("--json", help="write every result to this file")
    ap.add_argument("--check", help="floors file: fail when a mutls engine does worse")
    ap.add_argument("--list", choices=KINDS, help="list the cases of this kind per engine")
    ap.add_argument("--id", help="only the cases whose id matches this glob")
    args = ap.parse_args(argv)

    suite = load_cases()
    cases = suite["testcases"]
    if args.id:
        cases = [tc for tc in cases if fnmatch.fnmatch(tc["id"], args.id)]
    engines = args.engine or ["mutls-default", "mutls-strict", "gnutls", "pyca"]
    runs = {}
    for name in engines:
        try:
            runs[name] = run_engine(name, cases)
        except ImportError as e:
            print("%s: not available (%s)" % (name, e))
    print("x509-limbo %s (%d cases)" % (suite["commit"][:12], len(cases)))
    print(table(cases, runs))
    if args.list:
        # x509-limbo's own feature flags (pedantic-*, rfc5280-incompatible-
        # with-webpki, ...) mark the cases its harnesses may skip by choice
        features = {tc["id"]: ",".join(tc.get("features") or []) for tc in cases}
        for name, run in runs.items():
            for cid, kind in run["results"].items():
                if kind == args.list:
                    flags = " [%s]" % features[cid] if features.get(cid) else ""
                    print("%s %s %s%s %s" % (name, kind, cid, flags, run["notes"].get(cid, "")))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({n: {**r, "totals": totals(r)} for n, r in runs.items()}, f, indent=1, sort_keys=True)
    bad: List[str] = []
    if args.check:
        floors = json.loads(pathlib.Path(args.check).read_text())
        for name, floor in floors.items():
            if name not in runs:
                continue
            t = totals(runs[name])
            if t["agree"] < floor["agree"]:
                bad.append("%s: %d agree, the floor is %d" % (name, t["agree"], floor["agree"]))
            for k in ("accepts-invalid", "rejects-valid", "cannot-run"):
                if t[k] > floor[k]:
                    bad.append("%s: %d %s, at most %d allowed" % (name, t[k], k, floor[k]))
            if runs[name]["slowest_ms"] > floor.get("slowest_ms", 1e9):
                bad.append("%s: case %s took %.1f ms, the limit is %.1f" % (
                    name, runs[name]["slowest_case"], runs[name]["slowest_ms"], floor["slowest_ms"]))
        for b in bad:
            print("REGRESSION " + b)
    print("conformance: x509-limbo %d cases: " % len(cases) + "; ".join(
        "%s %d agree, %d accept invalid, %d reject valid, %d cannot run" % (
            (name,) + tuple(totals(run)[k] for k in KINDS)) for name, run in runs.items())
        + (" (FAILED: below the floors)" if args.check and bad else ""))
    return 1 if args.check and bad else 0


if __name__ == "__main__":
    sys.exit(main())
