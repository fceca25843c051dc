-- OpenResty for real: Debian's nginx + lua module (LuaJIT) runs mutls.resty.
--
-- The spec (under whichever Lua runs busted) makes the test PKI with
-- mutls.testca, writes nginx.conf from tests/nginx/nginx.conf.in into a
-- temporary prefix, starts nginx (one process, no master, 127.0.0.1 on a
-- free port) and an `openssl s_server -Verify 1 -verify_return_error -rev`
-- peer, then drives HTTP requests with curl:
--   /proxy  -> mutls.resty client --(mTLS over an HTTP/1.1 Upgrade)-->
--   /mtls-upstream -> mutls.resty.serve over ngx.req.socket(true)
-- Client and server side of every handshake run in the same single worker:
-- had either side blocked, the other could never answer.
-- The non-blocking proofs count events (event-loop turns during each
-- handshake, handshakes in flight at once, requests served during a
-- handshake, the worker's CPU time between ticks), never wall-clock rates:
-- a loaded or slow machine (ASan, a busy CI host) cannot fail them, and a
-- handshake that does not yield fails them under any load. Wall-clock
-- bounds left here are hang guards (seconds over what is expected).
-- nginx (and the openssl peer) are killed in teardown. Whole spec < 60 s.

local mutls = require "mutls"
local H = require "helpers"
local has_socket, socket = pcall(require, "socket")

local REQUESTS, CONCURRENCY = 200, 20

-- ---------------------------------------------------------------- helpers

local function sh(cmd)
	local p = io.popen(cmd .. " 2>&1")
	local out = p:read("*a")
	local ok, _, code = p:close()
	if type(ok) == "number" then -- Lua 5.1 / LuaJIT without 5.2 compat
		code, ok = ok, ok == 0
	end
	return out, ok, code
end

local function exists(path)
	local f = io.open(path, "rb")
	if f then
		f:close()
		return true
	end
	return false
end

local function readfile(path)
	local f = io.open(path, "rb")
	if not f then
		return nil
	end
	local s = f:read("*a")
	f:close()
	return s
end

local function writefile(path, data)
	local f = assert(io.open(path, "wb"))
	f:write(data)
	f:close()
end

local function have(cmd)
	local _, ok = sh("command -v " .. cmd .. " >/dev/null")
	return ok
end

local repo_root = H.repo_root

local function now()
	if has_socket then
		return socket.gettime()
	end
	return os.time()
end

local function sleep(s)
	if has_socket then
		socket.sleep(s)
	else
		sh("sleep " .. s)
	end
end

local function free_port()
	local srv = assert(socket.bind("127.0.0.1", 0))
	local _, port = srv:getsockname()
	srv:close()
	return tonumber(port)
end

-- Starts cmd in the background (stdout+stderr to log); returns its pid.
local function spawn(cmd, log)
	local out = sh(cmd .. " >" .. log .. " 2>&1 </dev/null & echo $!")
	return tonumber(out:match("(%d+)%s*$"))
end

-- Running (not exited, not a zombie: here an orphan's zombie may linger
-- until PID 1 reaps it).
local function alive(pid)
	local out = sh("ps -o stat= -p " .. pid)
	local stat = out:match("^%s*(%S+)")
	return stat ~= nil and stat:sub(1, 1) ~= "Z"
end

local function kill(pid)
	if not pid or not alive(pid) then
		return
	end
	sh("kill -TERM " .. pid)
	local deadline = now() + 3
	while alive(pid) and now() < deadline do
		sleep(0.05)
	end
	if alive(pid) then
		sh("kill -KILL " .. pid)
	end
end

local function wait_port(port, pid, seconds)
	local deadline = now() + seconds
	while now() < deadline do
		local c = socket.tcp()
		c:settimeout(0.2)
		local ok = c:connect("127.0.0.1", port)
		c:close()
		if ok then
			return true
		end
		if pid and not alive(pid) then
			return false, "process exited"
		end
		sleep(0.05)
	end
	return false, "not listening after " .. seconds .. " s"
end

local parse_kv = H.parse_kv

-- base64 as ngx.encode_base64 writes it
local function ngx_b64decode(text)
	local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	local bits = (text or ""):gsub("[^%w%+/]", ""):gsub(".", function(c)
		local v = alphabet:find(c, 1, true) - 1
		local b = ""
		for i = 5, 0, -1 do
			b = b .. (math.floor(v / 2 ^ i) % 2 == 1 and "1" or "0")
		end
		return b
	end)
	bits = bits:sub(1, #bits - #bits % 8) -- the padding's bits
	return (bits:gsub("%d%d%d%d%d%d%d%d", function(byte)
		return string.char(tonumber(byte, 2))
	end))
end

-- GET with curl: body, status
local function get(url)
	local out = sh("curl -s -m 15 -w '\\n__status=%{http_code}' '" .. url .. "'")
	local status = tonumber(out:match("__status=(%d+)%s*$"))
	return out:gsub("\n?__status=%d+%s*$", ""), status
end

local function errlog_problems(path)
	local problems = {}
	for line in (readfile(path) or ""):gmatch("[^\n]+") do
		if line:find("%[alert%]") or line:find("%[crit%]") or line:find("%[emerg%]")
			or line:find("lua entry thread aborted") or line:find("runtime error")
			or line:find("%[error%]") then
			problems[#problems + 1] = line
		end
	end
	return problems
end

-- ---------------------------------------------------------------- the spec

describe("mutls.resty in OpenResty (Debian nginx + lua module)", function()
	local root = repo_root()
	local skip
	local prefix, port, rev_port, jit_cpath, nginx
	local nginx_pid, rev_pid
	local ids = {}

	lazy_setup(function()
		-- nginx's Lua runs the LuaJIT build of the module
		local build
		skip, build = H.openresty_missing(root)
		if skip then return end
		nginx = H.NGINX
		jit_cpath = build .. "/lua/jit/?.so"

		prefix = (sh("mktemp -d /tmp/mutls-nginx.XXXXXX"):gsub("%s+$", ""))
		assert(prefix:match("^/tmp/mutls%-nginx"), prefix)
		assert(sh("mkdir -p " .. prefix .. "/conf " .. prefix .. "/tmp " .. prefix .. "/pki/upstream "
			.. prefix .. "/pki/client " .. prefix .. "/pki/rogue " .. prefix .. "/load"))

		-- test PKI: one CA for upstream and client, a second (untrusted) CA
		local ca = assert(mutls.testca{ name = "mutls nginx test CA" })
		local rogue_ca = assert(mutls.testca{ name = "rogue CA" })
		ids.upstream = assert(ca:issue{ cn = "upstream.test", dns = { "upstream.test" }, purpose = "server" })
		ids.client = assert(ca:issue{ cn = "nginx-client", uri = { "spiffe://mutls.test/nginx" }, purpose = "client" })
		ids.rogue = assert(rogue_ca:issue{ cn = "rogue-client", purpose = "client" })
		for _, name in ipairs({ "upstream", "client", "rogue" }) do
			assert(ids[name]:write_to(prefix .. "/pki/" .. name))
		end
		writefile(prefix .. "/pki/ca.pem", ca.cert_pem)

		-- an external mTLS peer: openssl s_server (bound to 127.0.0.1)
		if have("openssl") then
			rev_port = free_port()
			rev_pid = spawn(("openssl s_server -accept 127.0.0.1:%d -rev -quiet -Verify 1 "
				.. "-verify_return_error -cert %s/pki/upstream/cert.pem -key %s/pki/upstream/key.pem "
				.. "-CAfile %s/pki/ca.pem"):format(rev_port, prefix, prefix, prefix), prefix .. "/openssl.log")
			if not wait_port(rev_port, rev_pid, 10) then
				kill(rev_pid)
				rev_pid, rev_port = nil, nil
			end
		end

		port = free_port()
		local conf = assert(readfile(root .. "/tests/nginx/nginx.conf.in"))
		conf = conf:gsub("@(%u[%u_]*)@", {
			PREFIX = prefix, ROOT = root, PORT = tostring(port), JIT_CPATH = jit_cpath,
			REV_PORT = tostring(rev_port or 0),
		})
		writefile(prefix .. "/conf/nginx.conf", conf)
		local out, ok = sh(nginx .. " -t -q -p " .. prefix .. " -c conf/nginx.conf -e " .. prefix .. "/error.log")
		assert(ok, "nginx -t failed: " .. out .. (readfile(prefix .. "/error.log") or ""))
		nginx_pid = spawn(nginx .. " -p " .. prefix .. " -c conf/nginx.conf -e " .. prefix .. "/error.log",
			prefix .. "/stdout.log")
		local up, why = wait_port(port, nginx_pid, 10)
		assert(up, "nginx did not start (" .. tostring(why) .. "): "
			.. (readfile(prefix .. "/error.log") or "") .. (readfile(prefix .. "/stdout.log") or ""))
	end)

	lazy_teardown(function()
		kill(nginx_pid)
		kill(rev_pid)
		if prefix and os.getenv("MUTLS_KEEP_TMP") == nil then
			sh("rm -rf " .. prefix)
		elseif prefix then
			print("kept " .. prefix)
		end
	end)

	local function base()
		return "http://127.0.0.1:" .. port
	end

	it("nginx's LuaJIT loads mutls.so and mutls.resty", function()
		if skip then return pending(skip) end
		local body, status = get(base() .. "/health")
		local kv = parse_kv(body)
		assert.are.equal(200, status, "mutls in nginx: " .. tostring(kv.error or body))
		assert.are.equal("true", kv.ok)
		assert.truthy(kv.lua:find("LuaJIT"), kv.lua)
	end)

	it(("%d proxied mTLS requests at concurrency %d on one worker all succeed while the worker keeps ticking")
		:format(REQUESTS, CONCURRENCY), function()
		if skip then return pending(skip) end
		local _, st = get(base() .. "/reset")
		assert.are.equal(200, st)

		-- one curl, 20 parallel transfers, 200 URLs
		local lines = {}
		for i = 1, REQUESTS do
			lines[#lines + 1] = ('url = "%s/proxy?i=%d"\noutput = "%s/load/%d"'):format(base(), i, prefix, i)
		end
		writefile(prefix .. "/load/curl.cfg", table.concat(lines, "\n") .. "\n")
		local t0 = now()
		local out = sh(("timeout 45 curl --parallel --parallel-immediate --parallel-max %d -s -m 30 -K %s/load/curl.cfg "
			.. "-w '%%{http_code}\\n'"):format(CONCURRENCY, prefix))
		local wall = now() - t0

		local codes = {}
		for code in out:gmatch("(%d%d%d)\n") do
			codes[code] = (codes[code] or 0) + 1
		end
		local up_subject = ids.upstream.certificate.subject
		local up_sha = ids.upstream.certificate:fingerprint("sha256")
		local cl_subject = ids.client.certificate.subject
		local good, bad, thread_ticks = 0, {}, 0
		for i = 1, REQUESTS do
			local kv = parse_kv(readfile(prefix .. "/load/" .. i))
			if kv.ok == "true" and kv.peer_subject == up_subject and kv.peer_sha256 == up_sha
				and kv.peer_dns == "upstream.test" and kv.peer_verified == "true"
				and kv.upstream_reply and kv.upstream_reply:find("client_subject=" .. cl_subject, 1, true)
				and kv.upstream_reply:find("client_verified=true", 1, true)
				and kv.upstream_reply:find("client_uri=spiffe://mutls.test/nginx", 1, true) then
				good = good + 1
				thread_ticks = thread_ticks + tonumber(kv.thread_ticks)
			elseif #bad < 3 then
				bad[#bad + 1] = ("#%d: %s"):format(i, readfile(prefix .. "/load/" .. i) or "(no response)")
			end
		end

		local stats = parse_kv((get(base() .. "/stats")))
		local report = ("requests ok %d/%d (http codes: %s), concurrency %d, wall %.2f s; "
			.. "worker ticker: %s ticks in the %s ms run window (every %s ms), max gap %s ms; "
			.. "handshakes in flight at once: client max %s, upstream max %s; "
			.. "per-request ngx.thread ticks: total %s, min %s, zero in %s requests; "
			.. "event-loop turns during each handshake: total %s, min %s, zero in %s handshakes; "
			.. "handshakes (wrap) in flight at once: max %s; completed without yielding: client %s, server %s; "
			.. "worker CPU between two ticks: max %s ms")
			:format(good, REQUESTS, (function()
				local t = {}
				for c, n in pairs(codes) do t[#t + 1] = n .. " x " .. c end
				return table.concat(t, ", ")
			end)(), CONCURRENCY, wall,
			tostring(stats.ticks_in_window), tostring(stats.window_ms), tostring(stats.tick_interval_ms),
			tostring(stats.max_tick_gap_ms), tostring(stats.max_inflight),
			tostring(stats.max_upstream_inflight), tostring(stats.thread_ticks_total),
			tostring(stats.thread_ticks_min), tostring(stats.thread_ticks_zero),
			tostring(stats.hs_turns_total), tostring(stats.hs_turns_min), tostring(stats.hs_turns_zero),
			tostring(stats.max_hs_inflight), tostring(stats.client_hs_unyielded),
			tostring(stats.server_hs_unyielded), tostring(stats.max_tick_gap_cpu_ms))
		print("\n[resty_spec] " .. report)
		writefile(prefix .. "/load/report.txt", report .. "\n")

		assert.are.same({}, bad, "failed responses")
		assert.are.equal(REQUESTS, good, report)
		assert.are.equal(REQUESTS, codes["200"], report)
		assert.are.equal(tostring(REQUESTS), stats.proxy_ok, report)
		assert.are.equal("0", stats.proxy_fail, report)
		assert.are.equal(tostring(REQUESTS), stats.upstream_ok, report)
		-- the handshakes interleaved on the one worker: a handshake that
		-- does not yield leaves at most one wrap() in flight at a time
		assert.is_true(tonumber(stats.max_inflight) >= 2, report)
		assert.is_true(tonumber(stats.max_upstream_inflight) >= 2, report)
		assert.is_true(tonumber(stats.max_hs_inflight) >= 2, report)
		-- every single handshake, client and server side, yielded to the
		-- event loop before it completed (deterministic: a blocking one
		-- never does, however loaded the machine) ...
		assert.are.equal("0", stats.client_hs_unyielded, report)
		assert.are.equal("0", stats.server_hs_unyielded, report)
		-- ... and other light threads ran while handshakes were in flight
		-- (per-request counts are logged above; a timer needs >= 1 ms of
		-- a handshake to fire, so only their sum is asserted)
		assert.is_true(tonumber(stats.hs_turns_total) >= 1, report)
		-- the per-request light threads ran while their requests were in flight
		assert.is_true(thread_ticks >= REQUESTS, report)
		-- never a long stall of the worker by work of its own: measured in
		-- the worker's CPU time (the load of other processes does not
		-- count); a busy-wait in a handshake shows here
		assert.is_true(tonumber(stats.max_tick_gap_cpu_ms) < 250, report)
		-- hang guards only (wall clock): the ticker never stopped for 5 s;
		-- the load itself is bounded by curl -m 30 / timeout 45 above
		assert.is_true(tonumber(stats.ticks_in_window) >= 1, report)
		assert.is_true(tonumber(stats.max_tick_gap_ms) < 5000, report)
		assert.are.same({}, errlog_problems(prefix .. "/error.log"))
	end)

	it("a wrong server name: the handshake fails with verify-failed / name-mismatch", function()
		if skip then return pending(skip) end
		local body, status = get(base() .. "/proxy?name=wrong.test")
		local kv = parse_kv(body)
		assert.are.equal(502, status, body)
		assert.are.equal("handshake", kv.stage, body)
		assert.are.equal("verify-failed", kv.code, body)
		assert.are.equal("name-mismatch", kv.reasons, body)
		assert.are.equal("local", kv.side, body)
		-- the upstream got the alert: its handshake failed too
		local stats = parse_kv((get(base() .. "/stats")))
		assert.is_true(tonumber(stats.upstream_fail) >= 1, body)
	end)

	it("a client without a certificate (TLS 1.3) learns of its refusal on its first receive", function()
		if skip then return pending(skip) end
		get(base() .. "/reset")
		local body, status = get(base() .. "/proxy?id=anon")
		local kv = parse_kv(body)
		assert.are.equal(502, status, body)
		assert.are.equal("receive", kv.stage, body)
		assert.are.equal("true", kv.handshake_done, body)
		assert.are.equal("TLSv1.3", kv.version, body)
		assert.are.equal("peer-rejected", kv.code, body)
		assert.are.equal("peer", kv.side, body)
		local stats = parse_kv((get(base() .. "/stats")))
		assert.are.equal("1", stats["upstream_code_no-certificate"], body .. "\n" .. tostring(stats.upstream_last_error))
	end)

	it("a client certificate from an unknown CA is refused by the mutls.resty server", function()
		if skip then return pending(skip) end
		get(base() .. "/reset")
		local body, status = get(base() .. "/proxy?id=rogue")
		local kv = parse_kv(body)
		assert.are.equal(502, status, body)
		assert.are.equal("receive", kv.stage, body)
		assert.are.equal("peer-rejected", kv.code, body)
		local stats = parse_kv((get(base() .. "/stats")))
		assert.are.equal("1", stats["upstream_code_verify-failed"], tostring(stats.upstream_last_error))
		assert.truthy(stats.upstream_last_error:find("unknown-issuer", 1, true), stats.upstream_last_error)
	end)

	it("TLS 1.2: mTLS succeeds, and a client without a certificate is refused during the handshake", function()
		if skip then return pending(skip) end
		local body, status = get(base() .. "/proxy?id=client12")
		local kv = parse_kv(body)
		assert.are.equal(200, status, body)
		assert.are.equal("TLSv1.2", kv.version, body)
		assert.are.equal(ids.upstream.certificate.subject, kv.peer_subject, body)
		assert.truthy(kv.upstream_reply:find("client_verified=true", 1, true), body)
		body, status = get(base() .. "/proxy?id=anon12")
		kv = parse_kv(body)
		assert.are.equal(502, status, body)
		assert.are.equal("handshake", kv.stage, body)
		assert.are.equal("peer-rejected", kv.code, body)
	end)

	it("record framing (cosockets without receiveany): receive(5) + receive(n) on both sides", function()
		if skip then return pending(skip) end
		for _ = 1, 3 do
			local body, status = get(base() .. "/proxy?framing=record")
			local kv = parse_kv(body)
			assert.are.equal(200, status, body)
			assert.are.equal(ids.upstream.certificate.subject, kv.peer_subject, body)
			assert.truthy(kv.upstream_reply:find("client_verified=true", 1, true), body)
		end
	end)

	it("a silent peer: handshake_timeout gives 'timeout' and the worker serves other requests meanwhile", function()
		if skip then return pending(skip) end
		local HS_MS = 1500
		local silent = assert(socket.bind("127.0.0.1", 0)) -- the kernel accepts; nobody speaks
		local _, sport = silent:getsockname()
		local out_file = prefix .. "/silent.out"
		local pid = spawn(("curl -s -m 30 -w '\\n__status=%%{http_code}' '%s/silent?ms=%d&port=%d'")
			:format(base(), HS_MS, sport), out_file)
		-- While that handshake waits, ask the worker for /stats: a worker
		-- blocked in the handshake answers only after it ended (and then
		-- reports no handshake in flight).
		local seen, polls = false, 0
		local guard = now() + 20 -- hang guard
		while not seen and alive(pid) and now() < guard do
			local st = parse_kv((get(base() .. "/stats")))
			polls = polls + 1
			seen = st.silent_inflight == "1"
			if not seen then
				sleep(0.02)
			end
		end
		while alive(pid) and now() < guard do
			sleep(0.05)
		end
		silent:close()
		local raw = readfile(out_file) or ""
		local status = tonumber(raw:match("__status=(%d+)%s*$"))
		local body = (raw:gsub("\n?__status=%d+%s*$", ""))
		local kv = parse_kv(body)
		assert.are.equal(200, status, raw)
		assert.are.equal("false", kv.ok, body)
		assert.are.equal("timeout", kv.err, body)
		assert.are.equal("string", kv.err_type, body)
		-- not early; the upper bound is a hang guard
		local ms = tonumber(kv.elapsed_ms)
		assert.is_true(ms >= HS_MS - 50 and ms < HS_MS + 5000, body)
		-- the worker answered a request while the handshake was in flight
		-- (and its ticker ticked): impossible for a handshake that blocks
		assert.is_true(seen, ("no /stats answer during the handshake (%d polls): %s"):format(polls, body))
		assert.is_true(tonumber(kv.served_meanwhile) >= 1, body)
		assert.is_true(tonumber(kv.worker_ticks_meanwhile) >= 1, body)
	end)

	for _, pattern in ipairs({ "*a", "*l", "7" }) do
		it("receive(" .. pattern .. ") returns every byte a peer sent before closing without close_notify, "
			.. "then the error", function()
			if skip then return pending(skip) end
			local py = io.popen("command -v python3"):read("*l")
			if not py or py == "" then return pending("python3 is not installed") end
			local src = debug.getinfo(1, "S").source:match("^@(.*)$")
			local script = root .. "/tests/lua/py_ssl_peer.py"
			assert(src and readfile(script), "py_ssl_peer.py not found")
			local port_file = prefix .. "/ragged-port-" .. pattern:gsub("%W", "")
			local pid = spawn(("%s -S %s server --version 1.3 --ca %s/pki/ca.pem --cert %s/pki/upstream/chain.pem "
				.. "--key %s/pki/upstream/key.pem --port-file %s --timeout 10"):format(py, script, prefix, prefix,
				prefix, port_file), port_file .. ".log")
			local ragged_port
			for _ = 1, 200 do
				ragged_port = (readfile(port_file) or ""):match("^(%d+)\n")
				if ragged_port then break end
				socket.sleep(0.05)
			end
			assert(ragged_port, "py_ssl_peer did not start: " .. tostring(readfile(port_file .. ".log")))
			local msg = "ragged one\nragged two\n"
			local body, status = get(base() .. "/ragged?pattern=" .. pattern:gsub("%*", "%%2A")
				.. "&port=" .. ragged_port .. "&msg=ragged%20one%0Aragged%20two%0A")
			kill(pid)
			local kv = parse_kv(body)
			assert.are.equal(200, status, body)
			assert.are.equal(msg, ngx_b64decode(kv.got), body)
			assert.are.equal("closed", kv.err_code, body)
			assert.are_not.equal("true", kv.err_clean, body)
			assert.truthy(kv.err:find("without close_notify", 1, true), body)
			assert.are.equal("nil closed", kv.again, body)
		end)
	end

	it("mutls.resty talks mTLS to openssl s_server -Verify 1 -verify_return_error", function()
		if skip then return pending(skip) end
		if not rev_port then return pending("openssl s_server could not be started") end
		for _ = 1, 3 do
			local body, status = get(base() .. "/interop")
			local kv = parse_kv(body)
			assert.are.equal(200, status, body)
			assert.are.equal("true", kv.ok, body)
			assert.are.equal(kv.sent:reverse(), kv.reply, body)
			assert.are.equal(ids.upstream.certificate.subject, kv.peer_subject, body)
			assert.are.equal("true", kv.peer_verified, body)
		end
		-- and openssl refuses the client from the unknown CA
		local body, status = get(base() .. "/interop?id=rogue")
		local kv = parse_kv(body)
		assert.are.equal(502, status, body)
		assert.are.equal("peer-rejected", kv.code, body)
	end)
end)
