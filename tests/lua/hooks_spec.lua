-- Hooks (verify_hook, trace, keylog) are Lua functions run under lua_pcall on
-- the coroutine that called handshake. An error or a yield inside one is a
-- clean "hook" failure: the peer is alerted and the process goes on. Mirrors
-- the hook tests of tests/c/test_policy.c and test_records.c.
local H = require "helpers"
local mutls = H.mutls

local function with_server_hook(hook, extra)
	local pki = H.pki()
	local opts = { verify_hook = hook }
	for k, v in pairs(extra or {}) do opts[k] = v end
	local scfg = H.config(pki.server, pki.ca, opts)
	return H.run(H.config(pki.client, pki.ca), "orders.internal", scfg), pki
end

-- The server's hook failed: code hook, access_denied to the client.
local function expect_hook_failure(p, fragment)
	H.expect_error(p.serr, "hook", { "hook" }, "local", "client-certificate", "access_denied")
	assert.is_true(H.contains(p.serr.message,
		"client certificate CN=payments was refused because the verify hook failed: "), p.serr.message)
	assert.is_true(H.contains(p.serr.message, fragment), p.serr.message)
	H.expect_error(p.cerr, "peer-rejected", false, "peer", false, "access_denied")
	assert.equal(49, p.cerr.alert_number)
end

describe("verify_hook", function()
	it("accepts, and sees the peer", function()
		local seen, session, calls = nil, nil, 0
		local p = with_server_hook(function(peer, s)
			calls = calls + 1
			seen, session = peer, s
			return true
		end)
		assert.equal("ok", p.sstate)
		assert.equal("ok", p.cstate)
		assert.is_true(p.s.verified)
		assert.equal(1, calls)
		assert.equal(1, #seen.chain)
		assert.equal("payments", seen.leaf.common_name)
		assert.equal(seen.leaf, seen.chain[1])
		assert.is_true(seen.ok)
		assert.same({}, seen.reasons)
		assert.equal("client", seen.role)
		assert.is_nil(seen.hostname)
		assert.equal(p.s, session)
		local hooked = false
		for _, check in ipairs(p.s.verification.checks) do
			if check.name == "hook" then hooked = check.ok end
		end
		assert.is_true(hooked)
	end)

	it("on a client, sees the hostname and the server's role", function()
		local pki = H.pki()
		local seen
		local ccfg = H.config(pki.client, pki.ca, { verify_hook = function(peer) seen = peer; return true end })
		local p = H.run(ccfg, "orders.internal", H.config(pki.server, pki.ca))
		assert.equal("ok", p.cstate)
		assert.equal("orders.internal", seen.hostname)
		assert.equal("server", seen.role)
		assert.equal("orders", seen.leaf.common_name)
	end)

	it("rejects with a reason", function()
		local p = with_server_hook(function() return false, "payments is on leave" end)
		H.expect_error(p.serr, "verify-failed", { "hook" }, "local", "client-certificate", "access_denied")
		assert.is_true(H.contains(p.serr.message,
			"client certificate CN=payments was rejected by the verify hook: payments is on leave"))
		H.expect_error(p.cerr, "peer-rejected", false, "peer", false, "access_denied")
		assert.is_false(p.s.verified)
		assert.same({ "hook" }, p.s.verification.reasons)
	end)

	it("rejects on nil, false, or anything but true", function()
		for _, verdict in ipairs { function() end, function() return false end, function() return "yes" end,
			function() return 1 end } do
			local p = with_server_hook(verdict)
			assert.equal("verify-failed", p.serr.code)
			assert.same({ "hook" }, p.serr.reasons)
		end
		local p = with_server_hook(function() return nil end)
		assert.is_true(H.contains(p.serr.message, "no reason given"))
	end)

	it("cannot override a failed check, but sees it", function()
		local seen
		local p = with_server_hook(function(peer) seen = peer; return true end, { peers = "cn:billing" })
		assert.is_false(seen.ok)
		assert.same({ "policy" }, seen.reasons)
		H.expect_error(p.serr, "verify-failed", { "policy" }, "local", "client-certificate", "access_denied")
	end)

	it("an error in the hook: code hook with its message; the peer is alerted", function()
		local p = with_server_hook(function() error("ZeroDivisionError: division by zero") end)
		expect_hook_failure(p, "ZeroDivisionError: division by zero")
		assert.is_true(H.contains(p.serr.hook_message, "ZeroDivisionError"))
		local q = with_server_hook(function() local t = nil; return t.field end)
		expect_hook_failure(q, "attempt to index")
	end)

	it("an error value that is not a string", function()
		local p = with_server_hook(function() error({ code = 7 }) end)
		expect_hook_failure(p, "(error object is a table value)")
		local q = with_server_hook(function() error(setmetatable({}, { __tostring = function() return "custom failure" end })) end)
		expect_hook_failure(q, "custom failure")
		local r = with_server_hook(function() error() end)
		expect_hook_failure(r, "(error object is a nil value)")
	end)

	it("a hook that yields: a clean hook error inside a coroutine", function()
		local pki = H.pki()
		local yielded = false
		local scfg = H.config(pki.server, pki.ca, { verify_hook = function()
			coroutine.yield("please resume me")
			yielded = true
			return true
		end })
		local ccfg = H.config(pki.client, pki.ca)
		local c = assert(ccfg:client { server_hostname = "orders.internal" })
		local s = assert(scfg:server {})
		-- the server's handshake calls run in a coroutine
		local co = coroutine.create(function()
			local results = {}
			for _ = 1, 64 do
				local ok, err = s:handshake()
				if ok or err ~= "wantread" then
					results.ok, results.err = ok, err
					return results
				end
				coroutine.yield("wantread")
			end
		end)
		local cstate, cerr, final
		for _ = 1, 64 do
			if cstate == nil then
				local ok, err = c:handshake()
				if ok then cstate = "ok" elseif err ~= "wantread" then cstate, cerr = "failed", err end
			end
			H.move(c, s)
			local resumed, value = coroutine.resume(co)
			assert.is_true(resumed, tostring(value))
			assert.are_not.equal("please resume me", value) -- never yielded from the hook
			H.move(s, c)
			if coroutine.status(co) == "dead" then final = value; break end
		end
		assert.is_false(yielded)
		assert.is_nil(final.ok)
		H.expect_error(final.err, "hook", { "hook" }, "local", "client-certificate", "access_denied")
		assert.is_true(H.contains(final.err.message, "yield"), final.err.message)
		-- the client hears access_denied (TLS 1.3: on its next read)
		if cstate == "ok" then
			local data, err = c:recv(16)
			assert.is_nil(data)
			cerr = err
		end
		H.expect_error(cerr, "peer-rejected", false, "peer", false, "access_denied")
		-- and the process is fine: the same config still works with a new session
		local p = H.run(ccfg, "orders.internal", H.config(pki.server, pki.ca))
		assert.equal("ok", p.sstate)
	end)

	it("a hook that yields outside any coroutine", function()
		local p = with_server_hook(function() coroutine.yield() return true end)
		expect_hook_failure(p, "yield")
	end)

	it("runs on the coroutine that called handshake", function()
		local pki = H.pki()
		local where
		local scfg = H.config(pki.server, pki.ca, { verify_hook = function()
			where = coroutine.running()
			return true
		end })
		local c = assert(H.config(pki.client, pki.ca):client { server_hostname = "orders.internal" })
		local s = assert(scfg:server {})
		local co = coroutine.create(function()
			for _ = 1, 64 do
				local ok, err = s:handshake()
				if ok or err ~= "wantread" then return ok, err end
				coroutine.yield()
			end
		end)
		for _ = 1, 64 do
			c:handshake()
			H.move(c, s)
			assert.is_true((coroutine.resume(co)))
			H.move(s, c)
			if coroutine.status(co) == "dead" then break end
		end
		assert.equal(co, where)
		assert.is_true(s.verified)
	end)

	it("a client hook error, the server hears access_denied (TLS 1.3)", function()
		local pki = H.pki()
		local ccfg = H.config(pki.client, pki.ca, { versions = "1.3", verify_hook = function() error("no thanks") end })
		local p = H.run(ccfg, "orders.internal", H.config(pki.server, pki.ca))
		H.expect_error(p.cerr, "hook", { "hook" }, "local", "server-certificate", "access_denied")
		assert.is_true(H.contains(p.cerr.message, "no thanks"))
		assert.is_true(H.contains(p.cerr.message, "server certificate CN=orders was refused because the verify hook failed"))
		H.expect_error(p.serr, "peer-rejected", false, "peer", false, "access_denied")
	end)

	it("a server hook error, the client hears access_denied (TLS 1.2)", function()
		local pki = H.pki()
		local scfg = H.config(pki.server, pki.ca, { verify_hook = function() error("not today") end })
		local p = H.run(H.config(pki.client, pki.ca, { versions = "1.2" }), "orders.internal", scfg)
		expect_hook_failure(p, "not today")
		assert.equal("TLSv1.2", p.c.version)
	end)

	it("a client hook error in TLS 1.2: the client's side", function()
		local pki = H.pki()
		local ccfg = H.config(pki.client, pki.ca, { versions = "1.2", verify_hook = function() error("no thanks") end })
		local p = H.run(ccfg, "orders.internal", H.config(pki.server, pki.ca))
		H.expect_error(p.cerr, "hook", { "hook" }, "local", "server-certificate", "access_denied")
		assert.is_true(H.contains(p.cerr.message, "no thanks"))
		assert.equal("failed", p.sstate)
		-- The server received access_denied, but a TLS 1.2 server that refused
		-- while waiting for the client's Certificate is told "no certificate"
		-- by GnuTLS (-49) and the C core reports no-certificate; see the
		-- binding's report. Pending until the core checks the received alert.
		if p.serr.code ~= "peer-rejected" then
			return pending("C core: a TLS 1.2 server refused by its client reports " .. p.serr.code ..
				" instead of peer-rejected (alert received: access_denied)")
		end
		H.expect_error(p.serr, "peer-rejected", false, "peer", false, "access_denied")
	end)

	it("a hook may not use its own session, and may collect garbage", function()
		local p = with_server_hook(function(_, s) s:destroy() return true end)
		expect_hook_failure(p, "cannot be destroyed from inside one of its own hooks")
		assert.is_false(p.s.destroyed)
		local q = with_server_hook(function(_, s) s:handshake() return true end)
		expect_hook_failure(q, "already in a call")
		local r = with_server_hook(function(peer)
			collectgarbage()
			collectgarbage()
			return peer.leaf.common_name == "payments"
		end)
		assert.equal("ok", r.sstate)
	end)
end)

describe("trace", function()
	it("sees every event as it happens, the same as session.trace", function()
		local pki = H.pki()
		local events = {}
		local sess
		local ccfg = H.config(pki.client, pki.ca, { trace = function(e, s) events[#events + 1] = e; sess = s end })
		local p = H.run(ccfg, "orders.internal", H.config(pki.server, pki.ca))
		assert.equal("ok", p.cstate)
		assert.equal(p.c, sess)
		local recorded = p.c.trace
		assert.equal(#recorded, #events)
		for i, e in ipairs(recorded) do
			assert.same(e, events[i])
		end
		assert.equal("message", events[1].kind)
		assert.equal("ClientHello", events[1].name)
	end)

	it("an error in the trace hook: code hook with its message", function()
		local pki = H.pki()
		local ccfg = H.config(pki.client, pki.ca, { trace = function(e)
			if e.kind == "message" and e.name == "Certificate" then error("trace exploded") end
		end })
		local p = H.run(ccfg, "orders.internal", H.config(pki.server, pki.ca))
		H.expect_error(p.cerr, "hook", false, "local", false, false)
		assert.is_true(H.contains(p.cerr.message, "hook failed"), p.cerr.message)
		assert.is_true(H.contains(p.cerr.message, "trace exploded"), p.cerr.message)
		assert.equal("failed", p.sstate) -- the server heard an alert
		assert.is_not_nil(p.serr.alert)
	end)

	it("a trace hook that yields", function()
		local pki = H.pki()
		local ccfg = H.config(pki.client, pki.ca, { trace = function() coroutine.yield() end })
		local c = assert(ccfg:client { server_hostname = "orders.internal" })
		local co = coroutine.wrap(function() return c:handshake() end)
		local ok, err = co()
		assert.is_nil(ok)
		assert.equal("hook", err.code)
		assert.is_true(H.contains(err.message, "yield"), err.message)
	end)
end)

describe("keylog", function()
	it("a function sees NSS key log lines; a file gets the same", function()
		local pki = H.pki()
		local dir = H.tmpdir()
		local path = dir .. "/keys.log"
		local lines = {}
		local scfg = H.config(pki.server, pki.ca, { keylog = function(line) lines[#lines + 1] = line end })
		local ccfg = H.config(pki.client, pki.ca, { keylog = path })
		local p = H.run(ccfg, "orders.internal", scfg)
		assert.equal("ok", p.cstate)
		assert.is_true(#lines >= 4)
		for _, line in ipairs(lines) do
			assert.is_truthy(line:match("^[A-Z_0-9]+ %x+ %x+$"), line)
		end
		local n = 0
		for line in io.lines(path) do
			assert.is_truthy(line:find(" ", 1, true))
			n = n + 1
		end
		assert.equal(#lines, n)
		H.rmdir(dir)
	end)

	it("an error in the keylog function: code hook", function()
		local pki = H.pki()
		local scfg = H.config(pki.server, pki.ca, { keylog = function() error("disk full") end })
		local p = H.run(H.config(pki.client, pki.ca), "orders.internal", scfg)
		assert.equal("hook", p.serr.code)
		assert.is_true(H.contains(p.serr.message, "disk full"), p.serr.message)
		assert.equal("failed", p.cstate)
	end)
end)
