-- mtls_outbound.lua: the Lua side of examples/openresty/outbound.conf.
local mutls = require "mutls"
local mresty = require "mutls.resty"

local M = {}
local cfg, cfg_err

-- init_by_lua: in the master, which can read a 0600 key; workers inherit it
function M.init()
	local pki = ngx.config.prefix() .. "build/outbound/pki/"
	cfg, cfg_err = mutls.config{
		certificate = pki .. "client/chain.pem", -- who we are
		private_key = pki .. "client/key.pem",
		trust = pki .. "ca.pem",                 -- whom we trust for the upstream
		peers = { "dns:localhost" },             -- and which identity it must have
	}
	if not cfg then
		ngx.log(ngx.ERR, "mutls config: ", tostring(cfg_err))
	end
end

function M.orders()
	if not cfg then
		ngx.status = 500
		return ngx.say("no mutls config: ", tostring(cfg_err))
	end
	local sock = mresty.tcp{ config = cfg, server_hostname = "localhost", timeout = 5000 }
	local ok, err = sock:connect("127.0.0.1", 8443) -- a pooled connection, or TCP + handshake
	if not ok then
		ngx.status = 502
		ngx.log(ngx.ERR, "mTLS to the upstream: ", tostring(err)) -- one sentence: who, where, why
		return ngx.say("upstream refused: ", tostring(err))
	end
	local s = sock.session
	ngx.say("upstream ", s.peer_certificate.subject, " (", s.verified and "verified" or "NOT verified", ", ",
		s.version, "), connection reused ", sock:getreusedtimes(), " times, session resumed: ",
		s.resumed and "yes" or "no")
	sock:send({ "GET /orders HTTP/1.1\r\n", "Host: localhost\r\n", "\r\n" })
	local head, rerr = sock:receiveuntil("\r\n\r\n")()
	local len = head and tonumber(head:lower():match("content%-length:%s*(%d+)"))
	local body = len and sock:receive(len)
	if not body then
		ngx.status = 502
		sock:close()
		return ngx.say("upstream failed: ", tostring(rerr))
	end
	ngx.print("upstream says: ", body)
	if ngx.var.arg_close then
		sock:close()
	else
		sock:setkeepalive(60000, 16) -- back into this worker's pool, TLS session and all
	end
end

return M
