"""The shared scenario table (tests/scenarios/scenarios.txt) run through the
Python binding: one test per [id]. The table's header says what each field
means and how a case runs; tests/c/test_scenarios.c and
tests/lua/scenarios_spec.lua run the same table through C and Lua.

The table is found next to the repository's tests/ (or at $MUTLS_SCENARIOS).
"""

from __future__ import annotations

import datetime
import os
import time
import pathlib
from typing import Any, Dict, List, Optional, Tuple

import pytest

import mutls

TABLE = pathlib.Path(os.environ.get("MUTLS_SCENARIOS") or
                     pathlib.Path(__file__).resolve().parent.parent / "scenarios" / "scenarios.txt")


# ---- the table ----------------------------------------------------------------


def parse_table(path: pathlib.Path) -> List[Tuple[str, Dict[str, str]]]:
    cases: List[Tuple[str, Dict[str, str]]] = []
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            assert line.endswith("]"), "%s:%d: bad case header" % (path, n)
            cases.append((line[1:-1].strip(), {}))
            continue
        assert "=" in line and cases, "%s:%d: expected key = value inside a case" % (path, n)
        key, value = line.split("=", 1)
        cases[-1][1][key.strip()] = value.strip()
    return cases


def tokens(text: Optional[str]) -> Dict[str, str]:
    """'a=1 b=x,y c' -> {'a': '1', 'b': 'x,y', 'c': ''}; the last one wins."""
    out: Dict[str, str] = {}
    for tok in (text or "").split():
        name, _, value = tok.partition("=")
        out[name] = value
    return out


def first_token(text: str) -> str:
    return text.split()[0]


def split(text: Optional[str]) -> List[str]:
    return [item for item in (text or "").split(",") if item]


CASES = parse_table(TABLE)

# The exception class of each code, as docs/reference.md gives it.
CLASSES = {
    "verify-failed": mutls.CertificateVerifyError,
    "no-certificate": mutls.CertificateVerifyError,
    "peer-rejected": mutls.PeerRejectedError,
    "protocol": mutls.ProtocolError,
    "hook": mutls.HandshakeError,
    "closed": mutls.ConnectionClosed,
    "timeout": mutls.TimeoutError,
    "config": mutls.ConfigError,
    "usage": mutls.UsageError,
    "want-read": mutls.WantRead,
    "want-write": mutls.WantWrite,
}


# ---- the PKI of a case --------------------------------------------------------


class World:
    def __init__(self) -> None:
        self.root = mutls.TestCA("mutls test root")
        self._cas: Dict[str, mutls.TestCA] = {"root": self.root}
        self.idents: Dict[str, "Ident"] = {}
        self.crl: Optional[str] = None

    def ca(self, which: str) -> mutls.TestCA:
        which = "other" if which == "other-ca" else which
        if which not in self._cas:
            if which == "other":
                self._cas[which] = mutls.TestCA("mutls other CA")
            elif which == "intermediate":
                self._cas[which] = self.root.intermediate("mutls test intermediate")
            elif which == "intermediate-not-ca":
                self._cas[which] = self.root.intermediate("mutls fake intermediate", not_ca=True)
            elif which == "weak-root":
                self._cas[which] = mutls.TestCA("mutls weak root", key_type="rsa1024")
            elif which == "intermediate-rsa1024":
                self._cas[which] = self.root.intermediate("mutls weak intermediate", key_type="rsa1024")
            elif which == "intermediate-constrained":
                self._cas[which] = self.root.intermediate("mutls constrained intermediate",
                                                          permitted_dns=["svc.local"])
            elif which == "intermediate-path0-sub":
                limited = self.root.intermediate("mutls limited intermediate", path_length=0)
                self._cas[which] = limited.intermediate("mutls sub intermediate")
            else:
                raise AssertionError("unknown CA %r" % which)
        return self._cas[which]


class Ident:
    def __init__(self, world: World, spec: str) -> None:
        t = tokens(spec)
        issuer = t.get("issuer", "root")
        self.none = issuer == "none"
        self.id: Any = None  # the leaf Identity (None: issuer none or self-signed)
        self.self_ca: Optional[mutls.TestCA] = None
        self.other: Optional[mutls.Identity] = None
        self.encrypted: Optional[str] = None
        self.leaf_only = t.get("chain") == "leaf"
        if self.none:
            return
        key_type = t.get("key_type", "p256")
        if issuer == "self-signed":
            self.self_ca = mutls.TestCA(t.get("cn"), key_type=key_type)
            return
        ca = world.ca(issuer)
        kw: Dict[str, Any] = dict(cn=t.get("cn"), dns=split(t.get("dns")), ip=split(t.get("ip")),
                                  uri=split(t.get("uri")), key_type=key_type,
                                  purpose=t.get("purpose", "both"))
        if "not_before" in t:
            kw["not_before"] = int(t["not_before"])
        if "not_after" in t:
            kw["not_after"] = int(t["not_after"])
        self.id = ca.issue(**kw)
        if t.get("revoked") == "yes":
            ca.revoke(self.id)
        if t.get("wrong_key") == "yes":
            self.other = ca.issue(cn="mutls other leaf", key_type=key_type)
        if "encrypt" in t:
            self.encrypted = self.id.encrypted_key_pem(t["encrypt"])

    @property
    def leaf(self) -> mutls.Certificate:
        return self.self_ca.certificate if self.self_ca else self.id.certificate

    def options(self, password: Optional[str]) -> Dict[str, Any]:
        if self.none:
            return {}
        if self.self_ca:
            return dict(certificate=self.self_ca.cert_pem, private_key=self.self_ca.key_pem,
                        password=password)
        if not (self.leaf_only or self.other or self.encrypted):
            return dict(identity=self.id)
        key = self.other.key_pem if self.other else self.encrypted or self.id.key_pem
        return dict(certificate=self.id.cert_pem if self.leaf_only else self.id.chain_pem,
                    private_key=key, password=password)


def make_hook(spec: Optional[str]) -> Any:
    if not spec or spec == "none":
        return None
    if spec == "accept":
        return lambda peer: True
    if spec.startswith("reject:"):
        reason = spec[len("reject:"):]
        return lambda peer: reason
    if spec.startswith("raise:"):
        message = spec[len("raise:"):]

        def hook(peer: mutls.Peer) -> bool:
            raise RuntimeError(message)

        return hook
    raise AssertionError("bad hook %r" % spec)


def make_clock(spec: str) -> Any:
    if spec.startswith("raise:"):
        message = spec[len("raise:"):]

        def failing_clock() -> datetime.datetime:
            raise RuntimeError(message)

        return failing_clock
    offset = datetime.timedelta(seconds=int(spec))
    return lambda: datetime.datetime.now(datetime.timezone.utc) + offset


def make_config(world: World, ident: Ident, spec: Optional[str], hook: Optional[str]) -> mutls.Config:
    t = tokens(spec)
    kw = ident.options(t.get("password"))
    trust = [world.ca(name) for name in split(t.get("trust", "root")) if name != "none"]
    if trust:
        kw["trust"] = trust
    if t.get("crl") == "yes":
        kw["crl"] = world.crl
    if "peer_certificate" in t:
        kw["peer_certificate"] = t["peer_certificate"]
    if "check_hostname" in t:
        kw["check_hostname"] = t["check_hostname"] == "yes"
    if "verify_time" in t:
        kw["verify_time"] = int(time.time()) + int(t["verify_time"])
    if "verify_clock" in t:
        kw["verify_time"] = make_clock(t["verify_clock"])
    if "peers" in t:
        peers: List[Any] = []
        for pattern in split(t["peers"]):
            if pattern in ("sha256:<client>", "sha256:<server>"):
                who = world.idents[pattern[len("sha256:<"):-1]]
                pattern = "sha256:" + who.leaf.fingerprint("sha256")
            if pattern in ("certificate:<client>", "certificate:<server>"):
                peers.append(world.idents[pattern[len("certificate:<"):-1]].leaf)
                continue
            peers.append(pattern)
        kw["peers"] = peers
    if "versions" in t:
        kw["versions"] = split(t["versions"])
    if "alpn" in t:
        kw["alpn"] = split(t["alpn"])
    if make_hook(hook):
        kw["verify_hook"] = make_hook(hook)
    return mutls.Config(**kw)


# ---- one connection -----------------------------------------------------------


def move(src: mutls.Session, dst: mutls.Session) -> int:
    data = src.data_to_send()
    if data:
        dst.feed(data)
    return len(data)


class Side:
    """One side's outcome: "not-run", "ok" or the error."""

    def __init__(self) -> None:
        self.state = "not-run"
        self.error: Any = None      # the mutls.Error, once failed
        self.session: Any = None    # the mutls.Session, once made

    def fail(self, exc: mutls.Error) -> None:
        self.state, self.error = "failed", exc


def connect(ccfg: mutls.Config, hostname: Optional[str], scfg: mutls.Config,
            session_data: Optional[bytes] = None) -> Tuple[Side, Side]:
    """Steps 2-4 of the table's THE RUN: sessions, handshakes (client step,
    move, server step, move; at most 64 rounds), then the exchange."""
    client, server = Side(), Side()
    client.session = ccfg.client(server_hostname=hostname, session_data=session_data)
    server.session = scfg.server()
    client.state = server.state = "want"

    def step(side: Side) -> None:
        if side.state != "want":
            return
        try:
            side.session.handshake()
            side.state = "ok"
        except mutls.WantRead:
            pass
        except mutls.Error as exc:
            side.fail(exc)

    for _ in range(64):
        step(client)
        moved = move(client.session, server.session)
        step(server)
        moved += move(server.session, client.session)
        if moved == 0:
            break
    else:
        raise AssertionError("the handshake did not settle in 64 rounds")
    return finish(client, server)


def finish(client: Side, server: Side) -> Tuple[Side, Side]:
    """Step 4: ping from the client, pong from the server, so that both sides'
    outcome is observed (a refused TLS 1.3 client learns it on its read)."""
    for side in (client, server):
        if side.state == "want":
            side.state = "stuck"
    assert "stuck" not in (client.state, server.state), "a side neither finished nor failed"
    if client.state == "ok":
        try:
            client.session.send(b"ping")
        except mutls.Error as exc:
            client.fail(exc)
        move(client.session, server.session)
    if server.state == "ok":
        try:
            got = server.session.recv(64)
            assert got == b"ping", got
            server.session.send(b"pong")
            move(server.session, client.session)
        except mutls.Error as exc:
            server.fail(exc)
    if client.state == "ok":
        try:
            got = client.session.recv(64)
            assert got == b"pong", got
        except mutls.Error as exc:
            client.fail(exc)
    return client, server


# ---- outcomes -------------------------------------------------------------------


def outcome_text(side: Side) -> str:
    """The outcome in the table's spelling (without ok's optional fields)."""
    if side.state != "failed":
        return side.state
    e = side.error
    return "%s reasons=%s side=%s step=%s alert=%s" % (
        e.code, ",".join(sorted(e.reasons)) or "none", e.side or "none", e.step or "none",
        e.alert or "none")


def expected_text(expect: str) -> str:
    t = tokens(expect)
    code = first_token(expect)
    if code in ("ok", "not-run"):
        return code
    for field in ("reasons", "side", "step", "alert"):
        assert field in t, "expect %r lacks %s=" % (expect, field)
    reasons = ",".join(sorted(r for r in split(t["reasons"]) if r != "none")) or "none"
    return "%s reasons=%s side=%s step=%s alert=%s" % (code, reasons, t["side"], t["step"], t["alert"])


def check(name: str, side: Side, expect: str, fragment: Optional[str], own_hook: Optional[str],
          hook_fragment: Optional[str] = None) -> List[str]:
    """The differences between a side's outcome and the table."""
    bad: List[str] = []
    got, want = outcome_text(side), expected_text(expect)
    detail = (" | " + str(side.error)) if side.error is not None else ""
    if got != want:
        bad.append("%s: %s%s\n    expected %s" % (name, got, detail, want))
    t = tokens(expect)
    if want == "ok" and got == "ok":
        s = side.session
        checks = {"version": s.version, "alpn": s.alpn or "none",
                  "resumed": "yes" if s.resumed else "no", "verified": "yes" if s.verified else "no"}
        for field, value in checks.items():
            if field in t and t[field] != value:
                bad.append("%s: %s %s, expected %s" % (name, field, value, t[field]))
    if side.state == "failed":
        e = side.error
        cls = CLASSES.get(e.code)
        if cls is not None and type(e) is not cls:
            bad.append("%s: %s is a %s, expected a %s" % (name, e.code, type(e).__name__, cls.__name__))
        if fragment and fragment not in str(e):
            bad.append("%s: the message %r does not contain %r" % (name, str(e), fragment))
        if hook_fragment and (e.hook_message is None or hook_fragment not in e.hook_message
                              or e.hook_message not in str(e)):
            bad.append("%s: hook_message %r does not contain %r or is not in the message"
                       % (name, e.hook_message, hook_fragment))
        if "peer_certificate" in t and (e.peer_certificate is not None) != (t["peer_certificate"] == "yes"):
            bad.append("%s: peer_certificate %r, expected %s" % (name, e.peer_certificate, t["peer_certificate"]))
        if e.code == "hook" and own_hook and own_hook.startswith("raise:"):
            cause = e.__cause__
            if not isinstance(cause, RuntimeError) or str(cause) != own_hook[len("raise:"):]:
                bad.append("%s: the hook's exception is not the cause: %r" % (name, cause))
    return bad


# ---- a case ---------------------------------------------------------------------


@pytest.mark.parametrize("case_id,case", CASES, ids=[c[0] for c in CASES])
def test_scenario(case_id: str, case: Dict[str, str]) -> None:
    known = case.get("known_difference")
    if known and ":" in known and "python" in [x.strip() for x in known.split(":", 1)[0].split(",")]:
        pytest.skip("known difference: " + known)
    hostname: Optional[str] = case["hostname"]
    if hostname == "none":
        hostname = None

    world = World()
    world.idents["server"] = Ident(world, case["server.identity"])
    world.idents["client"] = Ident(world, case["client.identity"])
    world.crl = world.root.crl_pem

    client, server = Side(), Side()
    scfg = ccfg = None
    try:
        scfg = make_config(world, world.idents["server"], case.get("server.config"), case.get("server.hook"))
    except mutls.Error as exc:
        server.fail(exc)
    if scfg is not None:
        try:
            ccfg = make_config(world, world.idents["client"], case.get("client.config"),
                               case.get("client.hook"))
        except mutls.Error as exc:
            client.fail(exc)

    if scfg is not None and ccfg is not None:
        if case.get("resume") == "yes":
            client, server = connect(ccfg, hostname, scfg)
            assert (client.state, server.state) == ("ok", "ok"), \
                "the first connection failed: %s / %s" % (client.error, server.error)
            data = client.session.session_data
            assert data, "no session data after the first connection"
            if "resume.client.config" in case:
                spec = case.get("client.config", "") + " " + case["resume.client.config"]
                ccfg = make_config(world, world.idents["client"], spec, case.get("client.hook"))
            client, server = connect(ccfg, hostname, scfg, session_data=data)
        else:
            client, server = connect(ccfg, hostname, scfg)

    dump_path = os.environ.get("MUTLS_SCENARIOS_DUMP")
    if dump_path:  # "id<TAB>side<TAB>outcome<TAB>message" for comparing the languages
        with open(dump_path, "a") as f:
            for name, side in (("server", server), ("client", client)):
                f.write("%s\t%s\t%s\t%s\n" % (case_id, name, outcome_text(side),
                                                 str(side.error) if side.error is not None else ""))
    bad = check("server", server, case["expect.server"], case.get("expect.server.message"),
                case.get("server.hook"), case.get("expect.server.hook_message"))
    bad += check("client", client, case["expect.client"], case.get("expect.client.message"),
                 case.get("client.hook"), case.get("expect.client.hook_message"))
    assert not bad, "\n".join(bad)


def test_the_table_is_big_enough() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) >= 45
    assert len(set(ids)) == len(ids), "duplicate ids"
