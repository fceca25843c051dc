-- client.lua: a blocking mTLS client in Lua (LuaSocket + mutls.socket).
-- It presents its certificate, checks the server's, sends one line and prints
-- the reply; on failure it prints why (which side refused, where, and why).
--
--   lua5.4 client.lua 8443
--   lua5.4 client.lua 8443 "hello" --host 127.0.0.1 --server-hostname localhost
--   options: --cert pki/client/chain.pem --key pki/client/key.pem --ca pki/ca.pem
--
-- From a checkout, point Lua at the build:
--   LUA_CPATH='build/lua/5.4/?.so;;' LUA_PATH='bindings-lua/?.lua;;' lua5.4 examples/lua/client.lua ...
local mutls = require "mutls"
local msock = require "mutls.socket"

local o = { cert = "pki/client/chain.pem", key = "pki/client/key.pem", ca = "pki/ca.pem",
            host = "127.0.0.1", ["server-hostname"] = "localhost" }
local rest = {}
local i = 1
while i <= #arg do
	local a = arg[i]
	if a:match("^%-%-") and arg[i + 1] then o[a:sub(3)] = arg[i + 1]; i = i + 1
	else rest[#rest + 1] = a end
	i = i + 1
end
local port, message = tonumber(rest[1]), rest[2] or "hello from mutls"
if not port then
	io.stderr:write("usage: client.lua PORT [MESSAGE] [--host H] [--server-hostname N] [--cert F --key F --ca F]\n")
	os.exit(2)
end

local cfg, cerr = mutls.config{ certificate = o.cert, private_key = o.key, trust = o.ca }
if not cfg then io.stderr:write("config: " .. tostring(cerr) .. "\n"); os.exit(2) end
local conn, err = msock.connect(o.host, port, { config = cfg, server_hostname = o["server-hostname"], timeout = 10 })
if conn then
	local peer = conn:peer_certificate() -- verified: the handshake fails otherwise
	print(("server is %s (%s, %s)"):format(peer.subject, conn:version(), conn:cipher()))
	conn:send(message .. "\n")
	-- TLS 1.3: a server that refused our certificate says so here
	local reply
	reply, err = conn:receive("*l")
	conn:close()
	if reply then
		print("reply: " .. reply)
		os.exit(0)
	end
end
io.stderr:write(("failed: %s [code=%s reasons=%s alert=%s]\n"):format(tostring(err),
	tostring(type(err) == "table" and err.code), type(err) == "table" and table.concat(err.reasons or {}, ",") or "",
	tostring(type(err) == "table" and err.alert)))
os.exit(1)
