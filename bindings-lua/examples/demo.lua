-- demo.lua: mutual TLS between two services through the Lua binding, told by
-- mutls's own trace.
--
-- A test CA issues "orders" (the server, orders.internal), "payments" and
-- "analytics" (clients, SPIFFE IDs); orders accepts only payments (peers=).
-- Plain Lua has no threads or sockets, so both ends of each connection run
-- in this process in memory mode, handing each other their bytes:
--   1. payments calls orders: each handshake event as the core renders it
--      (mutls.trace_event_text, with mutls.trace_event_note), then one
--      message each way and an orderly close;
--   2. analytics calls orders and is refused: the failed check, the alert and
--      the error each side gets, in mutls's words.
-- The Python demo (`mutls demo`) tells the long story: sockets and threads,
-- a sequence diagram, a gallery of eight failures.
--
-- Run (from the repository root, after building):
--   LUA_CPATH='build/lua/5.4/?.so;;' lua5.4 bindings-lua/examples/demo.lua [--tls 1.2|1.3]
-- or `mutls demo --lua`. Exit status 0 only when the call worked and the
-- refusal was the expected one.

local mutls = require "mutls"

local versions
if #arg == 2 and arg[1] == "--tls" and (arg[2] == "1.2" or arg[2] == "1.3") then
	versions = { arg[2] }
elseif #arg > 0 then
	io.stderr:write("usage: demo.lua [--tls 1.2|1.3]\n")
	os.exit(2)
end

local SERVER_NAME = "orders.internal"
local quiet = false -- during the refusal: only failed checks and alerts

local function say(who, text) print(string.format("%-9s %s", who, text)) end

-- The trace function of one service: the event as the core renders it, and
-- what it teaches.
local function narrator(who)
	return function(ev)
		if quiet and not (ev.kind == "alert" or (ev.kind == "check" and not ev.ok)) then return end
		local note = not quiet and mutls.trace_event_note(ev)
		say(who, assert(mutls.trace_event_text(ev)) .. (note and ("   (" .. note .. ")") or ""))
	end
end

local ca = mutls.testca{ name = "mutls demo CA" }

-- An identity from the CA (a DNS name for the server, a URI for a client)
-- and a config with it, trusting the CA, accepting only `peer`.
local function service(cn, name, peer)
	local server = not name:find("^spiffe:")
	local id = ca:issue{ cn = cn, purpose = server and "server" or "client",
		dns = server and { name } or nil, uri = (not server) and { name } or nil }
	return assert(mutls.config{ identity = id, trust = ca, peers = { peer }, versions = versions,
		trace = narrator(cn) })
end

local function again(err) return err == "wantread" or err == "wantwrite" end

-- One connection in memory: each end's handshake step, then the bytes it has
-- to send handed to the other, until neither has anything more to say.
-- Returns the two sessions and each handshake's answer (true or the error).
local function call(client_cfg, server_cfg)
	local c = assert(client_cfg:client{ server_hostname = SERVER_NAME })
	local s = assert(server_cfg:server{})
	local answer = { [c] = "wantread", [s] = "wantread" }
	for _ = 1, 50 do
		local moved = 0
		for _, ends in ipairs{ { c, s }, { s, c } } do
			local from, to = ends[1], ends[2]
			if again(answer[from]) then
				local ok, err = from:handshake()
				answer[from] = ok or err
			end
			local bytes = from:data_to_send()
			if #bytes > 0 then to:feed(bytes); moved = moved + #bytes end
		end
		if moved == 0 then break end
	end
	return c, s, answer[c], answer[s]
end

-- What one end reads next (a few tries: TLS 1.3 session tickets come first).
local function read(sess)
	local data, err
	for _ = 1, 3 do
		data, err = sess:recv(4096)
		if not again(err) then break end
	end
	return data, err
end

local function message(from, to, text, a, b)
	assert(from:send(text))
	to:feed(from:data_to_send())
	local got = read(to)
	say(a, string.format("sent %q; %s received %q", text, b, tostring(got)))
	return got == text
end

-- What one end got, in mutls's words.
local function refused(who, err)
	if err == true then say(who, "no error")
	elseif type(err) == "string" then say(who, err)
	else say(who, string.format("%s: %q", err.code, tostring(err))) end
end

print(string.format("mutls demo (Lua): mutual TLS between two services, with mutls %s (%s)",
	mutls.version, mutls.abi == "jit" and "LuaJIT" or _VERSION))
local orders = service("orders", SERVER_NAME, "uri:spiffe://example.org/payments")
local payments = service("payments", "spiffe://example.org/payments", "dns:" .. SERVER_NAME)
local analytics = service("analytics", "spiffe://example.org/analytics", "dns:" .. SERVER_NAME)

print("\n== payments calls orders (orders accepts peers uri:spiffe://example.org/payments)")
local good = false
local c, s, c_ok, s_ok = call(payments, orders)
if c_ok == true and s_ok == true then
	good = c.verified and s.verified
		and message(c, s, "GET /orders/42", "payments", "orders")
		and message(s, c, "order 42: 3 items, paid", "orders", "payments")
	c:close()
	s:feed(c:data_to_send())
	local _, err = read(s)
	good = good and type(err) ~= "string" and err ~= nil and err.clean
	if good then say("payments", "closed; orders read the end of the stream") end
else
	refused("payments", c_ok)
	refused("orders", s_ok)
end

print("\n== analytics calls orders: same CA, but not in orders' peers")
quiet = true
local c_err, s_err
c, s, c_err, s_err = call(analytics, orders)
if c_err == true then -- TLS 1.3: the client is done first; its next read brings the verdict
	c_err = select(2, read(c)) or true
end
refused("orders", s_err)
refused("analytics", c_err)
local refusal = type(s_err) == "userdata" or type(s_err) == "table"
refusal = refusal and s_err.code == "verify-failed" and #s_err.reasons == 1 and s_err.reasons[1] == "policy"
	and type(c_err) ~= "string" and c_err ~= true and c_err.code == "peer-rejected"

if good and refusal then
	print("\n== result: ok (the call worked and the refusal was the expected one)")
	os.exit(0)
end
print("\n== result: FAILED (" .. (good and "analytics was not refused as expected"
	or "payments could not call orders") .. ")")
os.exit(1)
