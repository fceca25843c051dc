-- Strings with an embedded NUL (issue 11, defect 9). C reads a string up to
-- its first NUL, so "orders.internal\0.attacker.example" would be checked as
-- "orders.internal" and "dns:*.svc.local\0.payments" would widen to every
-- name under svc.local. Every string option that goes into C is refused,
-- as Python refuses it: nil, err with code "config" naming the option, like
-- any bad input, never echoing the value. Binary values
-- (session_data, certificate_from_der, send/feed data, the exporter
-- context) keep their NULs. Mirrors tests/python/test_nul.py.
local H = require "helpers"
local mutls = H.mutls

local EVIL = ".attacker.example"

-- Calls fn(...) and checks it returned nil, err (code "config") naming `what`.
local function refused(what, fn, ...)
	local ok, res, err = pcall(fn, ...)
	assert(ok, "raised: " .. tostring(res))
	assert(res == nil, what .. " with a NUL was accepted")
	H.expect_error(err, "config", {}, nil, nil, nil)
	assert.is_true(H.contains(err.message, what .. ": "), err.message)
	assert.is_true(H.contains(err.message, "contains a NUL"), err.message)
	assert.is_false(H.contains(err.message, EVIL), "the value was echoed: " .. err.message)
	return err.message
end

describe("strings with an embedded NUL", function()
	local pki
	before_each(function() pki = H.pki() end)

	it("server_hostname is refused (it would be checked as the name before the NUL)", function()
		local ccfg = H.config(pki.client, pki.ca)
		local err = refused("server_hostname", ccfg.client, ccfg, { server_hostname = "orders.internal\0" .. EVIL })
		assert.equal("server_hostname: the value contains a NUL character", err)
		-- the same name without the tail still connects
		local p = H.run(ccfg, "orders.internal", H.config(pki.server, pki.ca))
		assert.equal("ok", p.cstate, tostring(p.cerr))
	end)

	it("peers patterns are refused, not shortened (widened)", function()
		refused("peers", mutls.config, { identity = pki.server, trust = pki.ca,
			peers = "uri:spiffe://example.org/*\0/payments" })
		local err = refused("peers", mutls.config, { identity = pki.server, trust = pki.ca,
			peers = { "uri:spiffe://example.org/payments", "dns:*.internal\0" .. EVIL } })
		assert.is_true(H.contains(err, "peers: item 2 contains a NUL character"), err)
		-- offline verification takes the same patterns
		refused("peers", pki.server.certificate.verify, pki.server.certificate,
			{ trust = pki.ca, peers = { "dns:*.internal\0" .. EVIL } })
	end)

	it("peer_certificate, priority, versions, alpn, keylog and password", function()
		local base = function(extra)
			local o = { identity = pki.server, trust = pki.ca }
			for k, v in pairs(extra) do o[k] = v end
			return o
		end
		-- "none\0..." compared as "none" would turn verification off
		refused("peer_certificate", mutls.config, base { peer_certificate = "none\0" .. EVIL })
		refused("priority", mutls.config, base { priority = "NORMAL\0" .. EVIL })
		refused("versions", mutls.config, base { versions = { "1.3\0" .. EVIL } })
		refused("alpn", mutls.config, base { alpn = { "h2", "http/1.1\0" .. EVIL } })
		refused("keylog", mutls.config, base { keylog = "/tmp/keys\0" .. EVIL })
		local enc = pki.server:encrypted_key_pem("s3cret")
		refused("password", mutls.config, { certificate = pki.server.chain_pem, private_key = enc,
			password = "s3cret\0" .. EVIL })
		-- a password function's answer: a config error (the function ran)
		local cfg, err = mutls.config { certificate = pki.server.chain_pem, private_key = enc,
			password = function() return "s3cret\0" .. EVIL end }
		assert.is_nil(cfg)
		assert.equal("config", err.code)
		assert.is_true(H.contains(err.message, "contains a NUL character"), err.message)
		assert.is_false(H.contains(err.message, EVIL))
		-- the right answers still work
		assert(mutls.config { certificate = pki.server.chain_pem, private_key = enc, password = "s3cret" })
	end)

	it("PEM text and paths: certificate, private_key, trust, crl", function()
		local hint = "binary DER data? give PEM text or a path"
		local err = refused("certificate", mutls.config, { certificate = pki.server.chain_pem .. "\0" .. EVIL,
			private_key = pki.server.key_pem })
		assert.is_true(H.contains(err, hint), err)
		refused("private_key", mutls.config, { certificate = pki.server.chain_pem,
			private_key = "/tmp/key.pem\0" .. EVIL })
		refused("trust", mutls.config, { trust = pki.ca.cert_pem .. "\0" .. EVIL })
		refused("trust", mutls.config, { trust = { pki.ca, "/etc/ssl/certs\0" .. EVIL } })
		refused("crl", mutls.config, { trust = pki.ca, crl = pki.ca.crl_pem .. "\0" .. EVIL })
		refused("trust", pki.server.certificate.verify, pki.server.certificate,
			{ trust = pki.ca.cert_pem .. "\0" .. EVIL })
	end)

	it("cert:verify's hostname and purpose", function()
		local cert = pki.server.certificate
		refused("hostname", cert.verify, cert, { trust = pki.ca, hostname = "orders.internal\0" .. EVIL })
		refused("purpose", cert.verify, cert, { trust = pki.ca, purpose = "server\0" .. EVIL })
		assert.is_true(cert:verify { trust = pki.ca, hostname = "orders.internal", purpose = "server" })
	end)

	it("test CA names, issued names, key types, purposes", function()
		refused("name", mutls.testca, { name = "root\0" .. EVIL })
		refused("key_type", mutls.testca, { key_type = "p256\0" .. EVIL })
		refused("name", pki.ca.intermediate, pki.ca, { name = "inter\0" .. EVIL })
		refused("cn", pki.ca.issue, pki.ca, { cn = "orders\0" .. EVIL })
		local err = refused("dns", pki.ca.issue, pki.ca, { dns = { "a.internal", "orders.internal\0" .. EVIL } })
		assert.is_true(H.contains(err, "dns: item 2 contains a NUL character"), err)
		refused("ip", pki.ca.issue, pki.ca, { ip = "10.0.0.7\0" .. EVIL })
		refused("uri", pki.ca.issue, pki.ca, { uri = { "spiffe://example.org/x\0" .. EVIL } })
		refused("email", pki.ca.issue, pki.ca, { email = { "ops@example.org\0" .. EVIL } })
		refused("purpose", pki.ca.issue, pki.ca, { purpose = "server\0" .. EVIL })
	end)

	it("arguments: paths, PEM text, passwords, labels, algorithms", function()
		local id = pki.server
		refused("path", mutls.load_certificate, "/tmp/cert.pem\0" .. EVIL)
		refused("certificate", mutls.certificate, id.cert_pem .. "\0" .. EVIL)
		refused("certificates", mutls.load_certificates, id.chain_pem .. "\0" .. EVIL)
		refused("password", id.encrypted_key_pem, id, "s3cret\0" .. EVIL)
		refused("directory", id.write_to, id, "/tmp\0" .. EVIL)
		refused("algorithm", id.certificate.fingerprint, id.certificate, "sha256\0" .. EVIL)
		local p = H.connected()
		refused("label", p.c.export_keying_material, p.c, "EXPORTER-test\0" .. EVIL, 32)
		-- binary arguments keep their NULs
		assert.equal(32, #assert(p.c:export_keying_material("EXPORTER-test", 32, "ctx\0with\0nuls")))
		assert.equal(#id.certificate.der, #assert(mutls.certificate_from_der(id.certificate.der)).der)
	end)

	it("a NUL put into the options by user code while they are read still raises", function()
		local enc = pki.server:encrypted_key_pem("s3cret")
		local opts
		opts = { certificate = pki.server.chain_pem, private_key = enc,
			password = function() opts.trust = pki.ca.cert_pem .. "\0" .. EVIL; return "s3cret" end }
		local ok, err = pcall(mutls.config, opts)
		assert.is_false(ok)
		assert.is_true(H.contains(err, "trust: the value contains a NUL byte"), err)
		assert.is_false(H.contains(err, EVIL))
	end)

	it("an option name with a NUL is an unknown option", function()
		local ok, err = pcall(mutls.config, { ["trust\0" .. EVIL] = pki.ca })
		assert.is_false(ok)
		assert.is_true(H.contains(err, "unknown option 'trust' (the name contains a NUL character)"), err)
	end)
end)
