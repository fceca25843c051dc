-- bench/openresty: one HTTP/1.1 GET to the mTLS upstream through
-- mutls.resty, its body answered. keepalive: back into the worker's pool
-- (the next request skips the handshake); otherwise closed (the next
-- connection resumes the session).
local mutls = require "mutls"
local mresty = require "mutls.resty"

local M = {}
local cfg, up_port, plain_port
local REQUEST = "GET / HTTP/1.1\r\nHost: upstream.test\r\n\r\n"

function M.init(prefix, port, plain)
	up_port, plain_port = port, plain
	cfg = assert(mutls.config{
		certificate = prefix .. "/pki/client/chain.pem",
		private_key = prefix .. "/pki/client/key.pem",
		trust = prefix .. "/pki/ca.pem",
		peers = { "dns:upstream.test" },
		versions = { "1.3" },
	})
end

local function fail(what, err)
	ngx.status = 502
	ngx.say(what, ": ", tostring(err))
	return ngx.exit(502)
end

function M.call(keepalive, plain)
	local sock, ok, err
	if plain then
		-- the same exchange over a plain cosocket (no TLS)
		sock = ngx.socket.tcp()
		sock:settimeout(10000)
		ok, err = sock:connect("127.0.0.1", plain_port)
	else
		sock = mresty.tcp{ config = cfg, server_hostname = "upstream.test", timeout = 10000 }
		ok, err = sock:connect("127.0.0.1", up_port)
	end
	if not ok then return fail("connect", err) end
	ok, err = sock:send(REQUEST)
	if not ok then return fail("send", err) end
	local head
	head, err = sock:receiveuntil("\r\n\r\n")()
	if not head then return fail("receive", err) end
	local len = tonumber(head:match("\r\n[Cc]ontent%-[Ll]ength:%s*(%d+)"))
	if not len or not head:find("^HTTP/1%.1 200") then return fail("response", head) end
	local body
	body, err = sock:receive(len)
	if not body then return fail("body", err) end
	if keepalive then
		sock:setkeepalive(60000, 32)
	else
		sock:close()
	end
	ngx.print(body)
end

return M
