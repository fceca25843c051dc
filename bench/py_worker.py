"""One benchmark worker for bench/run, in Python: mutls's binding or the
standard library's ssl module (OpenSSL), doing the loops of
bench/c/bench_worker.c with the same command protocol (see there): one
command per line on stdin, one reply line on stdout ("ok ..." or "err ...").

    python3 bench/py_worker.py mutls|ssl PKI_DIR            commands on stdin
    python3 bench/py_worker.py mutls|ssl PKI_DIR CMD ARGS   one command (callgrind)

Timed commands answer "ok WALL_SECONDS CPU_SECONDS".

Every handshake must verify both peers: mutls's `verified` on both ends; ssl
with CERT_REQUIRED on both ends and check_hostname on the client (a finished
handshake is a verified one) and a peer certificate present on both ends.

ssl cannot pin a TLS 1.3 cipher suite from Python: bench/run starts the ssl
worker for a bulk row with OPENSSL_CONF naming a file whose system_default
section sets Ciphersuites; the worker checks the suite it got.

Extra commands in ssl mode: `pki N` issues N leaves with trustme, and
`pki-certtool N` with GnuTLS's certtool (two processes per leaf, as from a
shell); PKI_DIR/p256/ca.key is the CA's key for that.
"""

import os
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HOST = "orders.internal"
MODE = sys.argv[1]
PKI = sys.argv[2]

if MODE == "mutls":
    import mutls
elif MODE != "ssl":
    sys.exit("usage: py_worker.py mutls|ssl PKI_DIR")

CIPHERS = {
    "aes128gcm": ("NORMAL:-CIPHER-ALL:+AES-128-GCM", "AES_128_GCM"),
    "chacha20": ("NORMAL:-CIPHER-ALL:+CHACHA20-POLY1305", "CHACHA20"),
}


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def f(kt, name):
    return os.path.join(PKI, kt, name)


class World:
    """Configs (mutls) or contexts (ssl) for one key type/version/cipher."""

    def __init__(self, kt, ver, cipher=None):
        self.want = CIPHERS[cipher][1] if cipher else None
        self.ver = ver
        if MODE == "mutls":
            extra = {"priority": CIPHERS[cipher][0]} if cipher else {}
            self.ccfg = mutls.Config(certificate=f(kt, "client.pem"), private_key=f(kt, "client.key"),
                                     trust=f(kt, "ca.pem"), versions=[ver], **extra)
            self.scfg = mutls.Config(certificate=f(kt, "server.pem"), private_key=f(kt, "server.key"),
                                     trust=f(kt, "ca.pem"), versions=[ver], **extra)
        else:
            v = ssl.TLSVersion.TLSv1_3 if ver == "1.3" else ssl.TLSVersion.TLSv1_2
            c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED, check_hostname
            c.load_verify_locations(f(kt, "ca.pem"))
            c.load_cert_chain(f(kt, "client.pem"), f(kt, "client.key"))
            s = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            s.verify_mode = ssl.CERT_REQUIRED
            s.load_verify_locations(f(kt, "ca.pem"))
            s.load_cert_chain(f(kt, "server.pem"), f(kt, "server.key"))
            for ctx in (c, s):
                ctx.minimum_version = ctx.maximum_version = v
            self.cctx, self.sctx = c, s


_worlds = {}


def world(kt, ver, cipher=None):
    key = (kt, ver, cipher)
    if key not in _worlds:
        _worlds[key] = World(kt, ver, cipher)
    return _worlds[key]


# ---- pairs in memory ---------------------------------------------------------

def mutls_pair(w, data=None):
    c = w.ccfg.client(server_hostname=HOST, session_data=data)
    s = w.scfg.server()
    cd = sd = False
    WantRead = mutls.WantRead
    for _ in range(30):
        if not cd:
            try:
                c.handshake()
                cd = True
            except WantRead:
                pass
        d = c.data_to_send()
        if d:
            s.feed(d)
        if not sd:
            try:
                s.handshake()
                sd = True
            except WantRead:
                pass
        d = s.data_to_send()
        if d:
            c.feed(d)
        if cd and sd:
            break
    check(cd and sd, "handshake did not finish")
    check(c.verified and s.verified, "a peer is not verified")
    if w.want:
        check(w.want in c.cipher, "negotiated " + c.cipher)
    return c, s


def ssl_pair(w, session=None):
    ci, co, si, so = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    c = w.cctx.wrap_bio(ci, co, server_hostname=HOST, session=session)
    s = w.sctx.wrap_bio(si, so, server_side=True)
    cd = sd = False
    WantRead = ssl.SSLWantReadError
    for _ in range(30):
        if not cd:
            try:
                c.do_handshake()
                cd = True
            except WantRead:
                pass
        d = co.read()
        if d:
            si.write(d)
        if not sd:
            try:
                s.do_handshake()
                sd = True
            except WantRead:
                pass
        d = so.read()
        if d:
            ci.write(d)
        if cd and sd:
            break
    check(cd and sd, "handshake did not finish")
    # CERT_REQUIRED on both ends: a finished handshake verified a certificate
    check(c.getpeercert(True) and s.getpeercert(True), "a peer presented no certificate")
    if w.want:
        check(w.want in c.cipher()[0].replace("-", "_"), "negotiated " + c.cipher()[0])
    return (c, ci, co), (s, si, so)


def hs_mem(w, n):
    if MODE == "mutls":
        for _ in range(n):
            mutls_pair(w)
    else:
        for _ in range(n):
            ssl_pair(w)


def resume_mem(w, n):
    if MODE == "mutls":
        c, s = mutls_pair(w)
        if w.ver == "1.3":
            try:
                c.recv(16)  # the ticket comes after the handshake
                raise Fail("data instead of a ticket")
            except mutls.WantRead:
                pass
        data = c.session_data
        check(data, "no session data")
        for _ in range(n):
            c, s = mutls_pair(w, data)
            check(c.resumed and s.resumed, "not resumed")
    else:
        (c, ci, co), _ = ssl_pair(w)
        if w.ver == "1.3":
            try:
                c.read(16)
                raise Fail("data instead of a ticket")
            except ssl.SSLWantReadError:
                pass
        sess = c.session
        check(sess is not None and sess.has_ticket, "no ticket")
        for _ in range(n):
            (c, _, _), (s, _, _) = ssl_pair(w, sess)
            check(c.session_reused and s.session_reused, "not resumed")


def bulk_mem(w, size, total):
    chunk = b"x" * size
    batch = max(1, 65536 // size)
    moved = 0
    if MODE == "mutls":
        c, s = mutls_pair(w)
        send, recv, feed, out = c.send, s.recv, s.feed, c.data_to_send
        while moved < total:
            for _ in range(batch):
                check(send(chunk) == size, "short send")
            feed(out())
            want = batch * size
            while want:
                want -= len(recv(16384))
            moved += batch * size
    else:
        (c, ci, co), (s, si, so) = ssl_pair(w)
        write, read = c.write, s.read
        while moved < total:
            for _ in range(batch):
                check(write(chunk) == size, "short write")
            si.write(co.read())
            want = batch * size
            while want:
                want -= len(read(16384))
            moved += batch * size


# ---- sockets -------------------------------------------------------------------

lsock = None


def do_listen():
    global lsock
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1024)
    return lsock.getsockname()[1]


def accept():
    conn, _ = lsock.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def connect(port):
    # a numeric address: no name lookup (create_connection would do one)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.connect(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def serve_one(w):
    """Accept, handshake, check the client. Returns (tls, sock)."""
    conn = accept()
    if MODE == "mutls":
        s = w.scfg.server(conn)
        s.handshake()
        check(s.verified, "client not verified")
        return s, conn
    s = w.sctx.wrap_socket(conn, server_side=True)
    check(s.getpeercert(True), "client presented no certificate")
    return s, s


def connect_one(w, port, data=None):
    sock = connect(port)
    if MODE == "mutls":
        c = w.ccfg.client(sock, server_hostname=HOST, session_data=data)
        c.handshake()
        check(c.verified, "server not verified")
        if w.want:
            check(w.want in c.cipher, "negotiated " + c.cipher)
        if data is not None:
            check(c.resumed, "not resumed")
        return c, sock
    c = w.cctx.wrap_socket(sock, server_hostname=HOST, session=data)
    check(c.getpeercert(True), "server presented no certificate")
    if w.want:
        check(w.want in c.cipher()[0].replace("-", "_"), "negotiated " + c.cipher()[0])
    if data is not None:
        check(c.session_reused, "not resumed")
    return c, c


def send_all(tls, data):
    tls.sendall(data)


def hs_serve(w, n):
    for _ in range(n):
        tls, sock = serve_one(w)
        send_all(tls, b"k")
        tls = None
        sock.close()


def hs_client(w, n, port, resume=False):
    data = None
    for i in range(n + (1 if resume else 0)):
        tls, sock = connect_one(w, port, data if resume and i else None)
        check(tls.recv(1) == b"k", "no acknowledgement from the server")
        if resume and i == 0:
            data = tls.session_data if MODE == "mutls" else tls.session
            check(data, "no session data")
        tls = None
        sock.close()


def bulk_serve(w, total):
    tls, sock = serve_one(w)
    got = 0
    recv = tls.recv
    while got < total:
        d = recv(16384)
        check(d, "closed early")
        got += len(d)
    send_all(tls, b"k")
    tls = None
    sock.close()


def bulk_client(w, size, total, port):
    tls, sock = connect_one(w, port)
    chunk = b"x" * size
    sent = 0
    sendall = tls.sendall
    t0 = time.perf_counter()
    while sent < total:
        sendall(chunk if total - sent >= size else chunk[: total - sent])
        sent += size
    check(tls.recv(1) == b"k", "no acknowledgement from the receiver")
    t = time.perf_counter() - t0
    tls = None
    sock.close()
    return t


# ---- memory use of idle sessions ----------------------------------------------

held = []


def status_kib(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def rss_serve(w, n):
    hs_serve(w, 1)
    base = status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    for _ in range(n):
        tls, sock = serve_one(w)
        send_all(tls, b"k")
        held.append((tls, sock))
    peak = status_kib("VmHWM")
    return peak - base, base, peak


def rss_client(w, n, port):
    hs_client(w, 1, port)
    for _ in range(n):
        tls, sock = connect_one(w, port)
        check(tls.recv(1) == b"k", "no acknowledgement")
        held.append((tls, sock))


# ---- test PKI -------------------------------------------------------------------

_ca = None


def pki(n):
    global _ca
    if MODE == "mutls":
        if _ca is None:
            _ca = mutls.TestCA("bench CA")
        for _ in range(n):
            leaf = _ca.issue(dns=["bench.example.internal"])
            check(leaf.cert_pem and leaf.key_pem, "no PEM")
    else:
        import trustme
        if _ca is None:
            _ca = trustme.CA(key_type=trustme.KeyType.ECDSA)
        for _ in range(n):
            leaf = _ca.issue_cert("bench.example.internal", key_type=trustme.KeyType.ECDSA)
            check(leaf.private_key_pem.bytes() and leaf.cert_chain_pems[0].bytes(), "no PEM")


def pki_certtool(n):
    with tempfile.TemporaryDirectory() as d:
        tmpl = os.path.join(d, "leaf.tmpl")
        with open(tmpl, "w") as fh:
            fh.write("dns_name = bench.example.internal\ntls_www_server\ntls_www_client\n"
                     "signing_key\nexpiration_days = 365\n")
        key, cert = os.path.join(d, "leaf.key"), os.path.join(d, "leaf.pem")
        for _ in range(n):
            subprocess.run(["certtool", "--generate-privkey", "--key-type", "ecdsa", "--curve",
                            "secp256r1", "--outfile", key], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run(["certtool", "--generate-certificate", "--load-privkey", key,
                            "--load-ca-certificate", f("p256", "ca.pem"),
                            "--load-ca-privkey", f("p256", "ca.key"), "--template", tmpl,
                            "--outfile", cert], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            check(os.path.getsize(cert) > 0, "certtool wrote no certificate")


# ---- command loop ----------------------------------------------------------------

def timed(fn, *args):
    """ok WALL CPU (CPU: this process and the children it waited for)."""
    t0, c0, k0 = time.perf_counter(), time.process_time(), children_cpu()
    fn(*args)
    return "ok %.9f %.9f" % (time.perf_counter() - t0, time.process_time() - c0 + children_cpu() - k0)


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run(argv):
    op, a = argv[0], argv[1:]
    if op == "listen":
        return "ok %d" % do_listen()
    if op == "hs-mem":
        return timed(hs_mem, world(a[0], a[1]), int(a[2]))
    if op == "resume-mem":
        return timed(resume_mem, world(a[0], a[1]), int(a[2]))
    if op == "bulk-mem":
        return timed(bulk_mem, world("p256", "1.3", a[0]), int(a[1]), int(a[2]))
    if op in ("hs-serve", "resume-serve"):
        return timed(hs_serve, world(a[0], a[1]), int(a[2]))
    if op == "hs-client":
        return timed(hs_client, world(a[0], a[1]), int(a[2]), int(a[3]))
    if op == "resume-client":
        return timed(hs_client, world(a[0], a[1]), int(a[2]), int(a[3]), True)
    if op == "bulk-serve":
        return timed(bulk_serve, world("p256", "1.3", a[0]), int(a[2]))
    if op == "bulk-client":
        return "ok %.9f" % bulk_client(world("p256", "1.3", a[0]), int(a[1]), int(a[2]), int(a[3]))
    if op == "rss-serve":
        return "ok %d %d %d" % rss_serve(world(a[0], a[1]), int(a[2]))
    if op == "rss-client":
        rss_client(world(a[0], a[1]), int(a[2]), int(a[3]))
        return "ok"
    if op == "pki":
        return timed(pki, int(a[0]))
    if op == "pki-certtool":
        return timed(pki_certtool, int(a[0]))
    return "err unknown command " + op


def answer(argv):
    try:
        return run(argv)
    except Exception as e:  # noqa: BLE001 - every failure is an "err" line
        return ("err %s: %s" % (type(e).__name__, e)).replace("\n", " ")


def main():
    if len(sys.argv) > 3:
        reply = answer(sys.argv[3:])
        print(reply)
        sys.exit(0 if reply.startswith("ok") else 1)
    for line in sys.stdin:
        argv = line.split()
        if not argv:
            continue
        if argv[0] == "quit":
            held.clear()
            print("ok", flush=True)
            break
        print(answer(argv), flush=True)


if __name__ == "__main__":
    main()
