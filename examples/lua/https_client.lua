-- https_client.lua: an HTTPS request with mutual TLS in Lua (LuaSocket +
-- mutls.https, the shapes of LuaSec's ssl.https.request). It presents its
-- certificate, checks the server's, prints the status line and the body; on
-- a refusal it prints the mutls sentence (which side refused, where, why).
--
--   lua5.4 https_client.lua https://localhost:8443/
--   lua5.4 https_client.lua https://127.0.0.1:8443/echo --data 'a=1' --server-hostname localhost
--   options: --cert pki/client/chain.pem --key pki/client/key.pem --ca pki/ca.pem
--
-- From a checkout, point Lua at the build:
--   LUA_CPATH='build/lua/5.4/?.so;;' LUA_PATH='bindings-lua/?.lua;;' lua5.4 examples/lua/https_client.lua ...
local mutls = require "mutls"
local https = require "mutls.https"
local ltn12 = require "ltn12"

local o = { cert = "pki/client/chain.pem", key = "pki/client/key.pem", ca = "pki/ca.pem" }
local rest = {}
local i = 1
while i <= #arg do
	local a = arg[i]
	if a:match("^%-%-") and arg[i + 1] then o[a:sub(3)] = arg[i + 1]; i = i + 1
	else rest[#rest + 1] = a end
	i = i + 1
end
local url = rest[1]
if not url then
	io.stderr:write("usage: https_client.lua URL [--data BODY] [--server-hostname N] [--cert F --key F --ca F]\n")
	os.exit(2)
end

local cfg, cerr = mutls.config{ certificate = o.cert, private_key = o.key, trust = o.ca }
if not cfg then io.stderr:write("config: " .. tostring(cerr) .. "\n"); os.exit(2) end

local body = {}
local request = {
	url = url,
	config = cfg,                          -- the TLS parameters go in the request table
	server_hostname = o["server-hostname"], -- nil: the URL's host is checked
	sink = ltn12.sink.table(body),
	timeout = 10,
}
if o.data then
	request.method = "POST"
	request.source = ltn12.source.string(o.data)
	request.headers = { ["content-length"] = #o.data, ["content-type"] = "application/x-www-form-urlencoded" }
end
local ok, code, headers, status = https.request(request)
if not ok then
	-- a TLS refusal is the mutls error: code, reasons, side; tostring: the sentence
	if mutls.is_error(code) then
		io.stderr:write(("refused (%s): %s\n"):format(code.code, tostring(code)))
	else
		io.stderr:write("failed: " .. tostring(code) .. "\n")
	end
	os.exit(1)
end
print(status)
io.write(table.concat(body))
os.exit(code >= 200 and code < 300 and 0 or 1)
