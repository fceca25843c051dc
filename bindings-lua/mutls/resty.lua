--- mutls.resty: mutual TLS over OpenResty cosockets, without blocking the worker.
--
-- A pure-Lua driver: the TLS work is done by a mutls session in memory mode
-- (`cfg:client{}` / `cfg:server{}` without an fd); this module moves the bytes
-- between that session and an `ngx.socket.tcp` cosocket (or the raw request
-- socket from `ngx.req.socket(true)`). Every wait is a cosocket wait, so the
-- nginx worker keeps serving other requests, timers and light threads while a
-- handshake is in flight.
--
--   local mresty = require "mutls.resty"
--   local conn, err = mresty.connect("127.0.0.1", 8443, {
--       config = cfg,                     -- a mutls.config{...} (required)
--       server_hostname = "api.internal", -- name checked (default: host)
--       timeout = 5000,                   -- ms, each socket operation
--       handshake_timeout = 5000,         -- ms, the whole handshake (default:
--                                         -- timeout, else the config's, 30 s)
--   })
--   if not conn then return ngx.log(ngx.ERR, tostring(err)) end
--   local who = conn.session.peer_certificate.subject
--   conn:send("ping\n"); local line, err = conn:receive("*l")
--   conn:close()
--
--   mresty.wrap(sock, opts)   -- an already connected cosocket, client role
--   mresty.serve(sock, opts)  -- server role, e.g. sock = ngx.req.socket(true)
--
-- The object is cosocket-shaped: send, receive ("*l"/"l", "*a"/"a", a
-- number), receiveany, settimeout, settimeouts, close, setkeepalive,
-- getreusedtimes, plus `conn.session` (the mutls session: peer_certificate,
-- verified, version, cipher, alpn, explain(), ...) and `conn.sock`.
--
-- Errors: every failure is `nil, err`. `err` is the mutls error object (fields
-- code, reasons, alert, side, step, peer_certificate; tostring gives the
-- message) for TLS failures, or the cosocket's own string for socket failures
-- ("timeout", "closed", "connection refused", ...). An orderly TLS close by
-- the peer (close_notify) is the string "closed", as for a plain cosocket; a
-- close without close_notify (possible truncation) is the mutls error with
-- code "closed". receive("*a") returns the data on an orderly close and
-- nil, err, partial on a truncated one. Only wrong arguments raise.
--
-- TLS 1.3 note: a client's handshake completes before the server has checked
-- the client's certificate, so a client the server refuses learns it on its
-- first receive (nil, err with code "peer-rejected" / the server's alert).
--
-- setkeepalive: TLS state cannot be parked in the cosocket pool (the pooled
-- socket would carry a half-used TLS stream), so setkeepalive sends
-- close_notify, closes the socket and returns nil, "not supported".
--
-- Where: anywhere cosockets work (rewrite, access, content, ngx.timer,
-- ngx.thread; not init, set, header/body filter, log).

local mutls = require "mutls"
local receive = require("mutls.receive").receive

local type, tostring, setmetatable, error = type, tostring, setmetatable, error
local concat = table.concat
local byte, sub = string.byte, string.sub

local _M = { _VERSION = "0.1.0" }

local RECV_CHUNK = 16384

local Conn = {}
Conn.__index = Conn

local function now_ms()
	if ngx and ngx.now then
		ngx.update_time()
		return ngx.now() * 1000
	end
	return os.time() * 1000
end

local function is_mutls_err(err)
	return type(err) ~= "string" and err ~= nil
end

-- Moves the session's pending output to the socket.
local function flush(self)
	local out = self.session:data_to_send()
	if out and #out > 0 then
		local n, err = self.sock:send(out)
		if not n then
			return nil, err
		end
	end
	return true
end

-- Reads one TLS record with receive() when the socket has no receiveany
-- (older lua-nginx-module). 5-byte header, then the body.
local function receive_record(sock)
	local hdr, err = sock:receive(5)
	if not hdr then
		return nil, err
	end
	local hi, lo = byte(hdr, 4, 5)
	local len = hi * 256 + lo
	if len == 0 then
		return hdr
	end
	local body, berr = sock:receive(len)
	if not body then
		return nil, berr
	end
	return hdr .. body
end

-- Reads more bytes from the socket into the session. On EOF tells the
-- session (feed_eof) and returns true: the next TLS call reports the close.
local function fill(self)
	local sock = self.sock
	local data, err
	if self._has_receiveany then
		data, err = sock:receiveany(RECV_CHUNK)
	else
		data, err = receive_record(sock)
	end
	if not data then
		if err == "closed" then
			if not self._eof_fed then
				self._eof_fed = true
				self.session:feed_eof()
			end
			return true
		end
		return nil, err
	end
	self.session:feed(data)
	return true
end

local function apply_timeouts(self, read_ms)
	local t = self._timeouts
	local sock = self.sock
	if sock.settimeouts then
		sock:settimeouts(t[1], t[2], read_ms or t[3])
	else
		sock:settimeout(read_ms or t[3])
	end
end

local function set_deadline_timeout(self, deadline)
	if not deadline then
		return true
	end
	local left = deadline - now_ms()
	if left <= 0 then
		return nil, "timeout"
	end
	left = math.ceil(left)
	local r = self._timeouts[3]
	apply_timeouts(self, (r and r > 0 and r < left) and r or left)
	return true
end

local DEFAULT_TIMEOUT = 60000 -- lua_socket_*_timeout default

local function new_conn(sock, session, opts)
	local t = opts.timeout
	local cfg_limit = session.config.handshake_timeout -- seconds, or false
	local self = setmetatable({
		sock = sock,
		session = session,
		_buf = "",
		_eof_fed = false,
		_closed = false,
		_has_receiveany = opts.framing ~= "record" and type(sock.receiveany) == "function",
		_timeouts = {
			opts.connect_timeout or t or DEFAULT_TIMEOUT,
			opts.send_timeout or t or DEFAULT_TIMEOUT,
			opts.read_timeout or t or DEFAULT_TIMEOUT,
		},
		_handshake_timeout = opts.handshake_timeout or opts.timeout or opts.read_timeout
			or (cfg_limit and cfg_limit * 1000) or nil,
	}, Conn)
	return self
end

--- Runs (or finishes) the handshake. true, or nil, err. Idempotent.
function Conn:handshake()
	if self._handshaken then
		return true
	end
	if self._hs_err then
		return nil, self._hs_err
	end
	local s = self.session
	local deadline = self._handshake_timeout and (now_ms() + self._handshake_timeout)
	local ok, err
	while true do
		ok, err = s:handshake()
		-- Whatever the outcome, what the session wrote (handshake messages,
		-- or the alert explaining a failure) goes to the peer first.
		local fok, ferr = flush(self)
		if ok then
			if not fok then
				err = ferr
				break
			end
			self._handshaken = true
			if deadline then
				apply_timeouts(self)
			end
			return true
		end
		if err == "wantread" then
			if not fok then
				err = ferr
				break
			end
			local dok, derr = set_deadline_timeout(self, deadline)
			if not dok then
				err = derr
				break
			end
			local rok, rerr = fill(self)
			if not rok then
				err = rerr
				break
			end
		elseif err == "wantwrite" then
			-- memory mode: the output was just flushed; retry
			if not fok then
				err = ferr
				break
			end
		else
			break -- a mutls error object
		end
	end
	if deadline then
		apply_timeouts(self)
	end
	self._hs_err = err
	return nil, err
end
Conn.dohandshake = Conn.handshake

--- Sends data (a string, number, or array of strings as for cosockets).
-- Returns the number of bytes taken, or nil, err.
function Conn:send(data)
	local t = type(data)
	if t == "table" then
		data = concat(data)
	elseif t == "number" then
		data = tostring(data)
	elseif t ~= "string" then
		error("bad argument #1 to 'send' (string, number or table expected, got " .. t .. ")", 2)
	end
	if self._closed then
		return nil, "closed"
	end
	if not self._handshaken then
		local ok, err = self:handshake()
		if not ok then
			return nil, err
		end
	end
	local s = self.session
	local total, pos = #data, 1
	while pos <= total do
		local n, err = s:send(pos == 1 and data or sub(data, pos))
		local fok, ferr = flush(self)
		if not fok then
			return nil, ferr
		end
		if n then
			pos = pos + n
		elseif err == "wantread" then
			local rok, rerr = fill(self)
			if not rok then
				return nil, rerr
			end
		elseif err ~= "wantwrite" then
			return nil, err
		end
	end
	return total
end

-- One read from the session: a string, or nil, err ("closed" string for an
-- orderly close, the mutls error otherwise, or a socket error string).
function Conn:_recv_some(max)
	if self._closed then
		return nil, "closed"
	end
	if not self._handshaken then
		local ok, err = self:handshake()
		if not ok then
			return nil, err
		end
	end
	if self._rerr then
		return nil, self._rerr
	end
	local s = self.session
	while true do
		local data, err = s:recv(max)
		-- post-handshake messages (KeyUpdate replies, alerts) go out
		local fok, ferr = flush(self)
		if data and #data > 0 then
			return data
		end
		if data then
			-- an empty read: nothing decrypted yet; treat as wantread
			err = "wantread"
		end
		if err == "wantread" then
			if not fok then
				return nil, ferr
			end
			local rok, rerr = fill(self)
			if not rok then
				return nil, rerr
			end
		elseif err == "wantwrite" then
			if not fok then
				return nil, ferr
			end
		else
			if is_mutls_err(err) and err.code == "closed" and err.clean then
				-- close_notify: an orderly end of stream (the binding marks
				-- it clean; a close without it is left as the mutls error)
				err = "closed"
				self._orderly_eof = true
			end
			self._rerr = err
			return nil, err
		end
	end
end

local RECEIVE_OPTS = {
	chunk = RECV_CHUNK,
	check_size = true,
	eof_ok = function(self, err) return err == "closed" and self._orderly_eof end,
	bad_type = "number or pattern expected",
	bad_pattern = function(p) return "bad pattern: " .. p end,
}

--- Reads: "*l"/"l" a line (LF ends it, CRs are dropped), "*a"/"a" all until
-- the peer closes, or a number of bytes. data, or nil, err, partial.
function Conn:receive(pattern)
	return receive(self, pattern or "*l", RECEIVE_OPTS)
end

--- Returns what is available, at most max bytes (at least one), or nil, err.
function Conn:receiveany(max)
	if type(max) ~= "number" or max < 1 then
		error("bad argument #1 to 'receiveany' (positive number expected)", 2)
	end
	local buf = self._buf
	if #buf > 0 then
		self._buf = sub(buf, max + 1)
		return sub(buf, 1, max)
	end
	return self:_recv_some(max)
end

--- Timeouts in milliseconds, as for cosockets.
function Conn:settimeout(ms)
	local t = self._timeouts
	t[1], t[2], t[3] = ms, ms, ms
	return self.sock:settimeout(ms)
end

function Conn:settimeouts(connect_ms, send_ms, read_ms)
	local t = self._timeouts
	t[1], t[2], t[3] = connect_ms, send_ms, read_ms
	return self.sock:settimeouts(connect_ms, send_ms, read_ms)
end

--- Sends close_notify (when the handshake finished) and closes the socket.
-- 1, or nil, err.
function Conn:close()
	if self._closed then
		return nil, "closed"
	end
	self._closed = true
	if self._handshaken and not is_mutls_err(self._rerr) then
		pcall(self.session.close, self.session)
		pcall(flush, self)
	end
	if self._is_request_socket then
		-- the raw request socket is closed by nginx when the request ends
		return 1
	end
	return self.sock:close()
end

--- Not supported (see the module comment): closes, then nil, "not supported".
function Conn:setkeepalive()
	if not self._closed then
		self:close()
	end
	return nil, "not supported"
end

function Conn:getreusedtimes()
	return 0
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

local function check_opts(opts, fname)
	if type(opts) ~= "table" then
		error("bad argument to '" .. fname .. "' (options table expected)", 3)
	end
	if opts.config == nil then
		error("bad argument to '" .. fname .. "' (opts.config is required: a mutls.config{...})", 3)
	end
	for _, k in ipairs({ "timeout", "handshake_timeout", "connect_timeout", "send_timeout", "read_timeout" }) do
		if opts[k] ~= nil and type(opts[k]) ~= "number" then
			error("bad argument to '" .. fname .. "' (opts." .. k .. " must be milliseconds)", 3)
		end
	end
end

local function start(sock, opts, role, fname)
	if sock == nil or type(sock.send) ~= "function" or type(sock.receive) ~= "function" then
		error("bad argument #1 to '" .. fname .. "' (a connected cosocket expected)", 3)
	end
	check_opts(opts, fname)
	local cfg = opts.config
	local session, err
	if role == "client" then
		session, err = cfg:client{
			server_hostname = opts.server_hostname,
			session_data = opts.session_data,
		}
	else
		session, err = cfg:server{}
	end
	if not session then
		return nil, err
	end
	local self = new_conn(sock, session, opts)
	self._is_request_socket = opts.request_socket and true or false
	if opts.timeout or opts.connect_timeout or opts.send_timeout or opts.read_timeout then
		apply_timeouts(self)
	end
	if opts.handshake == false then
		return self
	end
	local ok, herr = self:handshake()
	if not ok then
		if not self._is_request_socket then
			sock:close()
		end
		self._closed = true
		return nil, herr
	end
	return self
end

--- Client role over an already connected cosocket.
-- opts: config (required), server_hostname, session_data, timeout (ms, each
-- socket operation; or connect_timeout/send_timeout/read_timeout),
-- handshake_timeout (ms, the whole handshake; default: timeout, else
-- read_timeout, else the config's handshake_timeout, 30 s unless set),
-- handshake = false to defer the handshake to the first I/O or
-- conn:handshake(); framing = "record" to read one TLS record at a time with
-- receive(5) + receive(n) instead of receiveany (chosen automatically for
-- cosockets without receiveany, lua-nginx-module < 0.10.14).
function _M.wrap(sock, opts)
	return start(sock, opts, "client", "wrap")
end

--- Server role over a connected cosocket: `ngx.req.socket(true)` or a
-- stream-subsystem downstream socket. Set opts.request_socket = true for a
-- request socket: close() then sends close_notify and leaves the socket to
-- nginx, which closes it when the request ends.
function _M.serve(sock, opts)
	return start(sock, opts, "server", "serve")
end

--- Creates an ngx.socket.tcp, connects, and handshakes as a client.
-- opts as for wrap. server_hostname defaults to host (an IP literal is
-- checked against the certificate's IP SANs). The cosocket pool is not used.
function _M.connect(host, port, opts)
	if type(host) ~= "string" then
		error("bad argument #1 to 'connect' (host string expected)", 2)
	end
	check_opts(opts, "connect")
	local sock, err = ngx.socket.tcp()
	if not sock then
		return nil, err
	end
	local t = opts.timeout or DEFAULT_TIMEOUT
	sock:settimeouts(opts.connect_timeout or t, opts.send_timeout or t, opts.read_timeout or t)
	local ok, cerr
	local unix = sub(host, 1, 5) == "unix:"
	if unix then
		ok, cerr = sock:connect(host)
	else
		ok, cerr = sock:connect(host, port)
	end
	if not ok then
		return nil, cerr
	end
	if opts.server_hostname == nil and not unix then
		local o = {}
		for k, v in pairs(opts) do
			o[k] = v
		end
		o.server_hostname = host
		opts = o
	end
	return start(sock, opts, "client", "connect")
end

return _M
