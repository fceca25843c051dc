-- mtls_inbound.lua: the Lua side of examples/openresty/inbound.conf.
--
-- init()   (init_by_lua, in the master) makes one mutls Config -- whom we
--          trust, the CRL, which client identities may come in, a verify
--          hook -- and two checkers over it: enforce and observe.
-- whoami() (content_by_lua) answers with what mutls decided about the
--          client: the verdict and identities in ngx.ctx.mutls.

local mutls = require "mutls"
local mnginx = require "mutls.nginx"

local M = {}

-- SPIFFE IDs the operator has turned away, whatever their certificates say
local DENIED = { ["spiffe://example.org/banned"] = true }

function M.init()
	local pki = ngx.config.prefix() .. "build/inbound/pki/"
	local cfg = assert(mutls.config{
		trust = pki .. "ca.pem",                 -- the CA that issues client certificates
		crl = pki .. "crl.pem",                  -- its revocations
		peers = { "uri:spiffe://example.org/*" }, -- who may come in
		verify_hook = function(peer)             -- runs after every other check
			local id = peer.leaf and peer.leaf.uris[1]
			if id and DENIED[id] then
				return false, "SPIFFE ID " .. id .. " is denied by the operator"
			end
			return true
		end,
	})
	M.enforce = mnginx.new{ config = cfg, status = 403, mode = "enforce" }
	M.observe = mnginx.new{ config = cfg, mode = "observe" }
end

-- The checker of the location a URI belongs to (for @nginx_refused).
function M.checker_for(uri)
	if uri:sub(1, 9) == "/observe/" then
		return M.observe
	end
	return M.enforce
end

function M.whoami()
	local v = ngx.ctx.mutls
	ngx.say("verified=", tostring(v.verified))
	ngx.say("mode=", v.mode)
	ngx.say("spiffe_id=", v.spiffe_id or "")
	ngx.say("subject=", v.subject or "")
	ngx.say("dns=", table.concat(v.dns_names or {}, ","))
	ngx.say("code=", v.code or "")
	ngx.say("reasons=", table.concat(v.reasons or {}, ","))
	ngx.say("message=", v.message)
end

return M
