-- Soak: N full mTLS handshakes in memory mode from Lua (5.4 or LuaJIT),
-- sampling RSS.
--
-- Each handshake: a fresh client and server session from two shared configs
-- (one test CA; client and server identities; both verify the peer, the
-- client checks the name and a dns: peer pattern, the server requires a
-- certificate), driven to completion by moving bytes, both sides verified,
-- one message each way, then both sessions destroyed (s:destroy(), as a
-- long-running service would; the GC path is measured by --no-destroy).
-- Every --every handshakes the script runs a full collectgarbage() and reads
-- VmRSS from /proc/self/status.
--
-- Prints a table; exits 1 if RSS grew by more than --max-growth-kib between
-- handshake --base and handshake N (the warm-up before --base is not
-- counted), or if a handshake failed.
--
--   lua5.4 tests/soak/soak.lua                 100,000; bound 1 MiB from 10,000
--   luajit tests/soak/soak.lua 3000 --every 1000 --base 1000 --max-growth-kib 2048
--
-- LUA_CPATH must find the mutls module of the interpreter's ABI
-- (build/lua/5.4/?.so or build/lua/jit/?.so).
local mutls = require "mutls"

local HOST = "orders.internal"
local MSG_C, MSG_S = "ping from the client", "pong from the server"

local function usage(msg)
	io.stderr:write("soak.lua: ", msg, "\n",
		"usage: soak.lua [N] [--every K] [--base B] [--max-growth-kib KIB] [--no-destroy]\n")
	os.exit(2, true)
end

local n, every, base_at, max_growth, destroy = 100000, 10000, nil, 1024, true
do
	local i = 1
	while i <= #arg do
		local a = arg[i]
		local function num()
			i = i + 1
			return tonumber(arg[i]) or usage(a .. " needs a number")
		end
		if a == "--every" then every = num()
		elseif a == "--base" then base_at = num()
		elseif a == "--max-growth-kib" then max_growth = num()
		elseif a == "--no-destroy" then destroy = false
		elseif tonumber(a) then n = tonumber(a)
		else usage("unknown argument " .. a) end
		i = i + 1
	end
end
base_at = base_at or every
if n < base_at or every <= 0 or base_at % every ~= 0 then usage("need N >= base, and base a multiple of --every") end

local function rss_kib()
	local f = assert(io.open("/proc/self/status"))
	for line in f:lines() do
		local kib = line:match("^VmRSS:%s+(%d+)")
		if kib then
			f:close()
			return tonumber(kib)
		end
	end
	f:close()
	error("no VmRSS in /proc/self/status")
end

local clock = os.clock -- CPU seconds; the work is all on this CPU
local has_socket, socket = pcall(require, "socket")
if has_socket then clock = socket.gettime end

local ca = assert(mutls.testca { name = "soak CA" })
local scfg = assert(mutls.config {
	identity = assert(ca:issue { cn = "orders", dns = { HOST }, purpose = "server" }), trust = ca })
local ccfg = assert(mutls.config {
	identity = assert(ca:issue { cn = "payments", uri = { "spiffe://soak.test/payments" }, purpose = "client" }),
	trust = ca, peers = { "dns:" .. HOST } })

local function move(from, to)
	local data = from:data_to_send()
	if #data > 0 then assert(to:feed(data)) end
	return #data
end

local function step(s)
	local ok, err = s:handshake()
	if ok then return true end
	if err ~= "wantread" then error("handshake failed: " .. tostring(err)) end
	return false
end

local function one_handshake()
	local c = assert(ccfg:client { server_hostname = HOST })
	local s = assert(scfg:server {})
	local c_done, s_done = false, false
	for _ = 1, 16 do
		if not c_done then c_done = step(c) end
		local moved = move(c, s)
		if not s_done then s_done = step(s) end
		moved = moved + move(s, c)
		if c_done and s_done and moved == 0 then break end
	end
	assert(c_done and s_done and c.verified and s.verified, "handshake incomplete or unverified")
	assert(c:send(MSG_C) == #MSG_C)
	move(c, s)
	assert(assert(s:recv()) == MSG_C)
	assert(s:send(MSG_S) == #MSG_S)
	move(s, c)
	assert(assert(c:recv()) == MSG_S)
	if destroy then
		c:destroy()
		s:destroy()
	end
end

local samples = {}
collectgarbage("collect")
collectgarbage("collect")
local start = clock()
samples[1] = { 0, rss_kib(), 0 }
print(("mutls %s (%s), %s%s, sessions %s"):format(mutls.version, mutls.abi, jit and jit.version or _VERSION,
	has_socket and "" or " (no LuaSocket: CPU seconds)", destroy and "destroyed" or "left to the GC"))
print(("%10s  %9s  %9s  %8s  %7s"):format("handshakes", "RSS KiB", "delta KiB", "seconds", "hs/s"))
print(("%10d  %9d  %9s  %8.1f  %7s"):format(0, samples[1][2], "", 0, ""))
io.stdout:flush()
local last_t = start
for i = 1, n do
	one_handshake()
	if i % every == 0 or i == n then
		collectgarbage("collect")
		collectgarbage("collect")
		local now = clock()
		local rss = rss_kib()
		local prev = samples[#samples]
		local rate = now > last_t and (i - prev[1]) / (now - last_t) or 0
		print(("%10d  %9d  %+9d  %8.1f  %7.0f"):format(i, rss, rss - prev[2], now - start, rate))
		io.stdout:flush()
		samples[#samples + 1] = { i, rss, now - start }
		last_t = now
	end
end

local base
for _, smp in ipairs(samples) do
	if smp[1] == base_at then base = smp[2] end
end
local final = samples[#samples]
local growth = final[2] - base
local ok = growth <= max_growth
print(("RSS growth from %d to %d handshakes: %+d KiB (bound %d KiB): %s; %d handshakes in %.1f s"):format(
	base_at, n, growth, max_growth, ok and "ok" or "TOO MUCH", n, final[3]))
-- close the state on the way out: every session and config is released, so
-- a leak checker (scripts/sanitize-bindings) sees only real leaks
os.exit(ok and 0 or 1, true)
