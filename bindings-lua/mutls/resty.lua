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
--   mresty.tcp(opts)          -- an unconnected cosocket-shaped object whose
--                             -- connect() does TCP + mTLS (see keepalive)
--
-- The object is cosocket-shaped: connect (tcp() objects), send (a string, a
-- number, or a nested array of them), receive ("*l"/"l", "*a"/"a", a number),
-- receiveany, receiveuntil, settimeout, settimeouts, close, setkeepalive,
-- getreusedtimes, sslhandshake / tlshandshake (no-ops: the handshake is done
-- in connect), plus `conn.session` (the mutls session: peer_certificate,
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
-- Keepalive and resumption (connections made by mresty.tcp / mresty.connect):
--   local sock = mresty.tcp{ config = cfg }    -- like ngx.socket.tcp()
--   sock:connect(host, port)                   -- TCP + handshake, or a pooled one
--   ...; sock:setkeepalive(60000, 16)          -- back into this worker's pool
-- The pool is per worker and keyed by the Config's identity (which holds the
-- trust and the peers= policy) + host + port + server name (+ the `pool`
-- option, if given). A pooled connection keeps its TLS session: reusing it
-- does no handshake (getreusedtimes() > 0). The TCP socket itself rests in
-- nginx's cosocket pool, under a pool name of its own ("<key>#<slot>"), so
-- nginx watches and times it out as any pooled cosocket; mutls keeps the
-- session next to it. A NEW connection to the same key resumes the TLS
-- session (the newest ticket / session data seen for that key; TLS 1.2 and
-- 1.3), and a resumed handshake checks the peer again (dates, name, peers=,
-- verify hook) as a full one does. Connections made by wrap()/serve() have
-- no key: their setkeepalive sends close_notify, closes, and returns
-- nil, "not supported".
--
-- Where: anywhere cosockets work (rewrite, access, content, ngx.timer,
-- ngx.thread; not init, set, header/body filter, log).

local mutls = require "mutls"
local receive = require("mutls.receive").receive

local type, tostring, setmetatable, error = type, tostring, setmetatable, error
local concat = table.concat
local byte, sub, find = string.byte, string.sub, string.find

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

local function new_conn(sock, session, opts, cfg)
	local t = opts.timeout
	local cfg_limit = (cfg or session.config).handshake_timeout -- seconds, or false
	local self = setmetatable({
		sock = sock,
		session = session,
		_buf = "",
		_eof_fed = false,
		_closed = false,
		_has_receiveany = sock ~= nil and opts.framing ~= "record" and type(sock.receiveany) == "function",
		_timeouts = {
			opts.connect_timeout or t or DEFAULT_TIMEOUT,
			opts.send_timeout or t or DEFAULT_TIMEOUT,
			opts.read_timeout or t or DEFAULT_TIMEOUT,
		},
		_handshake_timeout = opts.handshake_timeout or opts.timeout or opts.read_timeout
			or (cfg_limit and cfg_limit * 1000) or nil,
		_pool_size = opts.pool_size,
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

-- Appends the fragments of a (nested) array to parts, as cosockets take
-- them: strings, numbers, booleans, nil ("nil"), arrays.
local function flatten(t, parts, depth)
	if depth > 100 then
		error("bad argument #1 to 'send' (table nested too deeply)", 4)
	end
	for i = 1, #t do
		local v = t[i]
		local vt = type(v)
		if vt == "string" then
			parts[#parts + 1] = v
		elseif vt == "number" or vt == "boolean" or vt == "nil" then
			parts[#parts + 1] = tostring(v)
		elseif vt == "table" then
			flatten(v, parts, depth + 1)
		else
			error("bad argument #1 to 'send' (bad data type " .. vt .. " found)", 4)
		end
	end
end

--- Sends data: a string, a number, or a (nested) array of strings and
-- numbers as for cosockets. Returns the number of bytes taken, or nil, err.
function Conn:send(data)
	local t = type(data)
	if t == "table" then
		local parts = {}
		flatten(data, parts, 1)
		data = concat(parts)
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
			if self._ticket_tries then
				self:_save_ticket()
			end
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
	if self._rerr == "closed" and self._buf == "" and not self._closed then
		-- after the end of the stream was delivered, as cosockets do
		return nil, "closed", ""
	end
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

--- Returns an iterator reading up to the next `pattern` (a plain string),
-- as cosockets' receiveuntil: reader() gives the data before the pattern
-- (options.inclusive: with it); reader(size) gives at most size bytes at a
-- time and nil (no error) once the pattern was reached. nil, err, partial
-- on errors.
function Conn:receiveuntil(pattern, options)
	if type(pattern) ~= "string" or pattern == "" then
		error("bad argument #1 to 'receiveuntil' (non-empty pattern string expected)", 2)
	end
	if options ~= nil and type(options) ~= "table" then
		error("bad argument #2 to 'receiveuntil' (options table expected)", 2)
	end
	local inclusive = options and options.inclusive and true or false
	local plen = #pattern
	local reached = false
	return function(size)
		if size ~= nil and (type(size) ~= "number" or size < 1) then
			error("bad argument #1 to iterator (positive size expected)", 2)
		end
		if reached then
			reached = false
			if size then
				return nil
			end
		end
		while true do
			local buf = self._buf
			local at = find(buf, pattern, 1, true)
			if at then
				local before = sub(buf, 1, at - 1)
				if size and #before > size then
					self._buf = sub(buf, size + 1)
					return sub(buf, 1, size)
				end
				self._buf = sub(buf, at + plen)
				if size then
					reached = true
				end
				if inclusive then
					return before .. pattern
				end
				if size and before == "" then
					reached = false
					return nil
				end
				return before
			end
			if size then
				-- bytes that cannot start the pattern can go now
				local safe = #buf - plen + 1
				if safe >= size then
					self._buf = sub(buf, size + 1)
					return sub(buf, 1, size)
				end
			end
			local data, err = self:_recv_some(RECV_CHUNK)
			if not data then
				self._buf = ""
				return nil, err, buf
			end
			self._buf = buf .. data
		end
	end
end

--- Timeouts in milliseconds, as for cosockets.
function Conn:settimeout(ms)
	local t = self._timeouts
	t[1], t[2], t[3] = ms, ms, ms
	if self.sock then
		return self.sock:settimeout(ms)
	end
end

function Conn:settimeouts(connect_ms, send_ms, read_ms)
	local t = self._timeouts
	t[1], t[2], t[3] = connect_ms, send_ms, read_ms
	if self.sock then
		return self.sock:settimeouts(connect_ms, send_ms, read_ms)
	end
end

-- ------------------------------------------------------------ the pool
-- Per worker (module state). Keys: see pool_key.

local cfg_ids = setmetatable({}, { __mode = "k" })
local cfg_count = 0
local tickets = {} -- key -> newest session data
local idle = {}    -- key -> array of { slot = n, session = s } (LIFO)
local used = {}    -- key -> { [slot] = conn } (connected; weak values)

local DEFAULT_POOL_SIZE = 30 -- lua_socket_pool_size default

-- Keys already made, by Config then by "host|port|name|pool" (one
-- string.format per new key, not per connect).
local key_cache = setmetatable({}, { __mode = "k" })
local slot_names = {} -- key -> { [slot] = "<key>#<slot>" }

local function pool_key(cfg, host, port, name, pool)
	local by_cfg = key_cache[cfg]
	if not by_cfg then
		by_cfg = {}
		key_cache[cfg] = by_cfg
	end
	local short = host .. "|" .. tostring(port) .. "|" .. tostring(name) .. "|" .. tostring(pool)
	local key = by_cfg[short]
	if key then
		return key
	end
	local id = cfg_ids[cfg]
	if not id then
		cfg_count = cfg_count + 1
		id = cfg_count
		cfg_ids[cfg] = id
	end
	key = ("mutls#%d#%s#%s#%s#%s"):format(id, host, tostring(port or ""), tostring(name or ""),
		tostring(pool or ""))
	by_cfg[short] = key
	return key
end

-- nginx's pool name for one slot of a key
local function slot_name(key, slot)
	local names = slot_names[key]
	if not names then
		names = {}
		slot_names[key] = names
	end
	local n = names[slot]
	if not n then
		n = key .. "#" .. slot
		names[slot] = n
	end
	return n
end

-- A slot is taken by a connected connection (weakly: a connection dropped
-- without close, e.g. by an aborted request, frees its slot when collected;
-- nginx closes its cosocket at the request's end) or by an idle one in the
-- pool list. Two sockets never rest in nginx's pool under one name.
local function alloc_slot(key, conn)
	local u = used[key]
	if not u then
		u = setmetatable({}, { __mode = "v" })
		used[key] = u
	end
	local taken = {}
	for _, e in ipairs(idle[key] or {}) do
		taken[e.slot] = true
	end
	local n = 1
	while u[n] or taken[n] do
		n = n + 1
	end
	u[n] = conn
	return n
end

local function free_slot(key, slot)
	local u = used[key]
	if u then
		u[slot] = nil
	end
end

-- Remembers the session's resumption data for its key (TLS 1.3 tickets
-- arrive after the handshake: tried again on the first reads).
function Conn:_save_ticket()
	local tries = self._ticket_tries
	if not tries or not self._key then
		return
	end
	local data = self.session.session_data
	if data and data ~= "" then
		tickets[self._key] = data
		self._ticket_tries = nil
	elseif tries >= 3 then
		self._ticket_tries = nil
	else
		self._ticket_tries = tries + 1
	end
end

--- Sends close_notify (when the handshake finished) and closes the socket.
-- 1, or nil, err.
function Conn:close()
	if self._closed or not self.sock then
		return nil, "closed"
	end
	self._closed = true
	if self._key then
		self:_save_ticket()
		free_slot(self._key, self._slot)
	end
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

--- Puts the connection, with its TLS session, into this worker's pool
-- (connections made by tcp()/connect()). timeout (ms; 0: no limit;
-- default lua_socket_keepalive_timeout) as for cosockets; size: the most
-- idle connections kept for this key (default 30) -- when full, this one
-- is closed instead. 1, or nil, err (the connection is then closed).
function Conn:setkeepalive(timeout, size)
	if self._closed or not self.sock then
		return nil, "closed"
	end
	if timeout ~= nil and type(timeout) ~= "number" then
		error("bad argument #1 to 'setkeepalive' (milliseconds expected)", 2)
	end
	if size ~= nil and (type(size) ~= "number" or size < 1) then
		error("bad argument #2 to 'setkeepalive' (positive pool size expected)", 2)
	end
	local key = self._key
	if not key then
		self:close()
		return nil, "not supported"
	end
	if not self._handshaken or self._rerr then
		self:close()
		return nil, "closed"
	end
	if #self._buf > 0 or self.session:pending() > 0 then
		self:close()
		return nil, "unread data in buffer"
	end
	self:_save_ticket()
	local list = idle[key]
	if not list then
		list = {}
		idle[key] = list
	end
	if #list >= (size or self._pool_size or DEFAULT_POOL_SIZE) then
		self:close()
		return 1
	end
	local ok, err
	if timeout then
		ok, err = self.sock:setkeepalive(timeout, 1)
	else
		ok, err = self.sock:setkeepalive()
	end
	self._closed = true
	if not ok then
		free_slot(key, self._slot)
		return nil, err
	end
	free_slot(key, self._slot) -- the idle list holds it now
	list[#list + 1] = { slot = self._slot, session = self.session }
	return 1
end

--- How many times this TCP connection was taken from the pool (nginx's
-- count); 0 for a new one.
function Conn:getreusedtimes()
	if self.sock and self.sock.getreusedtimes then
		return self.sock:getreusedtimes()
	end
	return 0
end

--- The handshake already ran in connect() (with this connection's Config
-- and server_hostname): for libraries that call it after connect, as
-- lua-resty-http does for https:// (sslhandshake(reused_session,
-- server_name, verify) or, lua-nginx-module >= 0.10.23, tlshandshake{...}).
-- Their arguments are ignored: the name checked, the trust and the policy
-- are the Config's, and the check cannot be turned off here. true, or
-- nil, err.
function Conn:sslhandshake()
	if self._handshaken then
		return true
	end
	return self:handshake()
end
Conn.tlshandshake = Conn.sslhandshake

function Conn:setoption(...)
	if self.sock and self.sock.setoption then
		return self.sock:setoption(...)
	end
	return nil, "closed"
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

local TIMEOUT_OPTS = { "timeout", "handshake_timeout", "connect_timeout", "send_timeout", "read_timeout" }

local function check_opts(opts, fname)
	if type(opts) ~= "table" then
		error("bad argument to '" .. fname .. "' (options table expected)", 3)
	end
	if opts.config == nil then
		error("bad argument to '" .. fname .. "' (opts.config is required: a mutls.config{...})", 3)
	end
	for i = 1, #TIMEOUT_OPTS do
		local k = TIMEOUT_OPTS[i]
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

--- An unconnected client object, like ngx.socket.tcp(): its connect(host,
-- port[, options]) makes the TCP connection and the mTLS handshake, or takes
-- a pooled connection (see keepalive above). opts as for wrap, plus
-- pool_size (default for setkeepalive) and pool (added to the pool key).
-- For libraries that create their own cosocket (lua-resty-redis:
-- `red._sock = mresty.tcp{ config = cfg }`; lua-resty-http: `httpc.sock`).
function _M.tcp(opts)
	check_opts(opts, "tcp")
	local self = new_conn(nil, nil, opts, opts.config)
	self._opts = opts
	self._closed = true
	return self
end

--- connect(host, port[, options]) or connect("unix:/path"[, options]);
-- options.pool as for cosockets (added to the pool key). server_hostname
-- defaults to host (an IP literal is checked against the IP SANs).
-- 1, or nil, err (a socket error string, or the mutls error).
function Conn:connect(host, port, options)
	local opts = self._opts
	if not opts then
		error("connect: this connection was made by wrap() or serve(); use mutls.resty.tcp(opts)", 2)
	end
	if type(host) ~= "string" then
		error("bad argument #1 to 'connect' (host string expected)", 2)
	end
	if type(port) == "table" then
		options, port = port, nil
	end
	if options ~= nil and type(options) ~= "table" then
		error("bad argument to 'connect' (options table expected)", 2)
	end
	if not self._closed then
		self:close()
	end
	local unix = sub(host, 1, 5) == "unix:"
	local name = opts.server_hostname
	if name == nil and not unix then
		name = host
	end
	local key = pool_key(opts.config, host, port, name, options and options.pool or opts.pool)
	local sock, err = ngx.socket.tcp()
	if not sock then
		return nil, err
	end
	local t = self._timeouts
	sock:settimeouts(t[1], t[2], t[3])
	local list = idle[key]
	local entry = list and list[#list]
	local slot
	if entry then
		list[#list] = nil
		slot = entry.slot
		used[key][slot] = self
	else
		slot = alloc_slot(key, self)
	end
	local copts = { pool = slot_name(key, slot) }
	local ok, cerr
	if unix then
		ok, cerr = sock:connect(host, copts)
	else
		ok, cerr = sock:connect(host, port, copts)
	end
	if not ok then
		free_slot(key, slot)
		return nil, cerr
	end
	self.sock = sock
	self._key, self._slot = key, slot
	self._buf, self._eof_fed, self._closed = "", false, false
	self._hs_err, self._rerr, self._orderly_eof = nil, nil, nil
	self._has_receiveany = opts.framing ~= "record" and type(sock.receiveany) == "function"
	if entry and sock:getreusedtimes() > 0 then
		-- the same TCP connection: its TLS session goes on
		self.session = entry.session
		self._handshaken = true
		self._ticket_tries = nil
		return 1
	end
	-- a new TCP connection (nginx closed the pooled one: timeout, or the
	-- peer closed or wrote while it rested): a new session, resumed if we can
	self._handshaken = false
	local session, serr = opts.config:client{ server_hostname = name, session_data = tickets[key] }
	if not session then
		sock:close()
		self._closed = true
		free_slot(key, slot)
		return nil, serr
	end
	self.session = session
	self._ticket_tries = 0
	if opts.handshake == false then
		return 1
	end
	local hok, herr = self:handshake()
	if not hok then
		tickets[key] = nil
		self._ticket_tries = nil
		sock:close()
		self._closed = true
		free_slot(key, slot)
		return nil, herr
	end
	self:_save_ticket()
	return 1
end

--- Creates a connection as tcp(opts) does and connects it (from the pool
-- when one rests there). opts as for tcp; server_hostname defaults to host.
function _M.connect(host, port, opts)
	if type(host) ~= "string" then
		error("bad argument #1 to 'connect' (host string expected)", 2)
	end
	check_opts(opts, "connect")
	local self = _M.tcp(opts)
	local ok, err = self:connect(host, port)
	if not ok then
		return nil, err
	end
	return self
end

--- For a library object that makes its own cosocket and keeps it in a
-- field, with no way to hand it one: lua-resty-redis's new() calls
-- ngx.socket.tcp() (captured when the module loads) and keeps the result in
-- `_sock`, which every method reads with rawget. attach replaces that field
-- (field: "_sock" unless given) with tcp(opts), so red:connect(host, port)
-- does the mTLS handshake, red:set_keepalive uses this worker's TLS pool,
-- and the library's file is not patched. Returns obj.
function _M.attach(obj, opts, field)
	field = field or "_sock"
	if type(obj) ~= "table" or rawget(obj, field) == nil then
		error("bad argument #1 to 'attach' (an object with a '" .. field
			.. "' field expected: lua-resty-redis's red = redis:new())", 2)
	end
	check_opts(opts, "attach")
	rawset(obj, field, _M.tcp(opts))
	return obj
end

--- This worker's pool, for tests and monitoring: { [key] = { idle = n,
-- connections = n (connected or pooled), ticket = bool } }.
function _M.pool_stats()
	local out = {}
	for key, u in pairs(used) do
		local n = 0
		for _ in pairs(u) do
			n = n + 1
		end
		local nidle = idle[key] and #idle[key] or 0
		out[key] = { idle = nidle, connections = n + nidle, ticket = tickets[key] ~= nil }
	end
	return out
end

return _M
