-- mutls.https: LuaSec's ssl.https.request shapes over mutls.socket, against
-- real HTTPS servers that require client certificates:
--
--   Python's ssl (tests/lua/py_https_server.py, ssl.CERT_REQUIRED): the
--   simple and generic forms, a sink and a source (Content-Length and
--   chunked), a client from https.new, same-host redirects followed, a
--   redirect to another host refused before connecting, http:// refused, and
--   the refusals with their mutls sentence: no client certificate (TLS 1.3:
--   after the handshake; TLS 1.2: in it), unknown CA, wrong name, peers=.
--   nginx (ssl_verify_client on): ok; our certificate refused (nginx answers
--   "400 The SSL certificate error" over TLS); wrong server name.
--   examples/lua/https_client.lua run against the Python server.
--
-- Every server binds 127.0.0.1 port 0 (nginx: a free port), runs under
-- `timeout` and is stopped by the spec.
local H = require "helpers"
local mutls = H.mutls

local have_socket, https = pcall(require, "mutls.https")
local ltn12 = have_socket and require "ltn12"

local ROOT = (debug.getinfo(1, "S").source:match("^@(.*)/tests/lua/[^/]*$")) or "."
local SERVER = ROOT .. "/tests/lua/py_https_server.py"

-- Starts py_https_server.py; { proc, port, log }.
local function start_python(dir, files, ca_file, tag)
	local port_file = dir .. "/port-" .. tag
	local log = dir .. "/py-" .. tag .. ".log"
	local cmd = ("%s %s --ca %s --cert %s --key %s --port-file %s --timeout 60"):format(
		H.shquote(H.python()), H.shquote(SERVER), H.shquote(ca_file), H.shquote(files.chain),
		H.shquote(files.key), H.shquote(port_file))
	local proc = H.start(cmd, { log = log, timeout = 65 })
	local port = H.wait_match(port_file, "^(%d+)\n", 10)
	if not port then
		H.stop(proc)
		error("the Python HTTPS server did not start: " .. (H.read(log) or ""))
	end
	return { proc = proc, port = tonumber(port), log = log }
end

local function count(text, needle)
	local n, from = 0, 1
	while true do
		local i = text:find(needle, from, true)
		if not i then return n end
		n, from = n + 1, i + #needle
	end
end

describe("mutls.https against Python ssl (client certificate required)", function()
	if not have_socket or not H.python() then
		it("LuaSocket and python3 are needed", function() pending("lua-socket or python3 is missing") end)
		return
	end

	local dir, pki, py, base, cfg
	lazy_setup(function()
		dir = H.tmpdir()
		pki = H.pki()
		local files = assert(pki.server:write_to(dir))
		local ca_file = H.write(dir .. "/ca.pem", pki.ca.cert_pem)
		py = start_python(dir, files, ca_file, "main")
		base = "https://127.0.0.1:" .. py.port
		cfg = H.config(pki.client, pki.ca)
	end)
	lazy_teardown(function()
		if py then H.stop(py.proc) end
		https.config = nil
		if dir then H.rmdir(dir) end
	end)
	before_each(function() https.config = nil end)

	it("simple form: body, code, headers, status with the module's config", function()
		https.config = cfg
		local body, code, headers, status = https.request(base .. "/hello")
		assert.equal("hello payments", body)
		assert.equal(200, code)
		assert.equal("14", headers["content-length"])
		assert.equal("HTTP/1.1 200 OK", status)
	end)

	it("simple form with a body: a form POST with Content-Length", function()
		https.config = cfg
		local body, code = https.request(base .. "/echo", "a=1&b=2")
		assert.equal(200, code)
		assert.equal("POST 7 a=1&b=2", body)
	end)

	it("generic form: config in the table, a table sink, 1 returned", function()
		local t = {}
		local r, code, headers, status = https.request {
			url = base .. "/big?n=300000", config = cfg, sink = ltn12.sink.table(t),
		}
		assert.equal(1, r)
		assert.equal(200, code)
		assert.equal("300000", headers["content-length"])
		assert.equal("HTTP/1.1 200 OK", status)
		local got = table.concat(t)
		assert.equal(300000, #got)
		assert.equal(("0123456789"):rep(30000), got)
	end)

	it("generic form: a string source without Content-Length goes chunked", function()
		local payload = ("mutls "):rep(20000)
		local t = {}
		local r, code = https.request {
			url = base .. "/echo", config = cfg, method = "POST",
			source = ltn12.source.string(payload), sink = ltn12.sink.table(t),
		}
		assert.equal(1, r)
		assert.equal(200, code)
		assert.equal("POST chunked " .. payload, table.concat(t))
	end)

	it("the caller's table is not changed and can be sent again", function()
		local t = {}
		local req = { url = base .. "/hello", config = cfg, sink = ltn12.sink.table(t) }
		assert.equal(1, (https.request(req)))
		assert.is_nil(req.create)
		assert.equal(1, (https.request(req)))
		assert.equal("hello paymentshello payments", table.concat(t))
	end)

	it("https.new: a client with defaults, called as client.request and client:request", function()
		local client = https.new { config = cfg, timeout = 10 }
		assert.equal("hello payments", (client.request(base .. "/hello")))
		assert.equal("hello payments", (client:request(base .. "/hello")))
		local t = {}
		assert.equal(1, (client:request { url = base .. "/echo", method = "POST",
			source = ltn12.source.string("x"), headers = { ["content-length"] = 1 }, sink = ltn12.sink.table(t) }))
		assert.equal("POST 1 x", table.concat(t))
		assert.has_error(function() https.new { config = cfg, sever_hostname = "x" } end,
			"bad argument #1 to 'new' (unknown option 'sever_hostname')")
	end)

	it("a same-host redirect is followed (relative and absolute Location); redirect = false returns it", function()
		https.config = cfg
		local body, code, headers = https.request(base .. "/redirect-same")
		assert.equal("hello payments", body)
		assert.equal(200, code)
		assert.equal("/hello", headers.location)
		body, code = https.request(base .. "/redirect-abs")
		assert.equal("hello payments", body)
		assert.equal(200, code)
		local t = {}
		local r, c, h = https.request { url = base .. "/redirect-same", redirect = false, sink = ltn12.sink.table(t) }
		assert.equal(1, r)
		assert.equal(302, c)
		assert.equal("/hello", h.location)
		assert.equal("moved", table.concat(t))
	end)

	it("a redirect to http:// is not followed: the 302 is the result", function()
		https.config = cfg
		local body, code, headers = https.request(base .. "/redirect-http")
		assert.equal("moved", body)
		assert.equal(302, code)
		assert.equal("http://127.0.0.1:" .. py.port .. "/hello", headers.location)
	end)

	it("a redirect to another host is refused before connecting to it", function()
		https.config = cfg
		local before = count(H.read(py.log) or "", "GET /hello ")
		local body, err = https.request(base .. "/redirect-other")
		assert.is_nil(body)
		assert.equal("mutls.https: redirect to another host refused (from 127.0.0.1 to localhost)", err)
		-- the redirect target is this very server under another name: nothing reached it
		H.sleep(0.1)
		local log = H.read(py.log) or ""
		assert.truthy(log:find("GET /redirect-other payments", 1, true), log)
		assert.equal(before, count(log, "GET /hello "))
	end)

	it("https.tcp as socket.http's create=: connections go to the first host only", function()
		local http = require "socket.http"
		local t = {}
		local r, code = http.request { url = base .. "/hello", scheme = "https",
			create = https.tcp { config = cfg }, sink = ltn12.sink.table(t) }
		assert.equal(1, r)
		assert.equal(200, code)
		assert.equal("hello payments", table.concat(t))
		-- socket.http follows this redirect itself, with our create: refused
		r, code = http.request { url = base .. "/redirect-other", scheme = "https",
			create = https.tcp { config = cfg }, sink = ltn12.sink.null() }
		assert.is_nil(r)
		assert.equal("mutls.https: connection to another host refused (from 127.0.0.1 to localhost)", code)
	end)

	it("refuses http:// URLs, proxies, create= and a missing config", function()
		https.config = cfg
		local body, err = https.request("http://127.0.0.1:" .. py.port .. "/hello")
		assert.is_nil(body)
		assert.equal("mutls.https: only https:// URLs are supported (got 'http://')", err)
		assert.same({ nil, "create function not permitted" },
			{ https.request { url = base .. "/hello", create = function() end } })
		assert.same({ nil, "proxy not supported" },
			{ https.request { url = base .. "/hello", proxy = "http://127.0.0.1:3128" } })
		https.config = nil
		assert.has_error(function() https.request(base .. "/hello") end,
			"mutls.https: no config: pass config = mutls.config{...} in the request or set https.config")
	end)

	it("bad arguments raise or return what was wrong", function()
		assert.has_error(function() https.request(42) end,
			"bad argument #1 to 'request' (url string or request table expected, got number)")
		assert.same({ nil, "mutls.https: the request needs url = \"https://...\" (got nil)" },
			{ https.request { config = cfg } })
		assert.same({ nil, "mutls.https: only https:// URLs are supported (got no scheme)" },
			{ https.request { url = "127.0.0.1/hello", config = cfg } })
		assert.has_error(function() https.request { url = base, config = cfg, timeout = "5" } end,
			"mutls.https: timeout must be seconds")
		assert.has_error(function() https.new(cfg) end, "bad argument #1 to 'new' (options table expected)")
	end)

	it("a silent server: the request ends with timeout, bounded", function()
		-- listening, never accepting: TCP connects, the handshake gets no answer
		local srv, port = H.listen()
		finally(function() srv:close() end)
		local t0 = H.socket.gettime()
		local body, err = https.request { url = "https://127.0.0.1:" .. port .. "/", config = cfg, timeout = 0.3 }
		local took = H.socket.gettime() - t0
		assert.is_nil(body)
		assert.equal("timeout", err)
		assert.is_true(took >= 0.25 and took < 5, "took " .. took)
	end)

	it("no client certificate, TLS 1.3: peer-rejected (certificate_required) on the first read", function()
		local body, err = https.request { url = base .. "/hello", config = H.config(nil, pki.ca),
			sink = ltn12.sink.null() }
		assert.is_nil(body)
		H.expect_error(err, "peer-rejected", nil, "peer", false, "certificate_required")
		assert.equal("peer required a certificate, but we sent none (alert certificate_required)", tostring(err))
	end)

	it("no client certificate, TLS 1.2: peer-rejected in the handshake", function()
		local body, err = https.request { url = base .. "/hello",
			config = H.config(nil, pki.ca, { versions = { "1.2" } }) }
		assert.is_nil(body)
		H.expect_error(err, "peer-rejected", nil, "peer", false, false)
		assert.truthy(tostring(err):find("peer", 1, true), tostring(err))
	end)

	it("server from an unknown CA: verify-failed / unknown-issuer with the sentence", function()
		local other = mutls.testca { name = "another root" }
		local body, err = https.request { url = base .. "/hello", config = H.config(pki.client, other) }
		assert.is_nil(body)
		H.expect_error(err, "verify-failed", { "unknown-issuer" }, "local", "server-certificate", "unknown_ca")
		assert.equal("server certificate CN=orders was issued by an unknown CA (issuer CN=mutls test root)", tostring(err))
	end)

	it("wrong name: verify-failed / name-mismatch naming what the certificate names", function()
		local body, err = https.request { url = base .. "/hello", config = cfg, server_hostname = "wrong.example" }
		assert.is_nil(body)
		H.expect_error(err, "verify-failed", { "name-mismatch" }, "local", "server-certificate", "bad_certificate")
		assert.truthy(tostring(err):find('does not match the name "wrong.example"', 1, true), tostring(err))
	end)

	it("server_hostname names the host checked when the URL has an IP", function()
		local body, code = https.request { url = base .. "/hello", config = cfg, server_hostname = "orders.internal",
			sink = ltn12.sink.null() }
		assert.equal(1, body)
		assert.equal(200, code)
	end)

	it("peers= policy mismatch: verify-failed / policy", function()
		local body, err = https.request { url = base .. "/hello",
			config = H.config(pki.client, pki.ca, { peers = { "dns:billing.internal" } }) }
		assert.is_nil(body)
		H.expect_error(err, "verify-failed", { "policy" }, "local", "server-certificate", "access_denied")
		assert.truthy(tostring(err):find("allowed: dns:billing.internal", 1, true), tostring(err))
	end)

	it("examples/lua/https_client.lua runs against the server", function()
		assert(H.sh("mkdir -p " .. H.shquote(dir .. "/client")))
		local files = assert(pki.client:write_to(dir .. "/client"))
		-- the same interpreter (MUTLS_LUA: scripts/sanitize-bindings' launcher)
		local interp = os.getenv("MUTLS_LUA") or (rawget(_G, "jit") and "luajit" or "lua5.4")
		local function run(url, extra)
			local out = dir .. "/example.out"
			local cmd = ("cd %s && LUA_CPATH=%s LUA_PATH=%s timeout 30 %s examples/lua/https_client.lua %s --cert %s --key %s --ca %s %s >%s 2>&1; echo $?")
				:format(H.shquote(ROOT), H.shquote(package.cpath), H.shquote(package.path), H.shquote(interp), H.shquote(url),
					H.shquote(files.chain), H.shquote(files.key), H.shquote(dir .. "/ca.pem"), extra or "", H.shquote(out))
			local f = assert(io.popen(cmd))
			local rc = tonumber(f:read("*l"))
			f:close()
			return rc, H.read(out) or ""
		end
		local rc, out = run(base .. "/echo", "--data 'a=1'")
		assert.equal(0, rc, out)
		assert.equal("HTTP/1.1 200 OK\nPOST 3 a=1", out)
		rc, out = run(base .. "/hello", "--server-hostname wrong.example")
		assert.equal(1, rc, out)
		assert.truthy(out:find('refused (verify-failed): server certificate CN=orders does not match the name "wrong.example"', 1, true), out)
	end)
end)

-- nginx with ssl_verify_client on (Debian's nginx, no Lua module), one
-- process under a temporary prefix on a free 127.0.0.1 port
-- (H.nginx_start, as interop_nginx_spec.lua).
local NGINX = H.NGINX

local NGINX_CONF = [[
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
        location / {
            default_type text/plain;
            return 200 "dn=$ssl_client_s_dn verify=$ssl_client_verify method=$request_method length=$content_length\n";
        }
        location = /moved {
            return 302 /;
        }
    }
}
]]

local function start_nginx(dir, files, ca_file, version)
	return H.nginx_start(dir, version, NGINX_CONF, { CERT = files.chain, KEY = files.key, CA = ca_file,
		VERSION = version })
end

describe("mutls.https against nginx (ssl_verify_client on)", function()
	if not have_socket or not NGINX then
		it("nginx and LuaSocket are needed", function() pending("nginx or lua-socket is missing") end)
		return
	end

	local dir, pki, stranger, ca_file, files
	lazy_setup(function()
		dir = H.tmpdir()
		pki = H.pki()
		stranger = mutls.testca { name = "stranger CA" }:issue { cn = "stranger", purpose = "client" }
		files = assert(pki.server:write_to(dir))
		ca_file = H.write(dir .. "/ca.pem", pki.ca.cert_pem)
	end)
	lazy_teardown(function() if dir then H.rmdir(dir) end end)

	local cell, on_exit = H.cell_runner(function(fn) finally(fn) end)

	for _, version in ipairs { "1.2", "1.3" } do
		local function nginx()
			local n = start_nginx(dir, files, ca_file, version)
			on_exit(function() H.stop(n.proc) end)
			return n
		end
		local function config(id, extra)
			local opts = { versions = { version } }
			for k, v in pairs(extra or {}) do opts[k] = v end
			return H.config(id, pki.ca, opts)
		end

		it("ok: simple GET, a POST with a source, a same-host redirect, TLS " .. version, cell(function()
			local n = nginx()
			local client = https.new { config = config(pki.client), timeout = 10 }
			local base = "https://localhost:" .. n.port
			local body, code, headers = client.request(base .. "/")
			assert.equal(200, code)
			assert.equal("dn=CN=payments verify=SUCCESS method=GET length=\n", body)
			assert.equal("text/plain", headers["content-type"])
			local t = {}
			local r
			r, code = client.request { url = base .. "/", method = "POST", sink = ltn12.sink.table(t),
				source = ltn12.source.string("hello nginx"), headers = { ["content-length"] = 11 } }
			assert.equal(1, r)
			assert.equal(200, code)
			assert.equal("dn=CN=payments verify=SUCCESS method=POST length=11\n", table.concat(t))
			body, code, headers = client.request(base .. "/moved")
			assert.equal(200, code)
			assert.equal("dn=CN=payments verify=SUCCESS method=GET length=\n", body)
			assert.equal("https://localhost:" .. n.port .. "/", headers.location)
		end))

		it("our certificate from a CA nginx does not trust: nginx answers 400 over TLS, TLS " .. version, cell(function()
			local n = nginx()
			local body, code = https.request { url = "https://localhost:" .. n.port .. "/",
				config = config(stranger), sink = ltn12.sink.null() }
			-- nginx lets the handshake finish and refuses at the HTTP level
			assert.equal(1, body)
			assert.equal(400, code)
			local t = {}
			body, code = https.request { url = "https://localhost:" .. n.port .. "/",
				config = config(stranger), sink = ltn12.sink.table(t) }
			assert.equal(400, code)
			assert.truthy(table.concat(t):find("<title>400 The SSL certificate error</title>", 1, true), table.concat(t))
			local log = H.wait_for(n.error_log, "client SSL certificate verify error", 5)
			assert.truthy(log:find("client SSL certificate verify error", 1, true), log)
		end))

		it("no client certificate: nginx answers 400 'No required SSL certificate was sent', TLS " .. version, cell(function()
			local n = nginx()
			local t = {}
			local r, code = https.request { url = "https://localhost:" .. n.port .. "/",
				config = config(nil), sink = ltn12.sink.table(t) }
			assert.equal(1, r)
			assert.equal(400, code)
			local body = table.concat(t)
			assert.truthy(body:find("<title>400 No required SSL certificate was sent</title>", 1, true), body)
			local log = H.wait_for(n.error_log, "client sent no required SSL certificate", 5)
			assert.truthy(log:find("client sent no required SSL certificate", 1, true), log)
		end))

		it("nginx's certificate does not name the host: verify-failed / name-mismatch, TLS " .. version, cell(function()
			local n = nginx()
			local body, err = https.request { url = "https://localhost:" .. n.port .. "/",
				config = config(pki.client), server_hostname = "billing.internal" }
			assert.is_nil(body)
			H.expect_error(err, "verify-failed", { "name-mismatch" }, "local", "server-certificate", "bad_certificate")
			assert.truthy(tostring(err):find('"billing.internal"', 1, true), tostring(err))
			local log = H.wait_for(n.error_log, "SSL alert number 42", 5)
			assert.truthy(log:find("alert bad certificate:SSL alert number 42", 1, true), log)
		end))

		it("peers= policy refuses nginx's identity: verify-failed / policy, TLS " .. version, cell(function()
			local n = nginx()
			local body, err = https.request { url = "https://localhost:" .. n.port .. "/",
				config = config(pki.client, { peers = { "uri:spiffe://example.org/orders" } }) }
			assert.is_nil(body)
			H.expect_error(err, "verify-failed", { "policy" }, "local", "server-certificate", "access_denied")
			assert.truthy(tostring(err):find("allowed: uri:spiffe://example.org/orders", 1, true), tostring(err))
		end))
	end
end)
