-- demo.lua: the mutls demo through the Lua binding.
--
-- The same story as `mutls demo` (Python): a test CA issues "orders" (the
-- server, orders.internal) and "payments" (the client,
-- spiffe://example.org/payments); the two do a traced mutual-TLS handshake,
-- compare their traffic keys and exchange one message each way; then a
-- gallery of handshakes that must fail, each with the error both sides get.
--
-- Plain Lua has no threads, so client and server run in this one process,
-- taking turns: over loopback TCP with non-blocking LuaSocket sockets (socket
-- mode: the sessions work on the sockets' fds and answer "wantread" when they
-- must wait) when LuaSocket is installed, otherwise in memory mode. The
-- gallery always uses memory mode.
--
-- Run (from the repository root, after building):
--   LUA_CPATH='build/lua/5.4/?.so;;' LUA_PATH='bindings-lua/?.lua;;' \
--     lua5.4 bindings-lua/examples/demo.lua [--diagram] [--tls 1.2|1.3] [--no-gallery] [--memory]
-- or `mutls demo --lua`. Exit status 0 only when the good handshake worked and
-- every gallery case failed as expected.

local mutls = require "mutls"

local SERVER_NAME = "orders.internal"
local CLIENT_URI = "spiffe://example.org/payments"
local CLIENT_MESSAGE = "GET /orders/42 (from payments)"
local SERVER_MESSAGE = "order 42: 3 items, paid (from orders)"
local TIMEOUT = 10 -- seconds for the whole good handshake and exchange

-- ---------------------------------------------------------------- options

local opts = { diagram = false, tls = nil, gallery = true, memory = false }
do
	local i = 1
	while i <= #arg do
		local a = arg[i]
		if a == "--diagram" then opts.diagram = true
		elseif a == "--no-gallery" then opts.gallery = false
		elseif a == "--memory" then opts.memory = true
		elseif a == "--tls" then
			i = i + 1
			opts.tls = arg[i]
			if opts.tls ~= "1.2" and opts.tls ~= "1.3" then
				io.stderr:write("demo.lua: --tls takes 1.2 or 1.3\n")
				os.exit(2)
			end
		elseif a == "-h" or a == "--help" then
			print("usage: demo.lua [--diagram] [--tls 1.2|1.3] [--no-gallery] [--memory]")
			os.exit(0)
		else
			io.stderr:write("demo.lua: unknown argument " .. a .. "\n")
			os.exit(2)
		end
		i = i + 1
	end
end
local versions = opts.tls and { opts.tls } or nil

-- ---------------------------------------------------------------- output

local colour = os.getenv("MUTLS_COLOUR") == "1"
local function style(text, code)
	if not colour then return text end
	return "\27[" .. code .. "m" .. text .. "\27[0m"
end
local function okc(t) return style(t, "32") end
local function bad(t) return style(t, "1;31") end
local function dim(t) return style(t, "2") end
local function bold(t) return style(t, "1") end

local function line(text)
	io.stdout:write((text or "") .. "\n")
	io.stdout:flush()
end

local function say(who, text, width)
	width = width or 7
	line(string.format("%-" .. width .. "s %s", who, text))
end

local function heading(title) line(""); line(bold("== " .. title)) end
local function subheading(title) line(""); line(bold("-- " .. title)) end

local function iso(t)
	return os.date("!%Y-%m-%dT%H:%M:%SZ", t)
end

local function describe(cert)
	if not cert then return "(no certificate)" end
	local parts = { cert.subject }
	for _, n in ipairs(cert.dns_names or {}) do parts[#parts + 1] = "dns:" .. n end
	for _, n in ipairs(cert.ip_addresses or {}) do parts[#parts + 1] = "ip:" .. tostring(n) end
	for _, n in ipairs(cert.uris or {}) do parts[#parts + 1] = "uri:" .. n end
	for _, n in ipairs(cert.emails or {}) do parts[#parts + 1] = "email:" .. n end
	return table.concat(parts, "  ")
end

local function fields(err)
	if type(err) ~= "table" and type(err) ~= "userdata" then return tostring(err) end
	local reasons = err.reasons and #err.reasons > 0 and table.concat(err.reasons, ",") or "none"
	local t = { "code " .. tostring(err.code), "reasons " .. reasons, "side " .. tostring(err.side or "none") }
	if err.step then t[#t + 1] = "step " .. err.step end
	t[#t + 1] = "alert " .. tostring(err.alert or "none")
	return table.concat(t, ", ")
end

-- ---------------------------------------------------------------- the trace

local recorded = {} -- every event of the good handshake, both sides, in order

-- The trace function of one side. verbose: the whole story; otherwise only
-- failed checks and alerts. peer: the certificate this side will be shown.
local function narrator(side, o)
	o = o or {}
	local verbose = o.verbose ~= false
	local indent = o.indent or ""
	local quiet = o.quiet
	local checks_started, keys_noted = false, false
	local function tell(text) say(indent .. side, text, #indent + 7) end
	return function(ev)
		if o.record then
			recorded[#recorded + 1] = { side = side, kind = ev.kind, outgoing = ev.outgoing,
				ok = ev.ok, name = ev.name, detail = ev.detail, message_type = ev.message_type }
		end
		if quiet then return end
		-- the line mutls renders (mutls.trace_event_text, the same in the C
		-- and Python demos), coloured, with what it teaches
		local kind, name = ev.kind, ev.name
		if not verbose and not (kind == "alert" or (kind == "check" and not ev.ok)) then return end
		if kind == "check" and verbose and not checks_started then
			checks_started = true
			tell(bold(side == "client" and "checks the server's certificate:"
				or "checks the client's certificate:"))
			local p = o.peer
			if p then
				tell("   it is " .. describe(p))
				tell(string.format("   serial %s, issued by %s, valid %s to %s", p.serial, p.issuer,
					iso(p.not_before), iso(p.not_after)))
			end
		end
		local text = assert(mutls.trace_event_text(ev))
		if kind == "message" and not ev.outgoing then text = dim(text)
		elseif kind == "check" then text = ev.ok and okc(text) or bad(text)
		elseif kind == "alert" and name ~= "close_notify" then text = style(text, "33") end
		local note = verbose and mutls.trace_event_note(ev)
		tell(note and text .. dim("   (" .. note .. ")") or text)
		if kind == "message" and name == "ServerHello" and (ev.detail or ""):find("TLS1.3", 1, true)
			and not keys_noted then
			keys_noted = true
			tell(dim("   key exchange: the ECDHE key shares rode in ClientHello and ServerHello; "
				.. "all that follows is encrypted"))
		end
	end
end

-- ---------------------------------------------------------------- the PKI

line(bold(string.format("mutls demo (Lua): mutual TLS between two services, with mutls %s (%s binding, %s)",
	mutls.version, mutls.abi == "jit" and "LuaJIT" or "Lua 5.4", _VERSION)))
heading("a test PKI, made in memory (mutls.testca)")
local ca = mutls.testca{ name = "mutls demo CA" }
local orders = ca:issue{ cn = "orders", dns = { SERVER_NAME }, ip = { "127.0.0.1" }, purpose = "server" }
local payments = ca:issue{ cn = "payments", uri = { CLIENT_URI }, purpose = "client" }
local day = 86400
local expired = ca:issue{ cn = "payments", uri = { CLIENT_URI }, purpose = "client",
	not_before = -30 * day, not_after = -day }
local billing = ca:issue{ cn = "billing", dns = { "billing.internal" }, purpose = "server" }
local other_ca = mutls.testca{ name = "some other CA" }
local impostor = other_ca:issue{ cn = "orders", dns = { SERVER_NAME }, purpose = "server" }
local rogue = mutls.testca{ name = "payments" } -- self-signed; used as a client identity
local revoked = ca:issue{ cn = "payments", uri = { CLIENT_URI }, purpose = "client" }
ca:revoke(revoked)
local analytics = ca:issue{ cn = "analytics", uri = { "spiffe://example.org/analytics" }, purpose = "client" }

say("pki", string.format("%-24s %s", "CA", describe(ca.certificate)))
say("pki", string.format("%-24s %s", "server orders", describe(orders.certificate)))
say("pki", string.format("%-24s %s", "client payments", describe(payments.certificate)))
say("pki", string.format("%-24s %s", "", dim("(and, for the gallery: an expired payments, a billing "
	.. "server, an impostor orders from another CA, a rogue self-signed payments, a revoked "
	.. "payments, an analytics client)")))

-- ---------------------------------------------------------------- the good handshake

local server_cfg = mutls.config{ identity = orders, trust = ca.cert_pem,
	peers = { "uri:spiffe://example.org/*" }, versions = versions,
	trace = narrator("server", { peer = payments.certificate, record = true, quiet = opts.diagram }) }
local client_cfg = mutls.config{ identity = payments, trust = ca.cert_pem,
	peers = { "dns:" .. SERVER_NAME }, versions = versions,
	trace = narrator("client", { peer = orders.certificate, record = true, quiet = opts.diagram }) }
local vtext = opts.tls and (", versions {" .. opts.tls .. "}") or ""
say("config", "server orders:   identity orders, trusts the demo CA, peers={'uri:spiffe://example.org/*'}" .. vtext)
say("config", "client payments: identity payments, trusts the demo CA, peers={'dns:" .. SERVER_NAME .. "'}" .. vtext)

local has_socket, socket = pcall(require, "socket")
if opts.memory then has_socket = false end

-- Transport: two sessions over loopback TCP (non-blocking fds), or in memory.
local client, server, tcp = nil, nil, nil
local function setup_transport()
	if has_socket then
		local listener = assert(socket.bind("127.0.0.1", 0))
		local _, port = listener:getsockname()
		say("server", "listening on 127.0.0.1:" .. port .. " (same process; the two sides take turns)")
		local csock = socket.tcp()
		csock:settimeout(TIMEOUT)
		assert(csock:connect("127.0.0.1", port))
		listener:settimeout(TIMEOUT)
		local ssock = assert(listener:accept())
		local ip, cport = ssock:getpeername()
		say("client", "connected to 127.0.0.1:" .. port .. ", server_hostname " .. SERVER_NAME)
		say("server", "accepted a TCP connection from " .. ip .. ":" .. cport)
		-- LuaSocket keeps its fds non-blocking; without a session timeout the
		-- sessions answer "wantread" instead of waiting.
		client = assert(client_cfg:client{ fd = csock:getfd(), server_hostname = SERVER_NAME })
		server = assert(server_cfg:server{ fd = ssock:getfd() })
		tcp = { listener = listener, csock = csock, ssock = ssock }
	else
		say("note", "LuaSocket not found: the two sessions run in memory mode, handing bytes across")
		client = assert(client_cfg:client{ server_hostname = SERVER_NAME })
		server = assert(server_cfg:server{})
	end
end

-- Moves bytes in memory mode; in socket mode waits a little for readability.
local function transfer()
	if tcp then
		socket.select({ tcp.csock, tcp.ssock }, nil, 0.05)
		return
	end
	local d = client:data_to_send()
	if #d > 0 then server:feed(d) end
	d = server:data_to_send()
	if #d > 0 then client:feed(d) end
end

local function again(err) return err == "wantread" or err == "wantwrite" end

local function good_handshake()
	heading(opts.diagram and "the handshake (recorded for the diagram)" or
		(has_socket and not opts.memory) and "the handshake over loopback TCP, as it happens"
		or "the handshake in memory mode, as it happens")
	setup_transport()
	local deadline = os.time() + TIMEOUT
	local c_done, s_done, c_err, s_err = false, false, nil, nil
	while not (c_done and s_done) do
		if not c_done then
			local v, err = client:handshake()
			if v then c_done = true; if not opts.diagram then say("client", okc("handshake done")) end
			elseif not again(err) then c_err = err; break end
		end
		transfer()
		if not s_done then
			local v, err = server:handshake()
			if v then s_done = true; if not opts.diagram then say("server", okc("handshake done")) end
			elseif not again(err) then s_err = err; break end
		end
		transfer()
		if os.time() > deadline then c_err = c_err or "timed out"; break end
	end
	if c_err or s_err then
		line(bad("FAILED: the good handshake did not complete"))
		if c_err then say("client", tostring(c_err)); say("client", "  " .. fields(c_err)) end
		if s_err then say("server", tostring(s_err)); say("server", "  " .. fields(s_err)) end
		return false
	end

	-- one message each way
	local function recv_all(s)
		local dl = os.time() + TIMEOUT
		while true do
			local data, err = s:recv(4096)
			if data then return data end
			if not again(err) then return nil, err end
			transfer()
			if os.time() > dl then return nil, "timed out" end
		end
	end
	recorded[#recorded + 1] = { side = "client", kind = "data", outgoing = true, name = "application data",
		detail = CLIENT_MESSAGE }
	assert(client:send(CLIENT_MESSAGE))
	transfer()
	local s_got, e1 = recv_all(server)
	recorded[#recorded + 1] = { side = "server", kind = "data", outgoing = true, name = "application data",
		detail = SERVER_MESSAGE }
	assert(server:send(SERVER_MESSAGE))
	transfer()
	local c_got, e2 = recv_all(client)
	-- orderly close: the client's close_notify reads as nil, err{code="closed", clean=true}
	client:close()
	transfer()
	local _, close_err = recv_all(server)
	local closed_cleanly = type(close_err) ~= "string" and close_err and close_err.clean
	server:close()
	transfer()

	if opts.diagram then
		heading("sequence diagram")
		local left_w, mid_w = 34, 44
		local function center(text, w)
			if #text > w - 2 then text = text:sub(1, w - 5) .. "..." end
			local l = math.floor((w - #text) / 2)
			return string.rep(" ", l) .. text .. string.rep(" ", w - #text - l)
		end
		local pad = string.rep(" ", left_w)
		local empty = pad .. "|" .. string.rep(" ", mid_w) .. "|"
		line(string.rep(" ", left_w - 8) .. "payments (client)" .. string.rep(" ", mid_w - 17) .. "orders (server)")
		line(empty)
		for _, ev in ipairs(recorded) do
			if (ev.kind == "message" or ev.kind == "alert" or ev.kind == "data") and ev.outgoing then
				local label = " " .. (ev.kind == "alert" and ("alert " .. ev.name) or ev.name) .. " "
				local dashes = mid_w - 1 - #label
				local l = math.floor(dashes / 2)
				local body = string.rep("-", l) .. label .. string.rep("-", dashes - l)
				line(pad .. "|" .. (ev.side == "client" and (body .. ">") or ("<" .. body)) .. "|")
				if ev.detail and ev.detail ~= "" and ev.kind ~= "alert" then
					line(pad .. "|" .. center(ev.detail, mid_w) .. "|")
				end
			elseif ev.kind == "check" then
				local mark = ev.ok and "ok" or "FAIL"
				if ev.side == "client" then
					line(string.format("%" .. (left_w - 1) .. "s |%s|", ev.name .. " " .. mark, string.rep(" ", mid_w)))
				else
					line(empty .. " " .. ev.name .. " " .. mark)
				end
			elseif ev.kind == "info" and (ev.name == "client-write-key" or ev.name == "server-write-key") then
				local short = (ev.detail:match("^sha256 (%x+)") or ev.detail)
				local label = ev.name:gsub("%-key$", "") .. " " .. short
				if ev.side == "client" then
					line(string.format("%" .. (left_w - 1) .. "s |%s|", label, string.rep(" ", mid_w)))
				else
					line(empty .. " " .. label)
				end
			end
		end
		line(empty)
		line(dim("  arrows: messages and alerts as sent; beside a lifeline: the checks that side ran "
			.. "and the fingerprints of the traffic keys it holds"))
		line(dim("  TLS 1.3: the client is done at its Finished and may send at once; the server checks "
			.. "the client's certificate after that"))
	end

	local ok = true
	heading("what each side negotiated and whom it sees")
	say("client", "version " .. tostring(client.version) .. ", cipher " .. tostring(client.cipher))
	say("server", "version " .. tostring(server.version) .. ", cipher " .. tostring(server.cipher)
		.. ", SNI " .. tostring(server.server_name))
	say("client", "peer (the server): " .. describe(client.peer_certificate) .. "  ["
		.. (client.verified and "verified" or "NOT verified") .. "]")
	say("server", "peer (the client): " .. describe(server.peer_certificate) .. "  ["
		.. (server.verified and "verified" or "NOT verified") .. "]")
	if not (client.verified and server.verified) then ok = false; line(bad("FAILED: a side did not verify its peer")) end

	heading("traffic keys (s:key_fingerprint: SHA-256 of the key, first 16 hex digits)")
	local cw, cr = client:key_fingerprint(true), client:key_fingerprint(false)
	local sw, sr = server:key_fingerprint(true), server:key_fingerprint(false)
	local cw_same, sw_same, differ = cw == sr, sw == cr, cw ~= cr
	say("keys", string.format("client-write: client %s (write=true)   server %s (write=false)  %s",
		cw:sub(1, 16), sr:sub(1, 16), cw_same and okc("equal") or bad("DIFFERENT (wrong)")))
	say("keys", string.format("server-write: server %s (write=true)   client %s (write=false)  %s",
		sw:sub(1, 16), cr:sub(1, 16), sw_same and okc("equal") or bad("DIFFERENT (wrong)")))
	say("keys", "client-write vs server-write: " .. (differ and okc("different keys for the two directions")
		or bad("THE SAME (wrong)")))
	if not (cw_same and sw_same and differ) then ok = false end

	heading("application data, one message each way")
	say("client", string.format("sent     %q", CLIENT_MESSAGE))
	say("server", string.format("received %q", tostring(s_got or e1)))
	say("server", string.format("sent     %q", SERVER_MESSAGE))
	say("client", string.format("received %q", tostring(c_got or e2)))
	if s_got ~= CLIENT_MESSAGE or c_got ~= SERVER_MESSAGE then
		ok = false
		line(bad("FAILED: a message did not arrive intact"))
	end
	say("client", "closed with close_notify")
	if closed_cleanly then
		say("server", "read the client's close_notify (nil, err.clean), closed too")
	else
		ok = false
		line(bad("FAILED: the server did not see an orderly close: " .. tostring(close_err)))
	end
	if tcp then tcp.csock:close(); tcp.ssock:close(); tcp.listener:close() end
	return ok
end

-- ---------------------------------------------------------------- the gallery

-- Runs both handshakes in memory mode until neither has more to say.
-- Returns c_state, c_err, s_state, s_err (state: true done, nil pending, false failed).
local function pump(c, s)
	local c_state, s_state, c_err, s_err
	for _ = 1, 50 do
		local moved = 0
		if c_state == nil then
			local v, err = c:handshake()
			if v then c_state = true elseif not again(err) then c_state, c_err = false, err end
		end
		local d = c:data_to_send()
		if #d > 0 then s:feed(d); moved = moved + #d end
		if s_state == nil then
			local v, err = s:handshake()
			if v then s_state = true elseif not again(err) then s_state, s_err = false, err end
		end
		d = s:data_to_send()
		if #d > 0 then c:feed(d); moved = moved + #d end
		if moved == 0 then break end
	end
	return c_state, c_err, s_state, s_err
end

local function has(list, x)
	for _, v in ipairs(list or {}) do if v == x then return true end end
	return false
end

-- expect: { code=, reason=, alerts={...} } or nil (no error)
local function matches(err, expect)
	if expect == nil then return err == nil end
	if type(err) ~= "table" and type(err) ~= "userdata" then return false end
	if err.code ~= expect.code then return false end
	if expect.reason and not has(err.reasons, expect.reason) then return false end
	if expect.alerts and not has(expect.alerts, err.alert) then return false end
	return true
end

local function show_error(who, what, err)
	say(who, what .. ": " .. bad("nil, err") .. ": \"" .. tostring(err) .. "\"", 9)
	say(who, "  " .. fields(err), 9)
end

local function want(e)
	if not e then return "ok" end
	return e.code .. (e.reason and (" [" .. e.reason .. "]") or "")
end

local function got(err)
	if err == nil then return "ok" end
	if type(err) == "string" then return err end
	return tostring(err.code)
end

local function verdict(good, case, s_err, c_err)
	if good then
		if case.server then
			say("  =>", okc("as expected: server " .. got(s_err) .. ", client " .. got(c_err)), 9)
		else
			say("  =>", okc("as expected: client " .. got(c_err)), 9)
		end
	else
		say("  =>", bad("UNEXPECTED: wanted server " .. want(case.server) .. ", client " .. want(case.client)
			.. "; got server " .. got(s_err) .. ", client " .. got(c_err)), 9)
	end
	return good
end

local function gserver(extra)
	local o = { identity = orders, trust = ca.cert_pem, versions = versions,
		trace = narrator("server", { verbose = false, indent = "  " }) }
	for k, v in pairs(extra or {}) do o[k] = v end
	return function() return mutls.config(o) end
end

local function gclient(extra)
	local o = { trust = ca.cert_pem, versions = versions,
		trace = narrator("client", { verbose = false, indent = "  " }) }
	for k, v in pairs(extra or {}) do o[k] = v end
	return function() return mutls.config(o) end
end

local no_cert_alerts = { "certificate_required", "handshake_failure" }
local cases = {
	{ title = "expired certificate: payments' certificate expired yesterday",
	  why = "A certificate is good only between its notBefore and notAfter dates; the server checks the client's and refuses it.",
	  server_cfg = gserver(), client_cfg = gclient{ identity = expired },
	  server = { code = "verify-failed", reason = "expired" },
	  client = { code = "peer-rejected", alerts = { "certificate_expired" } } },
	{ title = "wrong name: the server presents a certificate for billing.internal",
	  why = "The client asked for " .. SERVER_NAME .. "; a certificate that does not name it is refused even though a trusted CA signed it.",
	  server_cfg = gserver{ identity = billing }, client_cfg = gclient{ identity = payments },
	  server = { code = "peer-rejected", alerts = { "bad_certificate" } },
	  client = { code = "verify-failed", reason = "name-mismatch" } },
	{ title = "unknown CA: an impostor orders, signed by some other CA",
	  why = "The name is right, but the chain does not lead to a CA the client trusts.",
	  server_cfg = gserver{ identity = impostor }, client_cfg = gclient{ identity = payments },
	  server = { code = "peer-rejected", alerts = { "unknown_ca" } },
	  client = { code = "verify-failed", reason = "unknown-issuer" } },
	{ title = "client without a certificate",
	  why = "This is mutual TLS: the server requires a client certificate (peer_certificate=\"require\", the default).",
	  server_cfg = gserver(), client_cfg = gclient(),
	  server = { code = "no-certificate", alerts = no_cert_alerts },
	  client = { code = "peer-rejected", alerts = no_cert_alerts } },
	{ title = "rogue self-signed client: a CA of its own, CN=payments",
	  why = "Anyone can make a certificate that says CN=payments; only one signed by a CA the server trusts counts.",
	  server_cfg = gserver(), client_cfg = gclient{ certificate = rogue.cert_pem, private_key = rogue.key_pem },
	  server = { code = "verify-failed", reason = "unknown-issuer" },
	  client = { code = "peer-rejected", alerts = { "unknown_ca" } } },
	{ title = "revoked client: payments' certificate is on the CA's CRL",
	  why = "The CA withdrew this certificate before it expired; a server given the CRL (crl = ca.crl_pem) refuses it.",
	  server_cfg = gserver{ crl = ca.crl_pem }, client_cfg = gclient{ identity = revoked },
	  server = { code = "verify-failed", reason = "revoked" },
	  client = { code = "peer-rejected", alerts = { "certificate_revoked" } } },
	{ title = "refused by identity policy: analytics is not allowed to call orders",
	  why = "Its certificate is valid and from the right CA, but orders accepts only peers={'uri:spiffe://example.org/payments'}.",
	  server_cfg = gserver{ peers = { "uri:spiffe://example.org/payments" } }, client_cfg = gclient{ identity = analytics },
	  server = { code = "verify-failed", reason = "policy" },
	  client = { code = "peer-rejected", alerts = { "access_denied" } } },
	{ title = "reflected record: the client's own record fed back to it",
	  why = "Each direction has its own traffic key, so a record the client encrypted does not decrypt with the key it reads with; the record is refused.",
	  server_cfg = gserver(), client_cfg = gclient{ identity = payments },
	  server = nil, client = { code = "protocol" }, reflect = true },
}

local function reflect_case(case, c, s, c_state, c_err, s_state, s_err)
	if not (c_state and s_state) then
		say("  =>", bad("UNEXPECTED: the handshake itself failed"), 9)
		if c_err then show_error("  client", "handshake", c_err) end
		if s_err then show_error("  server", "handshake", s_err) end
		return false
	end
	say("  both", "handshake: ok (" .. tostring(c.version) .. ", " .. tostring(c.cipher) .. ")", 9)
	c:recv(1024) -- reads the server's session tickets (TLS 1.3); answers "wantread"
	assert(c:send(CLIENT_MESSAGE))
	local record = c:data_to_send()
	say("  client", string.format("sent %q: one record of %d bytes, encrypted with the client-write key %s",
		CLIENT_MESSAGE, #record, c:key_fingerprint(true):sub(1, 16)), 9)
	s:feed(record)
	local data = s:recv(1024)
	say("  server", "the record as sent: decrypts with its client-write key "
		.. s:key_fingerprint(false):sub(1, 16) .. (data == CLIENT_MESSAGE and " -> ok" or " -> FAILED"), 9)
	say("  mallory", "feeds the same record back to the client", 9)
	c:feed(record)
	say("  client", "recv: decrypts with the key it reads with, server-write " .. c:key_fingerprint(false):sub(1, 16), 9)
	local back, err = c:recv(1024)
	if back then
		say("  client", bad("accepted its own record back (wrong)"), 9)
	elseif again(err) then
		say("  client", "recv: no verdict (wantread)", 9)
	else
		show_error("  client", "recv", err)
	end
	return verdict(data == CLIENT_MESSAGE and matches(err, case.client), case, nil, err)
end

local function run_case(n, case)
	subheading("(" .. n .. ") " .. case.title)
	line("   " .. case.why)
	local c = assert(case.client_cfg():client{ server_hostname = SERVER_NAME })
	local s = assert(case.server_cfg():server{})
	local c_state, c_err, s_state, s_err = pump(c, s)
	if case.reflect then return reflect_case(case, c, s, c_state, c_err, s_state, s_err) end

	if s_state then say("  server", "handshake: ok", 9)
	elseif s_err then show_error("  server", "handshake refused", s_err)
	else say("  server", "handshake: still waiting (no verdict)", 9) end

	local client_err = c_err
	if c_state then
		if c.version == "TLSv1.3" then
			say("  client", "handshake: ok (TLSv1.3: the client finishes before the server has judged its "
				.. "certificate; it learns on its first recv)", 9)
		else
			say("  client", "handshake: ok (" .. tostring(c.version) .. ")", 9)
		end
		local data, err = c:recv(1024)
		if data then say("  client", "first recv: data (the server did not refuse us)", 9)
		elseif again(err) then say("  client", "first recv: nothing (the server did not refuse us)", 9)
		else client_err = err; show_error("  client", "first recv", err) end
	elseif client_err then
		show_error("  client", "handshake refused", client_err)
	end
	return verdict(matches(s_err, case.server) and matches(client_err, case.client), case, s_err, client_err)
end

-- ---------------------------------------------------------------- main

local ok_good, good = pcall(good_handshake)
if not ok_good then
	line(bad("FAILED: the good handshake raised: " .. tostring(good)))
	good = false
end

local passed, total = 0, 0
if opts.gallery then
	heading("failure gallery: real handshakes that must fail (memory mode, both sides in this process)")
	total = #cases
	for n, case in ipairs(cases) do
		local okc_, res = pcall(run_case, n, case)
		if okc_ and res then
			passed = passed + 1
		elseif not okc_ then
			say("  =>", bad("UNEXPECTED: the case raised: " .. tostring(res)), 9)
		end
	end
end

line("")
if good and passed == total then
	line(okc(string.format("== result: ok (the good handshake worked; %d of %d gallery cases failed as expected)",
		passed, total)))
	os.exit(0)
end
local problems = {}
if not good then problems[#problems + 1] = "the good handshake failed" end
if passed ~= total then
	problems[#problems + 1] = string.format("%d of %d gallery cases did not fail as expected", total - passed, total)
end
line(bad("== result: FAILED (" .. table.concat(problems, "; ") .. ")"))
os.exit(1)
