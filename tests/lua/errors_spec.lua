-- Every error code and reason of docs/design.md from real in-memory handshakes,
-- with the codes, reasons, sides, steps and alerts the C tests
-- (tests/c/test_verify.c, test_records.c, test_config.c) expect.
local H = require "helpers"
local mutls = H.mutls
local DAY = H.DAY

-- The client refuses the server; the server hears the alert.
local function expect_client_refuses(p, reasons, alert, fragment)
	H.expect_error(p.cerr, "verify-failed", reasons, "local", "server-certificate", alert)
	assert.is_true(H.contains(p.cerr.message, "server certificate CN="), p.cerr.message)
	assert.is_true(H.contains(p.cerr.message, fragment), p.cerr.message)
	assert.is_false(p.c.verified)
	assert.is_true(#p.c.peer_chain >= 1)
	assert.is_true(H.contains(p.cerr.message, p.cerr.peer_certificate.label))
	H.expect_error(p.serr, "peer-rejected", false, "peer", false, alert)
end

-- The server refuses the client; the client hears it (TLS 1.3: on its read).
local function expect_server_refuses(p, code, reasons, alert, fragment)
	H.expect_error(p.serr, code, reasons, "local", "client-certificate", alert)
	assert.is_true(H.contains(p.serr.message, fragment), p.serr.message)
	H.expect_error(p.cerr, "peer-rejected", false, "peer", false, alert)
end

local function standard(server_id, client_id)
	local pki = H.pki()
	local ccfg = H.config(client_id or pki.client, pki.ca)
	local scfg = H.config(server_id or pki.server, pki.ca)
	return pki, ccfg, scfg
end

describe("names", function()
	it("every code and reason has its stable name", function()
		assert.same({ "ok", "want-read", "want-write", "verify-failed", "peer-rejected",
			"no-certificate", "protocol", "closed", "timeout", "config", "usage", "hook",
			"out-of-memory" }, mutls.codes)
		assert.same({ "expired", "not-yet-valid", "unknown-issuer", "name-mismatch", "revoked",
			"bad-purpose", "insecure-algorithm", "signer-not-ca", "policy", "hook",
			"name-constraints", "path-length", "unknown-critical-extension", "nonconforming" }, mutls.reasons)
	end)

	it("an error object has every field and prints as its message", function()
		local pki = H.pki()
		local p = H.run(H.config(pki.client, pki.ca), "billing.internal", H.config(pki.server, pki.ca))
		local e = p.cerr
		assert.is_true(mutls.is_error(e))
		assert.equal(mutls.Error, getmetatable(e))
		assert.equal("verify-failed", e.code)
		assert.same({ "name-mismatch" }, e.reasons)
		assert.equal("bad_certificate", e.alert)
		assert.equal(42, e.alert_number)
		assert.equal("local", e.side)
		assert.equal("server-certificate", e.step)
		assert.equal("string", type(e.message))
		assert.equal(e.message, tostring(e))
		assert.is_true(e:is("verify-failed"))
		assert.equal("CN=orders", e.peer_certificate.label)
		assert.is_false(mutls.is_error("wantread"))
	end)
end)

describe("the client refuses the server", function()
	it("expired", function()
		local pki = H.pki()
		local id = H.issue(pki.ca, "orders", "orders.internal", nil, nil, "server", -30 * DAY, -DAY)
		local _, ccfg, scfg = standard()
		scfg = H.config(id, pki.ca)
		ccfg = H.config(pki.client, pki.ca)
		local p = H.run(ccfg, "orders.internal", scfg)
		expect_client_refuses(p, { "expired" }, "certificate_expired", "expired at ")
		assert.same({ "expired" }, p.serr.reasons)
	end)

	it("not yet valid", function()
		local pki = H.pki()
		local id = H.issue(pki.ca, "orders", "orders.internal", nil, nil, "server", DAY, 30 * DAY)
		local p = H.run(H.config(pki.client, pki.ca), "orders.internal", H.config(id, pki.ca))
		expect_client_refuses(p, { "not-yet-valid" }, "bad_certificate", "is not valid until ")
	end)

	it("wrong DNS name", function()
		local _, ccfg, scfg = standard()
		local p = H.run(ccfg, "billing.internal", scfg)
		expect_client_refuses(p, { "name-mismatch" }, "bad_certificate",
			'does not match the name "billing.internal" (it names DNS:orders.internal, DNS:localhost, IP:127.0.0.1, IP:::1)')
	end)

	it("an IP literal matches an IP SAN, and sends no SNI", function()
		local _, ccfg, scfg = standard()
		local p = H.run(ccfg, "127.0.0.1", scfg)
		assert.equal("ok", p.cstate)
		assert.equal("ok", p.sstate)
		assert.is_true(p.c.verified)
		assert.is_nil(p.s.server_name)
	end)

	it("wrong IP", function()
		local _, ccfg, scfg = standard()
		local p = H.run(ccfg, "10.1.2.3", scfg)
		expect_client_refuses(p, { "name-mismatch" }, "bad_certificate", '"10.1.2.3"')
	end)

	it("an IP literal never matches a DNS SAN", function()
		local pki = H.pki()
		local id = H.issue(pki.ca, "127.0.0.1", "127.0.0.1", nil, nil, "server")
		local p = H.run(H.config(pki.client, pki.ca), "127.0.0.1", H.config(id, pki.ca))
		expect_client_refuses(p, { "name-mismatch" }, "bad_certificate", "it names DNS:127.0.0.1")
	end)

	it("unknown issuer", function()
		local pki = H.pki()
		local other = mutls.testca {}
		local p = H.run(H.config(pki.client, other), "orders.internal", H.config(pki.server, pki.ca))
		expect_client_refuses(p, { "unknown-issuer" }, "unknown_ca",
			"was issued by an unknown CA (issuer CN=mutls test root)")
	end)

	it("intermediate missing", function()
		local pki = H.pki()
		local inter = pki.ca:intermediate {}
		local id = H.issue(inter, "orders", "orders.internal", nil, nil, "server")
		assert.equal(2, #id.chain)
		-- the server presents its leaf alone
		local scfg = assert(mutls.config { certificate = id.cert_pem, private_key = id.key_pem, trust = pki.ca.cert_pem })
		local p = H.run(H.config(pki.client, pki.ca), "orders.internal", scfg)
		expect_client_refuses(p, { "unknown-issuer" }, "unknown_ca", "unknown CA")
	end)

	it("intermediate present succeeds", function()
		local pki = H.pki()
		local inter = pki.ca:intermediate {}
		local id = H.issue(inter, "orders", "orders.internal", nil, nil, "server")
		local p = H.run(H.config(pki.client, pki.ca), "orders.internal", H.config(id, pki.ca))
		assert.equal("ok", p.cstate)
		assert.equal("ok", p.sstate)
		assert.equal(2, #p.c.peer_chain)
	end)

	it("intermediate with CA:FALSE", function()
		local pki = H.pki()
		local inter = pki.ca:intermediate { not_ca = true }
		local id = H.issue(inter, "orders", "orders.internal", nil, nil, "server")
		local p = H.run(H.config(pki.client, pki.ca), "orders.internal", H.config(id, pki.ca))
		expect_client_refuses(p, { "signer-not-ca" }, "unknown_ca", "not a CA")
	end)

	it("a client certificate used as a server's (bad purpose)", function()
		local pki = H.pki()
		local id = H.issue(pki.ca, "orders", "orders.internal", nil, nil, "client")
		local p = H.run(H.config(pki.client, pki.ca), "orders.internal", H.config(id, pki.ca))
		expect_client_refuses(p, { "bad-purpose" }, "unsupported_certificate", "TLS server authentication")
	end)

	it("several reasons at once", function()
		local pki = H.pki()
		local id = H.issue(pki.ca, "orders", "orders.internal", nil, nil, "server", -30 * DAY, -DAY)
		local p = H.run(H.config(pki.client, pki.ca), "billing.internal", H.config(id, pki.ca))
		expect_client_refuses(p, { "expired", "name-mismatch" }, "certificate_expired",
			" and does not match the name")
	end)

	it("insecure algorithm (a SHA-1 signed certificate made by openssl)", function()
		if not H.have("openssl") then return pending("openssl is not installed") end
		local pki = H.pki()
		local dir = H.tmpdir()
		H.write(dir .. "/ca.pem", pki.ca.cert_pem)
		H.write(dir .. "/ca.key", pki.ca.key_pem)
		H.write(dir .. "/ext.cnf", "subjectAltName=DNS:orders.internal\n")
		assert.is_true(H.sh(("cd %s && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes " ..
			"-keyout key.pem -subj /CN=orders -out req.csr >/dev/null 2>&1 && " ..
			"openssl x509 -req -in req.csr -CA ca.pem -CAkey ca.key -sha1 -days 2 -set_serial 0x0102030405060708 " ..
			"-extfile ext.cnf -out cert.pem >/dev/null 2>&1"):format(dir)))
		local scfg = assert(mutls.config { certificate = dir .. "/cert.pem", private_key = dir .. "/key.pem", trust = pki.ca })
		local p = H.run(H.config(pki.client, pki.ca), "orders.internal", scfg)
		H.rmdir(dir)
		expect_client_refuses(p, { "insecure-algorithm" }, "bad_certificate", "insecure algorithm")
	end)
end)

describe("the server refuses the client", function()
	it("a server certificate used as a client's (bad purpose)", function()
		local pki = H.pki()
		local p = H.run(H.config(pki.server, pki.ca), "orders.internal", H.config(pki.server, pki.ca))
		expect_server_refuses(p, "verify-failed", { "bad-purpose" }, "unsupported_certificate",
			"client certificate CN=orders may not be used for TLS client authentication")
	end)

	it("revoked via a CRL", function()
		local pki = H.pki()
		pki.ca:revoke(pki.client)
		local scfg = H.config(pki.server, pki.ca, { crl = pki.ca.crl_pem })
		local p = H.run(H.config(pki.client, pki.ca), "orders.internal", scfg)
		expect_server_refuses(p, "verify-failed", { "revoked" }, "certificate_revoked", "has been revoked (serial ")
		assert.same({ "revoked" }, p.cerr.reasons)
	end)

	it("a client from another CA", function()
		local pki = H.pki()
		local other = mutls.testca {}
		local id = H.issue(other, "payments", nil, nil, "spiffe://example.org/payments", "client")
		local p = H.run(H.config(id, pki.ca), "orders.internal", H.config(pki.server, pki.ca))
		-- sent although the server's CA list does not name its issuer
		assert.equal(1, #p.s.peer_chain)
		expect_server_refuses(p, "verify-failed", { "unknown-issuer" }, "unknown_ca",
			"client certificate CN=payments was issued by an unknown CA")
	end)

	it("a self-signed rogue client (a testca's own certificate and key)", function()
		local pki = H.pki()
		local rogue = mutls.testca { name = "payments" }
		local ccfg = assert(mutls.config { certificate = rogue.cert_pem, private_key = rogue.key_pem, trust = pki.ca.cert_pem })
		local p = H.run(ccfg, "orders.internal", H.config(pki.server, pki.ca))
		assert.equal("verify-failed", p.serr.code)
		local found = false
		for _, r in ipairs(p.serr.reasons) do found = found or r == "unknown-issuer" end
		assert.is_true(found)
		assert.is_true(H.contains(p.serr.message, "client certificate CN=payments was issued by an unknown CA"))
		assert.equal("peer-rejected", p.cerr.code)
	end)

	for _, case in ipairs { { "1.3", "certificate_required", 116 }, { "1.2", "handshake_failure", 40 } } do
		it("no client certificate, TLS " .. case[1], function()
			local pki = H.pki()
			local ccfg = H.config(nil, pki.ca, { versions = { case[1] } })
			local p = H.run(ccfg, "orders.internal", H.config(pki.server, pki.ca))
			H.expect_error(p.serr, "no-certificate", {}, "local", "client-certificate", case[2])
			assert.equal(case[3], p.serr.alert_number)
			assert.equal("client presented no certificate, but one is required", p.serr.message)
			H.expect_error(p.cerr, "peer-rejected", {}, "peer", "client-certificate", case[2])
			assert.is_true(H.contains(p.cerr.message, "peer required a certificate, but we sent none"))
		end)
	end

	it("peer_certificate=request lets an anonymous client in", function()
		local pki = H.pki()
		local scfg = H.config(pki.server, pki.ca, { peer_certificate = "request" })
		local p = H.run(H.config(nil, pki.ca), "orders.internal", scfg)
		assert.equal("ok", p.cstate)
		assert.equal("ok", p.sstate)
		assert.equal(0, #p.s.peer_chain)
		assert.is_nil(p.s.peer_certificate)
		assert.is_false(p.s.verified)
	end)

	it("a requested client certificate is still verified", function()
		local pki = H.pki()
		local other = mutls.testca {}
		local id = H.issue(other, "payments", nil, nil, nil, "client")
		local scfg = H.config(pki.server, pki.ca, { peer_certificate = "request" })
		local p = H.run(H.config(id, pki.ca), "orders.internal", scfg)
		expect_server_refuses(p, "verify-failed", { "unknown-issuer" }, "unknown_ca", "unknown CA")
	end)

	it("peer_certificate=observe lets a failed client in, unverified, with the verdict", function()
		local pki = H.pki()
		local other = mutls.testca {}
		local id = H.issue(other, "payments", nil, nil, nil, "client")
		local scfg = H.config(pki.server, pki.ca, { peer_certificate = "observe" })
		assert.equal("observe", scfg.peer_certificate)
		local p = H.run(H.config(id, pki.ca), "orders.internal", scfg)
		assert.equal("ok", p.cstate)
		assert.equal("ok", p.sstate)
		assert.is_false(p.s.verified)
		local v = p.s.verification
		assert.is_false(v.ok)
		assert.same({ "unknown-issuer" }, v.reasons)
		assert.is_true(H.contains(v.message, "client certificate CN=payments was issued by an unknown CA"))
		assert.equal("CN=payments", p.s.peer_certificate.label)
		-- a client cannot observe
		local ccfg = H.config(pki.client, pki.ca, { peer_certificate = "observe" })
		local c, err = ccfg:client { server_hostname = "orders.internal" }
		assert.is_nil(c)
		assert.is_true(H.contains(tostring(err), "peer_certificate=observe is for servers"))
	end)

	it("peer_certificate=none: the server does not ask, the client does not verify", function()
		local pki = H.pki()
		local other = mutls.testca {}
		local ccfg = H.config(pki.client, other, { peer_certificate = "none" })
		local scfg = H.config(pki.server, nil, { peer_certificate = "none" })
		local c = assert(ccfg:client {})
		local s = assert(scfg:server {})
		local p = H.handshake { c = c, s = s, cstate = "want", sstate = "want" }
		assert.equal("ok", p.cstate)
		assert.equal("ok", p.sstate)
		assert.is_false(c.verified)
		assert.equal(0, #s.peer_chain)
		assert.equal("none", ccfg.peer_certificate)
	end)
end)

describe("policy (peers patterns)", function()
	local function server_policy(patterns, client_id)
		local pki = H.pki()
		local scfg = H.config(pki.server, pki.ca, { peers = patterns })
		return H.run(H.config(client_id and client_id(pki) or pki.client, pki.ca), "orders.internal", scfg), pki
	end

	local function expect_policy_refusal(p)
		H.expect_error(p.serr, "verify-failed", { "policy" }, "local", "client-certificate", "access_denied")
		assert.equal(49, p.serr.alert_number)
		H.expect_error(p.cerr, "peer-rejected", false, "peer", false, "access_denied")
	end

	it("SPIFFE ID allowed exactly and by prefix", function()
		local p = server_policy { "uri:spiffe://example.org/payments" }
		assert.equal("ok", p.sstate)
		assert.is_true(p.s.verified)
		p = server_policy { "uri:spiffe://example.org/*" }
		assert.equal("ok", p.sstate)
	end)

	it("SPIFFE ID denied", function()
		local p = server_policy { "uri:spiffe://example.org/billing", "uri:spiffe://other.org/*" }
		expect_policy_refusal(p)
	end)

	it("CN pattern", function()
		assert.equal("ok", server_policy({ "cn:billing", "cn:payments" }).sstate)
		expect_policy_refusal(server_policy { "cn:payment" })
	end)

	it("sha256 pin: match (any spelling) and mismatch", function()
		local pki = H.pki()
		local fp = pki.client.certificate:fingerprint("sha256")
		local scfg = H.config(pki.server, pki.ca, { peers = "sha256:" .. fp })
		local p = H.run(H.config(pki.client, pki.ca), "orders.internal", scfg)
		assert.equal("ok", p.sstate)
		local colons = fp:upper():gsub("(%x%x)", "%1:"):sub(1, -2)
		scfg = H.config(pki.server, pki.ca, { peers = { "sha256:" .. colons } })
		p = H.run(H.config(pki.client, pki.ca), "orders.internal", scfg)
		assert.equal("ok", p.sstate)
		scfg = H.config(pki.server, pki.ca, { peers = { "sha256:" .. pki.server.certificate:fingerprint() } })
		p = H.run(H.config(pki.client, pki.ca), "orders.internal", scfg)
		expect_policy_refusal(p)
	end)

	it("DNS wildcard pattern on the client", function()
		local pki = H.pki()
		local scfg = H.config(pki.server, pki.ca)
		local p = H.run(H.config(pki.client, pki.ca, { peers = { "dns:*.internal", "dns:internal" } }),
			"orders.internal", scfg)
		assert.equal("ok", p.cstate)
		p = H.run(H.config(pki.client, pki.ca, { peers = { "dns:*.svc.internal" } }), "orders.internal", scfg)
		H.expect_error(p.cerr, "verify-failed", { "policy" }, "local", "server-certificate", "access_denied")
		assert.is_true(H.contains(p.cerr.message, "is not allowed by the peers policy"))
		assert.is_true(H.contains(p.cerr.message, "allowed: dns:*.svc.internal"))
	end)

	it("IP pattern", function()
		local pki = H.pki()
		local p = H.run(H.config(pki.client, pki.ca, { peers = "ip:::1" }), "orders.internal",
			H.config(pki.server, pki.ca))
		assert.equal("ok", p.cstate)
	end)
end)

describe("stream failures", function()
	it("protocol: garbage instead of a ClientHello, and an alert goes back", function()
		local pki = H.pki()
		local s = assert(H.config(pki.server, pki.ca):server())
		assert(s:feed("GET / HTTP/1.1\r\nHost: orders\r\n\r\n"))
		local ok, err = s:handshake()
		assert.is_nil(ok)
		H.expect_error(err, "protocol", {}, "local", "handshake", false)
		assert.equal("the client sent something that is not TLS (it looks like HTTP: 'GET / HTTP/1.1')",
			err.message)
		local out = s:data_to_send()
		assert.is_true(#out >= 7)
		assert.equal(21, out:byte(1)) -- an alert record
		-- sticky: the same error again
		local ok2, err2 = s:handshake()
		assert.is_nil(ok2)
		assert.equal("protocol", err2.code)
	end)

	it("closed: the peer's stream ends during the handshake", function()
		local pki = H.pki()
		local c = assert(H.config(pki.client, pki.ca):client { server_hostname = "orders.internal" })
		assert.same({ nil, "wantread" }, { c:handshake() })
		assert(c:feed_eof())
		local ok, err = c:handshake()
		assert.is_nil(ok)
		H.expect_error(err, "closed", {}, "peer", "handshake", nil)
		assert.equal("server closed the connection during the handshake", err.message)
	end)

	it("closed: EOF without close_notify after the handshake", function()
		local p = H.connected()
		assert(p.s:feed_eof())
		local data, err = p.s:recv(16)
		assert.is_nil(data)
		H.expect_error(err, "closed", {}, "peer", "record", nil)
		assert.equal("client closed the connection without close_notify", err.message)
	end)

	it("closed: the peer's close_notify reads as code closed", function()
		local p = H.connected()
		assert.is_true(p.c:close())
		H.move(p.c, p.s)
		local data, err = p.s:recv()
		assert.is_nil(data)
		H.expect_error(err, "closed", {}, "peer", "record", nil)
		assert.is_true(err.clean)
	end)

	it("protocol: a reflected record fails to decrypt", function()
		local p = H.connected("1.3")
		assert.equal(19, p.c:send("transfer 100 to bob"))
		local wire = p.c:data_to_send()
		assert(p.c:feed(wire))
		local data, err = p.c:recv(64)
		assert.is_nil(data)
		H.expect_error(err, "protocol", {}, "local", "record", "bad_record_mac")
		assert.is_true(H.contains(err.message, "failed to decrypt"))
	end)
end)

describe("usage and retry signals", function()
	it("wantread until bytes arrive", function()
		local pki = H.pki()
		local c = assert(H.config(pki.client, pki.ca):client { server_hostname = "orders.internal" })
		local s = assert(H.config(pki.server, pki.ca):server {})
		local ok, sig = s:handshake()
		assert.is_nil(ok)
		assert.equal("wantread", sig)
		assert.equal("", s:data_to_send())
		ok, sig = c:handshake()
		assert.equal("wantread", sig)
		local hello = c:data_to_send()
		assert.is_true(#hello > 100)
		assert.equal(22, hello:byte(1))
		assert.equal("", c:data_to_send()) -- taken means gone
	end)

	it("usage: calls out of order or on the wrong objects", function()
		local pki = H.pki()
		local ccfg = H.config(pki.client, pki.ca)
		local empty = assert(mutls.config {})
		local s, err = ccfg:client {}
		assert.is_nil(s)
		H.expect_error(err, "usage", {}, nil, nil, nil)
		assert.is_true(H.contains(err.message, "server_hostname is required"))
		s, err = empty:server {}
		H.expect_error(err, "usage", {}, nil, nil, nil)
		assert.is_true(H.contains(err.message, "the config has no identity"))
		local c = assert(ccfg:client { server_hostname = "orders.internal" })
		local n
		n, err = c:send("x")
		assert.is_nil(n)
		H.expect_error(err, "usage", {}, nil, nil, nil)
		assert.is_true(H.contains(err.message, "the handshake is not done"))
		n, err = c:recv(8)
		assert.equal("usage", err.code)
		assert.is_nil(c.session_data)
		c, err = ccfg:client { server_hostname = "orders.internal", session_data = "junk" }
		assert.is_nil(c)
		H.expect_error(err, "usage", {}, nil, nil, nil)
		assert.is_true(H.contains(err.message, "not usable session data"))
		-- a socket-mode session has no memory buffers
		c = assert(ccfg:client { server_hostname = "orders.internal", fd = 0 })
		n, err = c:feed("x")
		assert.equal("usage", err.code)
		assert.is_true(H.contains(err.message, "socket mode"))
		c:destroy()
		-- a destroyed session
		n, err = c:handshake()
		assert.equal("usage", err.code)
		assert.equal("the session was destroyed", err.message)
		-- a frozen config cannot change, and the send after close is refused
		local p = H.connected()
		assert.is_true(p.c:close())
		assert.is_true(p.c:close()) -- idempotent
		n, err = p.c:send("x")
		assert.equal("usage", err.code)
	end)

	it("bad argument types raise", function()
		local pki = H.pki()
		local cfg = H.config(pki.client, pki.ca)
		assert.has_error(function() mutls.config { trust = 42 } end)
		-- an unknown peer_certificate word is a config error (nil, err), as in Python
		local none, cerr = mutls.config { peer_certificate = "maybe" }
		assert.is_nil(none)
		assert.equal("config", cerr.code)
		assert.has_error(function() mutls.config { no_such_option = true } end)
		assert.has_error(function() mutls.config { verify_hook = "yes" } end)
		assert.has_error(function() mutls.config { check_hostname = "no" } end)
		assert.has_error(function() mutls.config { identity = pki.client, certificate = "x", private_key = "y" } end)
		assert.has_error(function() cfg:client { server_hostname = 7 } end)
		assert.has_error(function() cfg:client { fd = "three" } end)
		assert.has_error(function() cfg:client { bogus = 1 } end)
		assert.has_error(function() pki.ca:issue { purpose = "everything" } end)
		assert.has_error(function() pki.ca:issue { key_type = "p999" } end)
		assert.has_error(function() mutls.testca { not_after = "tomorrow" } end)
		local s = assert(cfg:client { server_hostname = "orders.internal" })
		assert.has_error(function() s:send({}) end)
		assert.has_error(function() s:recv(0) end)
		assert.has_error(function() mutls.certificate(nil) end)
	end)

	it("config errors name the file or the field", function()
		local pki = H.pki()
		local cfg, err = mutls.config { certificate = "/nonexistent/orders.pem", private_key = "/nonexistent/key.pem" }
		assert.is_nil(cfg)
		H.expect_error(err, "config", {}, nil, nil, nil)
		assert.is_true(H.contains(err.message, "/nonexistent/orders.pem"))
		assert.is_true(H.contains(err.message, "No such file"))
		cfg, err = mutls.config { certificate = pki.server.cert_pem, private_key = pki.client.key_pem }
		assert.equal("config", err.code)
		assert.is_true(H.contains(err.message, "the private key does not match the certificate CN=orders"))
		cfg, err = mutls.config { peers = { "cn:ok", "payments" } }
		assert.equal("config", err.code)
		assert.is_true(H.contains(err.message, "payments"))
		cfg, err = mutls.config { versions = { "1.1" } }
		assert.is_true(H.contains(err.message, '"1.1" is not supported'))
	end)

	it("timeout: a socket peer that never answers", function()
		local srv, port = H.listen()
		local sock = H.connect(port)
		local peer = assert(srv:accept())
		local pki = H.pki()
		local c = assert(H.config(pki.client, pki.ca):client { fd = sock:getfd(), server_hostname = "orders.internal" })
		c:settimeout(0.2)
		local ok, err = c:handshake()
		assert.is_nil(ok)
		H.expect_error(err, "timeout", {}, false, false, nil)
		assert.equal("timed out after 200 ms waiting for the server", err.message)
		c:destroy()
		sock:close()
		peer:close()
		srv:close()
	end)
end)

-- issue 11 #1: a key under GnuTLS's MEDIUM profile anywhere in the chain is
-- refused as insecure-algorithm, both roles, both versions and offline.
-- Where the weak side cannot sign with its key at all (no DSA in the default
-- priority; no TLS 1.3 scheme for P-192; RSA-512 too small for RSA-PSS) the
-- handshake fails before the chain is checked: nothing is accepted.
describe("weak keys", function()
	local WEAK = {
		rsa512 = "RSA key of 512 bits; at least 2048 are required",
		rsa1024 = "RSA key of 1024 bits; at least 2048 are required",
		dsa1024 = "DSA key of 1024 bits; at least 2048 are required",
		p192 = "ECDSA key on SECP192R1 (192 bits); at least 224 are required",
	}
	local function weak_chain(key, at, role)
		local root = mutls.testca { name = "weak test root", key_type = at == "root" and key or "p256" }
		local ca = at == "intermediate" and root:intermediate { name = "weak test intermediate", key_type = key } or root
		local leaf_key = at == "leaf" and key or "p256"
		if role == "server" then
			return root, ca:issue { cn = "orders", dns = { "orders.internal" }, purpose = "server", key_type = leaf_key }
		end
		return root, ca:issue { cn = "payments", uri = { "spiffe://example.org/payments" }, purpose = "client",
			key_type = leaf_key }
	end

	for _, key in ipairs { "rsa512", "rsa1024", "dsa1024", "p192" } do
		for _, at in ipairs { "leaf", "intermediate", "root" } do
			it(("%s as %s: refused in both roles and versions, and offline"):format(key, at), function()
				local pki = H.pki()
				for _, role in ipairs { "server", "client" } do
					local root, weak = weak_chain(key, at, role)
					for _, version in ipairs { "1.2", "1.3" } do
						local weak_cfg = H.config(weak, pki.ca, { versions = { version } })
						local good_cfg = H.config(role == "server" and pki.client or pki.server, root,
							{ versions = { version } })
						local p = role == "server" and H.run(good_cfg, "orders.internal", weak_cfg)
							or H.run(weak_cfg, "orders.internal", good_cfg)
						local verifier = role == "server" and p.c or p.s
						local err = role == "server" and p.cerr or p.serr
						assert.is_false(verifier.verified)
						assert.is_truthy(p.cerr or p.serr)
						local cannot_sign = at == "leaf" and (key == "dsa1024" or
							(version == "1.3" and (key == "rsa512" or key == "p192")))
						if cannot_sign then
							assert.is_true(err == nil or err.code ~= "verify-failed" or
								(#err.reasons == 1 and err.reasons[1] == "insecure-algorithm"))
						else
							H.expect_error(err, "verify-failed", { "insecure-algorithm" }, "local",
								role .. "-certificate", "bad_certificate")
							assert.is_true(H.contains(err.message, WEAK[key]), err.message)
							local where = at == "root" and "trusted CA CN=weak test root" or
								at == "intermediate" and "CA certificate CN=weak test intermediate" or " has a"
							assert.is_true(H.contains(err.message, where), err.message)
						end
					end
					if role == "server" then
						local inter = weak.chain[2] and { weak.chain[2] } or nil
						local ok, err = weak.certificate:verify { trust = root, hostname = "orders.internal",
							intermediates = inter }
						assert.is_nil(ok)
						assert.same({ "insecure-algorithm" }, err.reasons)
						assert.is_true(H.contains(err.message, WEAK[key]), err.message)
					end
				end
			end)
		end
	end
end)

-- issue 11 #12: each refusal in its own words
describe("the right words", function()
	it("name constraints", function()
		local pki = H.pki()
		local inter = pki.ca:intermediate { name = "constrained intermediate", permitted_dns = { "svc.local" } }
		local sid = inter:issue { cn = "orders", dns = { "orders.internal" }, purpose = "server" }
		local p = H.run(H.config(pki.client, pki.ca), "orders.internal", H.config(sid, pki.ca))
		expect_client_refuses(p, { "name-constraints" }, "unknown_ca",
			"server certificate CN=orders names DNS:orders.internal, which the name constraints of " ..
			"CA CN=constrained intermediate do not allow (permitted: DNS:svc.local)")
	end)

	it("path length", function()
		local pki = H.pki()
		local limited = pki.ca:intermediate { name = "limited intermediate", path_length = 0 }
		local sub = limited:intermediate { name = "sub intermediate" }
		local cid = sub:issue { cn = "payments", purpose = "client" }
		local p = H.run(H.config(cid, pki.ca), "orders.internal", H.config(pki.server, pki.ca))
		expect_server_refuses(p, "verify-failed", { "path-length" }, "unknown_ca",
			"client certificate CN=payments has a chain longer than CA CN=limited intermediate allows: " ..
			"its path length limit (pathLenConstraint) is 0, but 1 CA certificate comes below it " ..
			"(CN=sub intermediate)")
		assert.has_error(function() pki.ca:intermediate { path_length = -1 } end)
		assert.has_error(function() pki.ca:intermediate { path_length = "1" } end)
	end)

	it("a revoked intermediate is named, with its own serial", function()
		local pki = H.pki()
		local inter = pki.ca:intermediate { name = "revoked intermediate" }
		local cid = inter:issue { cn = "payments", purpose = "client" }
		pki.ca:revoke(inter.certificate)
		local p = H.run(H.config(cid, pki.ca), "orders.internal",
			H.config(pki.server, pki.ca, { crl = pki.ca.crl_pem }))
		expect_server_refuses(p, "verify-failed", { "revoked" }, "certificate_revoked",
			"client certificate CN=payments has in its chain the CA certificate CN=revoked intermediate, " ..
			"which has been revoked (serial " .. inter.certificate.serial .. ")")
	end)

	it("an unknown critical extension", function()
		if not H.have("openssl") then return pending("openssl is not installed") end
		local pki = H.pki()
		local dir = H.tmpdir()
		H.write(dir .. "/ca.pem", pki.ca.cert_pem)
		H.write(dir .. "/ca.key", pki.ca.key_pem)
		H.write(dir .. "/ext.cnf", "subjectAltName=DNS:orders.internal\n1.3.6.1.4.1.55555.1=critical,DER:0500\n")
		assert.is_true(H.sh(("cd %s && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes " ..
			"-keyout key.pem -subj /CN=orders -out req.csr >/dev/null 2>&1 && " ..
			"openssl x509 -req -in req.csr -CA ca.pem -CAkey ca.key -days 2 " ..
			"-extfile ext.cnf -out cert.pem >/dev/null 2>&1"):format(dir)))
		local scfg = assert(mutls.config { certificate = dir .. "/cert.pem", private_key = dir .. "/key.pem", trust = pki.ca })
		local p = H.run(H.config(pki.client, pki.ca), "orders.internal", scfg)
		H.rmdir(dir)
		expect_client_refuses(p, { "unknown-critical-extension" }, "unsupported_certificate",
			"server certificate CN=orders has a critical extension that is not understood (OID 1.3.6.1.4.1.55555.1)")
	end)
end)
