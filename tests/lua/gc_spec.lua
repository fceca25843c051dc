-- Lifetimes: collectgarbage() in the middle of sessions and after dropping
-- configs, CAs and certificates; destroy is idempotent; a session keeps its
-- config and hooks alive; `local s <close>` on Lua 5.4.
local H = require "helpers"
local mutls = H.mutls

local function full_gc()
	collectgarbage()
	collectgarbage()
end

describe("garbage collection", function()
	it("in the middle of handshakes, with the configs dropped", function()
		local pki = H.pki()
		local calls = 0
		local pairs_ = {}
		do
			-- the configs and the hook function are referenced only by the sessions
			local ccfg = H.config(pki.client, pki.ca, { verify_hook = function(peer) calls = calls + 1; return peer.ok end,
				trace = function() end })
			local scfg = H.config(pki.server, pki.ca)
			for i = 1, 20 do
				pairs_[i] = H.pair(ccfg, "orders.internal", scfg)
			end
		end
		full_gc()
		-- one step each, collect, then finish
		for _, p in ipairs(pairs_) do
			p.cstate = select(2, p.c:handshake()) == "wantread" and "want" or "failed"
			H.move(p.c, p.s)
		end
		full_gc()
		for i, p in ipairs(pairs_) do
			H.handshake(p)
			assert.equal("ok", p.cstate, tostring(p.cerr))
			assert.equal("ok", p.sstate, tostring(p.serr))
			if i % 2 == 0 then full_gc() end
		end
		assert.equal(20, calls)
		-- records still flow after the collections
		for _, p in ipairs(pairs_) do
			assert.equal("after gc", H.transfer(p.c, p.s, "after gc"))
		end
		pairs_ = nil
		full_gc()
	end)

	it("a session keeps its config; the config its hooks", function()
		local pki = H.pki()
		local weak = setmetatable({}, { __mode = "v" })
		local p
		do
			local hook = function() return true end
			local ccfg = H.config(pki.client, pki.ca, { verify_hook = hook })
			weak.cfg, weak.hook = ccfg, hook
			p = H.pair(ccfg, "orders.internal", H.config(pki.server, pki.ca))
		end
		full_gc()
		assert.is_not_nil(weak.cfg)
		assert.is_not_nil(weak.hook)
		assert.equal(weak.cfg, p.c.config)
		H.handshake(p)
		assert.equal("ok", p.cstate)
		-- destroy drops the config (and its hooks)
		p.c:destroy()
		full_gc()
		assert.is_nil(weak.cfg)
		assert.is_nil(weak.hook)
		assert.is_nil(p.c.config)
		assert.is_true(p.c.destroyed)
	end)

	it("destroy is idempotent and later calls fail cleanly", function()
		local p = H.connected()
		p.c:destroy()
		p.c:destroy()
		assert.is_true(p.c.destroyed)
		assert.is_nil(p.c.version)
		assert.is_nil(p.c.peer_certificate)
		assert.is_true(p.c:close()) -- nothing to close
		for _, call in ipairs { function() return p.c:handshake() end, function() return p.c:send("x") end,
			function() return p.c:recv(1) end, function() return p.c:feed("x") end,
			function() return p.c:data_to_send() end, function() return p.c:explain() end } do
			local ok, err = call()
			assert.is_nil(ok)
			assert.equal("usage", err.code)
		end
		assert.equal("mutls.Session (destroyed)", tostring(p.c))
		-- the server goes on alone
		assert.equal("TLSv1.3", p.s.version)
		full_gc()
	end)

	it("certificates outlive the sessions, identities and CAs they came from", function()
		local pki = H.pki()
		local leaf, chain, err_cert, ca_cert
		do
			local p = H.run(H.config(pki.client, pki.ca), "billing.internal", H.config(pki.server, pki.ca))
			leaf, chain, err_cert = p.c.peer_certificate, p.c.peer_chain, p.cerr.peer_certificate
			p.c:destroy()
		end
		ca_cert = pki.ca.certificate
		local id_cert = pki.client.certificate
		pki = nil
		full_gc()
		assert.equal("CN=orders", leaf.label)
		assert.equal("CN=orders", chain[1].label)
		assert.equal(leaf, err_cert)
		assert.equal("CN=mutls test root,O=mutls test PKI", ca_cert.subject)
		assert.equal("payments", id_cert.common_name)
		assert.is_true(leaf:verify { trust = ca_cert, hostname = "orders.internal" })
	end)

	it("many short-lived objects", function()
		local pki = H.pki()
		local ccfg, scfg = H.config(pki.client, pki.ca), H.config(pki.server, pki.ca)
		for i = 1, 50 do
			local p = H.run(ccfg, "orders.internal", scfg)
			assert.equal("ok", p.cstate)
			local _ = p.c.trace, p.s.verification, p.c.peer_chain
			if i % 10 == 0 then full_gc() end
		end
		for _ = 1, 50 do
			local ca = mutls.testca {}
			local id = ca:issue { cn = "x" }
			local _ = id.chain, ca.crl_pem, mutls.config { identity = id, trust = ca }
		end
		full_gc()
	end)

	it("`local s <close>` destroys the session (Lua 5.4)", function()
		if not _VERSION:match("5%.4") then return pending("to-be-closed variables need Lua 5.4") end
		local pki = H.pki()
		local cfg = H.config(pki.client, pki.ca)
		-- compiled at run time: LuaJIT cannot parse the attribute
		local chunk = assert(load([[
			local cfg = ...
			local kept
			do
				local s <close> = assert(cfg:client { server_hostname = "orders.internal" })
				kept = s
				assert(not s.destroyed)
			end
			return kept
		]]))
		local s = chunk(cfg)
		assert.is_true(s.destroyed)
		full_gc()
	end)
end)
