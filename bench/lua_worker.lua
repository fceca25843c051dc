-- One benchmark worker for bench/run, in Lua (5.4 or LuaJIT): mutls's
-- binding, or LuaSec (OpenSSL; Lua 5.4), doing the loops of
-- bench/c/bench_worker.c with the same command protocol (see there): one
-- command per line on stdin, one reply line on stdout ("ok ..." or "err ...").
--
--   lua5.4|luajit bench/lua_worker.lua mutls PKI_DIR        commands on stdin
--   lua5.4 bench/lua_worker.lua luasec PKI_DIR
--   ... PKI_DIR CMD ARGS                                    one command (callgrind)
--
-- LUA_CPATH must find mutls.so (build/lua/5.4 or build/lua/jit); LuaSocket
-- gives the TCP sockets and the clock (socket.gettime).
--
-- Every handshake must verify both peers: mutls's `verified` on both ends;
-- LuaSec with verify = { "peer", "fail_if_no_peer_cert" } on both ends,
-- getpeerverification() true, and on the client the server's name checked
-- against the certificate's DNS names (LuaSec does not check names itself).
-- LuaSec has no memory mode and no session resumption: those commands fail.

local socket = require "socket"
local gettime = socket.gettime

local HOST = "orders.internal"
local MODE, PKI = arg[1], arg[2]
if MODE ~= "mutls" and MODE ~= "luasec" then
	io.stderr:write("usage: lua_worker.lua mutls|luasec PKI_DIR\n")
	os.exit(2)
end

local mutls, ssl
if MODE == "mutls" then
	mutls = require "mutls"
else
	ssl = require "ssl"
end

local CIPHERS = {
	aes128gcm = { "NORMAL:-CIPHER-ALL:+AES-128-GCM", "AES_128_GCM", "TLS_AES_128_GCM_SHA256" },
	chacha20 = { "NORMAL:-CIPHER-ALL:+CHACHA20-POLY1305", "CHACHA20", "TLS_CHACHA20_POLY1305_SHA256" },
}

local function check(cond, what)
	if not cond then
		error(what, 0)
	end
	return cond
end

local function f(kt, name)
	return PKI .. "/" .. kt .. "/" .. name
end

local function fmt_num(x)
	return string.format("%.9f", x)
end

-- ---- worlds ------------------------------------------------------------------

local worlds = {}

local function world(kt, ver, cipher)
	local key = kt .. "/" .. ver .. "/" .. (cipher or "-")
	local w = worlds[key]
	if w then
		return w
	end
	w = { ver = ver, want = cipher and CIPHERS[cipher][2] }
	if MODE == "mutls" then
		local prio = cipher and CIPHERS[cipher][1] or nil
		w.ccfg = check(mutls.config{ certificate = f(kt, "client.pem"), private_key = f(kt, "client.key"),
			trust = f(kt, "ca.pem"), versions = { ver }, priority = prio })
		w.scfg = check(mutls.config{ certificate = f(kt, "server.pem"), private_key = f(kt, "server.key"),
			trust = f(kt, "ca.pem"), versions = { ver }, priority = prio })
	else
		local function params(mode, who)
			return {
				-- (protocol "any" with option no_tlsv1_2 fails: "no suitable
				-- signature algorithm"; a fixed protocol works)
				mode = mode, protocol = ver == "1.3" and "tlsv1_3" or "tlsv1_2", options = { "all" },
				certificate = f(kt, who .. ".pem"), key = f(kt, who .. ".key"), cafile = f(kt, "ca.pem"),
				verify = { "peer", "fail_if_no_peer_cert" },
				ciphersuites = cipher and CIPHERS[cipher][3] or nil,
			}
		end
		w.cctx = assert(ssl.newcontext(params("client", "client")))
		w.sctx = assert(ssl.newcontext(params("server", "server")))
	end
	worlds[key] = w
	return w
end

-- ---- pairs in memory (mutls only) ------------------------------------------------

local function mutls_pair(w, data)
	local c = check(w.ccfg:client{ server_hostname = HOST, session_data = data })
	local s = check(w.scfg:server{})
	local cd, sd = false, false
	for _ = 1, 30 do
		if not cd then
			local ok, err = c:handshake()
			if ok then cd = true elseif err ~= "wantread" then error("client: " .. tostring(err), 0) end
		end
		local d = c:data_to_send()
		if #d > 0 then s:feed(d) end
		if not sd then
			local ok, err = s:handshake()
			if ok then sd = true elseif err ~= "wantread" then error("server: " .. tostring(err), 0) end
		end
		d = s:data_to_send()
		if #d > 0 then c:feed(d) end
		if cd and sd then break end
	end
	check(cd and sd, "handshake did not finish")
	check(c.verified and s.verified, "a peer is not verified")
	if w.want then
		check(c.cipher:find(w.want, 1, true), "negotiated " .. tostring(c.cipher))
	end
	return c, s
end

local function no_memory_mode()
	error("LuaSec has no memory mode (it needs a socket)", 0)
end

local function hs_mem(w, n)
	if MODE ~= "mutls" then no_memory_mode() end
	for _ = 1, n do
		local c, s = mutls_pair(w)
		c:destroy()
		s:destroy()
	end
end

local function resume_mem(w, n)
	if MODE ~= "mutls" then no_memory_mode() end
	local c, s = mutls_pair(w)
	if w.ver == "1.3" then
		local d, err = c:recv(16) -- the ticket comes after the handshake
		check(d == nil and err == "wantread", "reading the ticket: " .. tostring(err))
	end
	local data = check(c.session_data, "no session data")
	c:destroy()
	s:destroy()
	for _ = 1, n do
		c, s = mutls_pair(w, data)
		check(c.resumed and s.resumed, "not resumed")
		c:destroy()
		s:destroy()
	end
end

local function bulk_mem(w, size, total)
	if MODE ~= "mutls" then no_memory_mode() end
	local chunk = string.rep("x", size)
	local batch = math.max(1, math.floor(65536 / size))
	local moved = 0
	local c, s = mutls_pair(w)
	while moved < total do
		for _ = 1, batch do
			check(c:send(chunk) == size, "short send")
		end
		s:feed(c:data_to_send())
		local want = batch * size
		while want > 0 do
			local d, err = s:recv(16384)
			if not d then error("recv: " .. tostring(err), 0) end
			want = want - #d
		end
		moved = moved + batch * size
	end
	c:destroy()
	s:destroy()
end

-- ---- sockets ------------------------------------------------------------------

local lsock

local function do_listen()
	lsock = assert(socket.tcp4())
	assert(lsock:setoption("reuseaddr", true))
	assert(lsock:bind("127.0.0.1", 0))
	assert(lsock:listen(1024))
	local _, port = lsock:getsockname()
	return tonumber(port)
end

local function accept()
	local conn = assert(lsock:accept())
	conn:setoption("tcp-nodelay", true)
	return conn
end

local function connect(port)
	local tcp = assert(socket.tcp4())
	tcp:setoption("tcp-nodelay", true)
	assert(tcp:connect("127.0.0.1", port))
	return tcp
end

-- A TLS connection, the same methods for both implementations.
local Conn = {}
Conn.__index = Conn

function Conn:send(data)
	if self.m then
		check(self.m:send(data) == #data, "short send")
	else
		local i, err = self.l:send(data)
		check(i == #data, "send: " .. tostring(err))
	end
end

-- Up to max bytes (mutls: one record; LuaSec: exactly max).
function Conn:recv(max)
	local d, err
	if self.m then
		d, err = self.m:recv(max)
	else
		d, err = self.l:receive(max)
	end
	if not d then error("recv: " .. tostring(err), 0) end
	return d
end

function Conn:close()
	if self.m then
		self.m:destroy()
		self.tcp:close()
	else
		self.l:close()
	end
end

local function names_match(cert)
	local ext = cert:extensions()
	local san = ext and ext["2.5.29.17"]
	for _, name in ipairs(san and san.dNSName or {}) do
		if name == HOST then
			return true
		end
	end
	return false
end

local function serve_one(w)
	local tcp = accept()
	if MODE == "mutls" then
		local s = check(w.scfg:server{ sock = tcp, timeout = 60 })
		local ok, err = s:handshake()
		if not ok then error("server handshake: " .. tostring(err), 0) end
		check(s.verified, "client not verified")
		return setmetatable({ m = s, tcp = tcp }, Conn)
	end
	local conn = assert(ssl.wrap(tcp, w.sctx))
	local ok, err = conn:dohandshake()
	if not ok then error("server handshake: " .. tostring(err), 0) end
	check(conn:getpeerverification() == true, "client not verified")
	check(conn:getpeercertificate(), "client presented no certificate")
	return setmetatable({ l = conn }, Conn)
end

local function connect_one(w, port)
	local tcp = connect(port)
	if MODE == "mutls" then
		local c = check(w.ccfg:client{ sock = tcp, server_hostname = HOST, timeout = 60, session_data = w.data })
		local ok, err = c:handshake()
		if not ok then error("client handshake: " .. tostring(err), 0) end
		check(c.verified, "server not verified")
		if w.want then
			check(c.cipher:find(w.want, 1, true), "negotiated " .. tostring(c.cipher))
		end
		if w.data then
			check(c.resumed, "not resumed")
		end
		return setmetatable({ m = c, tcp = tcp }, Conn)
	end
	local conn = assert(ssl.wrap(tcp, w.cctx))
	conn:sni(HOST)
	local ok, err = conn:dohandshake()
	if not ok then error("client handshake: " .. tostring(err), 0) end
	check(conn:getpeerverification() == true, "server not verified")
	local cert = check(conn:getpeercertificate(), "server presented no certificate")
	check(names_match(cert), "server certificate does not name " .. HOST)
	if w.want then
		local cipher = conn:info("cipher") or ""
		check(cipher:gsub("%-", "_"):find(w.want, 1, true), "negotiated " .. cipher)
	end
	return setmetatable({ l = conn }, Conn)
end

local function hs_serve(w, n)
	for _ = 1, n do
		local conn = serve_one(w)
		conn:send("k")
		conn:close()
	end
end

local function hs_client(w, n, port, resume)
	if resume and MODE ~= "mutls" then
		error("LuaSec has no session resumption API", 0)
	end
	w.data = nil
	for i = 1, n + (resume and 1 or 0) do
		local conn = connect_one(w, port)
		check(conn:recv(1) == "k", "no acknowledgement from the server")
		if resume and i == 1 then
			w.data = check(conn.m.session_data, "no session data")
		end
		conn:close()
	end
	w.data = nil
end

local function bulk_serve(w, total)
	local conn = serve_one(w)
	local got = 0
	while got < total do
		got = got + #conn:recv(math.min(16384, total - got))
	end
	conn:send("k")
	conn:close()
end

local function bulk_client(w, size, total, port)
	local conn = connect_one(w, port)
	local chunk = string.rep("x", size)
	local sent = 0
	local t0 = gettime()
	while sent < total do
		if total - sent < size then
			chunk = chunk:sub(1, total - sent)
		end
		conn:send(chunk)
		sent = sent + #chunk
	end
	check(conn:recv(1) == "k", "no acknowledgement from the receiver")
	local t = gettime() - t0
	conn:close()
	return t
end

-- ---- memory use of idle sessions -------------------------------------------------

local held = {}

local function status_kib(field)
	for line in io.lines("/proc/self/status") do
		local v = line:match("^" .. field .. ":%s+(%d+)")
		if v then
			return tonumber(v)
		end
	end
	return -1
end

local function rss_serve(w, n)
	hs_serve(w, 1)
	collectgarbage()
	local base = status_kib("VmRSS")
	local fh = io.open("/proc/self/clear_refs", "w")
	if fh then
		fh:write("5")
		fh:close()
	end
	for i = 1, n do
		local conn = serve_one(w)
		conn:send("k")
		held[i] = conn
	end
	local peak = status_kib("VmHWM")
	return peak - base, base, peak
end

local function rss_client(w, n, port)
	hs_client(w, 1, port)
	for i = 1, n do
		local conn = connect_one(w, port)
		check(conn:recv(1) == "k", "no acknowledgement")
		held[#held + 1] = conn
	end
end

-- ---- test PKI ---------------------------------------------------------------------

local ca

local function pki(n)
	if MODE ~= "mutls" then
		error("no test PKI in LuaSec", 0)
	end
	ca = ca or check(mutls.testca{ name = "bench CA" })
	for _ = 1, n do
		local leaf = check(ca:issue{ dns = { "bench.example.internal" } })
		check(#leaf.cert_pem > 0 and #leaf.key_pem > 0, "no PEM")
	end
end

-- ---- command loop -------------------------------------------------------------------

-- "ok WALL CPU" (os.clock: CPU time of this process)
local function timed(fn, ...)
	local t0, c0 = gettime(), os.clock()
	fn(...)
	return "ok " .. fmt_num(gettime() - t0) .. " " .. fmt_num(os.clock() - c0)
end

local function run(a)
	local op = a[1]
	local n = tonumber
	if op == "listen" then
		return "ok " .. do_listen()
	elseif op == "hs-mem" then
		return timed(hs_mem, world(a[2], a[3]), n(a[4]))
	elseif op == "resume-mem" then
		return timed(resume_mem, world(a[2], a[3]), n(a[4]))
	elseif op == "bulk-mem" then
		return timed(bulk_mem, world("p256", "1.3", a[2]), n(a[3]), n(a[4]))
	elseif op == "hs-serve" or op == "resume-serve" then
		return timed(hs_serve, world(a[2], a[3]), n(a[4]))
	elseif op == "hs-client" then
		return timed(hs_client, world(a[2], a[3]), n(a[4]), n(a[5]))
	elseif op == "resume-client" then
		return timed(hs_client, world(a[2], a[3]), n(a[4]), n(a[5]), true)
	elseif op == "bulk-serve" then
		return timed(bulk_serve, world("p256", "1.3", a[2]), n(a[4]))
	elseif op == "bulk-client" then
		return "ok " .. fmt_num(bulk_client(world("p256", "1.3", a[2]), n(a[3]), n(a[4]), n(a[5])))
	elseif op == "rss-serve" then
		local g, b, p = rss_serve(world(a[2], a[3]), n(a[4]))
		return string.format("ok %d %d %d", g, b, p)
	elseif op == "rss-client" then
		rss_client(world(a[2], a[3]), n(a[4]), n(a[5]))
		return "ok"
	elseif op == "pki" then
		return timed(pki, n(a[2]))
	end
	return "err unknown command " .. tostring(op)
end

local function answer(a)
	local ok, res = pcall(run, a)
	if ok then
		return res
	end
	return (("err " .. tostring(res)):gsub("\n", " "))
end

local function words(line)
	local a = {}
	for w in line:gmatch("%S+") do
		a[#a + 1] = w
	end
	return a
end

if #arg > 2 then
	local a = {}
	for i = 3, #arg do
		a[#a + 1] = arg[i]
	end
	local reply = answer(a)
	print(reply)
	os.exit(reply:sub(1, 2) == "ok" and 0 or 1)
end

io.stdout:setvbuf("line")
for line in io.lines() do
	local a = words(line)
	if a[1] == "quit" then
		held = {}
		print("ok")
		break
	elseif a[1] then
		io.stdout:write(answer(a), "\n")
		io.stdout:flush()
	end
end
