-- mutls.config{...}: every bad input is nil, err (code "config") naming the
-- file or field; files, directories, encrypted keys and password functions
-- load; wrong argument types raise. Mirrors tests/c/test_config.c.
local H = require "helpers"
local mutls = H.mutls

local function expect_config_error(cfg, err, fragment)
	assert.is_nil(cfg)
	H.expect_error(err, "config", {}, nil, nil, nil)
	assert.is_true(H.contains(err.message, fragment), err.message)
end

describe("config", function()
	local pki, dir
	before_each(function()
		pki = H.pki()
		dir = H.tmpdir()
	end)
	after_each(function()
		H.rmdir(dir)
	end)

	it("identity from files (write_to)", function()
		local paths = assert(pki.server:write_to(dir))
		assert.equal(dir .. "/cert.pem", paths.cert)
		assert.equal(dir .. "/chain.pem", paths.chain)
		assert.equal(dir .. "/key.pem", paths.key)
		local cfg = assert(mutls.config { certificate = paths.chain, private_key = paths.key, trust = pki.ca.cert_pem })
		assert.is_true(cfg.has_identity)
		local p = H.run(H.config(pki.client, pki.ca), "orders.internal", cfg)
		assert.equal("ok", p.cstate)
	end)

	it("identity from PEM text, and identity=", function()
		local cfg = assert(mutls.config { certificate = pki.client.chain_pem, private_key = pki.client.key_pem })
		assert.is_true(cfg.has_identity)
		assert.is_true(assert(mutls.config { identity = pki.client }).has_identity)
		assert.is_false(assert(mutls.config {}).has_identity)
		assert.is_false(assert(mutls.config()).has_identity)
	end)

	it("a missing certificate file is named", function()
		local cfg, err = mutls.config { certificate = "/nonexistent/orders.pem", private_key = "/nonexistent/key.pem" }
		expect_config_error(cfg, err, "/nonexistent/orders.pem")
		assert.is_true(H.contains(err.message, "No such file"))
	end)

	it("a malformed certificate PEM", function()
		local pem = pki.server.cert_pem
		local nl = pem:find("\n")
		local broken = pem:sub(1, nl + 9) .. "!!!!" .. pem:sub(nl + 14)
		local cfg, err = mutls.config { certificate = broken, private_key = pki.server.key_pem }
		expect_config_error(cfg, err, "certificate: not a readable certificate")
		cfg, err = mutls.config { certificate = pki.server.key_pem, private_key = pki.server.key_pem }
		expect_config_error(cfg, err, 'no "-----BEGIN CERTIFICATE-----"')
	end)

	it("an unreadable key file is named", function()
		local key = H.write(dir .. "/key.pem", "-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n")
		local cfg, err = mutls.config { certificate = pki.server.cert_pem, private_key = key }
		expect_config_error(cfg, err, key)
		assert.is_true(H.contains(err.message, "not a readable private key"))
	end)

	it("a key that does not match the certificate", function()
		local cfg, err = mutls.config { certificate = pki.server.cert_pem, private_key = pki.client.key_pem }
		expect_config_error(cfg, err, "the private key does not match the certificate CN=orders")
	end)

	it("an encrypted key: right, wrong and missing password", function()
		local enc = pki.server:encrypted_key_pem("s3cret")
		assert.is_true(H.contains(enc, "ENCRYPTED PRIVATE KEY"))
		local cfg, err = mutls.config { certificate = pki.server.chain_pem, private_key = enc, password = "wrong" }
		expect_config_error(cfg, err, "wrong password for the encrypted private key")
		cfg, err = mutls.config { certificate = pki.server.chain_pem, private_key = enc }
		expect_config_error(cfg, err, "the private key is encrypted and no password was given")
		assert(mutls.config { certificate = pki.server.chain_pem, private_key = enc, password = "s3cret" })
	end)

	it("a password function", function()
		local enc = pki.client:encrypted_key_pem("s3cret")
		local calls, asked = 0, nil
		local cfg = assert(mutls.config { certificate = pki.client.chain_pem, private_key = enc,
			password = function(what) calls = calls + 1; asked = what; return "s3cret" end })
		assert.equal(1, calls)
		assert.equal("string", type(asked))
		assert.is_true(cfg.has_identity)
		-- refusing (nil), failing (error) and yielding functions are config errors
		local err
		cfg, err = mutls.config { certificate = pki.client.chain_pem, private_key = enc, password = function() return nil end }
		expect_config_error(cfg, err, "the password callback gave no password")
		cfg, err = mutls.config { certificate = pki.client.chain_pem, private_key = enc, password = function() error("vault is sealed") end }
		expect_config_error(cfg, err, "vault is sealed")
		local co = coroutine.create(function()
			return mutls.config { certificate = pki.client.chain_pem, private_key = enc,
				password = function() coroutine.yield("x"); return "s3cret" end }
		end)
		local ok, c2, e2 = coroutine.resume(co)
		assert.is_true(ok)
		assert.is_nil(c2)
		expect_config_error(c2, e2, "yield")
		cfg, err = mutls.config { certificate = pki.client.chain_pem, private_key = enc, password = function() return "nope" end }
		expect_config_error(cfg, err, "wrong password")
	end)

	it("trust from a file, a directory, a certificate, a testca, an array, and system", function()
		local file = H.write(dir .. "/ca.pem", pki.ca.cert_pem)
		local scfg = H.config(pki.server, nil, { trust = dir })
		for _, trust in ipairs { file, pki.ca.cert_pem, pki.ca.certificate, pki.ca, { mutls.testca {}, pki.ca } } do
			local ccfg = H.config(pki.client, nil, { trust = trust })
			local p = H.run(ccfg, "orders.internal", scfg)
			assert.equal("ok", p.cstate)
			assert.equal("ok", p.sstate)
		end
		local f = io.open("/etc/ssl/certs/ca-certificates.crt")
		if f then
			f:close()
			assert(mutls.config { trust = "system" })
			assert(mutls.config { trust = { "system", pki.ca } })
		end
	end)

	it("bad trust and CRL sources", function()
		local cfg, err = mutls.config { trust = "/nonexistent/ca.pem" }
		expect_config_error(cfg, err, "/nonexistent/ca.pem")
		cfg, err = mutls.config { trust = dir }
		expect_config_error(cfg, err, "no PEM certificates in the directory")
		cfg, err = mutls.config { trust = "" }
		expect_config_error(cfg, err, "trust: empty value")
		cfg, err = mutls.config { trust = pki.client.key_pem }
		expect_config_error(cfg, err, 'no "-----BEGIN CERTIFICATE-----"')
		-- a CRL needs its CA trusted
		local other = mutls.testca {}
		cfg, err = mutls.config { trust = pki.ca, crl = other.crl_pem }
		expect_config_error(cfg, err, "not signed by a trusted CA")
		cfg, err = mutls.config { trust = pki.ca, crl = pki.ca.cert_pem }
		expect_config_error(cfg, err, 'no "-----BEGIN X509 CRL-----"')
		-- CRLs as a path, a testca and an array
		local crlfile = H.write(dir .. "/ca.crl", pki.ca.crl_pem)
		assert(mutls.config { trust = pki.ca, crl = crlfile })
		assert(mutls.config { trust = pki.ca, crl = pki.ca })
		assert(mutls.config { trust = { pki.ca, other }, crl = { pki.ca.crl_pem, other } })
	end)

	it("bad versions, priority, ALPN and peer patterns", function()
		local cfg, err = mutls.config { versions = { "1.1" } }
		expect_config_error(cfg, err, '"1.1" is not supported')
		cfg, err = mutls.config { versions = {} }
		expect_config_error(cfg, err, "versions: the list is empty")
		assert(mutls.config { versions = { "1.2", "1.3" } })
		assert(mutls.config { versions = "1.3" })
		cfg, err = mutls.config { priority = "NORMAL:+BOGUS-THING" }
		expect_config_error(cfg, err, "BOGUS-THING")
		assert(mutls.config { priority = "SECURE256:+SECURE128" })
		cfg, err = mutls.config { alpn = { "" } }
		expect_config_error(cfg, err, "alpn: protocol 1")
		for _, bad in ipairs { "payments", "dns:", "dns:*", "dns:a.*.b", "ip:10.0.0.300", "ip:",
			"uri:", "uri:spiffe://*/x", "cn:", "sha256:abc", "sha256:zz", "email:x@y@example.org", "email:",
			"email:@*.example.org", "mail:x@example.org" } do
			cfg, err = mutls.config { peers = { bad } }
			expect_config_error(cfg, err, bad)
		end
	end)

	it("a keylog file that cannot be opened", function()
		local cfg, err = mutls.config { keylog = "/nonexistent/dir/keys.log" }
		expect_config_error(cfg, err, "/nonexistent/dir/keys.log")
	end)

	it("an unknown peer_certificate word is a config error (as in Python), not a raise", function()
		local cfg, err = mutls.config { peer_certificate = "maybe" }
		expect_config_error(cfg, err, 'peer_certificate: expected "require", "request", "none" or "observe", not "maybe"')
	end)

	it("wrong argument types and unknown options raise", function()
		local cases = {
			{ trust = 42 }, { trust = { { pki.ca } } }, { crl = true }, { peers = 7 }, { peers = { 1 } },
			{ peer_certificate = 1 }, { check_hostname = "no" },
			{ session_tickets = 1 }, { versions = 13 }, { alpn = { 2 } }, { priority = {} },
			{ verify_hook = "yes" }, { trace = true }, { keylog = 5 }, { password = 5, certificate = "a", private_key = "b" },
			{ identity = "me" }, { identity = pki.client, certificate = "x", private_key = "y" },
			{ private_key = "x" }, { password = "p" }, { sertificate = "typo" }, { [1] = "positional" },
		}
		for i, opts in ipairs(cases) do
			local ok = pcall(mutls.config, opts)
			assert(not ok, "case " .. i .. " did not raise")
		end
		assert.has_error(function() mutls.config("text") end)
	end)

	it("a config reads back what it was given", function()
		local hook = function() return true end
		local cfg = assert(mutls.config { identity = pki.server, trust = pki.ca, peer_certificate = "request", verify_hook = hook })
		assert.equal("request", cfg.peer_certificate)
		assert.equal(hook, cfg.verify_hook)
		assert.is_nil(cfg.trace)
		assert.equal("require", assert(mutls.config {}).peer_certificate)
		assert.is_true(H.contains(tostring(cfg), "mutls.Config"))
	end)

	it("one config serves both roles and many sessions", function()
		local a = H.config(pki.server, pki.ca)
		local both = pki.ca:issue { cn = "svc", dns = { "svc.internal" }, purpose = "both" }
		local cfg = H.config(both, pki.ca)
		for _ = 1, 3 do
			local p = H.run(cfg, "svc.internal", cfg)
			assert.equal("ok", p.cstate)
			assert.equal("ok", p.sstate)
			assert.equal(p.c.config, cfg)
			assert.equal(p.s.config, cfg)
		end
		assert(a)
	end)

	it("a certificate without private_key names the certificate", function()
		local cfg, err = mutls.config { certificate = pki.server.chain_pem }
		expect_config_error(cfg, err, "private_key: no private key was given for certificate CN=orders")
		local file = H.write(dir .. "/cert.pem", pki.client.cert_pem)
		cfg, err = mutls.config { certificate = file }
		expect_config_error(cfg, err, "no private key was given for certificate CN=payments")
		-- the key in the certificate's own PEM needs no private_key
		assert.is_true(assert(mutls.config { certificate = pki.server.chain_pem .. pki.server.key_pem }).has_identity)
		local both = H.write(dir .. "/both.pem", pki.server.chain_pem .. pki.server.key_pem)
		assert.is_true(assert(mutls.config { certificate = both }).has_identity)
		assert.has_error(function() mutls.config { private_key = pki.server.key_pem } end,
			"mutls.config: 'private_key' needs 'certificate'")
	end)

	for _, side in ipairs { "client", "server" } do
		it("no trust anchors are said at handshake time (" .. side .. " without trust)", function()
			local ccfg = H.config(pki.client, side ~= "client" and pki.ca or nil)
			local scfg = H.config(pki.server, side ~= "server" and pki.ca or nil)
			local p = H.run(ccfg, "orders.internal", scfg)
			local err = side == "client" and p.cerr or p.serr
			H.expect_error(err, "verify-failed", { "unknown-issuer" }, false, false, false)
			local peer = side == "client" and "server certificate CN=orders" or "client certificate CN=payments"
			assert.is_true(H.contains(err.message, peer .. " could not be checked: no trust anchors were configured"),
				err.message)
		end)
	end
end)
