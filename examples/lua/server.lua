-- server.lua: an mTLS echo server in Lua (LuaSocket + mutls.socket).
-- It requires a client certificate from the CA, says who each client is (or
-- why it was refused), and echoes each line the client sends. Connections
-- are served side by side (coroutines over non-blocking sockets).
--
--   mutls ca pki                                  # or: python3 examples/python/make_pki.py pki
--   lua5.4 server.lua --port 8443                 # serve until interrupted
--   lua5.4 server.lua --port 0 --once             # one connection on a free port, then exit
--   options: --cert pki/server/chain.pem --key pki/server/key.pem --ca pki/ca.pem
--            --handshake-timeout SECONDS (default: the config's, 30)
--            --peer uri:spiffe://example.org/*  (repeatable: allowed clients)
--
-- From a checkout, point Lua at the build:
--   LUA_CPATH='build/lua/5.4/?.so;;' LUA_PATH='bindings-lua/?.lua;;' lua5.4 examples/lua/server.lua ...
local mutls = require "mutls"
local msock = require "mutls.socket"
local socket = require "socket"

local o = { cert = "pki/server/chain.pem", key = "pki/server/key.pem", ca = "pki/ca.pem",
            host = "127.0.0.1", port = 8443, peers = nil, once = false }
local i = 1
while i <= #arg do
	local a = arg[i]
	if a == "--once" then o.once = true
	elseif a == "--peer" then o.peers = o.peers or {}; o.peers[#o.peers + 1] = arg[i + 1]; i = i + 1
	elseif a:match("^%-%-") and arg[i + 1] then o[a:sub(3)] = arg[i + 1]; i = i + 1
	else io.stderr:write("usage: server.lua [--port N] [--once] [--cert F --key F --ca F] [--peer P]...\n"); os.exit(2) end
	i = i + 1
end

-- One config for every connection: our identity, the CA we trust for clients,
-- and (optionally) which clients are allowed. A client certificate is required.
local cfg, cerr = mutls.config{ certificate = o.cert, private_key = o.key, trust = o.ca, peers = o.peers,
                                handshake_timeout = o["handshake-timeout"] and tonumber(o["handshake-timeout"]) }
if not cfg then io.stderr:write("config: " .. tostring(cerr) .. "\n"); os.exit(2) end

local listener = assert(socket.bind(o.host, tonumber(o.port)))
local host, port = listener:getsockname()
print(("listening on %s:%d"):format(host, port))
io.stdout:flush()

-- Every connection runs in a coroutine over a non-blocking connection
-- (timeout 0). When a call would wait, the coroutine yields and the loop
-- below selects on the listener and every connection, so a client that
-- connects and then sits idle stalls nobody else. Its handshake still ends:
-- after the config's handshake_timeout (30 s unless --handshake-timeout).
local function handle(conn, tcp)
	while true do
		local ok, err = conn:dohandshake()
		if ok then break end
		if err ~= "wantread" and err ~= "wantwrite" then
			-- err: code, reasons, alert, side, step; tostring(err) says it in one sentence
			print(("refused: %s [code=%s reasons=%s]"):format(tostring(err), tostring(err.code),
				table.concat(type(err) == "table" and err.reasons or {}, ",")))
			-- TLS 1.3: the client finished before we refused it and may be sending;
			-- read a little before closing so that no reset destroys our alert
			tcp:shutdown("send")
			tcp:settimeout(0.2)
			for _ = 1, 16 do if not tcp:receive(4096) then break end end
			conn:close()
			return false
		end
		coroutine.yield()
	end
	local peer = conn:peer_certificate()
	local who = (peer.uris[1] or peer.dns_names[1] or peer.common_name or peer.subject)
	local ip, cport = tcp:getpeername()
	print(("client %s:%s is %s (%s)"):format(ip, cport, who, conn:version()))
	local partial = ""
	while true do
		local line, rerr, part = conn:receive("*l", partial)
		if line then
			partial = ""
			local out, sent = line .. "\n", 0
			while sent < #out do
				local last, serr, upto = conn:send(out, sent + 1)
				sent = last or upto or sent
				if not last and serr ~= "timeout" then break end
				if not last then coroutine.yield() end
			end
		elseif rerr == "timeout" then -- nothing more yet: keep what came, wait
			partial = part or ""
			coroutine.yield()
		else
			if rerr ~= "closed" then print("connection ended: " .. tostring(rerr)) end
			break
		end
	end
	conn:close() -- close_notify, then the socket
	return true
end

local tasks, accepting, refused = {}, true, false
listener:settimeout(0)
while accepting or next(tasks) do
	local watch = { accepting and listener or nil }
	for conn in pairs(tasks) do watch[#watch + 1] = conn end
	-- wake at least every second: a handshake past its time ends on its next call
	socket.select(watch, nil, 1)
	local tcp = accepting and listener:accept()
	if tcp then
		local conn = msock.wrap_server(tcp, cfg, { timeout = 0 })
		tasks[conn] = coroutine.create(function() return handle(conn, tcp) end)
		if o.once then accepting = false end
	end
	for conn, co in pairs(tasks) do
		local ok, res = coroutine.resume(co)
		if not ok then print("connection failed: " .. tostring(res)) end
		if coroutine.status(co) == "dead" then
			tasks[conn] = nil
			if ok and res == false then refused = true end
			if not ok then conn:close() end
		end
	end
	io.stdout:flush()
end
listener:close()
os.exit(refused and 1 or 0) -- with --once: 1 when the client was refused
