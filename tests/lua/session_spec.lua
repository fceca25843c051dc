-- Sessions in memory mode and over loopback sockets: fields after the
-- handshake, records, keys, exporter, ALPN, close, resumption (with the policy
-- re-checked), and socket mode. Mirrors tests/c/test_records.c and
-- test_socket.c.
local H = require "helpers"
local mutls = H.mutls

describe("session fields", function()
	it("after a good handshake", function()
		local p = H.connected()
		local c, s = p.c, p.s
		assert.is_false(c.is_server)
		assert.is_true(s.is_server)
		assert.is_true(c.handshake_done)
		assert.is_true(c.verified)
		assert.is_true(s.verified)
		assert.equal("TLSv1.3", c.version)
		assert.equal("TLSv1.3", s.version)
		assert.equal("string", type(c.cipher))
		assert.equal(c.cipher, s.cipher)
		assert.equal("orders.internal", c.server_hostname)
		assert.equal("orders.internal", c.server_name)
		assert.equal("orders.internal", s.server_name)
		assert.is_nil(s.server_hostname)
		assert.is_false(c.resumed)
		assert.is_nil(c.alpn)
		assert.equal(p.ccfg, c.config)
		assert.equal("CN=orders", c.peer_certificate.label)
		assert.equal("payments", s.peer_certificate.common_name)
		assert.same({ "spiffe://example.org/payments" }, s.peer_certificate.uris)
		assert.equal(1, #s.peer_chain)
		-- our own leaf as sent: the very certificate the peer received
		assert.equal("CN=orders", s.own_certificate.label)
		assert.equal(c.peer_certificate.pem, s.own_certificate.pem)
		assert.equal(s.peer_certificate.pem, c.own_certificate.pem)
		local v = s.verification
		assert.is_true(v.ok)
		assert.same({}, v.reasons)
		assert.equal("client certificate CN=payments passed every check", v.message)
		assert.is_true(#v.checks >= 4)
		for _, check in ipairs(v.checks) do
			assert.equal("check", check.kind)
			assert.is_true(check.ok)
		end
		assert.is_true(H.contains(tostring(c), "client"))
		assert.is_true(H.contains(c:explain(), "TLSv1.3"))
		assert.is_nil(c.error)
	end)

	it("records the trace of the handshake", function()
		local p = H.connected("1.2")
		local kinds, names = {}, {}
		for _, e in ipairs(p.c.trace) do
			kinds[e.kind] = (kinds[e.kind] or 0) + 1
			names[e.name] = e
			assert.equal("boolean", type(e.outgoing))
			assert.equal("boolean", type(e.ok))
			assert.equal("string", type(e.detail))
			assert.equal("number", type(e.message_type))
			assert.equal("number", type(e.length))
		end
		assert.is_true(kinds.message >= 6)
		assert.is_true(kinds.check >= 4)
		assert.is_true(kinds.info >= 2)
		assert.is_true(names.ClientHello.outgoing)
		assert.equal(1, names.ClientHello.message_type)
		assert.is_true(names.ClientHello.length > 0)
		assert.is_false(names.ServerHello.outgoing)
		assert.equal("TLSv1.2", p.c.version)
		if math.type then
			assert.equal("integer", math.type(names.ClientHello.length))
		end
	end)

	it("failed sessions keep what they saw and explain it", function()
		local pki = H.pki()
		local p = H.run(H.config(pki.client, pki.ca), "billing.internal", H.config(pki.server, pki.ca))
		local v = p.c.verification
		assert.is_false(v.ok)
		assert.same({ "name-mismatch" }, v.reasons)
		assert.equal(p.cerr.message, v.message)
		assert.equal("verify-failed", p.c.error.code)
		assert.equal("CN=orders", p.c.peer_certificate.label)
		assert.is_false(p.c.handshake_done)
		assert.equal("string", type(p.c:explain()))
		local failed = 0
		for _, check in ipairs(v.checks) do
			if not check.ok then failed = failed + 1; assert.equal("name", check.name) end
		end
		assert.equal(1, failed)
	end)
end)

describe("records", function()
	for _, version in ipairs { "1.3", "1.2" } do
		it("a reflected record is refused, TLS " .. version, function()
			local p = H.connected(version)
			assert.equal(19, p.c:send("transfer 100 to bob"))
			local wire = p.c:data_to_send()
			assert.is_true(#wire > 19)
			assert(p.c:feed(wire))
			local data, err = p.c:recv(64)
			assert.is_nil(data)
			H.expect_error(err, "protocol", {}, "local", "record", "bad_record_mac")
			assert.equal(20, err.alert_number)
			-- the same bytes are fine for the server they were meant for
			assert(p.s:feed(wire))
			assert.equal("transfer 100 to bob", p.s:recv(64))
		end)

		it("traffic keys are separate, TLS " .. version, function()
			local p = H.connected(version)
			local cw, cr = p.c:key_fingerprint(true), p.c:key_fingerprint(false)
			local sw, sr = p.s:key_fingerprint(true), p.s:key_fingerprint(false)
			assert.equal(64, #cw)
			assert.are_not.equal(cw, sw)
			assert.equal(cw, sr)
			assert.equal(sw, cr)
		end)
	end

	it("the exporter agrees on both sides", function()
		local p = H.connected()
		local a = p.c:export_keying_material("EXPORTER-test", 32, "ctx")
		local b = p.s:export_keying_material("EXPORTER-test", 32, "ctx")
		local c = p.s:export_keying_material("EXPORTER-other", 32)
		assert.equal(32, #a)
		assert.equal(a, b)
		assert.are_not.equal(a, c)
		assert.equal(p.c:export_keying_material("EXPORTER-other", 32), c)
	end)

	it("a large send loops over records", function()
		local p = H.connected()
		local parts = {}
		for i = 1, 4096 do parts[i] = ("%08d"):format(i) .. ("x"):rep(247) .. "\n" end
		local big = table.concat(parts)
		assert.equal(1048576, #big)
		assert.equal(#big, p.c:send(big))
		H.move(p.c, p.s)
		local got = {}
		local total = 0
		while total < #big do
			local chunk = assert(p.s:recv(1048576))
			assert.is_true(#chunk > 0 and #chunk <= 16384)
			got[#got + 1] = chunk
			total = total + #chunk
		end
		assert.equal(big, table.concat(got))
		assert.same({ nil, "wantread" }, { p.s:recv(10) })
		assert.equal(0, p.s:pending())
	end)

	it("recv(max) returns at most max bytes and keeps the rest", function()
		local p = H.connected()
		assert.equal(10, p.c:send("0123456789"))
		H.move(p.c, p.s)
		assert.equal("0123", p.s:recv(4))
		assert.equal(6, p.s:pending())
		assert.equal("456789", p.s:recv())
	end)

	it("close_notify reads as the end; close is idempotent", function()
		local p = H.connected()
		assert.is_true(p.c:close())
		assert.is_true(p.c:close())
		H.move(p.c, p.s)
		local data, err = p.s:recv(16)
		assert.is_nil(data)
		assert.equal("closed", err.code)
		assert.equal("client closed the connection (close_notify)", err.message)
		assert.equal("usage", select(2, p.c:send("x")).code)
		-- the server answers with its own close_notify
		assert.is_true(p.s:close())
		H.move(p.s, p.c)
		data, err = p.c:recv(16)
		assert.equal("closed", err.code)
		assert.equal("server closed the connection (close_notify)", err.message)
	end)

	it("ALPN agreed, and none in common", function()
		local pki = H.pki()
		local ccfg = H.config(pki.client, pki.ca, { alpn = { "h2", "http/1.1" } })
		local p = H.run(ccfg, "orders.internal", H.config(pki.server, pki.ca, { alpn = "http/1.1" }))
		assert.equal("http/1.1", p.c.alpn)
		assert.equal("http/1.1", p.s.alpn)
		p = H.run(ccfg, "orders.internal", H.config(pki.server, pki.ca, { alpn = { "smtp" } }))
		assert.equal("ok", p.cstate)
		assert.is_nil(p.c.alpn)
	end)

	it("the server answers data in both directions", function()
		local p = H.connected()
		assert.equal("ping", H.transfer(p.c, p.s, "ping"))
		assert.equal("pong", H.transfer(p.s, p.c, "pong"))
	end)
end)

describe("resumption", function()
	-- a full handshake, a read so the TLS 1.3 ticket arrives, the session data
	local function first_session(version)
		local p = H.connected(version)
		assert.is_false(p.c.resumed)
		if version == "1.3" then assert.is_nil(p.c.session_data) end
		assert.equal("ticket?", H.transfer(p.s, p.c, "ticket?"))
		local data = p.c.session_data
		assert.equal("string", type(data))
		return p, data
	end

	for _, version in ipairs { "1.3", "1.2" } do
		it("resumes, TLS " .. version, function()
			local p, data = first_session(version)
			local c = assert(p.ccfg:client { server_hostname = "orders.internal", session_data = data })
			local s = assert(p.scfg:server {})
			local q = H.handshake { c = c, s = s, cstate = "want", sstate = "want" }
			assert.equal("ok", q.cstate)
			assert.equal("ok", q.sstate)
			assert.is_true(c.resumed)
			assert.is_true(s.resumed)
			-- re-checked on resumption: the peer is known and verified
			assert.is_true(c.verified)
			assert.is_true(s.verified)
			assert.equal("CN=payments", s.peer_certificate.label)
			-- nothing was sent: the server's leaf is the one it was
			-- established with; the client cannot know whether it was asked
			assert.equal("CN=orders", s.own_certificate.label)
			assert.is_nil(c.own_certificate)
		end)
	end

	it("re-checks the policy on resumption", function()
		local p, data = first_session("1.3")
		local strict = H.config(p.pki.client, p.pki.ca, { peers = "dns:billing.internal" })
		local c = assert(strict:client { server_hostname = "orders.internal", session_data = data })
		local q = H.handshake { c = c, s = assert(p.scfg:server {}), cstate = "want", sstate = "want" }
		assert.equal("failed", q.cstate)
		assert.equal("verify-failed", q.cerr.code)
		assert.same({ "policy" }, q.cerr.reasons)
		assert.is_false(c.resumed)
	end)

	it("re-checks revocation on resumption", function()
		local p, data = first_session("1.3")
		p.pki.ca:revoke(p.pki.server)
		local strict = H.config(p.pki.client, p.pki.ca, { crl = p.pki.ca })
		local c = assert(strict:client { server_hostname = "orders.internal", session_data = data })
		local q = H.handshake { c = c, s = assert(p.scfg:server {}), cstate = "want", sstate = "want" }
		assert.equal("verify-failed", q.cerr.code)
		assert.same({ "revoked" }, q.cerr.reasons)
	end)
end)

describe("TLS 1.2 resumption by session ID (the server's session cache)", function()
	-- tickets off on both sides: only the session ID can resume
	local function configs(sextra)
		local pki = H.pki()
		local ccfg = H.config(pki.client, pki.ca, { versions = { "1.2" }, session_tickets = false })
		local sx = { session_tickets = false }
		for k, v in pairs(sextra or {}) do sx[k] = v end
		return ccfg, H.config(pki.server, pki.ca, sx), pki
	end
	local function full(ccfg, scfg)
		local p = H.handshake(H.pair(ccfg, "orders.internal", scfg))
		assert.equal("ok", p.sstate)
		assert.is_false(p.s.resumed)
		return assert(p.c.session_data)
	end
	local function resume(ccfg, scfg, data)
		local c = assert(ccfg:client { server_hostname = "orders.internal", session_data = data })
		return H.handshake { c = c, s = assert(scfg:server {}), cstate = "want", sstate = "want" }
	end

	it("resumes by session ID, and verifies the peer again", function()
		local ccfg, scfg = configs()
		local q = resume(ccfg, scfg, full(ccfg, scfg))
		assert.equal("ok", q.sstate)
		assert.is_true(q.c.resumed)
		assert.is_true(q.s.resumed)
		assert.is_true(q.s.verified)
		assert.equal("CN=payments", q.s.peer_certificate.label)
		assert.equal("by id", H.transfer(q.c, q.s, "by id"))
	end)

	it("session_cache = 0 turns it off", function()
		local ccfg, scfg = configs { session_cache = 0 }
		local q = resume(ccfg, scfg, full(ccfg, scfg))
		assert.equal("ok", q.sstate)
		assert.is_false(q.s.resumed)
	end)

	it("keeps at most session_cache entries", function()
		local ccfg, scfg = configs { session_cache = 1 }
		local first, second = full(ccfg, scfg), full(ccfg, scfg)
		assert.is_true(resume(ccfg, scfg, second).s.resumed)
		assert.is_false(resume(ccfg, scfg, first).s.resumed) -- replaced
	end)

	it("refuses a peer revoked since its full handshake", function()
		local revoked = false
		local ccfg, scfg = configs { verify_hook = function() return not revoked or "revoked" end }
		local data = full(ccfg, scfg)
		assert.is_true(resume(ccfg, scfg, data).s.resumed)
		revoked = true
		local q = resume(ccfg, scfg, data)
		assert.equal("failed", q.sstate)
		assert.equal("verify-failed", q.serr.code)
		assert.same({ "hook" }, q.serr.reasons)
	end)
end)

describe("the CertificateRequest", function()
	-- the server's TLS 1.2 CertificateRequest: its CA names and signature algorithms
	local function certificate_request(sextra)
		local pki = H.pki()
		local c = assert(H.config(pki.client, pki.ca, { versions = { "1.2" } }):client { server_hostname = "orders.internal" })
		local s = assert(H.config(pki.server, pki.ca, sextra):server {})
		c:handshake()
		H.move(c, s)
		s:handshake()
		local flight, hs, i = s:data_to_send(), {}, 1
		while i + 4 <= #flight do
			local n = flight:byte(i + 3) * 256 + flight:byte(i + 4)
			if flight:byte(i) == 22 then hs[#hs + 1] = flight:sub(i + 5, i + 4 + n) end
			i = i + 5 + n
		end
		hs, i = table.concat(hs), 1
		while i + 3 <= #hs do
			local n = (hs:byte(i + 1) * 256 + hs:byte(i + 2)) * 256 + hs:byte(i + 3)
			if hs:byte(i) == 13 then
				local cr = hs:sub(i + 4, i + 3 + n)
				local at = 2 + cr:byte(1)
				local nalgs = cr:byte(at) * 256 + cr:byte(at + 1)
				local algs = {}
				for k = at + 2, at + nalgs, 2 do algs[#algs + 1] = cr:byte(k) * 256 + cr:byte(k + 1) end
				return cr:sub(at + 4 + nalgs), algs
			end
			i = i + 4 + n
		end
		error("no CertificateRequest")
	end
	local function has(list, v)
		for _, x in ipairs(list) do if x == v then return true end end
		return false
	end

	it("names the trust anchors unless send_ca_names = false", function()
		assert.truthy(certificate_request():find("mutls test root", 1, true))
		assert.equal("", (certificate_request { send_ca_names = false }))
	end)

	it("leaves Ed448 out of the default priority, not out of a given one", function()
		local _, algs = certificate_request()
		assert.is_true(has(algs, 0x0807))   -- Ed25519
		assert.is_false(has(algs, 0x0808))  -- Ed448
		_, algs = certificate_request { priority = "NORMAL" }
		assert.is_true(has(algs, 0x0808))
	end)
end)

describe("options of the second wave", function()
	it("session_cache takes a number of entries", function()
		assert(mutls.config { session_cache = 0, send_ca_names = false })
		assert(mutls.config { session_cache = 1048576, send_ca_names = true })
		local ok, msg = pcall(mutls.config, { session_cache = "1024" })
		assert.is_false(ok)
		assert.matches("option 'session_cache' must be a number of entries, not string", msg, 1, true)
		for _, bad in ipairs { -1, 1.5 } do
			local cfg, err = mutls.config { session_cache = bad }
			assert.is_nil(cfg)
			assert.equal("config", err.code)
			assert.matches("session_cache: expected a whole number of entries from 0 up", err.message, 1, true)
		end
		local cfg, err = mutls.config { session_cache = 1048577 }
		assert.is_nil(cfg)
		assert.matches("more than the limit of 1048576", err.message, 1, true)
		ok, msg = pcall(mutls.config, { send_ca_names = "no" })
		assert.is_false(ok)
		assert.matches("send_ca_names", msg, 1, true)
	end)
end)

describe("socket mode (loopback, LuaSocket file descriptors)", function()
	-- Both ends in this process on non-blocking sockets: each call returns
	-- wantread/wantwrite until the other side has moved.
	local function drive(a, b, fa, fb, rounds)
		local ra, rb, ea, eb
		for _ = 1, rounds or 2000 do
			if ra ~= true and (ea == nil or ea == "wantread" or ea == "wantwrite") then ra, ea = fa(a) end
			if rb ~= true and (eb == nil or eb == "wantread" or eb == "wantwrite") then rb, eb = fb(b) end
			if (ra == true or (ea and type(ea) == "table")) and (rb == true or (eb and type(eb) == "table")) then
				break
			end
			H.sleep(0.001)
		end
		return ra, ea, rb, eb
	end
	local function hs(s) return s:handshake() end

	it("a handshake and an echo between two sessions", function()
		local pki = H.pki()
		local srv, port = H.listen()
		local csock = H.connect(port)
		local ssock = assert(srv:accept())
		local c = assert(H.config(pki.client, pki.ca):client { sock = csock, server_hostname = "localhost" })
		local s = assert(H.config(pki.server, pki.ca):server { fd = ssock:getfd() })
		local rc, ec, rs, es = drive(c, s, hs, hs)
		assert.is_true(rc, tostring(ec))
		assert.is_true(rs, tostring(es))
		assert.equal("TLSv1.3", c.version)
		assert.equal("CN=payments", s.peer_certificate.label)
		assert.equal(13, c:send("ping over tcp"))
		local got
		for _ = 1, 2000 do
			local data, err = s:recv(64)
			if data then got = data; break end
			assert.equal("wantread", err)
			H.sleep(0.001)
		end
		assert.equal("ping over tcp", got)
		c:destroy()
		s:destroy()
		csock:close()
		ssock:close()
		srv:close()
	end)

	it("a refusal over TCP reaches both ends", function()
		local pki = H.pki()
		local expired = H.issue(pki.ca, "payments", nil, nil, nil, "client", -7 * H.DAY, -H.DAY)
		local srv, port = H.listen()
		local csock = H.connect(port)
		local ssock = assert(srv:accept())
		local c = assert(H.config(expired, pki.ca):client { fd = csock:getfd(), server_hostname = "127.0.0.1" })
		local s = assert(H.config(pki.server, pki.ca):server { fd = ssock:getfd() })
		local rc, ec, rs, es = drive(c, s, hs, hs)
		assert.equal("verify-failed", es.code)
		assert.is_true(H.contains(es.message, "client certificate CN=payments expired at "))
		if rc == true then -- TLS 1.3: the refusal arrives after our Finished
			for _ = 1, 2000 do
				local data, err = c:recv(64)
				assert.is_nil(data)
				if err ~= "wantread" then ec = err; break end
				H.sleep(0.001)
			end
		end
		H.expect_error(ec, "peer-rejected", { "expired" }, "peer", false, "certificate_expired")
		assert.equal("peer rejected our certificate (alert certificate_expired)", ec.message)
		c:destroy(); s:destroy(); csock:close(); ssock:close(); srv:close()
	end)

	it("wantwrite when the socket is full; the same data goes later", function()
		local pki = H.pki()
		local srv, port = H.listen()
		local csock = H.connect(port)
		local ssock = assert(srv:accept())
		local c = assert(H.config(pki.client, pki.ca):client { fd = csock:getfd(), server_hostname = "localhost" })
		local s = assert(H.config(pki.server, pki.ca):server { fd = ssock:getfd() })
		local rc, ec, rs, es = drive(c, s, hs, hs)
		assert.is_true(rc, tostring(ec))
		assert.is_true(rs, tostring(es))
		local chunk = ("z"):rep(65536)
		local sent, signal = 0, nil
		for _ = 1, 2048 do -- at most 128 MiB; loopback buffers fill long before
			local n, err = c:send(chunk)
			if not n then signal = err; break end
			sent = sent + n
		end
		assert.equal("wantwrite", signal)
		assert.is_true(sent > 0)
		-- the server reads everything; the client's retry then goes through
		local received, retried = 0, false
		for _ = 1, 100000 do
			local data, err = s:recv(16384)
			if data then
				received = received + #data
			else
				assert.equal("wantread", err)
				if not retried then
					local n = c:send(chunk)
					if n then sent = sent + n; retried = true end
				elseif received >= sent then
					break
				end
			end
		end
		assert.is_true(retried)
		assert.equal(sent, received)
		c:destroy(); s:destroy(); csock:close(); ssock:close(); srv:close()
	end)

	it("a timeout leaves the session usable", function()
		local pki = H.pki()
		local srv, port = H.listen()
		local csock = H.connect(port)
		local ssock = assert(srv:accept())
		local c = assert(H.config(pki.client, pki.ca):client { fd = csock:getfd(), server_hostname = "localhost", timeout = 0.1 })
		local ok, err = c:handshake()
		assert.is_nil(ok)
		assert.equal("timeout", err.code)
		-- now the server answers; the client goes on where it stopped
		c:settimeout(nil)
		local s = assert(H.config(pki.server, pki.ca):server { fd = ssock:getfd() })
		local rc, ec, rs, es = drive(c, s, hs, hs)
		assert.is_true(rc, tostring(ec))
		assert.is_true(rs, tostring(es))
		c:destroy(); s:destroy(); csock:close(); ssock:close(); srv:close()
	end)

	it("the peer hangs up mid-handshake: closed", function()
		local pki = H.pki()
		local srv, port = H.listen()
		local csock = H.connect(port)
		local ssock = assert(srv:accept())
		local c = assert(H.config(pki.client, pki.ca):client { fd = csock:getfd(), server_hostname = "orders.internal" })
		assert.same({ nil, "wantread" }, { c:handshake() })
		ssock:settimeout(2)
		assert(ssock:receive(5))
		ssock:close()
		local ok, err
		for _ = 1, 2000 do
			ok, err = c:handshake()
			if err ~= "wantread" then break end
			H.sleep(0.001)
		end
		assert.is_nil(ok)
		assert.equal("closed", err.code)
		assert.is_true(H.contains(err.message, "server closed the connection during the handshake"))
		c:destroy(); csock:close(); srv:close()
	end)
end)
