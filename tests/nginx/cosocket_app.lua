-- The OpenResty side of tests/lua/cosocket_spec.lua (runs inside Debian's
-- nginx + lua module, LuaJIT). Loaded from tests/nginx/cosocket.conf.in.
--
-- /seq        n upstream requests in a row through mutls.resty.tcp, each on
--             a connection from connect(); after each, setkeepalive (or
--             close): per request, the pool's reuse count, whether the TLS
--             session was resumed, the verify hook's calls, and what the
--             upstream (nginx's own TLS) saw: its connection number, the
--             requests on it, whether it resumed the session
-- /deny       the client Configs' verify hook refuses (on=1) or passes
-- /patterns   the cosocket read/write shapes against the upstream
-- /pool_load  light threads sharing the keepalive pool at once (counts)
-- /redis      lua-resty-redis (Debian lua-nginx-redis) through mutls.resty
-- /httpc      the calls lua-resty-http 0.17 makes on `httpc.sock`, in its
--             order (the library is not in Debian): the recipe's shape
--
-- Responses are "key=value" lines.

local M = {}

local mutls = require "mutls"
local mresty = require "mutls.resty"

local cfgs, bad = {}, {}
local up_port
local hook_calls, deny = 0, false
local pki

local function hook()
	hook_calls = hook_calls + 1
	if deny then
		return false, "the test denies this upstream now"
	end
	return true
end

local function config(version, extra)
	local opts = {
		certificate = pki .. "/client/chain.pem",
		private_key = pki .. "/client/key.pem",
		trust = pki .. "/ca.pem",
		versions = { version },
		peers = { "dns:upstream.test" },
		verify_hook = hook,
	}
	for k, v in pairs(extra or {}) do
		opts[k] = v
	end
	return assert(mutls.config(opts))
end

function M.init_worker(prefix, port)
	up_port = port
	pki = prefix .. "/pki"
	local ok, err = pcall(function()
		cfgs["1.2"] = config("1.2")
		cfgs["1.3"] = config("1.3")
		-- redis: the server's identity redis.test, the client's TestCA one
		cfgs.redis = assert(mutls.config{
			certificate = pki .. "/client/chain.pem", private_key = pki .. "/client/key.pem",
			trust = pki .. "/ca.pem", peers = { "dns:redis.test" },
		})
		-- a policy the redis server's identity is outside of
		cfgs.redis_strict = assert(mutls.config{
			certificate = pki .. "/client/chain.pem", private_key = pki .. "/client/key.pem",
			trust = pki .. "/ca.pem", peers = { "dns:cache.internal" },
		})
		-- a client identity from a CA redis does not trust
		cfgs.redis_rogue = assert(mutls.config{
			certificate = pki .. "/rogue/chain.pem", private_key = pki .. "/rogue/key.pem",
			trust = pki .. "/ca.pem", peers = { "dns:redis.test" }, versions = { "1.2" },
		})
	end)
	if not ok then
		bad.init = tostring(err)
	end
end

local function say_err(prefix, err)
	if type(err) == "table" or type(err) == "userdata" then
		ngx.say(prefix, "code=", tostring(err.code))
		ngx.say(prefix, "reasons=", table.concat(err.reasons or {}, ","))
		ngx.say(prefix, "err=", (tostring(err):gsub("\n", " ")))
	else
		ngx.say(prefix, "err=", tostring(err))
	end
end

-- One HTTP/1.1 GET on conn: the request as a nested table, the head read
-- with receiveuntil, the body with receive(n). status, body or nil, err.
local function http_get(conn, path, close)
	local n, err = conn:send({ "GET ", path, " HTTP/1.1\r\n",
		{ "Host: upstream.test\r\n", close and "Connection: close\r\n" or "" }, "\r\n" })
	if not n then
		return nil, err
	end
	local head
	head, err = conn:receiveuntil("\r\n\r\n")()
	if not head then
		return nil, err
	end
	local status = tonumber(head:match("^HTTP/1%.1 (%d+)"))
	local len = tonumber(head:lower():match("\ncontent%-length:%s*(%d+)"))
	if not len then
		return nil, "no content-length in: " .. head
	end
	local body
	body, err = conn:receive(len)
	if not body then
		return nil, err
	end
	return status, body
end

local function kv(text)
	local t = {}
	for k, v in text:gmatch("([%w_]+)=([^\n]*)") do
		t[k] = v
	end
	return t
end

local function seq()
	local args = ngx.req.get_uri_args()
	local cfg = cfgs[args.v or "1.3"]
	local n = tonumber(args.n) or 3
	local keep = args.keepalive ~= "0"
	for i = 1, n do
		local p = i .. "."
		local before = hook_calls
		local conn = mresty.tcp{ config = cfg, server_hostname = "upstream.test", timeout = 10000, pool = args.pool }
		local ok, err = conn:connect("127.0.0.1", up_port)
		if not ok then
			say_err(p .. "connect_", err)
			return
		end
		ngx.say(p, "reusedtimes=", conn:getreusedtimes())
		ngx.say(p, "resumed=", tostring(conn.session.resumed))
		ngx.say(p, "verified=", tostring(conn.session.verified))
		ngx.say(p, "version=", tostring(conn.session.version))
		local status, body = http_get(conn, "/who")
		ngx.say(p, "hook_calls=", hook_calls - before)
		if not status then
			say_err(p .. "get_", body)
			return
		end
		local w = kv(body)
		ngx.say(p, "status=", status)
		ngx.say(p, "up_conn=", w.conn)
		ngx.say(p, "up_reqs=", w.reqs)
		ngx.say(p, "up_session_reused=", w.session_reused)
		ngx.say(p, "up_proto=", w.proto)
		ngx.say(p, "up_client=", w.client)
		if keep then
			ok, err = conn:setkeepalive(10000, 8)
			ngx.say(p, "keepalive=", tostring(ok), " ", tostring(err))
		else
			conn:close()
		end
	end
	ngx.say("done=true")
end

local function enc(s)
	return s == nil and "nil" or ngx.encode_base64(s)
end

local function patterns()
	local conn, err = mresty.connect("127.0.0.1", up_port, { config = cfgs["1.3"],
		server_hostname = "upstream.test", timeout = 10000, pool = "patterns" })
	if not conn then
		return say_err("connect_", err)
	end
	local n
	n, err = conn:send({ "GET /pattern HTTP/1.1\r\n", { "Host: ", { "upstream.test" }, "\r\n" },
		"X-Numbers: ", 1, " ", 2.5, "\r\nConnection: close\r\n\r\n" })
	ngx.say("sent=", tostring(n))
	local head = conn:receiveuntil("\r\n\r\n", { inclusive = true })()
	ngx.say("head_inclusive_end=", tostring(head and head:sub(-4) == "\r\n\r\n"))
	ngx.say("l=", enc(conn:receive("l")))
	ngx.say("star_l=", enc(conn:receive("*l")))
	ngx.say("five=", enc(conn:receive(5)))
	local reader = conn:receiveuntil("--B--")
	local chunks = {}
	while true do
		local data, rerr = reader(4)
		if not data then
			chunks[#chunks + 1] = "<" .. tostring(rerr) .. ">"
			break
		end
		chunks[#chunks + 1] = data
	end
	ngx.say("chunks=", table.concat(chunks, "|"))
	ngx.say("any=", enc(conn:receiveany(3)))
	ngx.say("until_incl=", enc(conn:receiveuntil("<<END>>", { inclusive = true })()))
	ngx.say("a=", enc(conn:receive("a")))
	local again, aerr = conn:receive("a")
	ngx.say("again=", enc(again), " ", tostring(aerr))
	conn:close()
	-- a type send refuses, as cosockets do
	local okp, perr = pcall(conn.send, conn, { "x", {} , print })
	ngx.say("bad_send=", tostring(okp), " ", (tostring(perr):match("bad data type %a+ found") or tostring(perr)))
	-- a connection with an unread body does not go into the pool
	local c2 = assert(mresty.connect("127.0.0.1", up_port, { config = cfgs["1.3"],
		server_hostname = "upstream.test", timeout = 10000, pool = "unread" }))
	c2:send("GET /who HTTP/1.1\r\nHost: upstream.test\r\n\r\n")
	c2:receiveuntil("\r\n\r\n")()
	local kok, kerr = c2:setkeepalive(10000, 4)
	ngx.say("unread_keepalive=", tostring(kok), " ", tostring(kerr))
	for key, st in pairs(mresty.pool_stats()) do
		if key:find("#unread$") then
			ngx.say("unread_pool=", st.idle, " ", st.connections)
		end
	end
end

local function pool_load()
	local args = ngx.req.get_uri_args()
	local threads, m = tonumber(args.threads) or 20, tonumber(args.m) or 10
	local cfg = cfgs[args.v or "1.3"]
	local st = { ok = 0, fail = 0, inflight = 0, max_inflight = 0, events = 0, interleaved = 0,
		reused = 0, handshakes = 0, resumed = 0, conns = {}, ticks = 0, errs = {} }
	local done = false
	-- a ticker: a light thread taking turns of the event loop until the end
	local ticker = ngx.thread.spawn(function()
		while not done do
			st.ticks = st.ticks + 1
			st.events = st.events + 1
			ngx.sleep(0.001)
		end
	end)
	local function worker()
		for _ = 1, m do
			st.inflight = st.inflight + 1
			if st.inflight > st.max_inflight then
				st.max_inflight = st.inflight
			end
			local seen = st.events
			st.events = st.events + 1
			local conn = mresty.tcp{ config = cfg, server_hostname = "upstream.test", timeout = 10000,
				pool = args.pool or "load" }
			local ok, err = conn:connect("127.0.0.1", up_port)
			local status, body
			if ok then
				if conn:getreusedtimes() > 0 then
					st.reused = st.reused + 1
				else
					st.handshakes = st.handshakes + 1
					if conn.session.resumed then
						st.resumed = st.resumed + 1
					end
				end
				status, body = http_get(conn, "/who")
			else
				body = err
			end
			if status == 200 then
				st.ok = st.ok + 1
				st.conns[kv(body).conn] = true
				conn:setkeepalive(10000, threads)
			else
				st.fail = st.fail + 1
				st.errs[#st.errs + 1] = tostring(body)
				conn:close()
			end
			-- other threads ran while this request was in flight
			if st.events > seen + 1 then
				st.interleaved = st.interleaved + 1
			end
			st.events = st.events + 1
			st.inflight = st.inflight - 1
		end
	end
	local ths = {}
	for i = 1, threads do
		ths[i] = ngx.thread.spawn(worker)
	end
	for i = 1, threads do
		ngx.thread.wait(ths[i])
	end
	done = true
	ngx.thread.wait(ticker)
	local nconn = 0
	for _ in pairs(st.conns) do
		nconn = nconn + 1
	end
	for _, k in ipairs { "ok", "fail", "max_inflight", "interleaved", "reused", "handshakes", "resumed", "ticks" } do
		ngx.say(k, "=", st[k])
	end
	ngx.say("upstream_connections=", nconn)
	ngx.say("first_error=", tostring(st.errs[1]))
	for key, s in pairs(mresty.pool_stats()) do
		if key:find("#" .. (args.pool or "load") .. "$") then
			ngx.say("pool_idle=", s.idle)
			ngx.say("pool_connections=", s.connections)
		end
	end
end

local function redis()
	local args = ngx.req.get_uri_args()
	local ok_r, redis_mod = pcall(require, "nginx.redis") -- Debian's path
	if not ok_r then
		redis_mod = require "resty.redis"
	end
	local red = redis_mod:new()
	-- lua-resty-redis makes its own ngx.socket.tcp() in new(): give it ours
	mresty.attach(red, { config = cfgs[args.cfg or "redis"], server_hostname = "redis.test", timeout = 10000 })
	for round = 1, tonumber(args.rounds) or 2 do
		local p = round .. "."
		local ok, err = red:connect("127.0.0.1", tonumber(args.port))
		if not ok then
			return say_err(p .. "connect_", err)
		end
		ngx.say(p, "reused=", tostring(red:get_reused_times()))
		local res
		res, err = red:set("mutls:key", "value " .. round)
		if not res then
			return say_err(p .. "set_", err)
		end
		ngx.say(p, "set=", tostring(res))
		res, err = red:get("mutls:key")
		if not res then
			return say_err(p .. "get_", err)
		end
		ngx.say(p, "get=", tostring(res))
		ok, err = red:set_keepalive(10000, 4)
		ngx.say(p, "keepalive=", tostring(ok), " ", tostring(err))
	end
end

-- What lua-resty-http (0.16/0.17, resty/http.lua) does with httpc.sock, call
-- for call, for a user who sets `httpc.sock = mresty.tcp{...}` and calls
-- httpc:connect{ scheme = "https", host =, port =, ssl_server_name = },
-- httpc:request{ path = }, res:read_body(), httpc:set_keepalive():
-- connect(host, port, { pool = }), getreusedtimes, tlshandshake (0.10.23+
-- lua-nginx-module; else sslhandshake) when reusedtimes is 0, send of a flat
-- array of strings, receive("*l") for the status and each header line,
-- receive(n) for the body, setkeepalive(timeout, size).
local function httpc_shape()
	local rounds = tonumber(ngx.var.arg_rounds) or 2
	local httpc = { sock = mresty.tcp{ config = cfgs["1.3"], server_hostname = "upstream.test", timeout = 10000 } }
	for round = 1, rounds do
		local p = round .. "."
		local sock = httpc.sock
		sock:settimeouts(10000, 10000, 10000)
		local poolname = "127.0.0.1:" .. up_port .. ":upstream.test:true"
		local ok, err = sock:connect("127.0.0.1", up_port, { pool = poolname, pool_size = 4, backlog = nil })
		if not ok then
			return say_err(p .. "connect_", err)
		end
		local reused = sock:getreusedtimes()
		ngx.say(p, "reused=", reused)
		if reused == 0 then
			local hs = sock.tlshandshake and sock:tlshandshake{ reused_session = nil,
				server_name = "upstream.test", verify = true, ocsp_status_req = nil }
				or sock:sslhandshake(nil, "upstream.test", true, nil)
			ngx.say(p, "handshake=", tostring(hs and true))
		end
		ok, err = sock:send({ "GET", " ", "/who", " HTTP/", 1.1, "\r\n", "Host", ": ", "upstream.test", "\r\n",
			"User-Agent", ": ", "lua-resty-http/0.17.1", "\r\n", "\r\n" })
		if not ok then
			return say_err(p .. "send_", err)
		end
		local line = sock:receive("*l")
		ngx.say(p, "status=", tostring(line and line:match("^HTTP/1%.1 (%d+)")))
		local len
		repeat
			line, err = sock:receive("*l")
			if not line then
				return say_err(p .. "header_", err)
			end
			len = len or tonumber(line:lower():match("^content%-length:%s*(%d+)"))
		until line == ""
		local body = sock:receive(len)
		local w = kv(body or "")
		ngx.say(p, "up_client=", tostring(w.client))
		ngx.say(p, "up_reqs=", tostring(w.reqs))
		ok, err = sock:setkeepalive(10000, 4)
		ngx.say(p, "keepalive=", tostring(ok), " ", tostring(err))
	end
end

function M.handle()
	if bad.init then
		ngx.status = 500
		return ngx.say("init_error=", bad.init)
	end
	local uri = ngx.var.uri
	if uri == "/health" then
		ngx.say("ok=true")
	elseif uri == "/seq" then
		seq()
	elseif uri == "/deny" then
		deny = ngx.var.arg_on == "1"
		ngx.say("deny=", tostring(deny))
	elseif uri == "/patterns" then
		patterns()
	elseif uri == "/pool_load" then
		pool_load()
	elseif uri == "/redis" then
		redis()
	elseif uri == "/httpc" then
		httpc_shape()
	else
		ngx.status = 404
		ngx.say("unknown=", uri)
	end
end

return M
