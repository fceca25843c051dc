-- mutls.resty as a complete cosocket, for real: Debian's nginx + lua module
-- (LuaJIT), one worker, runs tests/nginx/cosocket_app.lua; its upstream is
-- the same nginx's own TLS server (ssl_verify_client on, TestCA, tickets and
-- a session cache), which reports what it saw per request: its connection
-- number, the requests on that connection, whether it resumed the session.
-- lua-resty-redis (Debian lua-nginx-redis, not patched) talks to a real
-- redis-server with TLS and tls-auth-clients yes, started here.
-- Every process is bounded by `timeout` and killed in teardown.
local H = require "helpers"
local mutls = H.mutls

local repo_root = H.repo_root

local capture = H.capture

local parse_kv = H.parse_kv

local function b64(s)
	local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	if s == "nil" then return nil end
	local bits = s:gsub("[^%w%+/]", ""):gsub(".", function(c)
		local v, b = alphabet:find(c, 1, true) - 1, ""
		for i = 5, 0, -1 do b = b .. (math.floor(v / 2 ^ i) % 2 == 1 and "1" or "0") end
		return b
	end)
	bits = bits:sub(1, #bits - #bits % 8)
	return (bits:gsub("%d%d%d%d%d%d%d%d", function(x) return string.char(tonumber(x, 2)) end))
end

local NGINX = H.NGINX

describe("mutls.resty cosockets in nginx (keepalive pool, resumption, patterns, lua-resty-redis)", function()
	local root = repo_root()
	local skip, dir, port, up_port, pid, ids

	lazy_setup(function()
		local build
		skip, build = H.openresty_missing(root)
		if skip then return end
		dir = H.tmpdir()
		assert(H.sh(("mkdir -p %s/tmp %s/pki"):format(dir, dir)))
		local ca = assert(mutls.testca{ name = "cosocket test CA" })
		local rogue_ca = assert(mutls.testca{ name = "rogue CA" })
		ids = {
			ca = ca,
			upstream = assert(ca:issue{ cn = "upstream.test", dns = { "upstream.test" }, purpose = "server" }),
			redis = assert(ca:issue{ cn = "redis.test", dns = { "redis.test" }, purpose = "server" }),
			client = assert(ca:issue{ cn = "nginx-client", purpose = "client" }),
			rogue = assert(rogue_ca:issue{ cn = "rogue-client", purpose = "client" }),
		}
		for _, name in ipairs { "upstream", "redis", "client", "rogue" } do
			assert(H.sh(("mkdir -p %s/pki/%s"):format(dir, name)))
			assert(ids[name]:write_to(dir .. "/pki/" .. name))
		end
		H.write(dir .. "/pki/ca.pem", ca.cert_pem)
		port, up_port = H.free_port(), H.free_port()
		local conf = assert(H.read(root .. "/tests/nginx/cosocket.conf.in"))
		conf = conf:gsub("@(%u[%u_]*)@", { PREFIX = dir, ROOT = root, PORT = tostring(port),
			UP_PORT = tostring(up_port), JIT_CPATH = build .. "/lua/jit/?.so" })
		H.write(dir .. "/nginx.conf", conf)
		pid = H.spawn(("%s -p %s -c %s/nginx.conf -e %s/error.log"):format(NGINX, dir, dir, dir),
			dir .. "/stdout.log", 120)
		local ok = pcall(H.connect, port, 10)
		assert(ok, "nginx did not start: " .. (H.read(dir .. "/error.log") or "") .. (H.read(dir .. "/stdout.log") or ""))
	end)

	lazy_teardown(function()
		H.kill(pid)
		if os.getenv("MUTLS_KEEP_TMP") then print("kept " .. tostring(dir)) else H.rmdir(dir) end
	end)

	local function get(path)
		local out = capture(("curl -s -m 60 -w '\\n__status=%%{http_code}' 'http://127.0.0.1:%d%s'"):format(port, path))
		local status = tonumber(out:match("__status=(%d+)%s*$"))
		return out:gsub("\n?__status=%d+%s*$", ""), status
	end

	it("nginx's LuaJIT loads mutls.resty and the client Configs", function()
		if skip then return pending(skip) end
		local body, status = get("/health")
		assert.equal(200, status, body)
		assert.equal("true", parse_kv(body).ok, body)
	end)

	for _, v in ipairs { "1.2", "1.3" } do
		it("TLS " .. v .. ": setkeepalive then connect reuses the connection and its session: no handshake", function()
			if skip then return pending(skip) end
			local body = get("/seq?n=4&keepalive=1&pool=keep" .. v .. "&v=" .. v)
			local kv = parse_kv(body)
			assert.equal("true", kv.done, body)
			-- the first: a full handshake, checked by the hook, a new
			-- upstream connection
			assert.equal("0", kv["1.reusedtimes"], body)
			assert.equal("1", kv["1.hook_calls"], body)
			assert.equal("true", kv["1.verified"], body)
			assert.equal("TLSv" .. v, kv["1.version"], body)
			assert.equal("TLSv" .. v, kv["1.up_proto"], body)
			assert.equal("1", kv["1.up_reqs"], body)
			assert.equal("CN=nginx-client", kv["1.up_client"], body)
			for i = 2, 4 do
				local p = i .. "."
				-- the same TCP connection from the pool, the same TLS session
				assert.equal(tostring(i - 1), kv[p .. "reusedtimes"], body)
				assert.equal("0", kv[p .. "hook_calls"], body) -- no handshake, no check
				assert.equal(kv["1.up_conn"], kv[p .. "up_conn"], body)
				assert.equal(tostring(i), kv[p .. "up_reqs"], body)
				assert.equal("1 nil", kv[p .. "keepalive"], body)
			end
		end)

		it("TLS " .. v .. ": a new connection to the same upstream resumes the session, and the peer is checked again", function()
			if skip then return pending(skip) end
			local body = get("/seq?n=3&keepalive=0&pool=resume" .. v .. "&v=" .. v)
			local kv = parse_kv(body)
			assert.equal("true", kv.done, body)
			assert.equal("false", kv["1.resumed"], body)
			assert.equal(".", kv["1.up_session_reused"], body)
			for i = 2, 3 do
				local p = i .. "."
				assert.equal("0", kv[p .. "reusedtimes"], body) -- a new TCP connection
				assert.are_not.equal(kv["1.up_conn"], kv[p .. "up_conn"], body)
				assert.equal("true", kv[p .. "resumed"], body) -- we resumed ...
				assert.equal("r", kv[p .. "up_session_reused"], body) -- ... and nginx says so
				assert.equal("true", kv[p .. "verified"], body)
				assert.equal("1", kv[p .. "hook_calls"], body) -- the policy ran again
				assert.equal("CN=nginx-client", kv[p .. "up_client"], body)
			end
			-- the hook now refuses: a resumed handshake is refused too
			assert.equal(200, select(2, get("/deny?on=1")))
			body = get("/seq?n=1&keepalive=0&pool=resume" .. v .. "&v=" .. v)
			get("/deny?on=0")
			kv = parse_kv(body)
			assert.equal("verify-failed", kv["1.connect_code"], body)
			assert.equal("hook", kv["1.connect_reasons"], body)
			assert.truthy(kv["1.connect_err"]:find("the test denies this upstream now", 1, true), body)
		end)
	end

	it("receive patterns, receiveuntil (sized and inclusive), receiveany, send with nested tables", function()
		if skip then return pending(skip) end
		local body, status = get("/patterns")
		assert.equal(200, status, body)
		local kv = parse_kv(body)
		assert.truthy(tonumber(kv.sent) > 0, body)
		assert.equal("true", kv.head_inclusive_end, body)
		assert.equal("line1", b64(kv.l), body)
		assert.equal("line2", b64(kv.star_l), body)
		assert.equal("ABCDE", b64(kv.five), body)
		assert.equal("chun|ked-|data|<nil>", kv.chunks, body)
		assert.equal("xyz", b64(kv.any), body)
		assert.equal("pre<<END>>", b64(kv.until_incl), body)
		assert.equal("REST", b64(kv.a), body)
		assert.equal("nil closed", kv.again, body)
		assert.equal("false bad data type function found", kv.bad_send, body)
		assert.equal("nil unread data in buffer", kv.unread_keepalive, body)
		assert.equal("0 0", kv.unread_pool, body) -- closed, not pooled
	end)

	it("lua-resty-http's httpc.sock recipe: its calls, in its order, on a mutls.resty.tcp object", function()
		if skip then return pending(skip) end
		local body, status = get("/httpc?rounds=3")
		assert.equal(200, status, body)
		local kv = parse_kv(body)
		assert.equal("0", kv["1.reused"], body)
		assert.equal("true", kv["1.handshake"], body)
		for i = 1, 3 do
			local p = i .. "."
			assert.equal("200", kv[p .. "status"], body)
			assert.equal("CN=nginx-client", kv[p .. "up_client"], body)
			assert.equal(tostring(i), kv[p .. "up_reqs"], body) -- one upstream connection
			assert.equal("1 nil", kv[p .. "keepalive"], body)
		end
		assert.equal("1", kv["2.reused"], body)
		assert.equal("2", kv["3.reused"], body)
		assert.is_nil(kv["2.handshake"], body)
	end)

	it("the keepalive pool under concurrency: 20 light threads x 10 requests share it without blocking", function()
		if skip then return pending(skip) end
		local body, status = get("/pool_load?threads=20&m=10&pool=load")
		assert.equal(200, status, body)
		local kv = parse_kv(body)
		print("\n[cosocket_spec] pool under load: " .. body:gsub("\n", " "))
		assert.equal("200", kv.ok, body)
		assert.equal("0", kv.fail, body)
		-- counts, not timings: a connect/request that never yields would
		-- leave at most one request in flight, and no other thread could
		-- run during any request
		assert.truthy(tonumber(kv.max_inflight) >= 2, body)
		assert.truthy(tonumber(kv.interleaved) >= 1, body)
		-- no more connections than threads; the rest reused from the pool
		local conns = tonumber(kv.upstream_connections)
		assert.truthy(conns >= 1 and conns <= 20, body)
		assert.equal(tonumber(kv.handshakes), conns, body)
		assert.equal(200 - conns, tonumber(kv.reused), body)
		assert.truthy(tonumber(kv.reused) >= 180, body)
		assert.equal(conns, tonumber(kv.pool_idle), body)
		assert.equal(conns, tonumber(kv.pool_connections), body)
		local problems = {}
		for line in (H.read(dir .. "/error.log") or ""):gmatch("[^\n]+") do
			if line:find("%[alert%]") or line:find("%[crit%]") or line:find("%[error%]")
				or line:find("runtime error") then
				problems[#problems + 1] = line
			end
		end
		assert.same({}, problems)
	end)

	describe("lua-resty-redis (Debian lua-nginx-redis) to redis-server with TLS and tls-auth-clients yes", function()
		local rpid, rport, rskip
		lazy_setup(function()
			if skip then return end
			if not H.have("redis-server") then rskip = "redis-server is not installed" return end
			if not (H.read("/usr/share/lua/5.1/nginx/redis.lua") or H.read("/usr/share/lua/5.1/resty/redis.lua")) then
				rskip = "lua-resty-redis is not installed (Debian lua-nginx-redis)"
				return
			end
			rport = H.free_port()
			local p = dir .. "/pki/"
			rpid = H.spawn(("redis-server --port 0 --bind 127.0.0.1 --tls-port %d --tls-cert-file %sredis/chain.pem "
				.. "--tls-key-file %sredis/key.pem --tls-ca-cert-file %sca.pem --tls-auth-clients yes "
				.. "--save '' --appendonly no --dir %s"):format(rport, p, p, p, dir), dir .. "/redis.log", 90)
			local ok = pcall(H.connect, rport, 10)
			if not ok then rskip = "redis-server did not start: " .. (H.read(dir .. "/redis.log") or "") end
		end)
		lazy_teardown(function() H.kill(rpid) end)

		it("set/get through mutls, and the second round takes the connection from the pool", function()
			if skip or rskip then return pending(skip or rskip) end
			local body, status = get("/redis?port=" .. rport .. "&rounds=2")
			assert.equal(200, status, body)
			local kv = parse_kv(body)
			assert.equal("0", kv["1.reused"], body)
			assert.equal("OK", kv["1.set"], body)
			assert.equal("value 1", kv["1.get"], body)
			assert.equal("1 nil", kv["1.keepalive"], body)
			assert.equal("1", kv["2.reused"], body)
			assert.equal("value 2", kv["2.get"], body)
		end)

		it("refused: the redis server's identity is outside the client's peers=", function()
			if skip or rskip then return pending(skip or rskip) end
			local body = get("/redis?port=" .. rport .. "&cfg=redis_strict&rounds=1")
			local kv = parse_kv(body)
			assert.equal("verify-failed", kv["1.connect_code"], body)
			assert.equal("policy", kv["1.connect_reasons"], body)
			assert.truthy(kv["1.connect_err"]:find("server certificate CN=redis.test", 1, true), body)
			assert.truthy(kv["1.connect_err"]:find("is not allowed by the peers policy", 1, true), body)
		end)

		it("refused: a client identity redis does not trust (its CA unknown; TLS 1.2, refused in the handshake)", function()
			if skip or rskip then return pending(skip or rskip) end
			local body = get("/redis?port=" .. rport .. "&cfg=redis_rogue&rounds=1")
			local kv = parse_kv(body)
			assert.equal("peer-rejected", kv["1.connect_code"], body)
			assert.truthy(kv["1.connect_err"]:find("the server refused", 1, true)
				or kv["1.connect_err"]:find("peer", 1, true), body)
			assert.is_nil(kv["1.set"], body)
		end)
	end)
end)

describe("examples/openresty/outbound.conf (the keepalive route of docs/openresty.md) runs", function()
	local root = repo_root()
	local skip, dir, port, pid

	lazy_setup(function()
		local build
		skip, build = H.openresty_missing(root)
		if skip then return end
		-- a prefix with the repository's layout and `mutls ca`'s PKI layout
		dir = H.tmpdir()
		local out = dir .. "/build/outbound"
		assert(H.sh(("mkdir -p %s/logs %s/pki/server %s/pki/client %s/examples/openresty"):format(out, out, out, dir)))
		assert(H.sh(("ln -s %s/bindings-lua %s/bindings-lua && ln -s %s/lua %s/build/lua && "
			.. "ln -s %s/examples/openresty/mtls_outbound.lua %s/examples/openresty/"):format(
			root, dir, build, dir, root, dir)))
		local ca = assert(mutls.testca{ name = "outbound CA" })
		assert(assert(ca:issue{ cn = "localhost", dns = { "localhost" }, ip = { "127.0.0.1" }, purpose = "server" })
			:write_to(out .. "/pki/server"))
		assert(assert(ca:issue{ cn = "client", dns = { "client" }, purpose = "client" }):write_to(out .. "/pki/client"))
		H.write(out .. "/pki/ca.pem", ca.cert_pem)
		port = H.free_port()
		local up = H.free_port()
		local conf = assert(H.read(root .. "/examples/openresty/outbound.conf"))
		local lua = assert(H.read(root .. "/examples/openresty/mtls_outbound.lua"))
		local n1, n2, n3
		conf, n1 = conf:gsub("listen 127%.0%.0%.1:8080;", "listen 127.0.0.1:" .. port .. ";")
		conf, n2 = conf:gsub("listen 127%.0%.0%.1:8443 ssl;", "listen 127.0.0.1:" .. up .. " ssl;")
		lua, n3 = lua:gsub('connect%("127%.0%.0%.1", 8443%)', 'connect("127.0.0.1", ' .. up .. ')')
		assert(n1 == 1 and n2 == 1 and n3 == 1, "the example's ports changed")
		H.write(dir .. "/examples/openresty/outbound.conf", conf)
		os.remove(dir .. "/examples/openresty/mtls_outbound.lua")
		H.write(dir .. "/examples/openresty/mtls_outbound.lua", lua)
		pid = H.spawn(("%s -p %s/ -c examples/openresty/outbound.conf -g 'daemon off;'"):format(NGINX, dir),
			dir .. "/stdout.log", 90)
		local ok = pcall(H.connect, port, 10)
		assert(ok, "nginx did not start: " .. (H.read(out .. "/logs/error.log") or "") .. (H.read(dir .. "/stdout.log") or ""))
	end)

	lazy_teardown(function()
		if pid then
			H.stop_nginx_master(dir .. "/build/outbound/logs/nginx.pid", pid)
		end
		H.rmdir(dir)
	end)

	local function orders(q)
		return capture(("curl -s -m 20 'http://127.0.0.1:%d/orders%s'"):format(port, q or ""))
	end

	it("a handshake, then the pooled connection without one, then a new connection that resumes", function()
		if skip then return pending(skip) end
		local first = orders()
		assert.truthy(first:find("upstream CN=localhost (verified, TLSv1.3), connection reused 0 times, "
			.. "session resumed: no", 1, true), first)
		assert.truthy(first:find("upstream says: orders for CN=client (TLS session reused: ., request 1 on", 1, true), first)
		local second = orders("?close=1")
		assert.truthy(second:find("connection reused 1 times, session resumed: no", 1, true), second)
		assert.truthy(second:find("request 2 on", 1, true), second)
		local third = orders()
		assert.truthy(third:find("connection reused 0 times, session resumed: yes", 1, true), third)
		assert.truthy(third:find("(TLS session reused: r, request 1 on", 1, true), third)
	end)
end)

describe("docs/openresty.md shows the outbound example files as they are", function()
	local root = repo_root()
	it("the nginx and Lua blocks of route 1 are the files", function()
		local doc = assert(H.read(root .. "/docs/openresty.md"))
		local section = assert(doc:match("\n## Route 1: outbound, cosockets with keepalive\n(.-)\n## "))
		local conf = assert(H.read(root .. "/examples/openresty/outbound.conf"))
		local lua = assert(H.read(root .. "/examples/openresty/mtls_outbound.lua"))
		assert.equal(conf:sub((assert(conf:find("load_module", 1, true)))), assert(section:match("```nginx\n(.-)```")))
		assert.equal(lua:sub((assert(lua:find("local mutls = require", 1, true)))),
			assert(section:match("```lua openresty\n(.-)```")))
	end)
end)
