-- mutls.nginx: nginx terminates TLS, mutls decides.
--
-- nginx runs the TLS handshake with `ssl_verify_client optional_no_ca` (or
-- `optional`) and hands the client certificate it received to Lua as
-- $ssl_client_raw_cert; checker:check() in access_by_lua* checks it with a
-- mutls Config -- trust anchors, CRLs, dates, purpose (client auth), the
-- `peers` policy and the verify hook -- at the time of the request, through
-- cfg:check_peer(), i.e. the same C code and the same sentence as a mutls
-- handshake. A refused client gets `status` (403) and the sentence goes to
-- the error log; in observe mode the verdict is logged and the request goes
-- on. Either way ngx.ctx.mutls holds the verdict and the client's
-- identities for the handler.
--
--   init_by_lua_block {
--       checker = require("mutls.nginx").new{ config = cfg, status = 403, mode = "enforce" }
--   }
--   location / { access_by_lua_block { checker:check() } ... }
--
-- What nginx exposes: only the client's leaf ($ssl_client_raw_cert, PEM).
-- nginx has no variable for the intermediates the client sent, and
-- lua-resty-core's ngx.ssl has no getter for them either (its
-- verify_client() only sets the CAs nginx itself asks for, in
-- ssl_certificate_by_lua*): a client issued by an intermediate CA verifies
-- when that intermediate is among the Config's trust anchors.

local mutls = require "mutls"

local M = {}
local Checker = {}
Checker.__index = Checker

local MODES = { enforce = true, observe = true }
local PARSE_CACHE_MAX = 256 -- parsed leaves kept per worker (keyed by the PEM)

local function join(list)
	return table.concat(list or {}, ",")
end

-- Text for the error log: a control character (a newline in a subject the
-- client chose, even one no trusted CA signed) would forge log lines.
local function loggable(text)
	return (tostring(text):gsub("%c", function(c)
		return ("\\x%02x"):format(c:byte())
	end))
end
M.loggable = loggable

-- The first spiffe:// URI SAN, or nil.
local function spiffe_id(cert)
	for _, uri in ipairs(cert and cert.uris or {}) do
		if uri:sub(1, 9):lower() == "spiffe://" then
			return uri
		end
	end
	return nil
end

--- A checker. opts:
--   config     a mutls.config{...}, or the table of its options (made on first
--              use, once per worker) (required)
--   status     the HTTP status of a refusal (default 403)
--   mode       "enforce" (default) or "observe" (log, let the request through)
--   log_level  ngx log level of a refusal (default ngx.WARN)
function M.new(opts)
	if type(opts) ~= "table" then
		error("mutls.nginx.new: options table expected, got " .. type(opts), 2)
	end
	local known = { config = true, status = true, mode = true, log_level = true }
	for k in pairs(opts) do
		if not known[k] then
			error("mutls.nginx.new: unknown option '" .. tostring(k) .. "'", 2)
		end
	end
	local cfg = opts.config
	if type(cfg) ~= "table" and type(cfg) ~= "userdata" then
		error("mutls.nginx.new: 'config' must be a mutls.config or a table of config options", 2)
	end
	local mode = opts.mode or "enforce"
	if not MODES[mode] then
		error("mutls.nginx.new: 'mode' must be \"enforce\" or \"observe\", not " .. tostring(mode), 2)
	end
	local status = opts.status or 403
	if type(status) ~= "number" or status < 400 or status > 599 or status % 1 ~= 0 then
		error("mutls.nginx.new: 'status' must be an HTTP error status (400-599), not " .. tostring(status), 2)
	end
	return setmetatable({
		options = type(cfg) == "table" and cfg or nil, -- made lazily, per worker
		config = type(cfg) ~= "table" and cfg or nil,
		status = status,
		mode = mode,
		log_level = opts.log_level,
		parsed = {}, parsed_count = 0,
	}, Checker)
end

-- The Config (made on first use from an options table; a failure is kept
-- and reported on every request rather than retried each time).
function Checker:get_config()
	if self.config then
		return self.config
	end
	if self.config_error then
		return nil, self.config_error
	end
	local cfg, err = mutls.config(self.options)
	if not cfg then
		self.config_error = err
		return nil, err
	end
	self.config = cfg
	return cfg
end

-- The leaf nginx received (parsed once per distinct PEM per worker), as a
-- chain for check_peer: {} when the client sent none.
function Checker:chain_from_nginx()
	local pem = ngx.var.ssl_client_raw_cert
	if not pem or pem == "" then
		return {}
	end
	local certs = self.parsed[pem]
	if certs then
		return certs
	end
	local err
	certs, err = mutls.load_certificates(pem)
	if not certs then
		return nil, err
	end
	if self.parsed_count >= PARSE_CACHE_MAX then
		self.parsed, self.parsed_count = {}, 0
	end
	self.parsed[pem] = certs
	self.parsed_count = self.parsed_count + 1
	return certs
end

-- The verdict table (ngx.ctx.mutls) from a check_peer session.
local function verdict_of(session, mode)
	local leaf = session.peer_certificate
	local err = session.error
	local v = {
		verified = session.verified,
		mode = mode,
		message = session.verification.message or (err and err.message) or "",
		code = err and err.code or nil,
		reasons = err and err.reasons or session.verification.reasons or {},
		certificate = leaf,
		session = session,
	}
	if leaf then
		v.subject = leaf.subject
		v.issuer = leaf.issuer
		v.common_name = leaf.common_name
		v.serial = leaf.serial
		v.fingerprint = leaf:fingerprint("sha256")
		v.not_after = leaf.not_after
		v.dns_names = leaf.dns_names
		v.uris = leaf.uris
		v.emails = leaf.emails
		v.ip_addresses = leaf.ip_addresses
		v.spiffe_id = spiffe_id(leaf)
	end
	return v
end

-- A verdict for a failure before any check could run (bad config, a PEM
-- nginx gave that does not parse).
local function failure(mode, code, message)
	return { verified = false, mode = mode, code = code, reasons = {}, message = message }
end

--- Checks this request's client certificate. Sets ngx.ctx.mutls to the
-- verdict and returns it; in enforce mode a refused request ends here with
-- ngx.exit(status).
function Checker:check()
	local v
	local cfg, cerr = self:get_config()
	if not cfg then
		v = failure(self.mode, "config", "mutls.nginx: the config could not be made: " .. tostring(cerr))
	else
		local chain, perr = self:chain_from_nginx()
		if not chain then
			v = failure(self.mode, mutls.is_error(perr) and perr.code or "malformed",
				"client certificate from nginx could not be parsed: " .. tostring(perr))
		else
			v = verdict_of(cfg:check_peer(chain), self.mode)
		end
	end
	v.allowed = v.verified or self.mode == "observe"
	ngx.ctx.mutls = v
	if not v.verified then
		-- the sentence names the certificate (subject, names, serial), never its
		-- PEM; control characters are escaped
		local prefix = self.mode == "observe" and "mutls: observe mode, would refuse: "
			or ("mutls: refused with " .. self.status .. ": ")
		-- a config that could not be made is the operator's error, not the client's
		local level = v.code == "config" and ngx.ERR or (self.log_level or ngx.WARN)
		ngx.log(level, prefix, loggable(v.message),
			" [code=", tostring(v.code), " reasons=", join(v.reasons), "]")
		if self.mode == "enforce" then
			return ngx.exit(self.status)
		end
	end
	return v
end

M.Checker = Checker
return M
