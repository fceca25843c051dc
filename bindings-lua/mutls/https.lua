--- mutls.https: HTTPS requests with mutual TLS over LuaSocket, in the shapes
-- of LuaSec's ssl.https.request.
--
--   local https = require "mutls.https"
--   local ltn12 = require "ltn12"
local mime = require "mime"
local socket = require "socket"
--
--   -- generic form: the TLS parameters go in the request table, as LuaSec's
--   local body = {}
--   local ok, code, headers, status = https.request{
--       url = "https://api.internal:8443/orders",
--       config = cfg,                       -- a mutls.config{...} (required)
--       server_hostname = "api.internal",   -- the name checked (default: the URL's host)
--       sink = ltn12.sink.table(body),
--       method = "POST", source = ltn12.source.string(json),
--       headers = { ["content-length"] = #json, ["content-type"] = "application/json" },
--   }
--
--   -- simple form: the module's default config (or a client from https.new)
--   https.config = cfg
--   local body, code, headers, status = https.request("https://api.internal/x" [, post_body])
--
--   local client = https.new{ config = cfg, timeout = 5 }
--   local body, code = client.request("https://api.internal/x")  -- or client:request(...)
--
-- Results as LuaSec's: the simple form returns body, code, headers, status;
-- the generic form 1, code, headers, status; a failure returns nil, err. A
-- TLS refusal (unknown CA, wrong name, policy, the server refusing us) gives
-- the mutls error object (err.code, err.reasons, err.side; tostring(err) is
-- the sentence); socket failures and this module's own refusals are strings.
--
-- Rules (LuaSec's plus one): only https:// URLs (default port 443); no proxy;
-- no create= (the module supplies the connection). Redirects (301/302/303/
-- 307 of a GET or HEAD without a source, at most maxredirects, default 5)
-- are followed by this module (socket.http's own redirect would drop our
-- create=) unless redirect = false: only to https:// URLs (a redirect to
-- http:// is returned, not followed) on the same host. A redirect to
-- another host is refused before connecting, with nil, "mutls.https:
-- redirect to another host refused (...)", so the client's certificate is
-- never presented to a host the caller did not name. (LuaSec refuses
-- redirect = true outright; here it means the same as nil.)

local http = require "socket.http"
local url = require "socket.url"
local ltn12 = require "ltn12"
local mime = require "mime"
local socket = require "socket"
local msock = require "mutls.socket"

local type, pairs, tostring, error, select, setmetatable = type, pairs, tostring, error, select, setmetatable
local lower, concat = string.lower, table.concat

local _M = {
	_VERSION = "0.1.0",
	PORT = 443,    -- the default port of https:// URLs
	TIMEOUT = 60,  -- seconds, each socket operation (as LuaSec's https.TIMEOUT)
	config = nil,  -- the default mutls.config of requests that do not name one
}

-- Keys of the request table this module reads (besides socket.http's).
local TLS_KEYS = { config = true, server_hostname = true, timeout = true }

local PREFIX = "mutls.https: "

-- Adds the default port to an https:// URL; nil, err for any other scheme.
local function https_url(u)
	if type(u) ~= "string" then
		return nil, PREFIX .. "the request needs url = \"https://...\" (got " .. type(u) .. ")"
	end
	local parsed = url.parse(u)
	local scheme = parsed and parsed.scheme and lower(parsed.scheme)
	if scheme ~= "https" then
		return nil, PREFIX .. "only https:// URLs are supported (got " ..
			(scheme and ("'" .. scheme .. "://'") or "no scheme") .. ")"
	end
	if not parsed.host or parsed.host == "" then
		return nil, PREFIX .. "the URL has no host"
	end
	if not parsed.port or parsed.port == "" then
		parsed.port = _M.PORT
	end
	return url.build(parsed)
end

-- The LuaSocket-shaped object socket.http drives: connect() opens a mutls
-- connection (mutls.socket.connect: TCP, client handshake, verification);
-- everything else goes to that connection.
local Conn = {}
Conn.__index = Conn

function Conn:settimeout()
	-- socket.http sets its own TIMEOUT; as LuaSec, ours wins
	return 1
end

function Conn:connect(host, port)
	local origin = self.origin
	if origin.host == nil then
		origin.host = lower(host)
	elseif lower(host) ~= origin.host then
		return nil, PREFIX .. "connection to another host refused (from " .. origin.host .. " to " .. host .. ")"
	end
	local conn, err = msock.connect(host, port, {
		config = self.config,
		server_hostname = self.server_hostname or host,
		timeout = self.timeout,
	})
	if not conn then
		return nil, err
	end
	self.conn = conn
	return 1
end

local function not_connected()
	return nil, "closed"
end

function Conn:send(...)
	if not self.conn then return not_connected() end
	return self.conn:send(...)
end

function Conn:receive(...)
	if not self.conn then return not_connected() end
	return self.conn:receive(...)
end

function Conn:getfd()
	return self.conn and self.conn:getfd() or -1
end

function Conn:dirty()
	return self.conn ~= nil and self.conn:dirty()
end

function Conn:close()
	if self.conn then
		self.conn:close()
		self.conn = nil
	end
	return 1
end

--- Like LuaSec's https.tcp(params): a create= function for socket.http; all
-- connections it makes go to the host of the first one. params: config
-- (default https.config), server_hostname, timeout (default https.TIMEOUT).
-- With socket.http.request directly, set scheme = "https" in the request
-- table and prefer redirect = false: socket.http's redirect drops create=
-- when the table has no scheme field, and on a second hop always (the
-- request would then go through LuaSec's defaults, without mutls).
function _M.tcp(params)
	params = params or {}
	local cfg = params.config or _M.config
	if cfg == nil then
		error(PREFIX .. "no config: pass config = mutls.config{...} or set https.config", 2)
	end
	-- shared by the connections of this request: the first connect fixes the host
	local origin = {}
	local server_hostname, timeout = params.server_hostname, params.timeout or _M.TIMEOUT
	return function()
		return setmetatable({
			origin = origin,
			config = cfg,
			server_hostname = server_hostname,
			timeout = timeout,
		}, Conn)
	end
end

local function check_request(reqt, level)
	if reqt.create ~= nil then
		return nil, "create function not permitted"
	end
	if reqt.proxy ~= nil or http.PROXY then
		return nil, "proxy not supported"
	end
	if reqt.config == nil and _M.config == nil then
		error(PREFIX .. "no config: pass config = mutls.config{...} in the request or set https.config", level + 1)
	end
	if reqt.server_hostname ~= nil and type(reqt.server_hostname) ~= "string" then
		error(PREFIX .. "server_hostname must be a string", level + 1)
	end
	if reqt.timeout ~= nil and type(reqt.timeout) ~= "number" then
		error(PREFIX .. "timeout must be seconds", level + 1)
	end
	return true
end

local REDIRECT_CODES = { [301] = true, [302] = true, [303] = true, [307] = true }

-- The request headers: socket.http's defaults, the caller's (lower-cased) on top.
local function request_headers(t, parsed)
	local host = parsed.host
	if tostring(parsed.port) ~= tostring(_M.PORT) then
		host = host .. ":" .. parsed.port
	end
	local h = {
		["user-agent"] = http.USERAGENT,
		["host"] = host,
		["connection"] = "close, TE",
		["te"] = "trailers",
	}
	if parsed.user and parsed.password then
		h["authorization"] = "Basic " .. mime.b64(parsed.user .. ":" .. url.unescape(parsed.password))
	end
	for k, v in pairs(t.headers or {}) do
		h[lower(k)] = v
	end
	if t.source and not h["content-length"] and not h["transfer-encoding"] then
		h["transfer-encoding"] = "chunked"
	end
	return h
end

local function should_redirect(t, code, headers)
	return t.redirect ~= false and REDIRECT_CODES[code] and headers.location ~= nil
		and headers.location ~= "" and not t.source
		and (t.method == "GET" or t.method == "HEAD")
end

-- One exchange on a new connection, then the redirects (socket.http's rules
-- and the host rule), under socket.protect: h.try raises, protect returns
-- nil, err with err as raised (the mutls error object stays an object).
local exchange
exchange = socket.protect(function(t, u, create, nredirects)
	local parsed = url.parse(u)
	local h = http.open(parsed.host, parsed.port, create)
	local uri = url.build { path = parsed.path or "/", params = parsed.params, query = parsed.query }
	local headers = request_headers(t, parsed)
	h:sendrequestline(t.method, uri)
	h:sendheaders(headers)
	if t.source then
		h:sendbody(headers, t.source, t.step)
	end
	local code, status = h:receivestatusline()
	if not code then
		-- HTTP/0.9: the body is everything
		h:receive09body(status, t.sink, t.step)
		h:close()
		return 1, 200
	elseif code == 408 then
		h:close()
		return 1, code
	end
	while code == 100 do
		h:receiveheaders()
		code, status = h:receivestatusline()
	end
	local rheaders = h:receiveheaders()
	if should_redirect(t, code, rheaders) then
		local location = rheaders.location:gsub("%s", "")
		local target = url.absolute(u, location)
		local tp = url.parse(target)
		local max = t.maxredirects == nil and 5 or t.maxredirects
		if tp.scheme and lower(tp.scheme) == "https" and tp.host
			and (max == false or nredirects < max) then
			h:close()
			if lower(tp.host) ~= lower(parsed.host) then
				-- refused before connecting: no certificate goes to a host not named
				return nil, PREFIX .. "redirect to another host refused (from "
					.. parsed.host .. " to " .. tp.host .. ")"
			end
			if not tp.port or tp.port == "" then
				tp.port = _M.PORT
			end
			local r, c, hd, st = exchange(t, url.build(tp), create, nredirects + 1)
			if r == nil then
				return nil, c
			end
			hd = hd or {}
			hd.location = hd.location or location
			return r, c, hd, st
		end
	end
	if t.method ~= "HEAD" and code ~= 204 and code ~= 304 and not (code >= 100 and code < 200) then
		h:receivebody(rheaders, t.sink, t.step)
	end
	h:close()
	return 1, code, rheaders, status
end)

-- The generic form over a copy of the caller's table (LuaSec changes the
-- caller's table).
local function generic(reqt, defaults, level)
	if type(reqt) ~= "table" then
		error("bad argument #1 to 'request' (url string or request table expected, got " .. type(reqt) .. ")", level + 1)
	end
	local t = {}
	for k, v in pairs(defaults or {}) do t[k] = v end
	for k, v in pairs(reqt) do t[k] = v end
	local ok, err = check_request(t, level + 1)
	if not ok then
		return nil, err
	end
	local u
	u, err = https_url(t.url)
	if not u then
		return nil, err
	end
	if t.method == nil or t.method == "" then
		t.method = "GET"
	end
	return exchange(t, u, _M.tcp(t), 0)
end

-- The simple form: GET, or a form POST when body is given (as LuaSec's).
local function simple(u, body, defaults, level)
	local result = {}
	local t = {
		url = u,
		method = body and "POST" or "GET",
		sink = ltn12.sink.table(result),
	}
	if body then
		t.source = ltn12.source.string(body)
		t.headers = {
			["content-length"] = #body,
			["content-type"] = "application/x-www-form-urlencoded",
		}
	end
	local res, code, headers, status = generic(t, defaults, level + 1)
	if res then
		return concat(result), code, headers, status
	end
	return res, code, headers, status
end

local function request(defaults, level, reqt, body)
	if type(reqt) == "string" then
		return simple(reqt, body, defaults, level + 1)
	end
	return generic(reqt, defaults, level + 1)
end

--- request(url [, body]) -> body, code, headers, status
--- request{ url=, sink=, source=, method=, headers=, step=, redirect=,
---          maxredirects=, config=, server_hostname=, timeout= }
---   -> 1, code, headers, status
-- nil, err on failure.
function _M.request(reqt, body)
	return request(nil, 2, reqt, body)
end

--- A client with defaults for its requests: opts config (required),
-- server_hostname, timeout. client.request / client:request take the same
-- arguments as https.request; a request table's own keys win.
function _M.new(opts)
	if type(opts) ~= "table" then
		error("bad argument #1 to 'new' (options table expected)", 2)
	end
	for k in pairs(opts) do
		if not TLS_KEYS[k] then
			error("bad argument #1 to 'new' (unknown option '" .. tostring(k) .. "')", 2)
		end
	end
	if opts.config == nil then
		error("bad argument #1 to 'new' (config = mutls.config{...} expected)", 2)
	end
	local defaults = {}
	for k, v in pairs(opts) do defaults[k] = v end
	local client = {}
	function client.request(...)
		local first = ...
		if first == client then
			return request(defaults, 2, select(2, ...))
		end
		return request(defaults, 2, ...)
	end
	return client
end

return _M
