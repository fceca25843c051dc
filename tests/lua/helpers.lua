-- Shared helpers of the Lua specs: the standard test PKI (the same as the C
-- tests' pki_make), in-memory client/server pairs driven to completion, loopback
-- sockets, temporary directories and external peer processes.
local mutls = require "mutls"

local H = {}
H.mutls = mutls
H.DAY = 86400

-- The C tests' standard PKI: root "mutls test root"; server "orders" (DNS
-- orders.internal + localhost, IP 127.0.0.1 + ::1, purpose server); client
-- "payments" (URI spiffe://example.org/payments, purpose client).
function H.pki()
	local ca = mutls.testca { name = "mutls test root" }
	local server = ca:issue {
		cn = "orders", dns = { "orders.internal", "localhost" },
		ip = { "127.0.0.1", "::1" }, purpose = "server",
	}
	local client = ca:issue {
		cn = "payments", uri = { "spiffe://example.org/payments" }, purpose = "client",
	}
	return { ca = ca, server = server, client = client }
end

-- A leaf like the C tests' pki_issue: offsets are seconds from now.
function H.issue(ca, cn, dns, ip, uri, purpose, not_before, not_after)
	return ca:issue {
		cn = cn, dns = dns and { dns } or nil, ip = ip and { ip } or nil,
		uri = uri and { uri } or nil, purpose = purpose,
		not_before = not_before, not_after = not_after,
	}
end

-- A config with identity id (nil: none) trusting ca (nil: nothing), plus
-- extra options.
function H.config(id, ca, extra)
	local opts = {}
	if id then opts.identity = id end
	if ca then opts.trust = ca end
	for k, v in pairs(extra or {}) do opts[k] = v end
	return assert(mutls.config(opts))
end

-- Moves the pending output of `from` into `to`; returns the byte count.
function H.move(from, to)
	local data = from:data_to_send()
	if #data > 0 then assert(to:feed(data)) end
	return #data
end

local function step(s)
	local ok, err = s:handshake()
	if ok then return "ok" end
	if err == "wantread" or err == "wantwrite" then return "want" end
	return "failed", err
end

-- Memory-mode sessions.
function H.pair(ccfg, hostname, scfg)
	local p = {}
	p.c = assert(ccfg:client { server_hostname = hostname })
	p.s = assert(scfg:server {})
	p.cstate, p.sstate = "want", "want"
	return p
end

-- Drives both handshakes until neither can progress (bounded, like the C
-- pair_handshake).
function H.handshake(p)
	for _ = 1, 64 do
		local moved = 0
		if p.cstate == "want" then p.cstate, p.cerr = step(p.c) end
		moved = moved + H.move(p.c, p.s)
		if p.sstate == "want" then p.sstate, p.serr = step(p.s) end
		moved = moved + H.move(p.s, p.c)
		if moved == 0 then return p end
	end
	error("the handshake did not settle in 64 rounds")
end

-- A handshake, then (like the C pair_run) a read by a client whose handshake
-- succeeded while the server's failed: a TLS 1.3 client learns of its
-- rejection there.
function H.run(ccfg, hostname, scfg)
	local p = H.handshake(H.pair(ccfg, hostname, scfg))
	if p.cstate == "ok" and p.sstate == "failed" then
		local data, err = p.c:recv(64)
		assert(data == nil, "the client read data from a server that failed")
		p.cstate, p.cerr = "failed", err
	end
	return p
end

-- Sends msg from `from`, moves it, and receives it on `to`.
function H.transfer(from, to, msg)
	assert(from:send(msg) == #msg)
	H.move(from, to)
	local data, err = to:recv(16384)
	H.move(to, from)
	return data, err
end

-- A connected pair: standard PKI, handshake done. version: "1.2"/"1.3"/nil.
function H.connected(version, cextra, sextra)
	local pki = H.pki()
	local cx = cextra or {}
	if version then cx.versions = { version } end
	local ccfg = H.config(pki.client, pki.ca, cx)
	local scfg = H.config(pki.server, pki.ca, sextra)
	local p = H.handshake(H.pair(ccfg, "orders.internal", scfg))
	assert(p.cstate == "ok", tostring(p.cerr))
	assert(p.sstate == "ok", tostring(p.serr))
	p.pki, p.ccfg, p.scfg = pki, ccfg, scfg
	return p
end

function H.contains(haystack, needle)
	return type(haystack) == "string" and haystack:find(needle, 1, true) ~= nil
end

-- Checks an error object's fields. alert: name or nil (then: none).
function H.expect_error(err, code, reasons, side, step_name, alert)
	assert(type(err) == "table", "expected an error object, got " .. tostring(err))
	assert(mutls.is_error(err), "not a mutls error object")
	assert(err.code == code, ("code %s expected, got %s (%s)"):format(code, tostring(err.code), tostring(err)))
	if reasons then
		local got = table.concat(err.reasons, ",")
		local want = table.concat(reasons, ",")
		assert(got == want, ("reasons {%s} expected, got {%s} (%s)"):format(want, got, tostring(err)))
	end
	if side ~= false then
		assert(err.side == side, ("side %s expected, got %s"):format(tostring(side), tostring(err.side)))
	end
	if step_name ~= false then
		assert(err.step == step_name, ("step %s expected, got %s"):format(tostring(step_name), tostring(err.step)))
	end
	if alert ~= false then
		assert(err.alert == alert, ("alert %s expected, got %s"):format(tostring(alert), tostring(err.alert)))
	end
	assert(tostring(err) == err.message)
end

-- ---- files and processes ------------------------------------------------

function H.tmpdir()
	local f = assert(io.popen("mktemp -d /tmp/mutls-lua-XXXXXX"))
	local dir = f:read("*l")
	f:close()
	return dir
end

function H.rmdir(dir)
	if dir and dir:match("^/tmp/mutls%-lua%-") then
		os.execute("rm -rf '" .. dir .. "'")
	end
end

function H.write(path, text)
	local f = assert(io.open(path, "wb"))
	f:write(text)
	f:close()
	return path
end

function H.read(path)
	local f = io.open(path, "rb")
	if not f then return nil end
	local t = f:read("*a")
	f:close()
	return t
end

-- The repository's root ($MUTLS_ROOT, or found from this file's path).
function H.repo_root()
	local env = os.getenv("MUTLS_ROOT")
	if env and env ~= "" then return env end
	local src = debug.getinfo(1, "S").source:gsub("^@", "")
	if src:sub(1, 1) ~= "/" then
		local p = io.popen("pwd")
		src = p:read("*l") .. "/" .. src
		p:close()
	end
	return src:match("^(.*)/tests/lua/[^/]*$") or "."
end

-- A command's standard output and error, whole.
function H.capture(cmd)
	local p = io.popen(cmd .. " 2>&1")
	local out = p:read("*a")
	p:close()
	return out
end

-- "key=value" lines into a table (keys: letters, digits, _ . -).
function H.parse_kv(text)
	local t = {}
	for line in (text or ""):gmatch("[^\n]+") do
		local k, v = line:match("^([%w_%.%-]+)=(.*)$")
		if k then t[k] = v end
	end
	return t
end

-- os.execute: true/nil on 5.4, a status number on LuaJIT.
function H.sh(cmd)
	local r = os.execute(cmd)
	return r == true or r == 0
end

function H.have(cmd)
	return H.sh("command -v " .. cmd .. " >/dev/null 2>&1")
end

local socket_ok, socket = pcall(require, "socket")
H.socket = socket_ok and socket or nil

-- A free loopback port (bind port 0, read it, close).
function H.free_port()
	local srv = assert(socket.bind("127.0.0.1", 0))
	local _, port = srv:getsockname()
	srv:close()
	return tonumber(port)
end

function H.sleep(seconds)
	socket.sleep(seconds)
end

-- Starts a shell command in the background, bounded by `timeout` seconds
-- (coreutils timeout), output into log. Returns the pid.
function H.spawn(cmd, log, timeout)
	local line = ("timeout -k 1 %d %s >%s 2>&1 </dev/null & echo $!"):format(timeout or 20, cmd, log or "/dev/null")
	local f = assert(io.popen(line))
	local pid = tonumber(f:read("*l"))
	f:close()
	assert(pid, "could not start: " .. cmd)
	return pid
end

-- Same, with stdin from a file.
function H.spawn_input(cmd, input, log, timeout)
	local line = ("timeout -k 1 %d %s >%s 2>&1 <%s & echo $!"):format(timeout or 20, cmd, log or "/dev/null", input)
	local f = assert(io.popen(line))
	local pid = tonumber(f:read("*l"))
	f:close()
	assert(pid, "could not start: " .. cmd)
	return pid
end

function H.kill(pid)
	if pid then
		os.execute(("kill %d 2>/dev/null; sleep 0.05; kill -9 %d 2>/dev/null"):format(pid, pid))
	end
end

function H.alive(pid)
	return H.sh(("kill -0 %d 2>/dev/null"):format(pid))
end

-- Waits until pid exits (bounded); true if it did.
function H.wait_exit(pid, seconds)
	local deadline = socket.gettime() + (seconds or 5)
	while socket.gettime() < deadline do
		if not H.alive(pid) then return true end
		socket.sleep(0.02)
	end
	return false
end

-- Waits until the file at path contains needle (bounded); its text.
function H.wait_for(path, needle, seconds)
	local deadline = socket.gettime() + (seconds or 5)
	repeat
		local text = H.read(path)
		if text and text:find(needle, 1, true) then return text end
		socket.sleep(0.02)
	until socket.gettime() > deadline
	return H.read(path) or ""
end

-- Connects to 127.0.0.1:port, retrying until the listener is up (bounded).
function H.connect(port, seconds)
	local deadline = socket.gettime() + (seconds or 5)
	repeat
		local c = socket.tcp()
		c:settimeout(1)
		local ok = c:connect("127.0.0.1", port)
		if ok then return c end
		c:close()
		socket.sleep(0.05)
	until socket.gettime() > deadline
	error("nothing listens on 127.0.0.1:" .. port)
end

-- A loopback listener on a free port.
function H.listen()
	local srv = assert(socket.bind("127.0.0.1", 0))
	local _, port = srv:getsockname()
	return srv, tonumber(port)
end

-- ---- peer processes with an exit status (interop) --------------------------

-- A string quoted for sh.
function H.shquote(s)
	return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Starts `cmd` (a shell command line) in the background under coreutils
-- `timeout` (which makes its own process group, so H.stop ends the command
-- and everything it started). opts: log (stdout+stderr, default /dev/null),
-- rc (a file that receives the exit status when the command ends),
-- input (text written to the command's stdin; with keep_stdin the stdin
-- stays open, as a pipe whose writer sleeps, until the process is stopped),
-- timeout (seconds, default 20). Returns a proc table { pid, log, rc }.
function H.start(cmd, opts)
	opts = opts or {}
	local timeout = opts.timeout or 20
	local log = opts.log or "/dev/null"
	local script = cmd .. " >" .. H.shquote(log) .. " 2>&1"
	if opts.rc then
		script = "{ " .. script .. "; echo $? >" .. H.shquote(opts.rc) .. "; }"
	end
	if opts.keep_stdin then
		script = ("{ printf %%s %s; exec sleep %d; } | %s"):format(H.shquote(opts.input or ""), timeout + 1, script)
	elseif opts.input then
		script = ("printf %%s %s | %s"):format(H.shquote(opts.input), script)
	else
		script = script .. " </dev/null"
	end
	local line = ("timeout -k 1 %d sh -c %s >/dev/null 2>&1 </dev/null & echo $!"):format(timeout, H.shquote(script))
	local f = assert(io.popen(line))
	local pid = tonumber(f:read("*l"))
	f:close()
	assert(pid, "could not start: " .. cmd)
	return { pid = pid, log = opts.log, rc = opts.rc, cmd = cmd }
end

-- The exit status of a proc started with opts.rc, waiting for it (bounded);
-- nil if it did not finish in time.
function H.wait_rc(proc, seconds)
	assert(proc.rc, "the proc was started without an rc file")
	local deadline = socket.gettime() + (seconds or 10)
	repeat
		local text = H.read(proc.rc)
		local rc = text and text:match("^(%d+)\n")
		if rc then return tonumber(rc) end
		socket.sleep(0.005)
	until socket.gettime() > deadline
	return nil
end

-- Is pid running (not gone, not a zombie)? Reads /proc, no fork.
local function running(pid)
	local text = H.read(("/proc/%d/stat"):format(pid))
	if not text then return false end
	local state = text:match("^%d+ %b() (%a)")
	return state ~= nil and state ~= "Z" and state ~= "X"
end

-- Ends a proc's whole process group: TERM to the group, a wait (bounded,
-- 1 s) until `timeout` itself has ended (it waits for its command), then KILL
-- to the group for anything left. Idempotent; safe on a proc that already
-- exited. (A negative pid names the group; dash's kill takes no "--".)
function H.stop(proc)
	if not proc or proc.stopped then return end
	proc.stopped = true
	os.execute(("kill -TERM -%d 2>/dev/null"):format(proc.pid))
	local deadline = socket.gettime() + 1
	while running(proc.pid) and socket.gettime() < deadline do
		socket.sleep(0.005)
	end
	os.execute(("kill -KILL -%d 2>/dev/null"):format(proc.pid))
end

-- Waits until the file at path has a match for the Lua pattern (bounded);
-- returns the captures (or the match), else nil and the file's text.
function H.wait_match(path, pattern, seconds)
	local deadline = socket.gettime() + (seconds or 5)
	repeat
		local text = H.read(path)
		if text then
			local found = { text:match(pattern) }
			if found[1] then return (table.unpack or unpack)(found) end
		end
		socket.sleep(0.005)
	until socket.gettime() > deadline
	return nil, H.read(path) or ""
end

-- ---- nginx (Debian's, as a test peer) ---------------------------------------

-- The nginx binary, or nil.
H.NGINX = (H.have("nginx") and "nginx") or (H.read("/usr/sbin/nginx") and "/usr/sbin/nginx") or nil

-- Starts nginx with a configuration made from `template` in a fresh prefix
-- under dir (<dir>/nginx-<n>-<name>, with tmp/ for the temp paths). The
-- template's @PREFIX@ and @PORT@ (a free 127.0.0.1 port) are filled in, and
-- @KEY@ for each key of vars; the template should say `daemon off;` and
-- `master_process off;` so that H.stop ends it, and `pid @PREFIX@/nginx.pid;`:
-- nginx writes its pid file once its listening socket is open, which is
-- what this waits for (bounded: 10 s). Runs under `timeout` (opts.timeout
-- seconds, default 30). Returns { prefix, port, error_log, proc }; stop it
-- with H.stop(n.proc). Raises with nginx's own messages if it did not start.
local nginx_started = 0
function H.nginx_start(dir, name, template, vars, opts)
	assert(H.NGINX, "nginx is not installed")
	nginx_started = nginx_started + 1
	local n = { prefix = ("%s/nginx-%d-%s"):format(dir, nginx_started, name) }
	assert(H.sh("mkdir -p " .. H.shquote(n.prefix .. "/tmp")))
	n.port = H.free_port()
	local fill = { PREFIX = n.prefix, PORT = tostring(n.port) }
	for k, v in pairs(vars or {}) do
		fill[k] = tostring(v)
	end
	local conf = template:gsub("@(%u[%u_]*)@", fill)
	H.write(n.prefix .. "/nginx.conf", conf)
	n.error_log = n.prefix .. "/error.log"
	n.proc = H.start(("%s -p %s -c %s/nginx.conf -e %s"):format(H.NGINX, H.shquote(n.prefix),
		H.shquote(n.prefix), H.shquote(n.error_log)),
		{ log = n.prefix .. "/stdout.log", timeout = (opts and opts.timeout) or 30 })
	if H.wait_match(n.prefix .. "/nginx.pid", "^(%d+)", 10) then
		return n
	end
	H.stop(n.proc)
	error("nginx did not start: " .. (H.read(n.error_log) or "") .. (H.read(n.prefix .. "/stdout.log") or ""))
end

-- Why OpenResty cannot run here (nil when it can): nginx with Debian's Lua
-- module, curl, LuaSocket, and the LuaJIT build of mutls (nginx's Lua is
-- LuaJIT; MUTLS_BUILD names another build directory).
H.NGINX_LUA_MODULES = { "/usr/lib/nginx/modules/ndk_http_module.so",
	"/usr/lib/nginx/modules/ngx_http_lua_module.so" }
function H.openresty_missing(root)
	if not H.NGINX then
		return "nginx is not installed (Debian packages nginx, libnginx-mod-http-lua)"
	end
	if not H.socket then
		return "LuaSocket (lua-socket) is not installed for this Lua"
	end
	if not H.have("curl") then
		return "curl is not installed"
	end
	for _, m in ipairs(H.NGINX_LUA_MODULES) do
		if not H.read(m) then
			return m .. " is missing (Debian package libnginx-mod-http-lua)"
		end
	end
	local build = os.getenv("MUTLS_BUILD") or (root .. "/build")
	if not H.read(build .. "/lua/jit/mutls.so") then
		return build .. "/lua/jit/mutls.so is not built (nginx's Lua is LuaJIT)"
	end
	return nil, build
end

-- Stops an nginx run with `-g 'daemon off;'` through H.spawn (pid): its
-- master, read from pidfile, gets QUIT (its workers finish their requests),
-- then KILL after 5 s; then the spawned process.
function H.stop_nginx_master(pidfile, pid)
	local text = H.read(pidfile)
	local master = text and tonumber(text:match("%d+"))
	if master then
		os.execute(("kill -QUIT %d 2>/dev/null"):format(master))
		if not H.wait_exit(master, 5) then H.kill(master) end
	end
	if pid then H.kill(pid) end
end

-- Half-closes a LuaSocket connection, then reads until the peer closes
-- (bounded): the peer reads everything we sent (an alert, close_notify)
-- before any reset.
function H.linger(sock, seconds)
	pcall(function()
		sock:shutdown("send")
		sock:settimeout(seconds or 2)
		sock:receive("*a")
	end)
end

-- The real python3 interpreter, or nil: a pyenv shim in PATH costs about
-- 100 ms per start, the interpreter itself (with -S) about 20 ms.
local python_path
function H.python()
	if python_path == nil then
		local f = io.popen("python3 -c 'import sys; print(sys.executable)' 2>/dev/null")
		python_path = f and f:read("*l") or false
		if f then f:close() end
		if python_path == "" then python_path = false end
	end
	return python_path or nil
end

-- Test bodies with one cleanup list each (busted keeps one `finally` per
-- test): cell(fn) wraps a body, on_exit(fn) adds a cleanup; cleanups run in
-- reverse order, each under pcall. before (optional) runs first in each cell.
-- at_end(fn) must call busted's `finally` from the spec file: busted puts
-- it in the running test's environment, which this module does not see.
function H.cell_runner(at_end, before)
	local cleanups
	local function on_exit(fn) cleanups[#cleanups + 1] = fn end
	local function cell(fn)
		return function()
			cleanups = {}
			at_end(function()
				for i = #cleanups, 1, -1 do pcall(cleanups[i]) end
			end)
			if before then before() end
			fn()
		end
	end
	return cell, on_exit
end

return H
