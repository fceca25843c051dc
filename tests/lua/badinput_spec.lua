-- Bad input from Lua (issue 5.3), mirroring tests/c/test_badinput.c,
-- tests/c/test_config.c and tests/python/test_badinput.py: every case ends in
-- its docs/design.md code with a message, never a crash or a hang.
--
--   records in memory mode, to both roles: random bytes (the C test's
--   xorshift32 stream, seed, sizes and roles), real flights with flipped
--   bits, truncated flights with and without EOF, oversized records and
--   inputs, reordered records, an alert instead of the next flight;
--   a peer that closes mid-handshake: feed_eof(), and a real loopback socket
--   closed (FIN or RST) by the peer;
--   a chain of 100 intermediates (101 certificates);
--   files and PEM/DER text: missing, unreadable, malformed, truncated,
--   random mutations, a key that does not match, wrong passwords: code
--   "config", the file or field named.
--
-- Every loop is bounded; random input comes from seeded generators.
local H = require "helpers"
local mutls = H.mutls

local HOST = "orders.internal"

-- ---------------------------------------------------------------- helpers

-- xorshift32 as in the C test (LuaJIT: the bit library; 5.4: integer ops,
-- compiled with load() so LuaJIT never parses them).
local function xorshift32(seed)
	if jit then
		local bit = require "bit"
		local x = bit.tobit(seed)
		return function()
			x = bit.bxor(x, bit.lshift(x, 13))
			x = bit.bxor(x, bit.rshift(x, 17))
			x = bit.bxor(x, bit.lshift(x, 5))
			return x % 4294967296
		end
	end
	return assert(load([[
		local x = ...
		return function()
			x = x ~ ((x << 13) & 0xffffffff)
			x = x ~ (x >> 17)
			x = x ~ ((x << 5) & 0xffffffff)
			return x
		end
	]]))(seed)
end

local function bytes_from(rnd, n)
	local t = {}
	for i = 1, n do t[i] = string.char(rnd() % 256) end
	return table.concat(t)
end

-- byte with bit j (0..7) flipped, portably (no bit operators in LuaJIT)
local function flip_bit(byte, j)
	local v = 2 ^ j
	if math.floor(byte / v) % 2 == 1 then return byte - v end
	return byte + v
end

-- {[position] = true} (1-based) for the bytes whose change GnuTLS does not
-- notice (measured: every bit of every byte, both versions): each record
-- header's type and version bytes (TLS 1.3 ignores the outer type of an
-- encrypted record and the legacy version) and a ChangeCipherSpec's value
local function unchecked_bytes(flight)
	local set, pos = {}, 1
	while pos + 4 <= #flight do
		set[pos], set[pos + 1], set[pos + 2] = true, true, true
		if flight:byte(pos) == 20 then set[pos + 5] = true end
		pos = pos + 5 + flight:byte(pos + 3) * 256 + flight:byte(pos + 4)
	end
	return set
end

local function u16(n) return string.char(math.floor(n / 256) % 256, n % 256) end

local function record(typ, body)
	return string.char(typ, 3, 3) .. u16(#body) .. body
end

local function records(data)
	local out, pos = {}, 1
	while pos + 4 <= #data do
		local n = 5 + data:byte(pos + 3) * 256 + data:byte(pos + 4)
		out[#out + 1] = data:sub(pos, pos + n - 1)
		pos = pos + n
	end
	assert(pos == #data + 1, "a flight ends on a record boundary")
	return out
end

local function world(versions)
	local pki = H.pki()
	local extra = versions and { versions = versions } or nil
	return {
		pki = pki,
		ccfg = H.config(pki.client, pki.ca, extra),
		scfg = H.config(pki.server, pki.ca, extra),
	}
end

local function session(w, server)
	if server then return assert(w.scfg:server {}) end
	return assert(w.ccfg:client { server_hostname = HOST })
end

-- "ok", "wantread", or the error object
local function step(s)
	local ok, err = s:handshake()
	if ok then return "ok" end
	if err == "wantread" or err == "wantwrite" then return err end
	return err
end

local function show(o)
	if type(o) ~= "table" then return tostring(o) end
	return ("%s (reasons {%s}, alert %s, side %s, step %s): %s"):format(tostring(o.code),
		table.concat(o.reasons or {}, ","), tostring(o.alert), tostring(o.side), tostring(o.step), tostring(o))
end

local KNOWN_CODES, KNOWN_REASONS = {}, {}
for _, c in ipairs(mutls.codes) do KNOWN_CODES[c] = true end
for _, r in ipairs(mutls.reasons) do KNOWN_REASONS[r] = true end

-- A failed handshake: an error object with a message, on the session, sticky.
local function check_failure(s, o)
	assert(mutls.is_error(o), "expected an error, got " .. show(o))
	assert(KNOWN_CODES[o.code], show(o))
	for _, r in ipairs(o.reasons) do assert(KNOWN_REASONS[r], show(o)) end
	assert(#tostring(o) > 10, show(o))
	assert(s.error and s.error.code == o.code, show(o))
	local again = step(s)
	assert(mutls.is_error(again) and again.code == o.code, "not sticky: " .. show(again))
	return o
end

local function client_waiting(w)
	local c = session(w, false)
	assert.equal("wantread", step(c))
	return c, c:data_to_send()
end

-- a client that sent its ClientHello, and a real server's answer to it
local function client_and_server_flight(w)
	local c, hello = client_waiting(w)
	local s = session(w, true)
	assert(s:feed(hello))
	assert.equal("wantread", step(s))
	return c, s:data_to_send()
end

-- a server that answered a real client, and that client's second flight
local function server_waiting(w)
	local c, hello = client_waiting(w)
	local s = session(w, true)
	assert(s:feed(hello))
	assert.equal("wantread", step(s))
	assert(c:feed(s:data_to_send()))
	step(c)
	return s, c:data_to_send()
end

local function feed_role(w, server, data, eof)
	local s = session(w, server)
	assert.equal("wantread", step(s))
	s:data_to_send()
	assert(s:feed(data))
	if eof then assert(s:feed_eof()) end
	local o = step(s)
	if o ~= "wantread" then check_failure(s, o) end
	return o
end

local function swap(flight, i) -- swaps records i and i+1 (1-based)
	local r = records(flight)
	r[i], r[i + 1] = r[i + 1], r[i]
	return table.concat(r)
end

local function config_error(opts, ...)
	local cfg, err = mutls.config(opts)
	assert(cfg == nil, "the config was accepted")
	assert(mutls.is_error(err), tostring(err))
	assert(err.code == "config", show(err))
	assert(#err.reasons == 0 and err.side == nil and err.alert == nil, show(err))
	for _, fragment in ipairs { ... } do
		assert(tostring(err):find(fragment, 1, true), ("%q not in %q"):format(fragment, tostring(err)))
	end
	return err
end

local function broken_base64(pem)
	local nl = pem:find("\n", 1, true)
	return pem:sub(1, nl + 9) .. "!!!!" .. pem:sub(nl + 14)
end

-- ---------------------------------------------------------------- records

describe("bad records in memory mode", function()
	local w, w12, w13
	lazy_setup(function()
		w = world()
		w12, w13 = world { "1.2" }, world { "1.3" }
	end)
	local function by_version(v) return v == "1.2" and w12 or w13 end

	it("random bytes to both roles (the C test's stream): protocol, closed or wantread", function()
		local rnd = xorshift32(0x12345678)
		local seen = {}
		for i = 0, 299 do
			local n = 1 + rnd() % 2048
			local buf = bytes_from(rnd, n)
			if i % 2 == 1 then -- half of them look like a handshake record header
				buf = string.char(22, 3, rnd() % 4) .. buf:sub(4)
			end
			for _, server in ipairs { false, true } do
				local o = feed_role(w, server, buf, i % 3 == 0)
				local key = type(o) == "table" and o.code or o
				assert(key == "protocol" or key == "closed" or key == "wantread",
					("input %d (%d bytes): %s"):format(i, n, show(o)))
				if key == "closed" then assert(i % 3 == 0, "closed only after the end of the input") end
				seen[key] = (seen[key] or 0) + 1
			end
		end
		assert.is_true((seen.protocol or 0) > 100, tostring(seen.protocol))
	end)

	for _, version in ipairs { "1.2", "1.3" } do
		it("one flipped bit in a real flight, both directions, TLS " .. version, function()
			local wv = by_version(version)
			local rnd = xorshift32(5300 + (version == "1.2" and 2 or 3))
			local seen = {}
			for i = 1, 120 do
				local s, flight
				if i % 2 == 0 then s, flight = server_waiting(wv) else s, flight = client_and_server_flight(wv) end
				local k = 1 + rnd() % #flight
				local j = rnd() % 8
				local flipped = flight:sub(1, k - 1) .. string.char(flip_bit(flight:byte(k), j)) .. flight:sub(k + 1)
				assert.are_not.equal(flight, flipped)
				assert(s:feed(flipped))
				local o = step(s)
				if o == "ok" then
					assert(unchecked_bytes(flight)[k], ("flip %d at byte %d: accepted"):format(i, k))
					o = nil
				end
				if o == "wantread" then -- a longer record length: waits, then EOF
					assert(s:feed_eof())
					o = step(s)
					assert(mutls.is_error(o) and o.code == "closed", show(o))
				end
				if o then
					check_failure(s, o)
					assert(o.code == "protocol" or o.code == "verify-failed" or o.code == "closed",
						("flip %d at byte %d: %s"):format(i, k, show(o)))
					if o.code == "verify-failed" then assert(#o.reasons > 0, show(o)) end
					seen[o.code] = (seen[o.code] or 0) + 1
				end
			end
			assert.is_true((seen.protocol or 0) > 40, tostring(seen.protocol))
		end)
	end

	-- TLS 1.2: the client's Certificate arrives (the server holds it), but
	-- its CertificateVerify is replaced by another handshake type or left
	-- out: the client presented a certificate and did not prove its key.
	-- That is a protocol failure, not no-certificate with "client presented
	-- no certificate" (found by a sweep of every bit of the flight).
	for _, how in ipairs { "retyped", "dropped" } do
		it("TLS 1.2: CertificateVerify " .. how .. " is protocol, not no-certificate", function()
			local s, flight = server_waiting(w12)
			local r = records(flight)
			assert.same({ 11, 16, 15 }, { r[1]:byte(6), r[2]:byte(6), r[3]:byte(6) })
			if how == "retyped" then
				r[3] = r[3]:sub(1, 5) .. string.char(20) .. r[3]:sub(7) -- Finished
			else
				table.remove(r, 3)
			end
			assert(s:feed(table.concat(r)))
			local o = step(s)
			assert(mutls.is_error(o), show(o))
			assert.equal("payments", s.peer_certificate.common_name)
			assert(not tostring(o):find("presented no certificate", 1, true), show(o))
			assert(o.code == "protocol" and o.side == "local", show(o))
		end)
	end

	it("a truncated ClientHello then EOF is closed; without EOF the server waits", function()
		local _, hello = client_waiting(w)
		for cut = 1, #hello - 1, 13 do
			local o = feed_role(w, true, hello:sub(1, cut), true)
			H.expect_error(o, "closed", {}, "peer", "handshake", nil)
			assert.equal("client closed the connection during the handshake", tostring(o))
		end
		assert.equal("wantread", feed_role(w, true, hello:sub(1, math.floor(#hello / 2)), false))
	end)

	for _, version in ipairs { "1.2", "1.3" } do
		it("a truncated server flight, then EOF: closed, TLS " .. version, function()
			local wv = by_version(version)
			for cut = 1, 65536, 97 do
				local c, flight = client_and_server_flight(wv)
				if cut >= #flight then break end
				assert(c:feed(flight:sub(1, cut)))
				assert.equal("wantread", step(c))
				assert(c:feed_eof())
				local o = check_failure(c, step(c))
				H.expect_error(o, "closed", {}, "peer", "handshake", nil)
				assert.equal("server closed the connection during the handshake", tostring(o))
			end
		end)

		it("a truncated client flight, then EOF: closed, TLS " .. version, function()
			local wv = by_version(version)
			for cut = 1, 65536, 89 do
				local s, flight = server_waiting(wv)
				if cut >= #flight then break end
				assert(s:feed(flight:sub(1, cut)))
				local o = step(s)
				if o == "wantread" then
					assert(s:feed_eof())
					o = step(s)
				end
				check_failure(s, o)
				H.expect_error(o, "closed", {}, "peer", "handshake", nil)
				assert.equal("client closed the connection during the handshake", tostring(o))
			end
		end)
	end

	it("an oversized record is a protocol error (record_overflow), both roles", function()
		for _, len in ipairs { 20000, 65535 } do
			local rec = string.char(22, 3, 3) .. u16(len) .. string.rep("\0", len)
			for _, server in ipairs { true, false } do
				local o = feed_role(w, server, rec, false)
				H.expect_error(o, "protocol", {}, "local", "handshake", "record_overflow")
				assert.truthy(tostring(o):find("invalid length", 1, true), tostring(o))
			end
		end
	end)

	it("1 MiB of random bytes in one feed: protocol at once, both roles", function()
		local data = bytes_from(xorshift32(53), 1024 * 1024)
		for _, server in ipairs { true, false } do
			local t0 = os.clock()
			local o = feed_role(w, server, data, false)
			assert(mutls.is_error(o) and o.code == "protocol", show(o))
			assert.is_true(os.clock() - t0 < 2)
		end
	end)

	it("a handshake message claiming 16 MiB is refused after 256 KiB (bounded at 1100 records)", function()
		local s = session(w, true)
		assert.equal("wantread", step(s))
		local header = string.char(1, 255, 255, 255)
		local zeros = string.rep("\0", 16384)
		local o, sent = "wantread", 0
		for i = 1, 1100 do
			local body = i == 1 and (header .. zeros:sub(5)) or zeros
			assert(s:feed(record(22, body)))
			sent = i
			o = step(s)
			if o ~= "wantread" then break end
		end
		check_failure(s, o)
		H.expect_error(o, "protocol", {}, "local", "handshake", "decode_error")
		assert.truthy(tostring(o):find("handshake data too large", 1, true), tostring(o))
		assert.is_true(sent <= 17, tostring(sent)) -- 256 KiB (GnuTLS alone: 1025)
	end)

	it("100,000 empty handshake records: protocol, both roles", function()
		local empty = string.rep(string.char(22, 3, 3, 0, 0), 100000)
		for _, server in ipairs { true, false } do
			local o = feed_role(w, server, empty, true)
			assert(mutls.is_error(o) and o.code == "protocol", show(o))
		end
	end)

	it("the TLS 1.2 client flight with its first two records swapped: unexpected_message", function()
		local s, flight = server_waiting(w12)
		assert.is_true(#records(flight) >= 3)
		assert(s:feed(swap(flight, 1)))
		local o = check_failure(s, step(s))
		H.expect_error(o, "protocol", {}, "local", "handshake", "unexpected_message")
	end)

	for _, version in ipairs { "1.2", "1.3" } do
		it("every adjacent pair of records swapped, both flights: protocol, TLS " .. version, function()
			local wv = by_version(version)
			for _, to_server in ipairs { false, true } do
				local _, sample
				if to_server then _, sample = server_waiting(wv) else _, sample = client_and_server_flight(wv) end
				local n = #records(sample)
				for i = 1, n - 1 do
					local s, real
					if to_server then s, real = server_waiting(wv) else s, real = client_and_server_flight(wv) end
					local r = records(real)
					local ccs = r[i]:byte(1) == 20 or r[i + 1]:byte(1) == 20
					if not (ccs and version == "1.3") then -- TLS 1.3's compatibility CCS may come anywhere
						assert(s:feed(swap(real, i)))
						local o = step(s)
						local where = ("%s flight, records %d and %d"):format(to_server and "client" or "server", i, i + 1)
						assert(mutls.is_error(o), where .. ": " .. show(o))
						check_failure(s, o)
						assert(o.code == "protocol", where .. ": " .. show(o))
						if version == "1.3" and r[i]:byte(1) == 23 and r[i + 1]:byte(1) == 23 then
							assert(o.alert == "bad_record_mac", where .. ": " .. show(o))
						end
					end
				end
			end
		end)
	end

	it("a client fed its own ClientHello: protocol", function()
		local c, hello = client_waiting(w)
		assert(c:feed(hello))
		local o = check_failure(c, step(c))
		assert.equal("protocol", o.code)
		assert.equal("local", o.side)
	end)
end)

-- ---------------------------------------------------------------- early ends

describe("a peer that ends the handshake early", function()
	local w12, w13
	lazy_setup(function()
		w12, w13 = world { "1.2" }, world { "1.3" }
	end)
	local function by_version(v) return v == "1.2" and w12 or w13 end

	for _, version in ipairs { "1.2", "1.3" } do
		it("feed_eof mid-handshake, both roles, TLS " .. version, function()
			local wv = by_version(version)
			local c = client_waiting(wv)
			assert(c:feed_eof())
			local o = check_failure(c, step(c))
			H.expect_error(o, "closed", {}, "peer", "handshake", nil)
			assert.equal("server closed the connection during the handshake", tostring(o))
			local s = server_waiting(wv)
			assert(s:feed_eof())
			o = check_failure(s, step(s))
			H.expect_error(o, "closed", {}, "peer", "handshake", nil)
			assert.equal("client closed the connection during the handshake", tostring(o))
		end)

		it("a fatal alert instead of the server's answer: peer-rejected, TLS " .. version, function()
			local c = client_waiting(by_version(version))
			assert(c:feed(string.char(21, 3, 3, 0, 2, 2, 40)))
			local o = check_failure(c, step(c))
			H.expect_error(o, "peer-rejected", false, "peer", false, "handshake_failure")
		end)

		-- docs/design.md: `closed` is an orderly or premature close. A close_notify
		-- (plaintext, legitimate before any key is agreed) instead of the next
		-- flight must read like feed_eof(), not as `protocol`.
		it("close_notify during the handshake is closed, TLS " .. version, function()
			local wv = by_version(version)
			local close_notify = string.char(21, 3, 3, 0, 2, 1, 0)
			local c = client_waiting(wv)
			assert(c:feed(close_notify))
			local o = step(c)
			assert(mutls.is_error(o), show(o))
			assert(o.code == "closed" and o.side == "peer" and o.step == "handshake", show(o))
			assert(tostring(o):find("server closed the connection during the handshake", 1, true), show(o))
			if version == "1.2" then
				local s = server_waiting(wv)
				assert(s:feed(close_notify))
				o = step(s)
				assert(mutls.is_error(o), show(o))
				assert(o.code == "closed" and o.side == "peer" and o.step == "handshake", show(o))
				assert(tostring(o):find("client closed the connection during the handshake", 1, true), show(o))
			end
		end)
	end

	if not H.socket then
		it("LuaSocket is needed for the socket cases", function() pending("lua-socket is not installed") end)
		return
	end

	local function reset_on_close(sock)
		assert(sock:setoption("linger", { on = true, timeout = 0 }))
	end

	-- reads what is there (up to 0.5 s of quiet)
	local function read_some(sock)
		sock:settimeout(0.5)
		local data, err, partial = sock:receive(65536)
		return data or partial or "", err
	end

	for _, reset in ipairs { false, true } do
		local how = reset and "RST" or "FIN"
		it("a socket server that closes (" .. how .. ") after the ClientHello: closed", function()
			local srv, port = H.listen()
			local sock = H.connect(port)
			srv:settimeout(5)
			local peer = assert(srv:accept())
			local c = assert(w13.ccfg:client { fd = sock:getfd(), server_hostname = HOST })
			finally(function() c:destroy(); sock:close(); peer:close(); srv:close() end)
			assert.equal("wantread", step(c)) -- non-blocking: the ClientHello went out
			local hello = read_some(peer)
			assert.equal(22, hello:byte(1))
			if reset then reset_on_close(peer) end
			peer:close()
			c:settimeout(5)
			local t0 = H.socket.gettime()
			local o = check_failure(c, step(c))
			assert.is_true(H.socket.gettime() - t0 < 2.5, "the close was not noticed at once")
			H.expect_error(o, "closed", {}, "peer", "handshake", nil)
			assert.truthy(tostring(o):find("^server closed the connection during the handshake"), tostring(o))
			if reset then
				assert.truthy(tostring(o):find("Connection reset by peer", 1, true), tostring(o))
			end
		end)

		it("a socket client that closes (" .. how .. ") mid-ClientHello: the server says closed", function()
			local _, hello = client_waiting(w13)
			local srv, port = H.listen()
			local raw = H.connect(port)
			srv:settimeout(5)
			local conn = assert(srv:accept())
			local s = assert(w13.scfg:server { fd = conn:getfd(), timeout = 5 })
			finally(function() s:destroy(); conn:close(); srv:close() end)
			assert(raw:send(hello:sub(1, math.floor(#hello / 2))))
			if reset then reset_on_close(raw) end
			raw:close()
			local o = check_failure(s, step(s))
			H.expect_error(o, "closed", {}, "peer", "handshake", nil)
			assert.truthy(tostring(o):find("^client closed the connection during the handshake"), tostring(o))
		end)
	end

	for _, version in ipairs { "1.2", "1.3" } do
		it("a real server that answers, then closes before the client's flight, TLS " .. version, function()
			local wv = by_version(version)
			local srv, port = H.listen()
			local sock = H.connect(port)
			srv:settimeout(5)
			local peer = assert(srv:accept())
			local c = assert(wv.ccfg:client { fd = sock:getfd(), server_hostname = HOST })
			finally(function() c:destroy(); sock:close(); peer:close(); srv:close() end)
			assert.equal("wantread", step(c))
			local server = session(wv, true)
			assert(server:feed((read_some(peer))))
			assert.equal("wantread", step(server))
			assert(peer:send(server:data_to_send()))
			peer:close()
			c:settimeout(5)
			local o = step(c)
			if o == "ok" then -- TLS 1.3: the client is done before the server answers
				assert.equal("1.3", version)
				local data, err = c:recv(64)
				assert.is_nil(data)
				o = err
			end
			assert(mutls.is_error(o), show(o))
			assert.equal("closed", o.code)
			assert.equal("peer", o.side)
			assert.truthy(tostring(o):find("server closed the connection", 1, true), tostring(o))
		end)
	end

	-- TLS 1.3: the client's handshake completes, then the server refuses its
	-- certificate (peers policy), sends access_denied and resets the
	-- connection. The alert waits in the client's receive buffer (a recv
	-- first reports peer-rejected); a client that sends first must learn the
	-- same from send or from the next recv, not "closed: Connection reset by
	-- peer" for ever after.
	it("a refused TLS 1.3 client that sends first still learns the alert", function()
		local scfg = H.config(w13.pki.server, w13.pki.ca, { peers = { "uri:spiffe://example.org/orders-only" } })
		local srv, port = H.listen()
		local sock = H.connect(port)
		srv:settimeout(5)
		local peer = assert(srv:accept())
		local c = assert(w13.ccfg:client { fd = sock:getfd(), server_hostname = HOST })
		finally(function() c:destroy(); sock:close(); peer:close(); srv:close() end)
		-- the server: a memory-mode session bridged to the accepted socket
		local server = session({ scfg = scfg }, true)
		local cdone, sfailed
		for _ = 1, 200 do
			if not cdone then
				local o = step(c)
				assert(o == "ok" or o == "wantread", show(o))
				cdone = o == "ok"
			end
			local data = read_some(peer)
			if #data > 0 and not sfailed then
				assert(server:feed(data))
				local o = step(server)
				if mutls.is_error(o) then sfailed = o end
				local out = server:data_to_send()
				if #out > 0 then assert(peer:send(out)) end
			end
			if cdone and sfailed then break end
		end
		assert.is_true(cdone)
		assert.equal("TLSv1.3", c.version)
		assert(sfailed and sfailed.code == "verify-failed", show(sfailed))
		reset_on_close(peer)
		peer:close()
		H.sleep(0.2) -- the reset has arrived; the alert waits in our receive buffer
		c:settimeout(5)
		local ok, err = c:send("ping")
		if ok then ok, err = c:recv(64) end
		assert.is_nil(ok)
		H.expect_error(err, "peer-rejected", false, "peer", false, "access_denied")
	end)
end)

-- ---------------------------------------------------------------- 100 intermediates

describe("a chain of 100 intermediates (101 certificates)", function()
	local w, server_id, client_id
	lazy_setup(function()
		w = world()
		local ca = w.pki.ca
		for i = 1, 100 do ca = assert(ca:intermediate { name = "intermediate " .. i }) end
		server_id = assert(ca:issue { cn = "deep", dns = { HOST }, purpose = "server" })
		client_id = assert(ca:issue { cn = "deep client", purpose = "client" })
	end)

	it("the client refuses the server's chain: unknown-issuer, the length named", function()
		assert.equal(101, #server_id.chain)
		local p = H.run(w.ccfg, HOST, H.config(server_id, w.pki.ca))
		assert.equal("failed", p.cstate)
		H.expect_error(p.cerr, "verify-failed", { "unknown-issuer" }, "local", "server-certificate", false)
		assert.truthy(tostring(p.cerr):find("a chain of 101 certificates", 1, true), tostring(p.cerr))
		assert.equal(101, #p.c.peer_chain)
		assert.equal("deep", p.c.peer_certificate.common_name)
		assert.equal("failed", p.sstate)
		assert.equal("peer-rejected", p.serr.code)
	end)

	it("the server refuses the client's chain: unknown-issuer, the length named", function()
		local p = H.run(H.config(client_id, w.pki.ca), HOST, w.scfg)
		assert.equal("failed", p.sstate)
		H.expect_error(p.serr, "verify-failed", { "unknown-issuer" }, "local", "client-certificate", false)
		assert.truthy(tostring(p.serr):find("a chain of 101 certificates", 1, true), tostring(p.serr))
		assert.equal(101, #p.s.peer_chain)
	end)

	-- The same chain checked offline must be refused as the handshake refuses
	-- it (verify-failed, unknown-issuer), not called API misuse.
	it("cert:verify with the 100 intermediates refuses it the same way", function()
		local inter = {}
		for i = 2, #server_id.chain do inter[#inter + 1] = server_id.chain[i] end
		local ok, res, err = pcall(server_id.certificate.verify, server_id.certificate,
			{ trust = w.pki.ca, hostname = HOST, purpose = "server", intermediates = inter })
		assert(ok, "cert:verify raised: " .. tostring(res))
		assert.is_nil(res)
		H.expect_error(err, "verify-failed", { "unknown-issuer" }, false, false, false)
		assert.truthy(tostring(err):find("a chain of 101 certificates", 1, true), tostring(err))
	end)
end)

-- ---------------------------------------------------------------- files and text

describe("bad files and PEM/DER text: code config, the file or field named", function()
	local w, dir
	lazy_setup(function()
		w = world()
		dir = H.tmpdir()
	end)
	lazy_teardown(function() H.rmdir(dir) end)

	it("missing files are named", function()
		local key = w.pki.server:write_to(dir).key
		local missing = dir .. "/missing.pem"
		config_error({ certificate = missing, private_key = key }, missing, "No such file or directory")
		config_error({ certificate = w.pki.server.cert_pem, private_key = missing }, missing, "No such file or directory")
		config_error({ trust = missing }, missing, "No such file or directory")
		config_error({ trust = w.pki.ca, crl = missing }, missing, "No such file or directory")
		assert(H.sh(("ln -sf %s/nowhere.pem %s/dangling.pem"):format(dir, dir)))
		config_error({ trust = dir .. "/dangling.pem" }, dir .. "/dangling.pem", "No such file or directory")
	end)

	it("unreadable files (a directory, a file used as a directory) are named", function()
		local paths = w.pki.server:write_to(dir)
		config_error({ certificate = dir, private_key = paths.key }, dir, "cannot read file: Is a directory")
		config_error({ certificate = w.pki.server.cert_pem, private_key = dir }, dir, "cannot read file: Is a directory")
		local not_dir = paths.cert .. "/cert.pem"
		config_error({ trust = not_dir }, not_dir, "cannot read file: Not a directory")
	end)

	it("malformed, empty, truncated and damaged PEM/DER files are named", function()
		local sid = w.pki.server
		local key = sid:write_to(dir).key
		local rnd = xorshift32(1)
		local files = {
			["garbage.pem"] = bytes_from(rnd, 300),
			["empty.pem"] = "",
			["bad.der"] = "\48\130\1\0" .. bytes_from(rnd, 50),
			["truncated.pem"] = sid.cert_pem:sub(1, 200),
			["damaged.pem"] = broken_base64(sid.cert_pem),
			["key-as-cert.pem"] = sid.key_pem,
		}
		for name, data in pairs(files) do
			local path = H.write(dir .. "/" .. name, data)
			local err = config_error({ certificate = path, private_key = key }, path)
			assert(tostring(err):find("not a readable certificate", 1, true)
				or tostring(err):find('no "-----BEGIN CERTIFICATE-----"', 1, true), tostring(err))
			if name ~= "key-as-cert.pem" then
				config_error({ trust = path }, path, "not a readable certificate")
				config_error({ certificate = sid.cert_pem, private_key = path }, path, "not a readable private key")
			end
			config_error({ trust = w.pki.ca, crl = path }, path)
		end
		config_error({ certificate = broken_base64(sid.cert_pem), private_key = sid.key_pem },
			"certificate: not a readable certificate")
		config_error({ certificate = sid.key_pem, private_key = sid.key_pem }, 'no "-----BEGIN CERTIFICATE-----"')
		config_error({ certificate = sid.cert_pem, private_key = broken_base64(sid.key_pem) }, "private_key")
		config_error({ trust = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" }, "trust")
		-- a DER certificate file is fine
		local der = H.write(dir .. "/good.der", sid.certificate.der)
		assert.is_true(assert(mutls.config { certificate = der, private_key = key }).has_identity)
	end)

	it("the certificate parsers refuse malformed input with nil, err", function()
		local garbage = H.write(dir .. "/garbage.der", "\48\130\1\0" .. string.rep("\0", 40))
		local cases = {
			{ mutls.load_certificate, garbage, garbage },
			{ mutls.load_certificate, dir .. "/missing.der", "No such file" },
			{ mutls.load_certificate, dir, "Is a directory" },
			{ mutls.certificate_from_der, "\48\3\2\1\1", "certificate DER" },
			{ mutls.certificate_from_der, "", "certificate DER" },
			{ mutls.certificate, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "certificate PEM" },
			{ mutls.load_certificates, garbage, garbage },
		}
		for i, case in ipairs(cases) do
			local ok, res, err = pcall(case[1], case[2])
			assert(ok, ("case %d raised: %s"):format(i, tostring(res)))
			assert(res == nil and mutls.is_error(err), ("case %d: %s"):format(i, tostring(err)))
			assert(err.code == "config", show(err))
			assert(tostring(err):find(case[3], 1, true), ("case %d: %s"):format(i, tostring(err)))
		end
	end)

	it("a key that does not match its certificate", function()
		local sid, cid = w.pki.server, w.pki.client
		config_error({ certificate = sid.cert_pem, private_key = cid.key_pem },
			"private_key: the private key does not match the certificate CN=orders")
		assert(H.sh("mkdir -p " .. dir .. "/s " .. dir .. "/c"))
		local cert = sid:write_to(dir .. "/s").cert
		local key = cid:write_to(dir .. "/c").key
		config_error({ certificate = cert, private_key = key },
			key .. ": the private key does not match the certificate CN=orders in " .. cert)
		for _, key_type in ipairs { "ed25519", "rsa2048" } do
			local a = w.pki.ca:issue { cn = "a", key_type = key_type }
			local b = w.pki.ca:issue { cn = "b", key_type = key_type }
			config_error({ certificate = a.cert_pem, private_key = b.key_pem }, "does not match the certificate CN=a")
		end
	end)

	it("wrong and missing passwords", function()
		local sid = w.pki.server
		local enc = H.write(dir .. "/enc.pem", sid:encrypted_key_pem("s3cret"))
		config_error({ certificate = sid.chain_pem, private_key = enc, password = "wrong" },
			enc .. ": wrong password for the encrypted private key")
		config_error({ certificate = sid.chain_pem, private_key = enc },
			enc .. ": the private key is encrypted and no password was given")
		config_error({ certificate = sid.chain_pem, private_key = sid:encrypted_key_pem("s3cret"),
			password = function() return "nope" end }, "private_key: wrong password")
		config_error({ certificate = sid.chain_pem, private_key = enc, password = "" }, "wrong password")
		config_error({ certificate = sid.chain_pem, private_key = enc, password = string.rep("s3cret", 200) },
			"wrong password")
		assert(mutls.config { certificate = sid.chain_pem, private_key = enc, password = "s3cret" })
	end)

	it("200 seeded mutations of a PEM certificate and its DER: loaded or config", function()
		local rnd = xorshift32(0x5E3)
		local sid = w.pki.server
		local pem, der = sid.cert_pem, sid.certificate.der
		local loaded, refused = 0, 0
		for i = 0, 199 do
			local src = i % 2 == 0 and pem or der
			local kind = i % 3
			if kind == 0 then
				for _ = 1, 1 + rnd() % 4 do
					local k = 1 + rnd() % #src
					src = src:sub(1, k - 1) .. string.char(rnd() % 256) .. src:sub(k + 1)
				end
			elseif kind == 1 then
				src = src:sub(1, rnd() % #src)
			else
				local at = rnd() % #src
				src = src:sub(1, at) .. bytes_from(rnd, 1 + rnd() % 32) .. src:sub(at + 1)
			end
			local ok, res, err
			if i % 2 == 0 then
				ok, res, err = pcall(mutls.config, { certificate = src, private_key = sid.key_pem })
			else
				ok, res, err = pcall(mutls.certificate_from_der, src)
			end
			assert(ok, ("mutation %d raised: %s"):format(i, tostring(res)))
			if res then
				loaded = loaded + 1
			else
				assert(mutls.is_error(err) and err.code == "config", show(err))
				if i % 2 == 0 and not src:find("-----BEGIN", 1, true) then
					-- documented: a source without "-----BEGIN" is a file path,
					-- and a value that is not a plausible path is never echoed
					assert(tostring(err):find("certificate: not PEM text and not a readable file", 1, true), tostring(err))
					assert(tostring(err):find("the value is not shown", 1, true), tostring(err))
				else
					assert(tostring(err):find("certificate", 1, true) or tostring(err):find("private_key", 1, true),
						tostring(err))
				end
				refused = refused + 1
			end
		end
		assert.is_true(refused > 100, ("%d loaded, %d refused"):format(loaded, refused))
	end)

	-- key text and passwords never appear in an error (issue 11, defect 3)
	local function pem_body(pem)
		local body = {}
		for line in pem:gmatch("[^\n]+") do
			if not line:find("-----", 1, true) then body[#body + 1] = line end
		end
		return table.concat(body)
	end

	local function assert_no_secret(err, body, password)
		for _, text in ipairs { tostring(err), err.message } do
			for i = 1, #body - 15 do
				local run = body:sub(i, i + 15)
				assert(not text:find(run, 1, true), ("key text %q in %q"):format(run, text))
			end
			if password then
				assert(not text:find(password, 1, true), ("the password is in %q"):format(text))
			end
		end
	end

	it("key text is never in a message", function()
		local w = world()
		local key, cert = w.pki.server.key_pem, w.pki.server.cert_pem
		local body = pem_body(key)
		local lines = key:match("^[^\n]+\n(.-)%-%-%-%-%-END")
		local damaged = key:gsub("%-%-%-%-%-BEGIN PRIVATE KEY", "----BEGIN PRIVATE KEY")
		local not_file = "not PEM text and not a readable file"
		local cases = {
			{ { certificate = cert, private_key = damaged },
				"private_key: " .. not_file, "the value is not shown", '"-----BEGIN" line looks damaged' },
			{ { certificate = cert, private_key = lines }, "private_key: " .. not_file, "looks like base64" },
			{ { certificate = cert, private_key = body }, "private_key: " .. not_file, "looks like base64" },
			{ { certificate = key, private_key = key }, 'certificate: no "-----BEGIN CERTIFICATE-----"' },
			{ { certificate = body, private_key = key }, "certificate: " .. not_file },
			{ { certificate = damaged, private_key = key }, "certificate: " .. not_file },
			{ { certificate = damaged }, "certificate: " .. not_file },
			{ { trust = body }, "trust: " .. not_file },
			{ { trust = { w.pki.ca, damaged } }, "trust: " .. not_file },
			{ { trust = w.pki.ca, crl = lines }, "crl: " .. not_file },
		}
		for _, case in ipairs(cases) do
			local err = config_error(table.unpack and table.unpack(case) or unpack(case))
			assert_no_secret(err, body)
		end
		-- the certificate loaders read paths the same way
		for _, load in ipairs { { mutls.load_certificates, "certificates" }, { mutls.load_certificate, "certificate" } } do
			for _, value in ipairs { body, lines, damaged } do
				local c, err = load[1](value)
				assert(c == nil and mutls.is_error(err) and err.code == "config", tostring(err))
				assert(H.contains(err.message, load[2] .. ": " .. not_file), err.message)
				assert_no_secret(err, body)
			end
		end
	end)

	it("a wrong password is never in a message", function()
		local w = world()
		local sid = w.pki.server
		local right, wrong = "Tr0ub4dor&3-right", "Tr0ub4dor&3-wrong"
		local enc = sid:encrypted_key_pem(right)
		local body = pem_body(enc)
		assert_no_secret(config_error({ certificate = sid.chain_pem, private_key = enc, password = wrong },
			"private_key: wrong password for the encrypted private key"), body, wrong)
		assert_no_secret(config_error({ certificate = sid.chain_pem, private_key = enc,
			password = function() return wrong end }, "private_key: wrong password"), body, wrong)
		local dir = H.tmpdir()
		local path = H.write(dir .. "/key.pem", enc)
		assert_no_secret(config_error({ certificate = sid.chain_pem, private_key = path, password = wrong },
			path, "wrong password"), body, wrong)
		assert.is_true(assert(mutls.config { certificate = sid.chain_pem, private_key = path, password = right }).has_identity)
		H.rmdir(dir)
	end)

	it("a value is named only when it reads as a path", function()
		local w = world()
		local cert = w.pki.server.cert_pem
		local dir = H.tmpdir()
		local missing = dir .. "/missing-key.pem"
		config_error({ certificate = cert, private_key = missing },
			"private_key " .. missing .. ": cannot read file: No such file")
		local err = config_error({ certificate = cert, private_key = "/nonexistent/key.pem" },
			"private_key: not PEM text and not a readable file (No such file or directory; the value is not shown)")
		assert(not tostring(err):find("/nonexistent", 1, true), tostring(err))
		config_error({ trust = "/nonexistent/ca.pem" }, "trust /nonexistent/ca.pem: cannot read file")
		err = config_error({ trust = "ca.pem\nsecond line" }, "the value is not shown")
		assert(not tostring(err):find("second line", 1, true), tostring(err))
		H.rmdir(dir)
	end)
end)
