-- Interop with nginx as an mTLS server (`ssl_verify_client on`), mutls as
-- the client (socket mode over LuaSocket), TLS 1.2 and 1.3, four cells each:
--
--   ok                  nginx answers 200 "dn=<our subject> verify=SUCCESS"
--   no-client-cert      the handshake completes (nginx lets it), then nginx
--                       refuses at the HTTP level, over TLS: "400 No required
--                       SSL certificate was sent"; error.log: "client sent
--                       no required SSL certificate"
--   untrusted-client-ca "400 The SSL certificate error"; error.log: "client
--                       SSL certificate verify error"
--   wrong-server-name   the mutls client refuses nginx's certificate:
--                       verify-failed / name-mismatch / bad_certificate;
--                       error.log: nginx got alert number 42
--
-- Debian's nginx (no Lua module needed) runs as one process (daemon off,
-- master_process off) under a temporary prefix on 127.0.0.1:<free port>,
-- under `timeout`, one per cell, always killed. Mirrors
-- tests/python/test_interop_nginx.py.
local H = require "helpers"
local mutls = H.mutls

local NGINX = H.NGINX
local VERSIONS = { "1.2", "1.3" }
local SERVER_NAME = "localhost"

local CONF = [[
daemon off;
master_process off;
worker_processes 1;
pid @PREFIX@/nginx.pid;
error_log @PREFIX@/error.log info;
events { worker_connections 64; }
http {
    access_log @PREFIX@/access.log;
    client_body_temp_path @PREFIX@/tmp/body;
    proxy_temp_path @PREFIX@/tmp/proxy;
    fastcgi_temp_path @PREFIX@/tmp/fastcgi;
    uwsgi_temp_path @PREFIX@/tmp/uwsgi;
    scgi_temp_path @PREFIX@/tmp/scgi;
    server {
        listen 127.0.0.1:@PORT@ ssl;
        server_name localhost;
        ssl_certificate @CERT@;
        ssl_certificate_key @KEY@;
        ssl_client_certificate @CA@;
        ssl_verify_client on;
        ssl_protocols TLSv@VERSION@;
        ssl_session_tickets off;
        location / {
            default_type text/plain;
            return 200 "dn=$ssl_client_s_dn verify=$ssl_client_verify\n";
        }
    }
}
]]

local function make_pki(dir)
	local ca = assert(mutls.testca { name = "nginx interop CA" })
	local stranger_ca = assert(mutls.testca { name = "stranger CA" })
	local p = {
		ca = ca,
		server = assert(ca:issue { cn = "nginx server", dns = { SERVER_NAME }, ip = { "127.0.0.1" }, purpose = "server" }),
		wrong_server = assert(ca:issue { cn = "wrong server", dns = { "wrong.example" }, purpose = "server" }),
		client = assert(ca:issue { cn = "nginx client", uri = { "spiffe://nginx.test/client" }, purpose = "client" }),
		stranger = assert(stranger_ca:issue { cn = "stranger", purpose = "client" }),
		ca_file = H.write(dir .. "/ca.pem", ca.cert_pem),
		files = {},
	}
	for _, name in ipairs { "server", "wrong_server" } do
		assert(H.sh("mkdir -p " .. dir .. "/" .. name))
		p.files[name] = assert(p[name]:write_to(dir .. "/" .. name))
	end
	return p
end

-- Starts nginx (a fresh prefix each time, H.nginx_start); returns
-- { prefix, port, error_log, proc }.
local function start_nginx(dir, pki, version, identity)
	return H.nginx_start(dir, version .. "-" .. identity, CONF, { CERT = pki.files[identity].chain,
		KEY = pki.files[identity].key, CA = pki.ca_file, VERSION = version })
end

local function stop_nginx(n)
	if n then H.stop(n.proc) end
end

-- The whole HTTP/1.1 response (Connection: close), read until nginx closes
-- (bounded).
local function get(s)
	local req = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
	assert.equal(#req, s:send(req))
	local got = {}
	for _ = 1, 1000 do
		local data, err = s:recv(16384)
		if not data then
			-- an orderly close (close_notify), or nginx's close without it
			assert.is_true(mutls.is_error(err) and err.code == "closed", tostring(err))
			break
		end
		got[#got + 1] = data
	end
	return table.concat(got)
end

describe("interop: nginx ssl_verify_client on", function()
	if not NGINX or not H.socket then
		it("nginx and LuaSocket are needed", function() pending("nginx (or lua-socket) is not installed") end)
		return
	end

	local dir, pki
	lazy_setup(function()
		dir = H.tmpdir()
		pki = make_pki(dir)
	end)
	lazy_teardown(function() H.rmdir(dir) end)

	for _, version in ipairs(VERSIONS) do
		-- A connected mutls client (LuaSocket fd, 10 s timeout).
		local function connect(n, identity, hostname)
			local cfg = H.config(identity, pki.ca, { versions = { version } })
			local sock = H.connect(n.port)
			local c = assert(cfg:client { fd = sock:getfd(), server_hostname = hostname or SERVER_NAME, timeout = 10 })
			return c, sock
		end

		-- everything a cell started is released by one cleanup list
		local cell, on_exit = H.cell_runner(function(fn) finally(fn) end)

		local function handshake_and_get(n, identity)
			local c, sock = connect(n, identity)
			on_exit(function() c:destroy(); sock:close() end)
			assert.is_true(c:handshake())
			-- mutls verified nginx in every case; nginx refuses over HTTP
			assert.is_true(c.verified)
			assert.equal("TLSv" .. version, c.version)
			assert.equal(pki.server.certificate:fingerprint("sha256"), c.peer_certificate:fingerprint("sha256"))
			local response = get(c)
			local status = response:match("^([^\r]*)\r\n")
			local body = response:match("\r\n\r\n(.*)$")
			return status, body, response
		end

		it("ok: nginx reports SUCCESS and our DN, TLS " .. version, cell(function()
			local n = start_nginx(dir, pki, version, "server")
			on_exit(function() stop_nginx(n) end)
			local status, body, response = handshake_and_get(n, pki.client)
			assert.equal("HTTP/1.1 200 OK", status, response)
			assert.equal("dn=" .. pki.client.certificate.subject .. " verify=SUCCESS\n", body)
			assert.equal("CN=nginx client", pki.client.certificate.subject)
			local log = H.read(n.error_log) or ""
			assert.is_nil(log:find("verify error", 1, true), log)
			assert.is_nil(log:find("no required SSL certificate", 1, true), log)
		end))

		it("no client certificate: HTTP 400 'No required SSL certificate was sent', TLS " .. version, cell(function()
			local n = start_nginx(dir, pki, version, "server")
			on_exit(function() stop_nginx(n) end)
			local status, body, response = handshake_and_get(n, nil)
			assert.equal("HTTP/1.1 400 Bad Request", status, response)
			assert.truthy(body:find("<title>400 No required SSL certificate was sent</title>", 1, true), response)
			local log = H.wait_for(n.error_log, "client sent no required SSL certificate", 5)
			assert.truthy(log:find("[info]", 1, true), log)
			assert.truthy(log:find("client sent no required SSL certificate while reading client request headers", 1, true), log)
		end))

		it("client certificate from an untrusted CA: HTTP 400 'The SSL certificate error', TLS " .. version, cell(function()
			local n = start_nginx(dir, pki, version, "server")
			on_exit(function() stop_nginx(n) end)
			local status, body, response = handshake_and_get(n, pki.stranger)
			assert.equal("HTTP/1.1 400 Bad Request", status, response)
			assert.truthy(body:find("<title>400 The SSL certificate error</title>", 1, true), response)
			local log = H.wait_for(n.error_log, "client SSL certificate verify error", 5)
			assert.truthy(log:find("client SSL certificate verify error: (21:unable to verify the first certificate)", 1, true), log)
		end))

		it("server certificate with the wrong name: verify-failed / name-mismatch, TLS " .. version, cell(function()
			local n = start_nginx(dir, pki, version, "wrong_server")
			on_exit(function() stop_nginx(n) end)
			local c, sock = connect(n, pki.client)
			on_exit(function() c:destroy(); sock:close() end)
			local ok, err = c:handshake()
			assert.is_nil(ok)
			H.expect_error(err, "verify-failed", { "name-mismatch" }, "local", "server-certificate", "bad_certificate")
			assert.equal(pki.wrong_server.certificate:fingerprint("sha256"), err.peer_certificate:fingerprint("sha256"))
			assert.truthy(tostring(err):find('"localhost"', 1, true), tostring(err))
			assert.truthy(tostring(err):find("wrong.example", 1, true), tostring(err))
			assert.is_false(c.verified)
			local log = H.wait_for(n.error_log, "SSL alert number 42", 5)
			assert.truthy(log:find("SSL_do_handshake() failed", 1, true), log)
			assert.truthy(log:find("alert bad certificate:SSL alert number 42", 1, true), log)
		end))
	end
end)
