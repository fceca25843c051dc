-- server.lua: a blocking mTLS echo server in Lua (LuaSocket + mutls.socket).
-- It requires a client certificate from the CA, says who each client is (or
-- why it was refused), and echoes each line the client sends.
--
--   mutls ca pki                                  # or: python3 examples/python/make_pki.py pki
--   lua5.4 server.lua --port 8443                 # serve until interrupted
--   lua5.4 server.lua --port 0 --once             # one connection on a free port, then exit
--   options: --cert pki/server/chain.pem --key pki/server/key.pem --ca pki/ca.pem
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
local cfg, cerr = mutls.config{ certificate = o.cert, private_key = o.key, trust = o.ca, peers = o.peers }
if not cfg then io.stderr:write("config: " .. tostring(cerr) .. "\n"); os.exit(2) end

local listener = assert(socket.bind(o.host, tonumber(o.port)))
local host, port = listener:getsockname()
print(("listening on %s:%d"):format(host, port))
io.stdout:flush()

local refused = false
repeat
	local tcp = assert(listener:accept())
	local conn = msock.wrap_server(tcp, cfg)
	conn:settimeout(10)
	local ok, err = conn:dohandshake()
	if not ok then
		-- err: code, reasons, alert, side, step; tostring(err) says it in one sentence
		print(("refused: %s [code=%s reasons=%s]"):format(tostring(err), tostring(err.code),
			table.concat(err.reasons or {}, ",")))
		-- TLS 1.3: the client finished before we refused it and may be sending;
		-- read a little before closing so that no reset destroys our alert
		tcp:shutdown("send")
		tcp:settimeout(1)
		for _ = 1, 16 do if not tcp:receive(4096) then break end end
		conn:close()
		refused = true
	else
		local peer = conn:peer_certificate()
		local who = (peer.uris[1] or peer.dns_names[1] or peer.common_name or peer.subject)
		local ip, cport = tcp:getpeername()
		print(("client %s:%s is %s (%s)"):format(ip, cport, who, conn:version()))
		while true do
			local line, rerr = conn:receive("*l")
			if not line then
				if rerr ~= "closed" then print("connection ended: " .. tostring(rerr)) end
				break
			end
			conn:send(line .. "\n")
		end
		conn:close() -- close_notify, then the socket
	end
	io.stdout:flush()
until o.once
listener:close()
os.exit(refused and 1 or 0) -- with --once: 1 when the client was refused
