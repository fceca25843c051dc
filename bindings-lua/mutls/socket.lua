--- mutls.socket: a LuaSocket adapter for mutls (mutual TLS).
--
--   local msock = require "mutls.socket"
--   local conn, err = msock.connect("127.0.0.1", 8443, {
--       config = cfg,                     -- a mutls.config{...} (required)
--       server_hostname = "api.internal", -- the name checked (default: host)
--       timeout = 5,                      -- seconds, as tcp:settimeout; nil blocks
--   })                                    -- (each operation; the handshake as a
--                                         -- whole ends at cfg.handshake_timeout)
--   conn:send("GET / HTTP/1.0\r\n\r\n")
--   local line, err = conn:receive("*l")
--   print(conn:peer_certificate().subject, conn:version(), conn:cipher())
--   conn:close()
--
--   local conn = msock.wrap(tcp, cfg, { server_hostname = "api.internal" })
--   local ok, err = conn:dohandshake()
--   local conn = msock.wrap_server(accepted_tcp, cfg); conn:dohandshake()
--
-- The session runs in socket mode over tcp:getfd(); the tcp object stays
-- referenced by the connection (so it is not collected) and is closed by
-- conn:close(). Do not read from the tcp object before wrapping it: bytes
-- already in LuaSocket's own buffer would not reach the TLS session.
--
-- The object is LuaSocket-shaped: send(data [, i [, j]]), receive(pattern
-- [, prefix]) with "*l"/"l", "*a"/"a" or a number, close(), settimeout(t),
-- getfd(), dirty() (so socket.select works on it), and anything else the tcp
-- object has (getpeername, getsockname, setoption, ...) is passed through.
-- TLS: dohandshake(), .session (the mutls session), peer_certificate(),
-- version(), cipher(), alpn(), info([field]) as LuaSec's conn:info(), and
-- LuaSec-style getpeercertificate([n]), getpeerchain(), getpeerverification().
--
-- Results follow LuaSocket: data, or nil, err, partial. err is "timeout" when
-- the timeout passed (with timeout 0: "timeout" from send/receive and
-- "wantread"/"wantwrite" from dohandshake, as LuaSec), "closed" when the peer
-- closed the TLS stream in order (close_notify), and otherwise the mutls error
-- object (code, reasons, alert, side, step, peer_certificate; tostring gives
-- the message) — a close without close_notify is such an error with code
-- "closed", so receive("*a") on a truncated stream returns nil, err, partial.

local mutls = require "mutls"
local receive = require("mutls.receive").receive
local socket = require "socket"

local type, tostring, setmetatable, error, rawget = type, tostring, setmetatable, error, rawget
local sub = string.sub

local _M = { _VERSION = "0.1.0" }

local CHUNK = 16384

local Conn = {}

local function eof_is_closed(_, err) return err == "closed" end
local function invalid_pattern() return "invalid receive pattern" end

local mt = {
	__index = function(self, k)
		local m = Conn[k]
		if m ~= nil then
			return m
		end
		-- pass anything else to the tcp object (getpeername, setoption, ...)
		local tcp = rawget(self, "tcp")
		local f = tcp and tcp[k]
		if type(f) == "function" then
			return function(obj, ...)
				if obj == self then
					return f(tcp, ...)
				end
				return f(obj, ...)
			end
		end
		return nil
	end,
	__tostring = function(self)
		return "mutls.socket{" .. tostring(self.tcp) .. "}"
	end,
}

local function is_err_obj(err)
	return err ~= nil and type(err) ~= "string"
end

-- Is err an orderly close (close_notify) rather than a truncation? The
-- binding marks the close_notify error with clean = true.
local function is_orderly_close(err)
	return is_err_obj(err) and err.code == "closed" and err.clean == true
end

local function apply_timeout(self)
	local t = self._timeout
	-- LuaSocket: nil or negative blocks; 0 does not wait. The session gets
	-- the same limit; with none it reports want-read/want-write on the
	-- non-blocking LuaSocket fd and we wait in socket.select.
	if t == nil or t < 0 then
		self.session:settimeout(0)
	else
		self.session:settimeout(t)
	end
end

-- Calls fn(session, ...) until it is done, waiting when the session wants
-- I/O and the timeout allows it. Returns the result, or nil, err where err
-- is "wantread"/"wantwrite" (timeout 0), "timeout", or the mutls error.
local function drive(self, fn, ...)
	local s = self.session
	local deadline
	local t = self._timeout
	if t and t > 0 then
		deadline = socket.gettime() + t
	end
	-- the session ends its handshake at handshake_timeout, but only when
	-- called: never sleep in select past that moment
	local hs_deadline = not self._handshaken and self._hs_deadline
	while true do
		local r, err = fn(s, ...)
		if r ~= nil then
			return r
		end
		if err == "wantread" or err == "wantwrite" then
			if t and t == 0 then
				return nil, err
			end
			local wait
			if deadline then
				wait = deadline - socket.gettime()
				if wait <= 0 then
					return nil, "timeout"
				end
			end
			if hs_deadline then
				local left = hs_deadline - socket.gettime()
				left = (left > 0 and left or 0) + 0.005
				if not wait or left < wait then
					wait = left
				end
			end
			if err == "wantread" then
				socket.select({ self.tcp }, nil, wait)
			else
				socket.select(nil, { self.tcp }, wait)
			end
		elseif is_err_obj(err) and err.code == "timeout" and s.error == nil then
			-- the per-operation timeout: the call may be made again
			return nil, "timeout", err
		else
			return nil, err
		end
	end
end

-- Options each entry point takes; any other key is a mistake (a typo such
-- as sever_hostname would otherwise go unnoticed), as in mutls.config.
local OPTIONS = {
	connect = { config = true, server_hostname = true, session_data = true, timeout = true },
	wrap = { server_hostname = true, session_data = true, timeout = true },
	wrap_server = { timeout = true },
}

local function check_options(opts, what, level)
	for k in pairs(opts) do
		if type(k) ~= "string" then
			error("mutls.socket." .. what .. ": options are named (got a " .. type(k) .. " key)", level + 1)
		end
		if not OPTIONS[what][k] then
			error("mutls.socket." .. what .. ": unknown option '" .. k .. "'", level + 1)
		end
	end
end

local function new(tcp, cfg, opts, role)
	if type(tcp) ~= "userdata" and type(tcp) ~= "table" or type(tcp.getfd) ~= "function" then
		error("bad argument #1 (a connected LuaSocket tcp object expected)", 3)
	end
	if cfg == nil then
		error("bad argument #2 (a mutls.config{...} expected)", 3)
	end
	opts = opts or {}
	if type(opts) ~= "table" then
		error("bad argument #3 (options table expected)", 3)
	end
	check_options(opts, role == "client" and "wrap" or "wrap_server", 3)
	if opts.timeout ~= nil and type(opts.timeout) ~= "number" then
		error("bad argument #3 (opts.timeout must be seconds)", 3)
	end
	local fd = tcp:getfd()
	if type(fd) ~= "number" or fd < 0 then
		error("bad argument #1 (the tcp object is not connected: getfd() is " .. tostring(fd) .. ")", 3)
	end
	local session, err
	if role == "client" then
		session, err = cfg:client{
			fd = fd,
			server_hostname = opts.server_hostname,
			session_data = opts.session_data,
		}
	else
		session, err = cfg:server{ fd = fd }
	end
	if not session then
		return nil, err
	end
	local self = setmetatable({
		tcp = tcp,
		session = session,
		_buf = "",
		_timeout = opts.timeout,
		_handshaken = false,
		_closed = false,
	}, mt)
	if opts.timeout ~= nil then
		tcp:settimeout(opts.timeout)
	end
	apply_timeout(self)
	return self
end

--- Client role over a connected tcp. opts: server_hostname, session_data,
-- timeout (seconds; nil blocks). Returns the connection (handshake not yet
-- done: call conn:dohandshake(), or the first send/receive does it).
function _M.wrap(tcp, cfg, opts)
	return new(tcp, cfg, opts, "client")
end

--- Server role over an accepted tcp. opts: timeout.
function _M.wrap_server(tcp, cfg, opts)
	return new(tcp, cfg, opts, "server")
end

--- Connects, wraps and handshakes. opts: config (required), server_hostname
-- (default: host), session_data, timeout (seconds, each operation).
function _M.connect(host, port, opts)
	if type(host) ~= "string" then
		error("bad argument #1 to 'connect' (host string expected)", 2)
	end
	if type(opts) ~= "table" or opts.config == nil then
		error("bad argument #3 to 'connect' (options with config = mutls.config{...} expected)", 2)
	end
	check_options(opts, "connect", 2)
	local tcp, err = socket.tcp()
	if not tcp then
		return nil, err
	end
	if opts.timeout ~= nil then
		tcp:settimeout(opts.timeout)
	end
	local ok, cerr = tcp:connect(host, port)
	if not ok then
		tcp:close()
		return nil, cerr
	end
	local o = {}
	for k, v in pairs(opts) do
		if k ~= "config" then
			o[k] = v
		end
	end
	if o.server_hostname == nil then
		o.server_hostname = host
	end
	local conn, werr = new(tcp, opts.config, o, "client")
	if not conn then
		tcp:close()
		return nil, werr
	end
	local hok, herr = conn:dohandshake()
	if not hok then
		conn:close()
		return nil, herr
	end
	return conn
end

--- The handshake. true, or nil, err.
function Conn:dohandshake()
	if self._handshaken then
		return true
	end
	if self._closed then
		return nil, "closed"
	end
	if self._hs_deadline == nil then
		local limit = self.session.config.handshake_timeout
		self._hs_deadline = limit and socket.gettime() + limit or false
	end
	local ok, err = drive(self, self.session.handshake)
	if ok then
		self._handshaken = true
		return true
	end
	return nil, err
end
Conn.handshake = Conn.dohandshake

local function ensure_handshake(self)
	if self._handshaken then
		return true
	end
	local ok, err = self:dohandshake()
	if not ok then
		if err == "wantread" or err == "wantwrite" then
			err = "timeout"
		end
		return nil, err
	end
	return true
end

--- LuaSocket send: sends data:sub(i, j). Returns the index of the last byte
-- sent, or nil, err, last.
function Conn:send(data, i, j)
	if type(data) == "number" then
		data = tostring(data)
	elseif type(data) ~= "string" then
		error("bad argument #1 to 'send' (string expected, got " .. type(data) .. ")", 2)
	end
	local len = #data
	i = i or 1
	j = j or -1
	if i < 0 then i = len + i + 1 end
	if i < 1 then i = 1 end
	if j < 0 then j = len + j + 1 end
	if j > len then j = len end
	local last = i - 1
	if self._closed then
		return nil, "closed", last
	end
	local ok, err = ensure_handshake(self)
	if not ok then
		return nil, err, last
	end
	while last < j do
		local stop = last + CHUNK
		if stop > j then stop = j end
		local chunk = sub(data, last + 1, stop)
		local n, serr = drive(self, self.session.send, chunk)
		if not n then
			if serr == "wantread" or serr == "wantwrite" then
				serr = "timeout"
			end
			return nil, serr, last
		end
		last = last + n
	end
	return last
end

-- One read from the session: a non-empty string, or nil, err.
function Conn:_recv_some(max)
	if self._rerr then
		return nil, self._rerr
	end
	local data, err = drive(self, self.session.recv, max)
	if data and #data > 0 then
		return data
	end
	if data then
		-- an empty read: the peer's close_notify
		err = "closed"
		self._orderly = true
	elseif err == "wantread" or err == "wantwrite" then
		return nil, "timeout"
	elseif err == "timeout" then
		return nil, "timeout"
	elseif is_err_obj(err) and err.code == "closed" then
		if is_orderly_close(err) then
			self._orderly = true
			self._close_err = err
			err = "closed"
		end
	end
	self._rerr = err
	return nil, err
end

--- LuaSocket receive: "*l"/"l" (LF ends the line, CRs dropped), "*a"/"a"
-- (until the peer closes), or a byte count; prefix is prepended.
-- data, or nil, err, partial.
function Conn:receive(pattern, prefix)
	pattern = pattern or "*l"
	prefix = prefix or ""
	if self._closed then
		return nil, "closed", prefix
	end
	local ok, err = ensure_handshake(self)
	if not ok then
		return nil, err, prefix
	end
	return receive(self, pattern, {
		prefix = prefix,
		chunk = CHUNK,
		eof_ok = eof_is_closed,
		bad_type = "invalid receive pattern",
		bad_pattern = invalid_pattern,
	})
end

--- Sends close_notify (after a handshake) and closes the tcp. Returns 1.
function Conn:close()
	if self._closed then
		return 1
	end
	self._closed = true
	if self._handshaken and not (is_err_obj(self._rerr) and not self._orderly) then
		-- bounded: close_notify should never wait long
		if self._timeout == nil or self._timeout < 0 or self._timeout > 1 then
			pcall(self.session.settimeout, self.session, 1)
		end
		pcall(self.session.close, self.session)
	end
	self.tcp:close()
	return 1
end

--- LuaSocket settimeout (seconds; nil or negative blocks, 0 polls).
function Conn:settimeout(t, mode)
	if t ~= nil and type(t) ~= "number" then
		error("bad argument #1 to 'settimeout' (number expected)", 2)
	end
	self._timeout = t
	self.tcp:settimeout(t, mode)
	apply_timeout(self)
	return 1
end

function Conn:getfd()
	return self.tcp:getfd()
end

--- True when receive can return without touching the socket.
function Conn:dirty()
	return #self._buf > 0
end

-- Shortcuts to the session.
function Conn:peer_certificate()
	return self.session.peer_certificate
end

function Conn:version()
	return self.session.version
end

function Conn:cipher()
	return self.session.cipher
end

function Conn:alpn()
	return self.session.alpn
end

--- Like LuaSec's conn:info([field]): protocol, cipher, plus mutls's alpn,
-- verified, resumed, server_name, peer (subject) and peer_certificate.
function Conn:info(field)
	local s = self.session
	local peer = s.peer_certificate
	local info = {
		protocol = s.version,
		cipher = s.cipher,
		alpn = s.alpn,
		verified = s.verified,
		resumed = s.resumed,
		server_name = s.server_name,
		peer = peer and peer.subject or nil,
		peer_certificate = peer,
	}
	if field ~= nil then
		return info[field]
	end
	return info
end

-- LuaSec-style names.
function Conn:getpeercertificate(n)
	n = n or 1
	if n == 1 then
		return self.session.peer_certificate
	end
	local chain = self.session.peer_chain
	return chain and chain[n] or nil
end

function Conn:getpeerchain()
	return self.session.peer_chain
end

function Conn:getpeerverification()
	local s = self.session
	return s.verified, s.verification
end

function Conn:getalpn()
	return self.session.alpn
end

function Conn:getsniname()
	return self.session.server_name
end

_M.Conn = Conn

return _M
