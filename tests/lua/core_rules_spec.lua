-- Rules the core owns once, for both bindings (issue 16, item 1). Each case
-- pins one piece of logic that the Python and Lua bindings used to carry each
-- in its own way; tests/python/test_core_rules.py holds the same cases,
-- expecting the same outcome.
local H = require "helpers"
local mutls = H.mutls

describe("core rules", function()
	local pki
	before_each(function()
		pki = H.pki()
	end)

	-- 2. name tables: peer_certificate modes and purposes
	it("peer_certificate names round-trip through the core", function()
		for _, mode in ipairs { "require", "request", "none", "observe" } do
			local cfg = H.config(pki.server, pki.ca, { peer_certificate = mode })
			assert.equal(mode, cfg.peer_certificate)
		end
	end)

	it("an unknown peer_certificate is a config error worded by the core", function()
		local cfg, err = mutls.config { identity = pki.server, trust = pki.ca, peer_certificate = "always" }
		assert.is_nil(cfg)
		assert.equal("config", err.code)
		assert.equal('peer_certificate: expected "require", "request", "none" or "observe", not "always"',
			err.message)
	end)

	it("an unknown purpose is refused with the core's words", function()
		local message = 'purpose: expected "server", "client", "both", "none" or "any", not "sideways"'
		local ok, e = pcall(pki.ca.issue, pki.ca, { cn = "x", purpose = "sideways" })
		assert.is_false(ok)
		assert.is_truthy(tostring(e):find(message, 1, true), tostring(e))
		ok, e = pcall(pki.server.certificate.verify, pki.server.certificate, { trust = pki.ca, purpose = "sideways" })
		assert.is_false(ok)
		assert.is_truthy(tostring(e):find(message, 1, true), tostring(e))
	end)

	it("purpose any verifies; issue-only purposes are refused by verify", function()
		assert.is_true(pki.server.certificate:verify { trust = pki.ca, purpose = "any" })
		local ok, err = pki.server.certificate:verify { trust = pki.ca, purpose = "both" }
		assert.is_nil(ok)
		assert.equal("usage", err.code)
		assert.is_truthy(err.message:find('purpose must be "server", "client" or "any", not "both"', 1, true))
	end)
end)

describe("core rules: the hook's failure message is the core's alone", function()
	local pki
	before_each(function()
		pki = H.pki()
	end)
	local function boom() error("boom-4711", 0) end

	for _, hook in ipairs { "verify_hook", "trace", "verify_time" } do
		it("a failing " .. hook, function()
			local p = H.run(H.config(pki.client, pki.ca), "orders.internal",
				H.config(pki.server, pki.ca, { [hook] = boom }))
			local e = p.serr
			assert.equal("hook", e.code)
			assert.is_truthy(e.hook_message and e.hook_message:find("boom-4711", 1, true), tostring(e.hook_message))
			assert.is_truthy(e.message:find(e.hook_message, 1, true), e.message)
		end)
	end

	it("no hook_message for other errors", function()
		local p = H.run(H.config(pki.client, pki.ca), "orders.internal",
			H.config(pki.server, pki.ca, { peers = { "cn:billing" } }))
		assert.equal("verify-failed", p.serr.code)
		assert.is_nil(p.serr.hook_message)
	end)

	it("check_peer: a failing hook's message", function()
		local cfg = H.config(pki.server, pki.ca, { verify_hook = boom })
		local s = cfg:check_peer(pki.client.chain)
		local e = s.error
		assert.equal("hook", e.code)
		assert.is_truthy(e.hook_message and e.hook_message:find("boom-4711", 1, true), tostring(e.hook_message))
		assert.is_truthy(e.message:find(e.hook_message, 1, true), e.message)
	end)
end)

describe("core rules: a peer's ok, the error's certificate, the GnuTLS version", function()
	local pki
	before_each(function()
		pki = H.pki()
	end)

	it("peer.ok is the core's", function()
		local seen = {}
		local function hook(peer)
			seen[#seen + 1] = { peer.ok, #peer.chain }
			return true
		end
		local p = H.run(H.config(nil, pki.ca), "orders.internal",
			H.config(pki.server, pki.ca, { peer_certificate = "request", verify_hook = hook }))
		assert.equal("ok", p.sstate)
		assert.same({ { false, 0 } }, seen) -- an anonymous peer passed no check
		seen = {}
		p = H.run(H.config(pki.client, pki.ca), "orders.internal", H.config(pki.server, pki.ca, { verify_hook = hook }))
		assert.equal("ok", p.sstate)
		assert.is_true(seen[1][1])
	end)

	it("the error's certificate, by one rule", function()
		local p = H.run(H.config(pki.client, pki.ca), "orders.internal",
			H.config(pki.server, pki.ca, { peers = { "cn:billing" } }))
		assert.equal(pki.client.certificate.subject, p.serr.peer_certificate.subject)
		p = H.connected()
		assert.is_true(p.c:close())
		local n, err = p.c:send("x")
		assert.is_nil(n)
		assert.equal("usage", err.code)
		assert.is_nil(err.peer_certificate)
	end)

	it("the GnuTLS version through mutls", function()
		assert.is_truthy(mutls.gnutls_version:match("^%d+%.%d+"))
	end)
end)

describe("core rules: pinning a certificate in peers (scenario rows certificate-pin-*)", function()
	it("peers take a certificate in verify", function()
		local pki = H.pki()
		local cert = pki.client.certificate
		assert.is_true(cert:verify { trust = pki.ca, peers = { cert } })
		assert.is_true(cert:verify { trust = pki.ca, peers = cert })
		local ok, err = cert:verify { trust = pki.ca, peers = { pki.server.certificate } }
		assert.is_nil(ok)
		assert.same({ "policy" }, err.reasons)
	end)
end)

describe("core rules: the error that goes with a return code", function()
	it("a failed session reports its own error after another failure", function()
		local pki = H.pki()
		local p = H.run(H.config(pki.client, pki.ca), "orders.internal",
			H.config(pki.server, pki.ca, { peers = { "cn:billing" } }))
		local first = p.serr
		assert.equal("verify-failed", first.code)
		local none = mutls.config { peer_certificate = "bogus" } -- the thread's last error is now another one
		assert.is_nil(none)
		local n, err = p.s:send("x")
		assert.is_nil(n)
		assert.same({ first.code, first.reasons, first.step, first.message },
			{ err.code, err.reasons, err.step, err.message })
		assert.is_not_nil(err.peer_certificate)
	end)
end)

describe("core rules: the re-entry guard is the core session's", function()
	for _, call in ipairs { "handshake", "feed", "close" } do
		it("a hook calling s:" .. call .. " on its own session", function()
			local pki = H.pki()
			local function hook(_, s)
				-- a refusal raises (handshake, close: from inside a call) or is
				-- nil, err (feed: no call of the binding's own); both fail the hook
				local ok, err
				if call == "feed" then ok, err = s:feed("x") else ok, err = s[call](s) end
				if not ok then error(err.message, 0) end
				return true
			end
			local p = H.run(H.config(pki.client, pki.ca), "orders.internal",
				H.config(pki.server, pki.ca, { verify_hook = hook }))
			local e = p.serr
			assert.equal("hook", e.code)
			assert.is_truthy(e.hook_message and
				e.hook_message:find("the session is already in a call: one of its own hooks used it", 1, true),
				tostring(e.hook_message))
		end)
	end
end)
