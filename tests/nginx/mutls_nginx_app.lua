-- The OpenResty side of tests/lua/resty_spec.lua (runs inside Debian's
-- nginx + lua module, LuaJIT). Loaded from tests/nginx/nginx.conf.in.
--
-- /proxy          a handler doing mTLS to an upstream with mutls.resty and
--                 answering with the upstream's verified identity
-- /mtls-upstream  that upstream: HTTP/1.1 Upgrade, then mutls.resty.serve over
--                 the raw request socket (server role, client cert required)
-- /interop        mutls.resty client against an external openssl s_server -rev
-- /stats          worker ticker (ngx.timer.every) and concurrency counters
--
-- The non-blocking evidence is counted in events, not in wall-clock time,
-- so that a slow or loaded machine cannot fail it and a blocking driver
-- cannot pass it: a handshake that never yields lets no other code of the
-- worker run until it returns, whatever the load.
--   hs_turns      per /proxy request: turns of the event loop taken by a
--                 light thread (ngx.sleep(0.001) in a loop) while that request's
--                 mresty.wrap was in flight; 0 for a handshake that blocks
--   client_hs_unyielded, server_hs_unyielded  handshakes (wrap / serve,
--                 run in a light thread) that completed without yielding
--                 once: the thread was dead when ngx.thread.spawn returned
--   max_hs_inflight  client handshakes (mresty.wrap calls) in flight at once;
--                 at most 1 when a handshake does not yield
--   served_during_silent  /stats requests answered while /silent's handshake
--                 waited on a peer that never speaks
--   max_tick_gap_cpu_ms  the most CPU time the worker spent between two ticks
--                 of its ticker (os.clock: the process's CPU time, which the
--                 load of other processes does not inflate): a stall by
--                 busy work shows here in any load
--
-- Responses are "key=value" lines so that the spec can parse them under any
-- Lua without a JSON library.

local M = {}

local ok_mutls, mutls = pcall(require, "mutls")
local ok_resty, mresty
if ok_mutls then
	ok_resty, mresty = pcall(require, "mutls.resty")
end

local TICK = 0.005 -- seconds between ticks of the worker ticker

local state
local cfgs = {}
local init_error
local rev_port

function M.reset()
	state = {
		ticks = {},          -- times (ms) of the worker ticker's ticks
		tick_cpu = {},       -- the worker's CPU time (ms) at each tick
		proxy_ok = 0, proxy_fail = 0,
		upstream_ok = 0, upstream_fail = 0,
		upstream_codes = {}, -- code -> count (failed server-side handshakes)
		upstream_last_error = nil,
		inflight = 0, max_inflight = 0,      -- client handshakes in flight
		up_inflight = 0, max_up_inflight = 0, -- server handshakes in flight
		first_start = nil, last_end = nil,   -- the run window (ms)
		thread_ticks_total = 0, thread_ticks_min = nil, thread_ticks_zero = 0,
		hs_inflight = 0, max_hs_inflight = 0, -- mresty.wrap calls in flight
		hs_turns_total = 0, hs_turns_min = nil, hs_turns_zero = 0,
		silent_inflight = 0, served_during_silent = 0,
		client_hs_unyielded = 0, server_hs_unyielded = 0, -- completed without a yield
	}
	if ngx.get_phase() == "content" then
		ngx.say("reset=true")
	end
end

local function now_ms()
	ngx.update_time()
	return ngx.now() * 1000
end

local function tick(premature)
	if premature then
		return
	end
	local t = state.ticks
	if #t < 100000 then
		t[#t + 1] = now_ms()
		state.tick_cpu[#t] = os.clock() * 1000
	end
end

local function config_or_error(opts)
	local cfg, err = mutls.config(opts)
	if not cfg then
		error("mutls.config failed: " .. tostring(err))
	end
	return cfg
end

function M.init_worker(prefix, gport)
	M.reset()
	rev_port = gport
	local ok, err = ngx.timer.every(TICK, tick)
	if not ok then
		init_error = "ngx.timer.every: " .. tostring(err)
		return
	end
	if not ok_mutls then
		init_error = "require 'mutls' failed: " .. tostring(mutls)
		return
	end
	if not ok_resty then
		init_error = "require 'mutls.resty' failed: " .. tostring(mresty)
		return
	end
	local pki = prefix .. "/pki"
	local ok2, e = pcall(function()
		cfgs.client = config_or_error{
			certificate = pki .. "/client/chain.pem",
			private_key = pki .. "/client/key.pem",
			trust = pki .. "/ca.pem",
		}
		cfgs.rogue = config_or_error{
			certificate = pki .. "/rogue/chain.pem",
			private_key = pki .. "/rogue/key.pem",
			trust = pki .. "/ca.pem",
		}
		cfgs.anon = config_or_error{ trust = pki .. "/ca.pem" }
		cfgs.client12 = config_or_error{
			certificate = pki .. "/client/chain.pem",
			private_key = pki .. "/client/key.pem",
			trust = pki .. "/ca.pem",
			versions = { "1.2" },
		}
		cfgs.anon12 = config_or_error{ trust = pki .. "/ca.pem", versions = { "1.2" } }
		cfgs.server = config_or_error{
			certificate = pki .. "/upstream/chain.pem",
			private_key = pki .. "/upstream/key.pem",
			trust = pki .. "/ca.pem",
			peer_certificate = "require",
		}
	end)
	if not ok2 then
		init_error = tostring(e)
	end
end

function M.health()
	if init_error then
		ngx.status = 500
		ngx.say("ok=false")
		ngx.say("error=", (init_error:gsub("\n", " ")))
		return
	end
	ngx.say("ok=true")
	ngx.say("lua=", jit and jit.version or _VERSION)
	ngx.say("ngx_lua=", ngx.config.ngx_lua_version)
	ngx.say("mutls=", tostring(mutls._VERSION or mutls.VERSION or mutls.version))
end

local function join(list)
	if type(list) ~= "table" then
		return tostring(list or "")
	end
	local out = {}
	for i, v in ipairs(list) do
		out[i] = tostring(v)
	end
	return table.concat(out, ",")
end

local function say_error(stage, err, extra)
	ngx.status = 502
	ngx.say("ok=false")
	ngx.say("stage=", stage)
	if type(err) == "string" then
		ngx.say("code=socket")
		ngx.say("message=", err)
	else
		ngx.say("code=", tostring(err.code))
		ngx.say("reasons=", join(err.reasons))
		ngx.say("side=", tostring(err.side))
		ngx.say("step=", tostring(err.step))
		ngx.say("alert=", tostring(err.alert))
		ngx.say("message=", (tostring(err):gsub("\n", " ")))
	end
	for k, v in pairs(extra or {}) do
		ngx.say(k, "=", tostring(v))
	end
end

local function cert_line(cert)
	if not cert then
		return "none"
	end
	return cert.subject
end

-- The upstream's reply line: who the server saw.
local function describe_client(session)
	local c = session.peer_certificate
	return ("client_subject=%s;client_uri=%s;client_verified=%s;server_version=%s"):format(
		c and c.subject or "none", c and join(c.uris) or "", tostring(session.verified),
		tostring(session.version))
end

-- Runs fn(sock, opts) (mresty.wrap or mresty.serve) in a light thread:
-- ngx.thread.spawn returns when the thread first yields or ends, so a
-- thread not yet dead then proves that the handshake gave the worker back
-- to the event loop before it completed. conn, err, yielded.
local function run_handshake(fn, sock, opts)
	local th = ngx.thread.spawn(fn, sock, opts)
	-- ngx_lua's coroutine.status: a light thread that finished (and is
	-- not yet waited for) is "zombie" (or "dead"); one waiting on a
	-- cosocket is "running" (measured with lua-nginx-module 0.10.23)
	local st = coroutine.status(th)
	local yielded = st ~= "zombie" and st ~= "dead"
	local ok, conn, err = ngx.thread.wait(th)
	if not ok then
		error(conn)
	end
	return conn, err, yielded
end

function M.upstream()
	if init_error then
		return ngx.exit(500)
	end
	if (ngx.var.http_upgrade or ""):lower() ~= "mutls" then
		ngx.status = 426
		ngx.say("Upgrade: mutls required")
		return
	end
	ngx.status = 101
	ngx.header["Upgrade"] = "mutls"
	local ok, err = ngx.send_headers()
	if not ok then
		ngx.log(ngx.ERR, "send_headers: ", err)
		return
	end
	ok, err = ngx.flush(true)
	if not ok then
		ngx.log(ngx.ERR, "flush: ", err)
		return
	end
	local sock, serr = ngx.req.socket(true)
	if not sock then
		ngx.log(ngx.ERR, "raw request socket: ", serr)
		return
	end
	state.up_inflight = state.up_inflight + 1
	if state.up_inflight > state.max_up_inflight then
		state.max_up_inflight = state.up_inflight
	end
	local conn, herr, yielded = run_handshake(mresty.serve, sock, {
		config = cfgs.server, timeout = 10000, request_socket = true,
		framing = ngx.var.arg_framing,
	})
	if not yielded then
		state.server_hs_unyielded = state.server_hs_unyielded + 1
	end
	state.up_inflight = state.up_inflight - 1
	if not conn then
		state.upstream_fail = state.upstream_fail + 1
		local code = type(herr) == "string" and ("socket:" .. herr) or tostring(herr.code)
		state.upstream_codes[code] = (state.upstream_codes[code] or 0) + 1
		state.upstream_last_error = type(herr) == "string" and herr
			or (tostring(herr.code) .. " [" .. join(herr.reasons) .. "] " .. tostring(herr))
		return
	end
	state.upstream_ok = state.upstream_ok + 1
	local line, rerr = conn:receive("*l")
	if line == "whoami" then
		conn:send(describe_client(conn.session) .. "\n")
	elseif not line then
		ngx.log(ngx.INFO, "upstream receive: ", tostring(rerr))
	end
	conn:close()
end

function M.proxy()
	if init_error then
		ngx.status = 500
		ngx.say("ok=false")
		ngx.say("error=", init_error)
		return
	end
	local args = ngx.req.get_uri_args()
	local name = args.name or "upstream.test"
	local cfg = cfgs[args.id or "client"]
	if not cfg then
		ngx.status = 400
		ngx.say("ok=false")
		ngx.say("error=unknown id")
		return
	end

	-- A light thread that ticks while this request's handshake runs.
	local done, thread_ticks = false, 0
	local ticker = ngx.thread.spawn(function()
		while not done do
			ngx.sleep(0.001)
			thread_ticks = thread_ticks + 1
		end
	end)
	local function finish()
		done = true
		ngx.thread.wait(ticker)
		state.thread_ticks_total = state.thread_ticks_total + thread_ticks
		if not state.thread_ticks_min or thread_ticks < state.thread_ticks_min then
			state.thread_ticks_min = thread_ticks
		end
		if thread_ticks == 0 then
			state.thread_ticks_zero = state.thread_ticks_zero + 1
		end
		state.last_end = now_ms()
	end

	local t0 = now_ms()
	state.first_start = state.first_start or t0
	state.inflight = state.inflight + 1
	if state.inflight > state.max_inflight then
		state.max_inflight = state.inflight
	end
	local inflight_done = false
	local function leave()
		if not inflight_done then
			inflight_done = true
			state.inflight = state.inflight - 1
		end
	end

	local function fail(stage, err, extra)
		leave()
		finish()
		state.proxy_fail = state.proxy_fail + 1
		say_error(stage, err, extra)
	end

	-- Plain TCP to the upstream location, then Upgrade: mutls.
	local sock = ngx.socket.tcp()
	sock:settimeout(10000)
	local ok, err = sock:connect("127.0.0.1", tonumber(ngx.var.server_port))
	if not ok then
		return fail("connect", err)
	end
	local framing = args.framing == "record" and "record" or nil
	ok, err = sock:send("GET /mtls-upstream" .. (framing and "?framing=record" or "")
		.. " HTTP/1.1\r\nHost: upstream.test\r\n"
		.. "Upgrade: mutls\r\nConnection: Upgrade\r\n\r\n")
	if not ok then
		return fail("upgrade", err)
	end
	local read_headers = sock:receiveuntil("\r\n\r\n")
	local head, herr = read_headers()
	if not head then
		return fail("upgrade", herr)
	end
	if not head:find("^HTTP/1%.1 101") then
		return fail("upgrade", "no 101: " .. head:sub(1, 60))
	end

	-- mTLS as a client over the upgraded connection, with a light thread
	-- that counts the event loop's turns while the handshake is in flight.
	local in_hs, hs_turns = true, 0
	local turner = ngx.thread.spawn(function()
		while in_hs do
			-- 1 ms: ngx.sleep(0) would log a warning per call in a
			-- stock nginx (no posted-delayed-events patch)
			ngx.sleep(0.001)
			if in_hs then
				hs_turns = hs_turns + 1
			end
		end
	end)
	state.hs_inflight = state.hs_inflight + 1
	if state.hs_inflight > state.max_hs_inflight then
		state.max_hs_inflight = state.hs_inflight
	end
	local conn, terr, yielded = run_handshake(mresty.wrap, sock, {
		config = cfg, server_hostname = name, timeout = 10000, framing = framing,
	})
	if not yielded then
		state.client_hs_unyielded = state.client_hs_unyielded + 1
	end
	in_hs = false
	state.hs_inflight = state.hs_inflight - 1
	ngx.thread.wait(turner)
	state.hs_turns_total = state.hs_turns_total + hs_turns
	if not state.hs_turns_min or hs_turns < state.hs_turns_min then
		state.hs_turns_min = hs_turns
	end
	if hs_turns == 0 then
		state.hs_turns_zero = state.hs_turns_zero + 1
	end
	leave()
	local hs_ms = now_ms() - t0
	if not conn then
		return fail("handshake", terr, { handshake_done = false })
	end
	local s = conn.session
	local sok, serr = conn:send("whoami\n")
	if not sok then
		return fail("send", serr, { handshake_done = true })
	end
	local reply, rerr = conn:receive("*l")
	if not reply then
		-- TLS 1.3: a client the server refused learns it here
		conn:close()
		return fail("receive", rerr, { handshake_done = true, version = s.version })
	end
	conn:close()
	finish()
	state.proxy_ok = state.proxy_ok + 1

	local peer = s.peer_certificate
	ngx.say("ok=true")
	ngx.say("peer_subject=", cert_line(peer))
	ngx.say("peer_dns=", peer and join(peer.dns_names) or "")
	ngx.say("peer_issuer=", peer and peer.issuer or "")
	ngx.say("peer_sha256=", peer and peer:fingerprint("sha256") or "")
	ngx.say("peer_verified=", tostring(s.verified))
	ngx.say("version=", tostring(s.version))
	ngx.say("cipher=", tostring(s.cipher))
	ngx.say("upstream_reply=", reply)
	ngx.say("thread_ticks=", thread_ticks)
	ngx.say("hs_turns=", hs_turns)
	ngx.say("handshake_ms=", string.format("%.1f", hs_ms))
end

function M.interop()
	if init_error then
		return ngx.exit(500)
	end
	if not rev_port or rev_port == 0 then
		ngx.status = 503
		ngx.say("ok=false")
		ngx.say("error=no openssl s_server")
		return
	end
	local args = ngx.req.get_uri_args()
	local cfg = cfgs[args.id or "client"]
	local conn, err = mresty.connect("127.0.0.1", rev_port, {
		config = cfg, server_hostname = args.name or "upstream.test", timeout = 5000,
	})
	if not conn then
		return say_error("handshake", err, { handshake_done = false })
	end
	local msg = "hello from nginx " .. ngx.var.request_id .. "\n"
	local ok, serr = conn:send(msg)
	if not ok then
		return say_error("send", serr)
	end
	local reply, rerr = conn:receive("*l")
	if not reply then
		conn:close()
		return say_error("receive", rerr, { handshake_done = true })
	end
	local s = conn.session
	conn:close()
	ngx.say("ok=true")
	ngx.say("sent=", (msg:gsub("\n", "")))
	ngx.say("reply=", reply)
	ngx.say("peer_subject=", cert_line(s.peer_certificate))
	ngx.say("peer_verified=", tostring(s.verified))
	ngx.say("version=", tostring(s.version))
end

-- A peer that accepts TCP but never speaks: the handshake must time out
-- (handshake_timeout) without holding up the worker.
function M.silent()
	local args = ngx.req.get_uri_args()
	local ticks0 = #state.ticks
	local served0 = state.served_during_silent
	local t0 = now_ms()
	state.silent_inflight = state.silent_inflight + 1
	local conn, err = mresty.connect("127.0.0.1", tonumber(args.port), {
		config = cfgs.client, server_hostname = "upstream.test",
		timeout = 5000, handshake_timeout = tonumber(args.ms or 300),
	})
	state.silent_inflight = state.silent_inflight - 1
	local elapsed = now_ms() - t0
	if conn then
		conn:close()
		ngx.say("ok=true")
		return
	end
	ngx.say("ok=false")
	ngx.say("err=", tostring(err))
	ngx.say("err_type=", type(err))
	ngx.say("elapsed_ms=", string.format("%.0f", elapsed))
	ngx.say("worker_ticks_meanwhile=", #state.ticks - ticks0)
	ngx.say("served_meanwhile=", state.served_during_silent - served0)
end

-- A peer that sends and then closes without close_notify (Python's ssl):
-- every byte it sent comes out of receive(pattern), then the error.
function M.ragged()
	local args = ngx.req.get_uri_args()
	local conn, err = mresty.connect("127.0.0.1", tonumber(args.port), {
		config = cfgs.client, server_hostname = "upstream.test", timeout = 5000,
	})
	if not conn then
		return say_error("handshake", err, { handshake_done = false })
	end
	assert(conn:send(args.msg))
	ngx.sleep(0.3) -- the echo and the close both arrive first
	local pattern = tonumber(args.pattern) or args.pattern
	local got, rerr = {}, nil
	while true do
		local data, e, partial = conn:receive(pattern)
		got[#got + 1] = data and (pattern == "*l" and data .. "\n" or data) or partial
		if not data then
			rerr = e
			break
		end
	end
	local again, aerr = conn:receive(pattern)
	conn:close()
	ngx.say("got=", ngx.encode_base64(table.concat(got)))
	ngx.say("err_code=", type(rerr) == "table" and tostring(rerr.code) or tostring(rerr))
	ngx.say("err_clean=", type(rerr) == "table" and tostring(rerr.clean) or "n/a")
	ngx.say("err=", tostring(rerr))
	ngx.say("again=", tostring(again), " ", type(aerr) == "table" and tostring(aerr.code) or tostring(aerr))
end

function M.stats()
	local st = state
	if st.silent_inflight > 0 then
		st.served_during_silent = st.served_during_silent + 1
	end
	ngx.say("silent_inflight=", st.silent_inflight)
	ngx.say("max_hs_inflight=", st.max_hs_inflight)
	ngx.say("client_hs_unyielded=", st.client_hs_unyielded)
	ngx.say("server_hs_unyielded=", st.server_hs_unyielded)
	ngx.say("hs_turns_total=", st.hs_turns_total)
	ngx.say("hs_turns_min=", st.hs_turns_min or -1)
	ngx.say("hs_turns_zero=", st.hs_turns_zero)
	ngx.say("proxy_ok=", st.proxy_ok)
	ngx.say("proxy_fail=", st.proxy_fail)
	ngx.say("upstream_ok=", st.upstream_ok)
	ngx.say("upstream_fail=", st.upstream_fail)
	for code, n in pairs(st.upstream_codes) do
		ngx.say("upstream_code_", code, "=", n)
	end
	ngx.say("upstream_last_error=", st.upstream_last_error or "")
	ngx.say("max_inflight=", st.max_inflight)
	ngx.say("max_upstream_inflight=", st.max_up_inflight)
	ngx.say("thread_ticks_total=", st.thread_ticks_total)
	ngx.say("thread_ticks_min=", st.thread_ticks_min or -1)
	ngx.say("thread_ticks_zero=", st.thread_ticks_zero)
	ngx.say("ticks_total=", #st.ticks)
	ngx.say("tick_interval_ms=", TICK * 1000)
	if st.first_start and st.last_end then
		local a, b = st.first_start, st.last_end
		local n, prev, gap = 0, a, 0
		local prev_cpu, cpu_gap = nil, 0
		for i, t in ipairs(st.ticks) do
			if t >= a and t <= b then
				n = n + 1
				if t - prev > gap then gap = t - prev end
				prev = t
				local c = st.tick_cpu[i]
				if prev_cpu and c - prev_cpu > cpu_gap then cpu_gap = c - prev_cpu end
				prev_cpu = c
			end
		end
		if b - prev > gap then gap = b - prev end
		ngx.say("max_tick_gap_cpu_ms=", string.format("%.1f", cpu_gap))
		ngx.say("window_ms=", string.format("%.1f", b - a))
		ngx.say("ticks_in_window=", n)
		ngx.say("max_tick_gap_ms=", string.format("%.1f", gap))
	end
end

return M
