-- Lifetimes of the strings the binding hands to C (issue 11, defect 4).
--
-- A string read from an options table is only safe while something keeps it
-- alive. Each test lets user code run after the binding read an option (a
-- password function, a socket's getfd(), an __index metamethod of the options
-- table), and that code drops the option from the table and forces a full
-- collection. The binding must have anchored (or copied) the value: under
-- ASan (scripts/sanitize-bindings --lua) a binding that borrowed it reads
-- freed memory. Each test also checks the result is the one the options
-- asked for, with a real handshake where one applies.
--
-- The strings are made at run time and referenced by nothing but the
-- options table: a literal would stay alive as a constant of this chunk
-- (Lua 5.4 and LuaJIT intern short strings, so one equal literal anywhere
-- would do). Under LuaJIT its own allocator hides freed blocks from ASan;
-- the Lua 5.4 run is the one that reports.
local H = require "helpers"
local mutls = H.mutls

-- A host name no chunk holds as a constant.
local function fresh(tag)
	return ("lifetime-%s.internal"):format(tag)
end

local function full_gc()
	collectgarbage("collect")
	collectgarbage("collect")
end

-- A PKI whose server name is a run-time string.
local function lifetime_pki()
	local ca = mutls.testca { name = "lifetime root" }
	return {
		ca = ca,
		server = ca:issue { cn = "orders", dns = { fresh("orders") }, purpose = "server" },
		client = ca:issue { cn = "payments", uri = { "spiffe://example.org/payments" }, purpose = "client" },
	}
end

-- An options table whose __index (run for every key the table lacks)
-- drops `keys` and collects.
local function dropping(opts, keys)
	return setmetatable(opts, { __index = function(t)
		for _, k in ipairs(keys) do rawset(t, k, nil) end
		full_gc()
		return nil
	end })
end

-- Both ends in this process on loopback sockets, non-blocking: each call
-- returns wantread/wantwrite until the other side has moved.
local function drive(c, s)
	local rc, ec, rs, es
	for _ = 1, 2000 do
		if rc ~= true and type(ec) ~= "table" then rc, ec = c:handshake() end
		if rs ~= true and type(es) ~= "table" then rs, es = s:handshake() end
		if (rc == true or type(ec) == "table") and (rs == true or type(es) == "table") then break end
		H.sleep(0.001)
	end
	return rc, ec, rs, es
end

describe("option strings outlive the user code the binding runs", function()
	it("certificate and private_key, dropped by the password function", function()
		local pki = lifetime_pki()
		local calls = 0
		local opts
		opts = {
			certificate = pki.server.chain_pem,
			private_key = pki.server:encrypted_key_pem("s3cret"),
			password = function()
				calls = calls + 1
				opts.certificate, opts.private_key = nil, nil
				full_gc()
				return "s3cret"
			end,
			trust = pki.ca,
		}
		local scfg = assert(mutls.config(opts))
		assert.equal(1, calls)
		assert.is_nil(opts.certificate)
		assert.is_true(scfg.has_identity)
		-- the identity is the one given: a client checking the name accepts it
		local p = H.run(H.config(pki.client, pki.ca), fresh("orders"), scfg)
		assert.equal("ok", p.cstate, tostring(p.cerr))
		assert.equal("ok", p.sstate, tostring(p.serr))
		assert.equal("CN=orders", p.c.peer_certificate.label)
	end)

	it("config options are read raw: an __index metamethod neither runs nor frees them", function()
		local pki = lifetime_pki()
		local opts = dropping({
			certificate = pki.server.chain_pem,
			private_key = pki.server.key_pem,
			trust = pki.ca.cert_pem,
			priority = ("NORMAL:%%%s"):format("SERVER_PRECEDENCE"),
		}, { "certificate", "private_key", "trust", "priority" })
		local scfg = assert(mutls.config(opts))
		assert.equal(pki.server.chain_pem, opts.certificate)
		local p = H.run(H.config(pki.client, pki.ca), fresh("orders"), scfg)
		assert.equal("ok", p.cstate, tostring(p.cerr))
		assert.equal("ok", p.sstate, tostring(p.serr))
	end)

	it("server_hostname and session_data, dropped by the socket's getfd()", function()
		local pki = lifetime_pki()
		local ccfg = H.config(pki.client, pki.ca)
		local scfg = H.config(pki.server, pki.ca)
		-- a first session (memory mode) for the session data; a read for the ticket
		local p = H.handshake(H.pair(ccfg, fresh("orders"), scfg))
		assert.equal("ok", p.cstate, tostring(p.cerr))
		assert.equal("ticket?", H.transfer(p.s, p.c, "ticket?"))

		local srv, port = H.listen()
		local csock = H.connect(port)
		local ssock = assert(srv:accept())
		local calls = 0
		local opts
		opts = {
			server_hostname = fresh("orders"),
			session_data = p.c.session_data,
			sock = {
				getfd = function()
					calls = calls + 1
					opts.server_hostname, opts.session_data = nil, nil
					full_gc()
					return csock:getfd()
				end,
			},
		}
		local c = assert(ccfg:client(opts))
		assert.equal(1, calls)
		assert.equal(fresh("orders"), c.server_hostname)
		local s = assert(scfg:server { fd = ssock:getfd() })
		local rc, ec, rs, es = drive(c, s)
		assert.is_true(rc, tostring(ec))
		assert.is_true(rs, tostring(es))
		assert.is_true(c.verified)
		assert.is_true(c.resumed)
		c:destroy()
		s:destroy()
		csock:close()
		ssock:close()
		srv:close()
	end)

	it("client options are read raw: an __index metamethod neither runs nor frees them", function()
		local pki = lifetime_pki()
		local ccfg = H.config(pki.client, pki.ca)
		local c = assert(ccfg:client(dropping({ server_hostname = fresh("orders") }, { "server_hostname" })))
		assert.equal(fresh("orders"), c.server_hostname)
		local s = assert(H.config(pki.server, pki.ca):server {})
		local q = H.handshake { c = c, s = s, cstate = "want", sstate = "want" }
		assert.equal("ok", q.cstate, tostring(q.cerr))
		assert.equal("ok", q.sstate, tostring(q.serr))
	end)

	it("verify's hostname, dropped by an __index metamethod", function()
		local pki = lifetime_pki()
		local cert = pki.server.certificate
		assert.is_true(cert:verify(dropping({ trust = pki.ca, hostname = fresh("orders"), purpose = "server" },
			{ "hostname" })))
		-- and a wrong name stays wrong
		local ok, err = cert:verify(dropping({ trust = pki.ca, hostname = fresh("billing") }, { "hostname" }))
		assert.is_nil(ok)
		assert.equal("verify-failed", err.code)
		assert.same({ "name-mismatch" }, err.reasons)
	end)

	it("verify's peers patterns and trust PEM, dropped by an __index metamethod", function()
		local pki = lifetime_pki()
		local cert = pki.server.certificate
		local ok, err = cert:verify(dropping({
			trust = { pki.ca.certificate.pem },
			peers = { ("dns:%s"):format(fresh("billing")) },
		}, { "peers", "trust" }))
		assert.is_nil(ok)
		assert.same({ "policy" }, err.reasons)
		assert.is_true(cert:verify(dropping({
			trust = { pki.ca.certificate.pem },
			peers = { ("dns:%s"):format(fresh("orders")) },
		}, { "peers", "trust" })))
	end)

	it("testca and issue options, dropped by an __index metamethod", function()
		local ca = mutls.testca(dropping({ name = fresh("root") }, { "name" }))
		assert.equal(fresh("root"), ca.certificate.common_name)
		local id = ca:issue(dropping({ cn = fresh("leaf"), dns = { fresh("leaf") } }, { "cn", "dns" }))
		assert.equal(fresh("leaf"), id.certificate.common_name)
		assert.same({ fresh("leaf") }, id.certificate.dns_names)
	end)
end)
