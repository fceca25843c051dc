-- Interop with real peers on loopback, client certificates required, TLS 1.2
-- and 1.3: openssl s_server -Verify / s_client -cert, gnutls-serv
-- --require-client-cert / gnutls-cli, and LuaSec (in this process, both
-- ends on non-blocking sockets). External peers run under `timeout` and are
-- always killed.
local H = require "helpers"
local mutls = H.mutls

local have_openssl = H.have("openssl")
local have_gnutls = H.have("gnutls-serv") and H.have("gnutls-cli")
local have_luasec, ssl = pcall(require, "ssl")

local VERSIONS = { "1.3", "1.2" }
local OPENSSL_FLAG = { ["1.3"] = "-tls1_3", ["1.2"] = "-tls1_2" }
local GNUTLS_PRIO = { ["1.3"] = "NORMAL:-VERS-ALL:+VERS-TLS1.3", ["1.2"] = "NORMAL:-VERS-ALL:+VERS-TLS1.2" }
local TLS_NAME = { ["1.3"] = "TLSv1.3", ["1.2"] = "TLSv1.2" }

-- Files for the external peers.
local function pki_files()
	local pki = H.pki()
	local dir = H.tmpdir()
	local f = {
		dir = dir,
		ca = H.write(dir .. "/ca.pem", pki.ca.cert_pem),
		server_cert = H.write(dir .. "/server.pem", pki.server.chain_pem),
		server_key = H.write(dir .. "/server.key", pki.server.key_pem),
		client_cert = H.write(dir .. "/client.pem", pki.client.chain_pem),
		client_key = H.write(dir .. "/client.key", pki.client.key_pem),
		log = dir .. "/peer.log",
		input = dir .. "/input.txt",
	}
	return pki, f
end

-- Reads until `want` bytes or a line arrived (bounded), on a socket-mode session.
local function recv_line(s)
	local got = {}
	for _ = 1, 50 do
		local data, err = s:recv(4096)
		if not data then return table.concat(got), err end
		got[#got + 1] = data
		if data:find("\n", 1, true) then break end
	end
	return table.concat(got)
end

-- After our close_notify, reads until the peer's close (bounded), so that no
-- unread bytes make the kernel reset the connection (and drop our last data).
local function drain(s)
	for _ = 1, 50 do
		local data = s:recv(4096)
		if not data then return end
	end
end

-- A mutls client over a connected LuaSocket, blocking with a 5 s deadline.
local function mutls_client(cfg, sock, version)
	local c = assert(cfg:client { fd = sock:getfd(), server_hostname = "orders.internal", timeout = 5 })
	return c
end

-- A mutls server: accepts one connection (5 s), handshakes it.
local function mutls_accept(srv, scfg)
	srv:settimeout(5)
	local sock = assert(srv:accept())
	local s = assert(scfg:server { fd = sock:getfd(), timeout = 5 })
	return s, sock
end

describe("interop: openssl", function()
	if not have_openssl then
		it("openssl is not installed", function() pending("openssl is not installed") end)
		return
	end

	for _, version in ipairs(VERSIONS) do
		it("mutls client -> openssl s_server -Verify, TLS " .. version, function()
			local pki, f = pki_files()
			local port = H.free_port()
			local pid = H.spawn(("openssl s_server -accept 127.0.0.1:%d -cert %s -key %s -CAfile %s " ..
				"-Verify 2 -verify_return_error %s -naccept 1 -rev"):format(port, f.server_cert,
				f.server_key, f.ca, OPENSSL_FLAG[version]), f.log, 15)
			finally(function() H.kill(pid); H.rmdir(f.dir) end)
			local sock = H.connect(port)
			local c = mutls_client(H.config(pki.client, pki.ca), sock)
			assert.is_true(c:handshake())
			assert.equal(TLS_NAME[version], c.version)
			assert.is_true(c.verified)
			assert.equal("CN=orders", c.peer_certificate.label)
			assert.equal(#"hello openssl\n", c:send("hello openssl\n"))
			assert.equal("lssnepo olleh\n", recv_line(c))
			c:close()
			c:destroy()
			sock:close()
			local log = H.wait_for(f.log, "CN = payments", 3)
			assert.is_true(H.contains(log, "CN = payments"), log)
		end)

		it("openssl s_server refuses a client from another CA, TLS " .. version, function()
			local pki, f = pki_files()
			local other = mutls.testca {}
			local rogue = other:issue { cn = "payments", purpose = "client" }
			local port = H.free_port()
			local pid = H.spawn(("openssl s_server -accept 127.0.0.1:%d -cert %s -key %s -CAfile %s " ..
				"-Verify 2 -verify_return_error %s -naccept 1 -rev"):format(port, f.server_cert,
				f.server_key, f.ca, OPENSSL_FLAG[version]), f.log, 15)
			finally(function() H.kill(pid); H.rmdir(f.dir) end)
			local sock = H.connect(port)
			local c = mutls_client(H.config(rogue, pki.ca), sock)
			local ok, err = c:handshake()
			if ok then -- TLS 1.3: the refusal comes with the first read
				ok, err = c:recv(64)
			end
			assert.is_nil(ok)
			H.expect_error(err, "peer-rejected", false, "peer", false, false)
			assert.is_true(err.alert == "unknown_ca" or err.alert == "bad_certificate", tostring(err))
			c:destroy()
			sock:close()
		end)

		it("openssl s_client -cert -> mutls server, TLS " .. version, function()
			local pki, f = pki_files()
			local srv, port = H.listen()
			H.write(f.input, "hello from openssl\n")
			local pid = H.spawn_input(("openssl s_client -connect 127.0.0.1:%d -cert %s -key %s -CAfile %s " ..
				"-verify_return_error -verify_hostname orders.internal -servername orders.internal %s -quiet"):format(
				port, f.client_cert, f.client_key, f.ca, OPENSSL_FLAG[version]), f.input, f.log, 15)
			finally(function() H.kill(pid); srv:close(); H.rmdir(f.dir) end)
			local s, sock = mutls_accept(srv, H.config(pki.server, pki.ca))
			assert.is_true(s:handshake())
			assert.equal(TLS_NAME[version], s.version)
			assert.is_true(s.verified)
			assert.equal("CN=payments", s.peer_certificate.label)
			assert.equal("orders.internal", s.server_name)
			assert.equal("hello from openssl\n", recv_line(s))
			s:send("hello from mutls\n")
			s:close()
			drain(s)
			s:destroy()
			sock:close()
			local log = H.wait_for(f.log, "hello from mutls", 3)
			assert.is_true(H.contains(log, "hello from mutls"), log)
		end)

		it("openssl s_client without a certificate: no-certificate, TLS " .. version, function()
			local pki, f = pki_files()
			local srv, port = H.listen()
			H.write(f.input, "hello\n")
			local pid = H.spawn_input(("openssl s_client -connect 127.0.0.1:%d -CAfile %s %s -quiet"):format(
				port, f.ca, OPENSSL_FLAG[version]), f.input, f.log, 15)
			finally(function() H.kill(pid); srv:close(); H.rmdir(f.dir) end)
			local s, sock = mutls_accept(srv, H.config(pki.server, pki.ca))
			local ok, err = s:handshake()
			assert.is_nil(ok)
			H.expect_error(err, "no-certificate", {}, "local", "client-certificate",
				version == "1.3" and "certificate_required" or "handshake_failure")
			s:destroy()
			sock:close()
		end)
	end
end)

describe("interop: gnutls", function()
	if not have_gnutls then
		it("gnutls-bin is not installed", function() pending("gnutls-serv/gnutls-cli are not installed") end)
		return
	end

	for _, version in ipairs(VERSIONS) do
		it("mutls client -> gnutls-serv --require-client-cert, TLS " .. version, function()
			local pki, f = pki_files()
			local port = H.free_port()
			local pid = H.spawn(("gnutls-serv --port %d --x509certfile %s --x509keyfile %s --x509cafile %s " ..
				"--require-client-cert --echo --priority %s"):format(port, f.server_cert, f.server_key, f.ca,
				GNUTLS_PRIO[version]), f.log, 15)
			finally(function() H.kill(pid); H.rmdir(f.dir) end)
			local sock = H.connect(port)
			local c = mutls_client(H.config(pki.client, pki.ca), sock)
			assert.is_true(c:handshake())
			assert.equal(TLS_NAME[version], c.version)
			assert.is_true(c.verified)
			assert.equal("CN=orders", c.peer_certificate.label)
			c:send("echo me\n")
			assert.equal("echo me\n", recv_line(c))
			c:close()
			c:destroy()
			sock:close()
		end)

		it("gnutls-serv refuses a client without a certificate, TLS " .. version, function()
			local pki, f = pki_files()
			local port = H.free_port()
			local pid = H.spawn(("gnutls-serv --port %d --x509certfile %s --x509keyfile %s --x509cafile %s " ..
				"--require-client-cert --echo --priority %s"):format(port, f.server_cert, f.server_key, f.ca,
				GNUTLS_PRIO[version]), f.log, 15)
			finally(function() H.kill(pid); H.rmdir(f.dir) end)
			local sock = H.connect(port)
			local c = mutls_client(H.config(nil, pki.ca), sock)
			local ok, err = c:handshake()
			if ok then -- TLS 1.3: the refusal comes with the first read
				ok, err = c:recv(64)
			end
			assert.is_nil(ok)
			-- gnutls-serv answers with certificate_required (1.3) or, in 1.2,
			-- decode_error: either way the peer refused us
			assert.equal("peer", err.side)
			assert.is_true(err.code == "peer-rejected" or err.code == "protocol" or err.code == "closed", tostring(err))
			if version == "1.3" then
				H.expect_error(err, "peer-rejected", {}, "peer", false, "certificate_required")
			end
			c:destroy()
			sock:close()
		end)

		it("gnutls-cli --x509certfile -> mutls server, TLS " .. version, function()
			local pki, f = pki_files()
			local srv, port = H.listen()
			H.write(f.input, "hello from gnutls-cli\n")
			local pid = H.spawn_input(("gnutls-cli --x509certfile %s --x509keyfile %s --x509cafile %s -p %d " ..
				"--sni-hostname orders.internal --verify-hostname orders.internal --priority %s 127.0.0.1"):format(
				f.client_cert, f.client_key, f.ca, port, GNUTLS_PRIO[version]), f.input, f.log, 15)
			finally(function() H.kill(pid); srv:close(); H.rmdir(f.dir) end)
			local s, sock = mutls_accept(srv, H.config(pki.server, pki.ca))
			assert.is_true(s:handshake())
			assert.equal(TLS_NAME[version], s.version)
			assert.is_true(s.verified)
			assert.equal("CN=payments", s.peer_certificate.label)
			assert.equal("hello from gnutls-cli\n", recv_line(s))
			s:send("hello from mutls\n")
			s:close()
			drain(s)
			s:destroy()
			sock:close()
			local log = H.wait_for(f.log, "hello from mutls", 3)
			assert.is_true(H.contains(log, "Handshake was completed"), log)
			assert.is_true(H.contains(log, "hello from mutls"), log)
		end)
	end
end)

describe("interop: LuaSec", function()
	if not have_luasec then
		it("LuaSec is not installed", function() pending("LuaSec (lua-sec) is not available for " .. _VERSION) end)
		return
	end

	-- Drives a LuaSec connection and a mutls session (both non-blocking)
	-- until both finished their handshakes (bounded).
	local function dance(conn, s)
		local lok, lerr, mok, merr
		for _ = 1, 3000 do
			if not lok and (lerr == nil or lerr == "wantread" or lerr == "wantwrite" or lerr == "timeout") then
				lok, lerr = conn:dohandshake()
			end
			if not mok and (merr == nil or merr == "wantread" or merr == "wantwrite") then
				mok, merr = s:handshake()
			end
			local lwait = not lok and (lerr == "wantread" or lerr == "wantwrite" or lerr == "timeout")
			local mwait = not mok and (merr == "wantread" or merr == "wantwrite")
			if not lwait and not mwait then break end
			H.sleep(0.001)
		end
		return lok, lerr, mok, merr
	end

	local function luasec_params(mode, version, f, with_cert)
		local p = {
			mode = mode,
			protocol = version == "1.3" and "tlsv1_3" or "tlsv1_2",
			cafile = f.ca,
			verify = mode == "server" and { "peer", "fail_if_no_peer_cert" } or "peer",
			options = "all",
		}
		if with_cert ~= false then
			p.certificate = mode == "server" and f.server_cert or f.client_cert
			p.key = mode == "server" and f.server_key or f.client_key
		end
		return p
	end

	-- reads a line from LuaSec on a non-blocking socket
	local function luasec_line(conn)
		for _ = 1, 3000 do
			local line, err, partial = conn:receive("*l")
			if line then return line end
			if err ~= "wantread" and err ~= "timeout" then return nil, err end
			H.sleep(0.001)
		end
	end

	local function mutls_line(s)
		for _ = 1, 3000 do
			local data, err = s:recv(4096)
			if data then return data end
			if err ~= "wantread" then return nil, err end
			H.sleep(0.001)
		end
	end

	for _, version in ipairs(VERSIONS) do
		it("mutls client -> LuaSec server (verify peer, fail_if_no_peer_cert), TLS " .. version, function()
			local pki, f = pki_files()
			local srv, port = H.listen()
			finally(function() srv:close(); H.rmdir(f.dir) end)
			local csock = H.connect(port)
			srv:settimeout(5)
			local ssock = assert(srv:accept())
			local conn = assert(ssl.wrap(ssock, luasec_params("server", version, f)))
			conn:settimeout(0)
			local c = assert(H.config(pki.client, pki.ca):client { fd = csock:getfd(), server_hostname = "orders.internal" })
			local lok, lerr, mok, merr = dance(conn, c)
			assert.is_true(lok, tostring(lerr))
			assert.is_true(mok, tostring(merr))
			assert.equal(TLS_NAME[version], c.version)
			assert.is_true(c.verified)
			assert.is_true(conn:getpeerverification())
			local peer = conn:getpeercertificate()
			local cn
			for _, entry in ipairs(peer:subject()) do
				if entry.name == "commonName" or entry.short_name == "CN" then cn = entry.value end
			end
			assert.equal("payments", cn)
			assert.equal(#"from mutls\n", c:send("from mutls\n"))
			assert.equal("from mutls", luasec_line(conn))
			conn:send("from luasec\n")
			assert.equal("from luasec\n", mutls_line(c))
			c:destroy()
			conn:close()
			csock:close()
		end)

		it("LuaSec client with a certificate -> mutls server, TLS " .. version, function()
			local pki, f = pki_files()
			local srv, port = H.listen()
			finally(function() srv:close(); H.rmdir(f.dir) end)
			local csock = H.connect(port)
			srv:settimeout(5)
			local ssock = assert(srv:accept())
			local conn = assert(ssl.wrap(csock, luasec_params("client", version, f)))
			conn:settimeout(0)
			if conn.sni then conn:sni("orders.internal") end
			local s = assert(H.config(pki.server, pki.ca):server { fd = ssock:getfd() })
			local lok, lerr, mok, merr = dance(conn, s)
			assert.is_true(lok, tostring(lerr))
			assert.is_true(mok, tostring(merr))
			assert.equal(TLS_NAME[version], s.version)
			assert.is_true(s.verified)
			assert.equal("CN=payments", s.peer_certificate.label)
			assert.equal("orders.internal", s.server_name)
			assert.is_true(conn:getpeerverification())
			conn:send("from luasec\n")
			assert.equal("from luasec\n", mutls_line(s))
			s:send("from mutls\n")
			assert.equal("from mutls", luasec_line(conn))
			s:destroy()
			conn:close()
			ssock:close()
		end)

		it("LuaSec client without a certificate: the mutls server says no-certificate, TLS " .. version, function()
			local pki, f = pki_files()
			local srv, port = H.listen()
			finally(function() srv:close(); H.rmdir(f.dir) end)
			local csock = H.connect(port)
			srv:settimeout(5)
			local ssock = assert(srv:accept())
			local conn = assert(ssl.wrap(csock, luasec_params("client", version, f, false)))
			conn:settimeout(0)
			local s = assert(H.config(pki.server, pki.ca):server { fd = ssock:getfd() })
			local lok, lerr, mok, merr = dance(conn, s)
			assert.is_nil(mok)
			H.expect_error(merr, "no-certificate", {}, "local", "client-certificate",
				version == "1.3" and "certificate_required" or "handshake_failure")
			-- TLS 1.3: the client's handshake is done before the server decides
			if version == "1.2" then assert.is_falsy(lok) end
			s:destroy()
			conn:close()
			ssock:close()
		end)
	end
end)
