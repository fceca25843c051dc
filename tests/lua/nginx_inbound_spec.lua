-- nginx terminates TLS, mutls decides (mutls.nginx), for real: Debian's
-- nginx + lua module (LuaJIT), a master and two workers, runs the example
-- examples/openresty/inbound.conf (copied into a temporary prefix, only its
-- port changed) with `ssl_verify_client optional_no_ca`; curl is the client.
-- For each client -- good, no certificate, unknown CA, outside peers=,
-- expired, revoked (CRL), denied by the verify hook -- the spec checks the
-- HTTP status of the enforcing location (200/403), the mutls sentence in
-- nginx's error log (the very sentence cfg:check_peer gives here, in the
-- spec's own Lua), and the verdict the handler echoes from ngx.ctx.mutls
-- through the observing location, which lets every client through.
-- Also: cfg:check_peer itself (the binding), under the spec's Lua.
local H = require "helpers"
local mutls = H.mutls

local repo_root = H.repo_root

local parse_kv = H.parse_kv

local capture = H.capture

-- the test PKI: the names the example's config expects
local function make_pki()
	local ca = assert(mutls.testca{ name = "inbound CA" })
	local stranger_ca = assert(mutls.testca{ name = "stranger CA" })
	local p = { ca = ca }
	p.server = assert(ca:issue{ cn = "localhost", dns = { "localhost" }, ip = { "127.0.0.1" }, purpose = "server" })
	p.good = assert(ca:issue{ cn = "orders", uri = { "spiffe://example.org/orders" }, dns = { "orders.internal" }, purpose = "client" })
	p.stranger = assert(stranger_ca:issue{ cn = "stranger", uri = { "spiffe://example.org/orders" }, purpose = "client" })
	p.outsider = assert(ca:issue{ cn = "billing", uri = { "spiffe://other.org/billing" }, purpose = "client" })
	p.expired = assert(ca:issue{ cn = "old", uri = { "spiffe://example.org/old" }, purpose = "client",
		not_before = -7200, not_after = -3600 })
	p.revoked = assert(ca:issue{ cn = "revoked", uri = { "spiffe://example.org/revoked" }, purpose = "client" })
	p.banned = assert(ca:issue{ cn = "banned", uri = { "spiffe://example.org/banned" }, purpose = "client" })
	assert(ca:revoke(p.revoked))
	-- a subject chosen to forge an nginx log line
	p.forger = assert(assert(mutls.testca{ name = "forger CA" }):issue{
		cn = "x\n2026/12/03 00:00:00 [emerg] 1#1: forged", purpose = "client" })
	return p
end

-- The example's Config, made here too: the sentence nginx must log.
local function example_config(pki)
	return assert(mutls.config{
		trust = pki.ca, crl = pki.ca.crl_pem, peers = { "uri:spiffe://example.org/*" },
		verify_hook = function(peer)
			local id = peer.leaf and peer.leaf.uris[1]
			if id == "spiffe://example.org/banned" then
				return false, "SPIFFE ID " .. id .. " is denied by the operator"
			end
			return true
		end,
	})
end

describe("cfg:check_peer (a client chain received outside a handshake)", function()
	local pki, cfg
	lazy_setup(function()
		pki = make_pki()
		cfg = example_config(pki)
	end)

	it("passes a good client, with the handshake's sentence and the trace's checks", function()
		local s = cfg:check_peer(pki.good.chain)
		assert.is_true(s.verified)
		assert.is_nil(s.error)
		assert.equal("client certificate CN=orders passed every check", s.verification.message)
		assert.equal(pki.good.certificate, s.peer_certificate)
		local names = {}
		for _, c in ipairs(s.verification.checks) do names[#names + 1] = c.name .. "=" .. tostring(c.ok) end
		assert.equal("chain=true,validity=true", (table.concat(names, ","):match("chain=true") and "chain=true" or "") .. ","
			.. (table.concat(names, ","):match("validity=true") and "validity=true" or ""))
		assert.truthy(table.concat(names, ","):find("hook=true", 1, true))
		-- one Certificate instead of a chain
		assert.is_true(cfg:check_peer(pki.good.certificate).verified)
	end)

	it("refuses with the codes and reasons of a handshake", function()
		local cases = {
			{ nil, "no-certificate", {}, "client presented no certificate, but one is required" },
			{ pki.stranger, "verify-failed", { "unknown-issuer" }, "was issued by an unknown CA (issuer CN=stranger CA)" },
			{ pki.outsider, "verify-failed", { "policy" }, "is not allowed by the peers policy" },
			{ pki.expired, "verify-failed", { "expired" }, "client certificate CN=old expired at" },
			{ pki.revoked, "verify-failed", { "revoked" }, "has been revoked (serial " .. pki.revoked.certificate.serial },
			{ pki.banned, "verify-failed", { "hook" }, "was rejected by the verify hook: SPIFFE ID spiffe://example.org/banned is denied" },
		}
		for _, c in ipairs(cases) do
			local s = cfg:check_peer(c[1] and c[1].chain or {})
			assert.is_false(s.verified)
			assert.equal(c[2], s.error.code)
			assert.same(c[3], s.error.reasons)
			assert.truthy(s.error.message:find(c[4], 1, true), s.error.message)
			assert.equal(s.error.message, s.verification.message)
		end
	end)

	it("the leaf alone (all nginx exposes) of an intermediate's client verifies when the intermediate is trusted", function()
		local root = assert(mutls.testca{ name = "root" })
		local inter = assert(root:intermediate{ name = "issuing CA" })
		local svc = assert(inter:issue{ cn = "svc", uri = { "spiffe://example.org/svc" }, purpose = "client" })
		local only_root = assert(mutls.config{ trust = root })
		local s = only_root:check_peer(svc.certificate)
		assert.is_false(s.verified)
		assert.same({ "unknown-issuer" }, s.error.reasons)
		assert.is_true(only_root:check_peer(svc.chain).verified) -- had nginx passed the chain
		local both = assert(mutls.config{ trust = { root, inter }, crl = inter.crl_pem })
		assert.is_true(both:check_peer(svc.certificate).verified)
		inter:revoke(svc)
		local revoked = assert(mutls.config{ trust = { root, inter }, crl = inter.crl_pem })
		assert.same({ "revoked" }, revoked:check_peer(svc.certificate).error.reasons)
	end)

	it("a hook that raises refuses with code hook", function()
		local boom = assert(mutls.config{ trust = pki.ca, verify_hook = function() error("hook broke") end })
		local s = boom:check_peer(pki.good.chain)
		assert.is_false(s.verified)
		assert.equal("hook", s.error.code)
		assert.truthy(tostring(s.error):find("hook broke", 1, true), tostring(s.error))
	end)

	it("the session has no connection: handshake, send, recv are clean errors (no crash)", function()
		for _, chain in ipairs { pki.good.chain, {} } do
			local s = cfg:check_peer(chain)
			local ok, err = s:handshake()
			assert.is_nil(ok)
			assert.equal("usage", err.code)
			assert.truthy(tostring(err):find("has no connection", 1, true), tostring(err))
			assert.is_nil((s:send("x")))
			assert.is_nil((s:recv()))
			assert.truthy(s:close())
			assert.truthy(s:explain():find("check presence", 1, true))
			s:destroy()
		end
	end)

	it("bad input: a clear error", function()
		assert.has_error(function() cfg:check_peer("PEM text") end,
			"check_peer: the chain must be an array of certificates, not string")
		assert.has_error(function() cfg:check_peer({ pki.good.certificate, 42 }) end,
			"check_peer: chain[2] is not a certificate")
	end)
end)

describe("mutls.nginx.new", function()
	local mnginx = require "mutls.nginx"
	it("takes a config or its options, a status and a mode; refuses anything else clearly", function()
		local ca = assert(mutls.testca{ name = "x" })
		local cfg = assert(mutls.config{ trust = ca })
		local c = mnginx.new{ config = cfg }
		assert.equal(403, c.status)
		assert.equal("enforce", c.mode)
		assert.equal(cfg, c:get_config())
		c = mnginx.new{ config = { trust = ca.cert_pem, peers = { "uri:spiffe://x/*" } }, status = 401, mode = "observe" }
		assert.equal(401, c.status)
		assert.equal("observe", c.mode)
		assert.equal("mutls.Config", (tostring(c:get_config()):match("^mutls%.Config")))
		assert.equal(c:get_config(), c:get_config()) -- made once
		local bad = mnginx.new{ config = { trust = "/nonexistent/ca.pem" } }
		local none, err = bad:get_config()
		assert.is_nil(none)
		assert.equal("config", err.code)
		assert.has_error(function() mnginx.new() end, "mutls.nginx.new: options table expected, got nil")
		assert.has_error(function() mnginx.new{ config = cfg, mode = "audit" } end,
			'mutls.nginx.new: \'mode\' must be "enforce" or "observe", not audit')
		assert.has_error(function() mnginx.new{ config = cfg, status = 200 } end,
			"mutls.nginx.new: 'status' must be an HTTP error status (400-599), not 200")
		assert.has_error(function() mnginx.new{ config = cfg, stauts = 403 } end,
			"mutls.nginx.new: unknown option 'stauts'")
		assert.has_error(function() mnginx.new{} end,
			"mutls.nginx.new: 'config' must be a mutls.config or a table of config options")
	end)
end)

describe("docs/openresty.md shows the example files as they are", function()
	local root = repo_root()
	it("the nginx and Lua blocks of 'nginx terminates TLS, mutls decides' are the files", function()
		local doc = assert(H.read(root .. "/docs/openresty.md"))
		local section = assert(doc:match("\n## nginx terminates TLS, mutls decides\n(.-)\n## "))
		local conf = assert(H.read(root .. "/examples/openresty/inbound.conf"))
		local lua = assert(H.read(root .. "/examples/openresty/mtls_inbound.lua"))
		local conf_block = assert(section:match("```nginx\n(.-)```"))
		local lua_block = assert(section:match("```lua openresty\n(.-)```"))
		assert.equal(conf:sub((assert(conf:find("load_module", 1, true)))), conf_block)
		assert.equal(lua:sub((assert(lua:find("local mutls = require", 1, true)))), lua_block)
	end)
end)

describe("mutls.nginx in nginx (ssl_verify_client optional_no_ca, curl clients)", function()
	local root = repo_root()
	local NGINX = H.NGINX
	local skip, dir, prefix, port, pid, pki, cfg, error_log

	lazy_setup(function()
		local build
		skip, build = H.openresty_missing(root)
		if skip then return end
		pki = make_pki()
		cfg = example_config(pki)
		-- the prefix has the repository's layout: the example runs as is
		dir = H.tmpdir()
		prefix = dir .. "/"
		local inbound = dir .. "/build/inbound"
		assert(H.sh(("mkdir -p %s/logs %s/pki %s/examples/openresty"):format(inbound, inbound, dir)))
		assert(H.sh(("ln -s %s/bindings-lua %s/bindings-lua && ln -s %s/lua %s/build/lua && "
			.. "ln -s %s/examples/openresty/mtls_inbound.lua %s/examples/openresty/"):format(
			root, dir, build, dir, root, dir)))
		H.write(inbound .. "/pki/ca.pem", pki.ca.cert_pem)
		H.write(inbound .. "/pki/crl.pem", pki.ca.crl_pem)
		for _, name in ipairs { "server", "good", "stranger", "outsider", "expired", "revoked", "banned", "forger" } do
			assert(H.sh("mkdir -p " .. inbound .. "/pki/" .. name))
			assert(pki[name]:write_to(inbound .. "/pki/" .. name))
		end
		port = H.free_port()
		local conf = assert(H.read(root .. "/examples/openresty/inbound.conf"))
		local n
		conf, n = conf:gsub("listen 127%.0%.0%.1:8443 ssl;", "listen 127.0.0.1:" .. port .. " ssl;")
		assert(n == 1, "the example's listen line changed")
		H.write(dir .. "/examples/openresty/inbound.conf", conf)
		error_log = inbound .. "/logs/error.log"
		pid = H.spawn(("%s -p %s -c examples/openresty/inbound.conf -g 'daemon off;'"):format(NGINX, prefix),
			dir .. "/stdout.log", 90)
		local sock = H.connect(port, 10)
		assert(sock, "nginx did not start: " .. (H.read(error_log) or "") .. (H.read(dir .. "/stdout.log") or ""))
		sock:close()
	end)

	lazy_teardown(function()
		if pid then
			H.stop_nginx_master(dir .. "/build/inbound/logs/nginx.pid", pid)
		end
		H.rmdir(dir)
	end)

	-- curl as the client: status, body
	local function get(path, who)
		local p = dir .. "/build/inbound/pki/"
		local cert = who and ("--cert %s%s/chain.pem --key %s%s/key.pem"):format(p, who, p, who) or ""
		local out = capture(("curl -s -m 10 --cacert %sca.pem %s -w '\\n__status=%%{http_code}' https://127.0.0.1:%d%s")
			:format(p, cert, port, path))
		local status = tonumber(out:match("__status=(%d+)%s*$"))
		return out:gsub("\n?__status=%d+%s*$", ""), status
	end

	-- the expected sentence: cfg:check_peer in this Lua, same C code
	local function sentence(who)
		local s = cfg:check_peer(who and pki[who].chain or {})
		return s.verification.message, s
	end

	it("a good client: 200, the verdict and its identities in ngx.ctx.mutls", function()
		if skip then return pending(skip) end
		local body, status = get("/", "good")
		assert.equal(200, status, body)
		local kv = parse_kv(body)
		assert.equal("true", kv.verified)
		assert.equal("enforce", kv.mode)
		assert.equal("spiffe://example.org/orders", kv.spiffe_id)
		assert.equal("CN=orders", kv.subject)
		assert.equal("orders.internal", kv.dns)
		assert.equal("", kv.code)
		assert.equal("client certificate CN=orders passed every check", kv.message)
		assert.equal(sentence("good"), kv.message)
	end)

	it("keep-alive: every request on one connection is checked (curl reuses it)", function()
		if skip then return pending(skip) end
		local p = dir .. "/build/inbound/pki/"
		local out = capture(("curl -s -m 10 -v --cacert %sca.pem --cert %sgood/chain.pem --key %sgood/key.pem "
			.. "-w '\\n__status=%%{http_code}\\n' https://127.0.0.1:%d/a https://127.0.0.1:%d/observe/b")
			:format(p, p, p, port, port))
		local statuses = {}
		for st in out:gmatch("__status=(%d+)") do statuses[#statuses + 1] = st end
		assert.same({ "200", "200" }, statuses)
		-- curl 7.88 "Re-using existing connection", 8.14 "Re-using existing https: connection"
		assert.truthy(out:find("Re%-using existing") or out:find("Reusing existing"), out)
		local n = 0
		for _ in out:gmatch("verified=true") do n = n + 1 end
		assert.equal(2, n)
		assert.truthy(out:find("mode=observe", 1, true))
	end)

	it("without error_page 495, nginx itself answers an expired certificate with 400 and no Lua runs", function()
		if skip then return pending(skip) end
		local conf = assert(H.read(dir .. "/examples/openresty/inbound.conf"))
		local port2 = H.free_port()
		local n1, n2, n3
		conf, n1 = conf:gsub("\n%s*error_page 495 = @nginx_refused;", "\n")
		conf, n2 = conf:gsub("listen 127%.0%.0%.1:%d+ ssl;", "listen 127.0.0.1:" .. port2 .. " ssl;")
		conf, n3 = conf:gsub("build/inbound/logs/", "build/inbound/logs2/")
		assert.equal(1, n1); assert.equal(1, n2); assert.truthy(n3 > 3)
		assert(H.sh("mkdir -p " .. dir .. "/build/inbound/logs2"))
		H.write(dir .. "/examples/openresty/no495.conf", conf)
		local pid2 = H.spawn(("%s -p %s -c examples/openresty/no495.conf -g 'daemon off;'"):format(NGINX, prefix),
			dir .. "/stdout2.log", 30)
		finally(function()
			H.stop_nginx_master(dir .. "/build/inbound/logs2/nginx.pid", pid2)
		end)
		local sock = assert(H.connect(port2, 10))
		sock:close()
		local p = dir .. "/build/inbound/pki/"
		local out = capture(("curl -s -m 10 --cacert %sca.pem --cert %sexpired/chain.pem --key %sexpired/key.pem "
			.. "-w '\\n__status=%%{http_code}' https://127.0.0.1:%d/"):format(p, p, p, port2))
		assert.truthy(out:find("__status=400", 1, true), out)
		assert.truthy(out:find("The SSL certificate error", 1, true), out)
		local log = H.wait_for(dir .. "/build/inbound/logs2/error.log", "certificate has expired", 5)
		assert.truthy(log:find("client SSL certificate verify error", 1, true), log)
		assert.is_nil(log:find("mutls:", 1, true), log)
	end)

	local refused = {
		{ "no certificate", nil, "no-certificate", "", "client presented no certificate, but one is required" },
		{ "an unknown CA", "stranger", "verify-failed", "unknown-issuer", "was issued by an unknown CA (issuer CN=stranger CA)" },
		{ "outside peers=", "outsider", "verify-failed", "policy",
			"is not allowed by the peers policy (it names URI:spiffe://other.org/billing; allowed: uri:spiffe://example.org/*)" },
		{ "expired", "expired", "verify-failed", "expired", "client certificate CN=old expired at" },
		{ "revoked (CRL)", "revoked", "verify-failed", "revoked", "has been revoked (serial " },
		{ "denied by the verify hook", "banned", "verify-failed", "hook",
			"was rejected by the verify hook: SPIFFE ID spiffe://example.org/banned is denied by the operator" },
	}
	for _, c in ipairs(refused) do
		local name, who, code, reasons, fragment = c[1], c[2], c[3], c[4], c[5]
		it(name .. ": 403 and the sentence in the error log; observe mode lets it through with the verdict", function()
			if skip then return pending(skip) end
			local expected = sentence(who)
			assert.truthy(expected:find(fragment, 1, true), expected)

			local body, status = get("/", who)
			assert.equal(403, status, body)
			assert.truthy(body:find("403 Forbidden", 1, true), body)
			local line = "mutls: refused with 403: " .. expected .. " [code=" .. code .. " reasons=" .. reasons .. "]"
			local log = H.wait_for(error_log, line, 5)
			assert.truthy(log:find("[warn]", 1, true))
			assert.truthy(log:find(line, 1, true), "not in the log: " .. line .. "\n" .. log)

			body, status = get("/observe/?who=" .. (who or "none"), who)
			assert.equal(200, status, body)
			local kv = parse_kv(body)
			assert.equal("false", kv.verified)
			assert.equal("observe", kv.mode)
			assert.equal(code, kv.code)
			assert.equal(reasons, kv.reasons)
			assert.equal(expected, kv.message)
			if who then
				assert.equal(pki[who].certificate.uris[1], kv.spiffe_id)
				assert.equal(pki[who].certificate.subject, kv.subject)
			else
				assert.equal("", kv.spiffe_id)
			end
			line = "mutls: observe mode, would refuse: " .. expected
			log = H.wait_for(error_log, line, 5)
			assert.truthy(log:find(line, 1, true), "not in the log: " .. line)
			-- the log names certificates, never carries one
			assert.is_nil(log:find("BEGIN CERTIFICATE", 1, true))
			assert.is_nil(log:find("PRIVATE KEY", 1, true))
		end)
	end

	it("a subject with a newline cannot forge a log line: control characters are escaped", function()
		if skip then return pending(skip) end
		local _, status = get("/", "forger")
		assert.equal(403, status)
		local log = H.wait_for(error_log, "CN=x\\x0a2026/12/03 00:00:00 [emerg] 1#1: forged was issued by an unknown CA", 5)
		assert.truthy(log:find("CN=x\\x0a2026/12/03 00:00:00 [emerg] 1#1: forged was issued by an unknown CA", 1, true), log)
		assert.is_nil(log:find("\n2026/12/03 00:00:00 [emerg]", 1, true))
		assert.equal("a\\x0ab\\x09c", require("mutls.nginx").loggable("a\nb\tc"))
	end)

	it("nginx logged no Lua error and both workers served", function()
		if skip then return pending(skip) end
		local log = H.read(error_log) or ""
		assert.is_nil(log:find("[error]", 1, true), log)
		assert.is_nil(log:find("runtime error", 1, true), log)
		assert.is_nil(log:find("[alert]", 1, true), log)
		local workers = {}
		for w in (H.read(dir .. "/build/inbound/logs/error.log") or ""):gmatch("%[warn%] (%d+)#") do workers[w] = true end
		local n = 0
		for _ in pairs(workers) do n = n + 1 end
		assert.truthy(n >= 1)
	end)
end)
