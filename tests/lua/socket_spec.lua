-- mutls.socket (the LuaSocket adapter) against real peers on 127.0.0.1, with
-- client certificates required: openssl s_server -Verify 1
-- -verify_return_error (-rev: line echo reversed; -www: status page),
-- openssl s_client and gnutls-cli as clients of our server role, and LuaSec
-- on both sides. Every process started is killed in teardown.

local mutls = require "mutls"
local has_socket, socket = pcall(require, "socket")
local msock = has_socket and require "mutls.socket"

-- ---------------------------------------------------------------- helpers

local function sh(cmd)
	local p = io.popen(cmd .. " 2>&1")
	local out = p:read("*a")
	p:close()
	return out
end

local function have(cmd)
	return sh("command -v " .. cmd .. " >/dev/null && echo yes"):find("yes") ~= nil
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

local function free_port()
	local srv = assert(socket.bind("127.0.0.1", 0))
	local _, port = srv:getsockname()
	srv:close()
	return tonumber(port)
end

local function spawn(cmd, log, input)
	local out = sh(cmd .. " >" .. log .. " 2>&1 <" .. (input or "/dev/null") .. " & echo $!")
	return tonumber(out:match("(%d+)%s*$"))
end

-- Running (not exited, not a zombie: an orphan's zombie may linger here
-- until PID 1 reaps it).
local function alive(pid)
	local stat = sh("ps -o stat= -p " .. pid):match("^%s*(%S+)")
	return stat ~= nil and stat:sub(1, 1) ~= "Z"
end

local function wait_exit(pid, seconds)
	local deadline = socket.gettime() + seconds
	while alive(pid) and socket.gettime() < deadline do
		socket.sleep(0.05)
	end
	return not alive(pid)
end

local function kill(pid)
	if not pid or not alive(pid) then
		return
	end
	sh("kill -TERM " .. pid)
	if not wait_exit(pid, 3) then
		sh("kill -KILL " .. pid)
	end
end

local function wait_port(port, pid, seconds)
	local deadline = socket.gettime() + seconds
	while socket.gettime() < deadline do
		local c = socket.tcp()
		c:settimeout(0.2)
		local ok = c:connect("127.0.0.1", port)
		c:close()
		if ok then
			return true
		end
		if pid and not alive(pid) then
			return false
		end
		socket.sleep(0.05)
	end
	return false
end

local function wait_file_match(path, pattern, seconds)
	local deadline = socket.gettime() + seconds
	while socket.gettime() < deadline do
		local m = (readfile(path) or ""):match(pattern)
		if m then
			return m
		end
		socket.sleep(0.05)
	end
	return nil
end

local function lua_interpreter()
	if jit and have("luajit") then
		return "luajit"
	end
	local v = _VERSION:match("Lua (%d%.%d)")
	if v and have("lua" .. v) then
		return "lua" .. v
	end
	return nil
end

-- ---------------------------------------------------------------- the spec

describe("mutls.socket (LuaSocket adapter) against real peers", function()
	local skip
	local dir
	local pids = {}
	local ca, ids, cfg = nil, {}, {}
	local rev_port, www_port

	local function start_s_server(mode)
		local port = free_port()
		local pid = spawn(("openssl s_server -accept 127.0.0.1:%d %s -quiet -Verify 1 -verify_return_error "
			.. "-cert %s/server/cert.pem -key %s/server/key.pem -CAfile %s/ca.pem")
			:format(port, mode, dir, dir, dir), dir .. "/s_server" .. mode .. ".log")
		pids[#pids + 1] = pid
		assert(wait_port(port, pid, 10), "openssl s_server " .. mode .. " did not start: "
			.. tostring(readfile(dir .. "/s_server" .. mode .. ".log")))
		return port
	end

	lazy_setup(function()
		if not has_socket then
			skip = "LuaSocket (lua-socket) is not installed for this Lua"
			return
		end
		if not have("openssl") then
			skip = "openssl is not installed"
			return
		end
		dir = (sh("mktemp -d /tmp/mutls-socket.XXXXXX"):gsub("%s+$", ""))
		assert(dir:match("^/tmp/mutls%-socket"), dir)
		sh("mkdir -p " .. dir .. "/server " .. dir .. "/client " .. dir .. "/rogue")
		ca = assert(mutls.testca{ name = "mutls socket test CA" })
		local rogue_ca = assert(mutls.testca{ name = "rogue CA" })
		ids.server = assert(ca:issue{ cn = "server.test", dns = { "server.test" }, purpose = "server" })
		ids.client = assert(ca:issue{ cn = "lua-client", uri = { "spiffe://mutls.test/lua" }, purpose = "client" })
		ids.rogue = assert(rogue_ca:issue{ cn = "rogue-client", purpose = "client" })
		for name, id in pairs(ids) do
			assert(id:write_to(dir .. "/" .. name))
		end
		writefile(dir .. "/ca.pem", ca.cert_pem)
		cfg.client = assert(mutls.config{ identity = ids.client, trust = ca })
		cfg.server = assert(mutls.config{ identity = ids.server, trust = ca, peer_certificate = "require" })
		cfg.anon = assert(mutls.config{ trust = ca })
		rev_port = start_s_server("-rev")
		www_port = start_s_server("-www")
	end)

	lazy_teardown(function()
		for _, pid in ipairs(pids) do
			kill(pid)
		end
		if dir then
			sh("rm -rf " .. dir)
		end
	end)

	it("connects with a client certificate to openssl s_server and reads lines, sizes and prefixes", function()
		if skip then return pending(skip) end
		local conn, err = msock.connect("127.0.0.1", rev_port, {
			config = cfg.client, server_hostname = "server.test", timeout = 5,
		})
		assert.truthy(conn, tostring(err))
		-- who the server is, checked
		assert.are.equal(ids.server.certificate:fingerprint("sha256"), conn:peer_certificate():fingerprint("sha256"))
		assert.are.same({ "server.test" }, conn:peer_certificate().dns_names)
		assert.is_true(conn.session.verified)
		assert.are.equal("TLSv1.3", conn:version())
		assert.is_string(conn:cipher())
		local info = conn:info()
		assert.are.equal("TLSv1.3", info.protocol)
		assert.are.equal(conn:cipher(), info.cipher)
		assert.are.equal(conn:cipher(), conn:info("cipher"))
		assert.is_true(info.verified)
		assert.are.equal(conn.tcp:getfd(), conn:getfd())

		-- s_server -rev sends each line back reversed
		assert.are.equal(12, conn:send("hello world\n"))
		assert.are.equal("dlrow olleh", conn:receive("*l"))
		assert.are.equal(4, conn:send("abc\n"))
		assert.are.equal("cb", conn:receive(2))
		assert.are.equal("a", conn:receive("l"))
		conn:send("xyz\r\n")
		assert.are.equal("pre:zyx", conn:receive("*l", "pre:"))
		-- send(data, i, j) sends data:sub(i, j) and returns j
		assert.are.equal(6, conn:send("0123456789", 3, 6))
		conn:send("\n")
		assert.are.equal("5432", conn:receive("*l"))
		-- many lines in one send: several TLS records, lines split across them
		local lines = {}
		for i = 1, 40 do
			lines[i] = ("%03d:"):format(i) .. string.rep(string.char(96 + i % 26), 1000)
		end
		local blob = table.concat(lines, "\n") .. "\n"
		assert.are.equal(#blob, conn:send(blob))
		for i = 1, 40 do
			local got = conn:receive("*l")
			assert.is_true(got == lines[i]:reverse(), "line " .. i .. " differs")
		end
		-- blocking mode (nil timeout) and the tcp methods passed through
		conn:settimeout(nil)
		conn:send("blocking\n")
		assert.are.equal("gnikcolb", conn:receive("*l"))
		assert.are.equal("127.0.0.1", (conn:getpeername()))
		assert.are.equal(1, conn:close())
	end)

	it("receive('*a') reads openssl s_server -www's status page, which names our certificate", function()
		if skip then return pending(skip) end
		local conn, err = msock.connect("127.0.0.1", www_port, {
			config = cfg.client, server_hostname = "server.test", timeout = 5,
		})
		assert.truthy(conn, tostring(err))
		conn:send("GET / HTTP/1.0\r\n\r\n")
		local page, rerr, partial = conn:receive("*a")
		page = page or partial
		assert.truthy(page and page:find("^HTTP/1%.0 200 ok"), tostring(rerr) .. ": " .. tostring(page))
		assert.truthy(page:find("Client certificate", 1, true), page)
		assert.truthy(page:find("CN%s*=%s*lua%-client"), page)
		-- s_server -www ends with close_notify: an orderly end, no error
		assert.is_nil(rerr, tostring(rerr))
		conn:close()
	end)

	it("a wrong server name: nil, err with code verify-failed and reasons {'name-mismatch'}", function()
		if skip then return pending(skip) end
		local conn, err = msock.connect("127.0.0.1", rev_port, {
			config = cfg.client, server_hostname = "wrong.test", timeout = 5,
		})
		assert.is_nil(conn)
		assert.are.equal("verify-failed", err.code)
		assert.are.same({ "name-mismatch" }, err.reasons)
		assert.are.equal("local", err.side)
		assert.truthy(err.peer_certificate, "the refused certificate comes with the error")
		assert.are.equal(ids.server.certificate:fingerprint("sha256"), err.peer_certificate:fingerprint("sha256"))
		assert.truthy(tostring(err):find("name", 1, true), tostring(err))
	end)

	it("a client without a certificate: TLS 1.3 handshake completes, the refusal arrives on the first receive", function()
		if skip then return pending(skip) end
		local conn, err = msock.connect("127.0.0.1", rev_port, {
			config = cfg.anon, server_hostname = "server.test", timeout = 5,
		})
		assert.truthy(conn, tostring(err))
		assert.are.equal("TLSv1.3", conn:version())
		conn:send("anyone?\n")
		local line, rerr = conn:receive("*l")
		assert.is_nil(line)
		assert.are.equal("peer-rejected", rerr.code, tostring(rerr))
		assert.are.equal("peer", rerr.side)
		conn:close()
	end)

	it("serves openssl s_client and gnutls-cli (client certificates required) with wrap_server", function()
		if skip then return pending(skip) end
		local clients = {
			{ name = "openssl", cmd = "openssl s_client -connect 127.0.0.1:%d -servername server.test "
				.. "-cert %s/client/cert.pem -key %s/client/key.pem -CAfile %s/ca.pem "
				.. "-verify_return_error -verify_hostname server.test -quiet" },
		}
		if have("gnutls-cli") then
			clients[#clients + 1] = { name = "gnutls", cmd = "gnutls-cli --port %d --sni-hostname server.test "
				.. "--verify-hostname server.test --x509certfile %s/client/chain.pem "
				.. "--x509keyfile %s/client/key.pem --x509cafile %s/ca.pem 127.0.0.1" }
		end
		for _, c in ipairs(clients) do
			local srv = assert(socket.bind("127.0.0.1", 0))
			local _, port = srv:getsockname()
			srv:settimeout(10)
			-- the client's stdin is a FIFO we hold open (read-write: never
			-- blocks) until our answer is sent
			local fifo = dir .. "/stdin-" .. c.name
			sh("mkfifo " .. fifo)
			local stdin = assert(io.open(fifo, "r+"))
			local log = dir .. "/client-" .. c.name .. ".log"
			local pid = spawn(c.cmd:format(port, dir, dir, dir), log, fifo)
			pids[#pids + 1] = pid
			local tcp, aerr = srv:accept()
			srv:close()
			if not tcp then
				stdin:close()
				error(c.name .. " did not connect (" .. tostring(aerr) .. "): " .. tostring(readfile(log)))
			end
			local conn = assert(msock.wrap_server(tcp, cfg.server, { timeout = 5 }))
			local ok, err = conn:dohandshake()
			assert.truthy(ok, c.name .. ": " .. tostring(err) .. " " .. tostring(readfile(log)))
			assert.is_true(conn.session.verified)
			assert.are.equal("server.test", conn.session.server_name)
			local peer = conn:peer_certificate()
			assert.are.equal(ids.client.certificate:fingerprint("sha256"), peer:fingerprint("sha256"))
			assert.are.same({ "spiffe://mutls.test/lua" }, peer.uris)
			stdin:write("ping from " .. c.name .. "\n")
			stdin:flush()
			local line, rerr = conn:receive("*l")
			assert.are.equal("ping from " .. c.name, line, tostring(rerr))
			conn:send("pong for " .. tostring(peer.common_name) .. "\n")
			-- the client prints what it received; then we close
			-- the whole line: the client may be caught halfway through writing it
			local got = wait_file_match(log, "(pong for [%w%-]+)\r?\n", 5)
			conn:close()
			stdin:close()
			wait_exit(pid, 5)
			assert.are.equal("pong for lua-client", got, c.name .. " output: " .. tostring(readfile(log)))
		end
	end)

	it("interoperates with LuaSec in both directions", function()
		if skip then return pending(skip) end
		local lua = lua_interpreter()
		if not lua then return pending("no Lua interpreter found for the LuaSec peer") end
		local probe = sh(lua .. " -e 'require \"ssl\"; print(\"luasec-ok\")'")
		if not probe:find("luasec-ok", 1, true) then
			return pending("LuaSec (lua-sec) is not installed for " .. lua .. ": " .. probe)
		end
		-- LuaSec server, our client
		writefile(dir .. "/luasec_server.lua", ([[
local socket, ssl = require "socket", require "ssl"
local srv = assert(socket.bind("127.0.0.1", 0))
local _, port = srv:getsockname()
io.stdout:write("port=", port, "\n"); io.stdout:flush()
srv:settimeout(10)
local c = assert(srv:accept())
c = assert(ssl.wrap(c, { mode = "server", protocol = "any", options = "all",
	certificate = "%s/server/chain.pem", key = "%s/server/key.pem", cafile = "%s/ca.pem",
	verify = { "peer", "fail_if_no_peer_cert" } }))
c:settimeout(5)
local ok, err = c:dohandshake()
if not ok then print("handshake: " .. tostring(err)) os.exit(1) end
local cn
for _, e in ipairs(c:getpeercertificate():subject()) do if e.oid == "2.5.4.3" then cn = e.value end end
local line = c:receive("*l")
c:send("luasec saw " .. tostring(cn) .. " verified=" .. tostring(c:getpeerverification()) .. " said " .. tostring(line) .. "\n")
c:close()
print("done")
]]):format(dir, dir, dir))
		local log = dir .. "/luasec_server.log"
		local pid = spawn(lua .. " " .. dir .. "/luasec_server.lua", log)
		pids[#pids + 1] = pid
		local port = tonumber(wait_file_match(log, "port=(%d+)\n", 10))
		assert.truthy(port, "LuaSec server: " .. tostring(readfile(log)))
		local conn, err = msock.connect("127.0.0.1", port, {
			config = cfg.client, server_hostname = "server.test", timeout = 5,
		})
		assert.truthy(conn, tostring(err))
		conn:send("hi luasec\n")
		local reply, rerr = conn:receive("*l")
		assert.are.equal("luasec saw lua-client verified=true said hi luasec", reply, tostring(rerr))
		conn:close()
		wait_exit(pid, 5)

		-- LuaSec client, our server
		local srv = assert(socket.bind("127.0.0.1", 0))
		local _, sport = srv:getsockname()
		srv:settimeout(10)
		writefile(dir .. "/luasec_client.lua", ([[
local socket, ssl = require "socket", require "ssl"
local c = assert(socket.tcp()); c:settimeout(5)
assert(c:connect("127.0.0.1", %d))
c = assert(ssl.wrap(c, { mode = "client", protocol = "any", options = "all",
	certificate = "%s/client/chain.pem", key = "%s/client/key.pem", cafile = "%s/ca.pem",
	verify = "peer" }))
c:sni("server.test")
c:settimeout(5)
local ok, err = c:dohandshake()
if not ok then print("handshake: " .. tostring(err)) os.exit(1) end
c:send("hello from luasec\n")
print("reply: " .. tostring((c:receive("*l"))))
c:close()
]]):format(sport, dir, dir, dir))
		local clog = dir .. "/luasec_client.log"
		local cpid = spawn(lua .. " " .. dir .. "/luasec_client.lua", clog)
		pids[#pids + 1] = cpid
		local tcp = assert(srv:accept())
		srv:close()
		local sconn = assert(msock.wrap_server(tcp, cfg.server, { timeout = 5 }))
		local ok, herr = sconn:dohandshake()
		assert.truthy(ok, tostring(herr))
		assert.are.equal("lua-client", sconn:peer_certificate().common_name)
		assert.are.equal("hello from luasec", sconn:receive("*l"))
		assert.are.equal("server.test", sconn.session.server_name)
		sconn:send("hello from mutls\n")
		sconn:close()
		wait_exit(cpid, 5)
		assert.truthy((readfile(clog) or ""):find("reply: hello from mutls", 1, true), tostring(readfile(clog)))
	end)

	it("honours timeouts: a silent peer gives 'timeout', a zero timeout gives 'wantread'", function()
		if skip then return pending(skip) end
		local silent = assert(socket.bind("127.0.0.1", 0)) -- accepts (backlog) but never speaks
		local _, port = silent:getsockname()
		local t0 = socket.gettime()
		local conn, err = msock.connect("127.0.0.1", port, {
			config = cfg.client, server_hostname = "server.test", timeout = 0.3,
		})
		local took = socket.gettime() - t0
		assert.is_nil(conn)
		assert.are.equal("timeout", err)
		assert.is_true(took >= 0.25 and took < 3, "took " .. took)

		local tcp = socket.tcp()
		tcp:settimeout(2)
		assert(tcp:connect("127.0.0.1", port))
		local c = assert(msock.wrap(tcp, cfg.client, { server_hostname = "server.test", timeout = 0 }))
		local ok, herr = c:dohandshake()
		assert.is_nil(ok)
		assert.are.equal("wantread", herr)
		c:close()
		silent:close()
	end)

	it("raises on wrong arguments", function()
		if skip then return pending(skip) end
		assert.has_error(function() msock.connect("127.0.0.1", 1, {}) end)
		assert.has_error(function() msock.wrap(nil, cfg.client) end)
		assert.has_error(function() msock.wrap(socket.tcp(), cfg.client) end) -- not connected
	end)

	it("rejects unknown options, naming them, as mutls.config does", function()
		if skip then return pending(skip) end
		-- before any connection is made: nothing listens on port 1
		assert.has_error(function()
			msock.connect("127.0.0.1", 1, { config = cfg.client, sever_hostname = "x" })
		end, "mutls.socket.connect: unknown option 'sever_hostname'")
		assert.has_error(function()
			msock.connect("127.0.0.1", 1, { config = cfg.client, [1] = "x" })
		end, "mutls.socket.connect: options are named (got a number key)")
		local server = assert(socket.bind("127.0.0.1", 0))
		local _, port = server:getsockname()
		local tcp = socket.tcp()
		assert(tcp:connect("127.0.0.1", port))
		assert.has_error(function() msock.wrap(tcp, cfg.client, { timout = 1 }) end,
			"mutls.socket.wrap: unknown option 'timout'")
		assert.has_error(function() msock.wrap_server(tcp, cfg.server, { server_hostname = "x" }) end,
			"mutls.socket.wrap_server: unknown option 'server_hostname'")
		-- the known ones still work
		local conn = assert(msock.wrap(tcp, cfg.client, { server_hostname = "localhost", timeout = 1 }))
		conn:close()
		server:close()
	end)
end)

-- handshake_timeout, a peer that is not TLS, and a peer that closes without
-- close_notify (Python's ssl: tests/lua/py_ssl_peer.py echoes one message and
-- closes its socket without unwrap).
describe("mutls.socket: silent, plain and ragged peers", function()
	local skip, dir, ca, sid, cid, ccfg, scfg
	local pids = {}
	local H = require "helpers"
	local PEER_SCRIPT
	do
		local src = debug.getinfo(1, "S").source:match("^@(.*)$") or "tests/lua/socket_spec.lua"
		local d = src:match("^(.*)/[^/]*$") or "."
		if d:sub(1, 1) ~= "/" then d = (os.getenv("PWD") or ".") .. "/" .. d end
		PEER_SCRIPT = d .. "/py_ssl_peer.py"
	end

	lazy_setup(function()
		if not has_socket then
			skip = "LuaSocket (lua-socket) is not installed for this Lua"
			return
		end
		if not H.python() then
			skip = "python3 is not installed"
			return
		end
		dir = (sh("mktemp -d /tmp/mutls-ragged.XXXXXX"):gsub("%s+$", ""))
		assert(dir:match("^/tmp/mutls%-ragged"), dir)
		ca = assert(mutls.testca{ name = "ragged CA" })
		sid = assert(ca:issue{ cn = "localhost", dns = { "localhost" } })
		cid = assert(ca:issue{ cn = "ragged client" })
		sh("mkdir -p " .. dir .. "/server")
		assert(sid:write_to(dir .. "/server"))
		writefile(dir .. "/ca.pem", ca.cert_pem)
		ccfg = assert(mutls.config{ identity = cid, trust = ca, handshake_timeout = 0.3 })
		scfg = assert(mutls.config{ identity = sid, trust = ca, handshake_timeout = 0.3 })
	end)

	lazy_teardown(function()
		for _, pid in ipairs(pids) do
			kill(pid)
		end
		if dir then
			sh("rm -rf " .. dir)
		end
	end)

	-- Python's ssl server: echoes one message, then closes without close_notify.
	local function ragged_peer()
		local port_file = dir .. "/port" .. #pids
		local pid = spawn(("%s -S %s server --version 1.3 --ca %s/ca.pem --cert %s/server/chain.pem "
			.. "--key %s/server/key.pem --port-file %s --timeout 10"):format(H.python(), PEER_SCRIPT,
			dir, dir, dir, port_file), port_file .. ".log")
		pids[#pids + 1] = pid
		local port = wait_file_match(port_file, "^(%d+)\n", 10)
		assert(port, "py_ssl_peer did not start: " .. tostring(readfile(port_file .. ".log")))
		return tonumber(port), pid
	end

	local MSG = "ragged one\nragged two\n"

	it("the default handshake_timeout is finite; false means none", function()
		if skip then return pending(skip) end
		assert.are.equal(30, mutls.config{}.handshake_timeout)
		assert.are.equal(false, mutls.config{ handshake_timeout = false }.handshake_timeout)
		assert.are.equal(0.3, ccfg.handshake_timeout)
		assert.has_error(function() mutls.config{ handshake_timeout = 0 } end)
		assert.has_error(function() mutls.config{ handshake_timeout = "30" } end)
	end)

	for _, timeout in ipairs({ "none", 5 }) do
		it("a server that accepts TCP and never answers: code timeout after handshake_timeout (timeout "
			.. timeout .. ")", function()
			if skip then return pending(skip) end
			local silent = assert(socket.bind("127.0.0.1", 0)) -- the kernel accepts; nobody speaks
			local _, port = silent:getsockname()
			local t0 = socket.gettime()
			local conn, err = msock.connect("127.0.0.1", port, {
				config = ccfg, server_hostname = "localhost",
				timeout = timeout ~= "none" and timeout or nil,
			})
			local took = socket.gettime() - t0
			silent:close()
			assert.is_nil(conn)
			assert.are.equal("timeout", err.code, tostring(err))
			assert.are.equal("handshake timed out: the client waited 0.3 s for the server's answer to our "
				.. "ClientHello, and the server sent nothing (handshake_timeout 0.3 s)", err.message)
			assert.is_true(took >= 0.25 and took < 3, "took " .. took)
		end)
	end

	it("a client that connects and never speaks: the server's handshake ends with code timeout", function()
		if skip then return pending(skip) end
		local srv = assert(socket.bind("127.0.0.1", 0))
		local idle = socket.tcp()
		assert(idle:connect(srv:getsockname()))
		local tcp = assert(srv:accept())
		local conn = assert(msock.wrap_server(tcp, scfg))
		local t0 = socket.gettime()
		local ok, err = conn:dohandshake()
		assert.is_nil(ok)
		assert.are.equal("timeout", err.code, tostring(err))
		assert.truthy(err.message:find("the server waited 0.3 s for the client's ClientHello", 1, true), err.message)
		assert.is_true(socket.gettime() - t0 < 3)
		conn:close()
		idle:close()
		srv:close()
	end)

	it("a plain HTTP server (python -m http.server): the error says it is not TLS", function()
		if skip then return pending(skip) end
		local port = free_port()
		local pid = spawn(("%s -m http.server %d --bind 127.0.0.1"):format(H.python(), port), dir .. "/http.log")
		pids[#pids + 1] = pid
		assert(wait_port(port, pid, 10), "http.server did not start")
		local conn, err = msock.connect("127.0.0.1", port, { config = ccfg, server_hostname = "localhost", timeout = 5 })
		assert.is_nil(conn)
		assert.are.equal("protocol", err.code, tostring(err))
		assert.truthy(err.message:find("^the server answered with something that is not TLS %(it looks like "),
			err.message)
		assert.is_nil(err.message:find("unexpected TLS packet", 1, true))
	end)

	it("a plain HTTP client: the server's error quotes its request line", function()
		if skip then return pending(skip) end
		local srv = assert(socket.bind("127.0.0.1", 0))
		local plain = socket.tcp()
		assert(plain:connect(srv:getsockname()))
		assert(plain:send("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"))
		local tcp = assert(srv:accept())
		local conn = assert(msock.wrap_server(tcp, scfg, { timeout = 5 }))
		local ok, err = conn:dohandshake()
		assert.is_nil(ok)
		assert.are.equal("protocol", err.code)
		assert.are.equal("the client sent something that is not TLS (it looks like HTTP: 'GET /health HTTP/1.1')",
			err.message)
		conn:close()
		plain:close()
		srv:close()
	end)

	for _, pattern in ipairs({ "*a", "*l", 64 }) do
		it("receive(" .. tostring(pattern) .. ") returns every byte that arrived before a close "
			.. "without close_notify, then the error", function()
			if skip then return pending(skip) end
			local port = ragged_peer()
			local conn, err = msock.connect("127.0.0.1", port, { config = ccfg, server_hostname = "localhost", timeout = 5 })
			assert.truthy(conn, tostring(err))
			assert.are.equal(#MSG, conn:send(MSG))
			socket.sleep(0.3) -- the echo and the close both arrive first
			local got = {}
			local data, rerr, partial
			repeat
				data, rerr, partial = conn:receive(pattern)
				got[#got + 1] = data or partial
			until not data
			local text = table.concat(got, pattern == "*l" and "\n" or "")
			assert.are.equal(pattern == "*l" and "ragged one\nragged two\n" or MSG, text)
			assert.are.equal("closed", rerr.code, tostring(rerr))
			assert.is_not_true(rerr.clean)
			assert.truthy(rerr.message:find("without close_notify", 1, true), rerr.message)
			conn:close()
		end)
	end

	it("memory mode over LuaSocket: the data, then the close without close_notify", function()
		if skip then return pending(skip) end
		local port = ragged_peer()
		local tcp = socket.tcp()
		tcp:settimeout(5)
		assert(tcp:connect("127.0.0.1", port))
		local s = assert(ccfg:client{ server_hostname = "localhost" })
		local function flush()
			local out = s:data_to_send()
			if #out > 0 then assert(tcp:send(out)) end
		end
		for _ = 1, 50 do
			local ok, herr = s:handshake()
			flush()
			if ok then break end
			assert.are.equal("wantread", herr, tostring(herr))
			local d, e, p = tcp:receive(1)
			assert(d or (p and #p > 0), e)
			tcp:settimeout(0)
			local more, _, rest = tcp:receive(65536)
			tcp:settimeout(5)
			s:feed((d or p) .. (more or rest or ""))
		end
		assert.is_true(s.handshake_done)
		assert(s:send(MSG))
		flush()
		local all = {}
		while true do
			local d, e, p = tcp:receive(65536)
			all[#all + 1] = d or p
			if not d then
				assert.are.equal("closed", e)
				break
			end
		end
		s:feed(table.concat(all))
		s:feed_eof()
		local got, rerr = {}, nil
		while true do
			local d, e = s:recv(4096)
			if not d then rerr = e break end
			got[#got + 1] = d
		end
		assert.are.equal(MSG, table.concat(got))
		assert.are.equal("closed", rerr.code)
		assert.is_not_true(rerr.clean)
		tcp:close()
	end)
end)
