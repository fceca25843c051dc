-- The test PKI: CAs, intermediates, leaves with every kind of name, validity
-- windows, key types, purposes, revocation, identities on disk.
local H = require "helpers"
local mutls = H.mutls

describe("testca", function()
	it("makes a root CA", function()
		local ca = mutls.testca { name = "Example Root" }
		local c = ca.certificate
		assert.equal("CN=Example Root,O=mutls test PKI", c.subject)
		assert.equal(c.subject, c.issuer)
		assert.is_true(c.is_ca)
		assert.equal("p256", c.key_type)
		assert.is_true(H.contains(ca.cert_pem, "-----BEGIN CERTIFICATE-----"))
		assert.is_true(H.contains(ca.key_pem, "PRIVATE KEY-----"))
		assert.equal(c, mutls.certificate(ca.cert_pem))
		assert.equal("mutls.TestCA: CN=Example Root", tostring(ca))
		assert.equal("mutls test CA", mutls.testca().certificate.common_name)
	end)

	it("takes validity windows relative to now", function()
		local now = os.time()
		local ca = mutls.testca { not_before = -2 * H.DAY, not_after = 3 * H.DAY }
		assert.is_true(math.abs(ca.certificate.not_before - (now - 2 * H.DAY)) <= 5)
		assert.is_true(math.abs(ca.certificate.not_after - (now + 3 * H.DAY)) <= 5)
		local id = ca:issue { cn = "soon", not_before = H.DAY, not_after = 2 * H.DAY }
		assert.is_true(math.abs(id.certificate.not_before - (now + H.DAY)) <= 5)
	end)

	it("makes keys of every type", function()
		local ca = mutls.testca { key_type = "ed25519" }
		assert.equal("ed25519", ca.certificate.key_type)
		for _, kt in ipairs { "p256", "p384", "ed25519", "rsa2048" } do
			local id = ca:issue { cn = kt, key_type = kt }
			assert.equal(kt, id.certificate.key_type)
		end
		-- an Ed25519 chain works in a handshake
		local server = ca:issue { cn = "orders", dns = { "orders.internal" }, key_type = "ed25519", purpose = "server" }
		local client = ca:issue { cn = "payments", key_type = "ed25519", purpose = "client" }
		local p = H.run(H.config(client, ca), "orders.internal", H.config(server, ca))
		assert.equal("ok", p.cstate)
		assert.equal("ok", p.sstate)
	end)

	it("issues leaves with every kind of name", function()
		local ca = mutls.testca {}
		local id = ca:issue {
			cn = "payments", dns = { "pay.internal", "*.pay.internal" }, ip = { "10.0.0.7", "fd00::7" },
			uri = { "spiffe://example.org/payments" }, email = { "payments@example.org" },
		}
		local c = id.certificate
		assert.equal("payments", c.common_name)
		assert.same({ "pay.internal", "*.pay.internal" }, c.dns_names)
		assert.same({ "10.0.0.7", "fd00::7" }, c.ip_addresses)
		assert.same({ "spiffe://example.org/payments" }, c.uris)
		assert.same({ "payments@example.org" }, c.emails)
		assert.is_false(c.is_ca)
		-- a single string is a one-item list
		assert.same({ "one.internal" }, ca:issue { dns = "one.internal" }.certificate.dns_names)
		assert.equal("CN=mutls test leaf", ca:issue().certificate.subject)
	end)

	it("issues with a purpose", function()
		local ca = mutls.testca {}
		local function purposes(id)
			local s = id.certificate:verify { trust = ca, purpose = "server" } == true
			local c = id.certificate:verify { trust = ca, purpose = "client" } == true
			return s, c
		end
		assert.same({ true, true }, { purposes(ca:issue { purpose = "both" }) })
		assert.same({ true, false }, { purposes(ca:issue { purpose = "server" }) })
		assert.same({ false, true }, { purposes(ca:issue { purpose = "client" }) })
		assert.same({ true, true }, { purposes(ca:issue { purpose = "none" }) })
	end)

	it("a key usage without digitalSignature cannot sign a handshake", function()
		local pki = H.pki()
		local bad = pki.ca:issue { cn = "orders", dns = { "orders.internal" }, purpose = "server", bad_key_usage = true }
		local p = H.run(H.config(pki.client, pki.ca), "orders.internal", H.config(bad, pki.ca))
		assert.equal("config", p.serr.code)
		assert.is_true(H.contains(p.serr.message, "our certificate CN=orders may not sign the handshake"))
		assert.equal("failed", p.cstate)
	end)

	it("makes intermediates; chains name them", function()
		local root = mutls.testca { name = "root" }
		local inter = root:intermediate { name = "issuing" }
		assert.equal("CN=root,O=mutls test PKI", inter.certificate.issuer)
		assert.is_true(inter.certificate.is_ca)
		local id = inter:issue { cn = "leaf" }
		assert.equal(2, #id.chain)
		assert.equal(id.certificate, id.chain[1])
		assert.equal("CN=issuing", id.chain[2].label)
		assert.is_true(H.contains(id.chain_pem, id.cert_pem))
		local deeper = inter:intermediate { name = "deeper" }
		assert.equal(3, #deeper:issue { cn = "x" }.chain)
		local notca = root:intermediate { name = "not a ca", not_ca = true }
		assert.is_false(notca.certificate.is_ca)
		-- an intermediate outlives its parent
		root = nil
		collectgarbage()
		collectgarbage()
		assert.equal("CN=issuing", inter.certificate.label)
		assert.equal(2, #inter:issue { cn = "later" }.chain)
	end)

	it("revokes, and each crl_pem read is a fresh CRL", function()
		local pki = H.pki()
		local before = pki.ca.crl_pem
		assert.is_true(H.contains(before, "-----BEGIN X509 CRL-----"))
		assert.is_true(pki.ca:revoke(pki.client))
		assert.is_true(pki.ca:revoke(pki.server.certificate))
		local after = pki.ca.crl_pem
		assert.are_not.equal(before, after)
		local ok, err = pki.client.certificate:verify { trust = pki.ca, crl = after }
		assert.same({ "revoked" }, err.reasons)
		assert.is_true(pki.client.certificate:verify { trust = pki.ca, crl = before })
		assert.has_error(function() pki.ca:revoke("serial") end)
		-- a certificate from another CA cannot be revoked here
		local other = mutls.testca {}:issue { cn = "x" }
		local r, e = pki.ca:revoke(other)
		if r == nil then assert.is_true(mutls.is_error(e)) end
	end)

	it("identities: PEM texts, an encrypted key, files on disk", function()
		local pki = H.pki()
		local id = pki.client
		assert.is_true(H.contains(id.cert_pem, "-----BEGIN CERTIFICATE-----"))
		assert.is_true(H.contains(id.key_pem, "PRIVATE KEY-----"))
		assert.equal(id.cert_pem, id.chain_pem)
		local enc = id:encrypted_key_pem("s3cret")
		assert.is_true(H.contains(enc, "ENCRYPTED PRIVATE KEY"))
		assert(mutls.config { certificate = id.cert_pem, private_key = enc, password = "s3cret" })
		local dir = H.tmpdir()
		local paths = id:write_to(dir)
		assert.equal(id.cert_pem, H.read(paths.cert))
		assert.equal(id.chain_pem, H.read(paths.chain))
		assert.equal(id.key_pem, H.read(paths.key))
		local f = io.popen("stat -c %a " .. paths.key)
		assert.equal("600", f:read("*l"))
		f:close()
		H.rmdir(dir)
		local none, err = id:write_to("/nonexistent/dir")
		assert.is_nil(none)
		assert.is_true(mutls.is_error(err))
		assert.equal("mutls.Identity: CN=payments", tostring(id))
	end)

	it("bad options raise", function()
		assert.has_error(function() mutls.testca { key_type = "dsa" } end)
		assert.has_error(function() mutls.testca { name = 5 } end)
		assert.has_error(function() mutls.testca { colour = "blue" } end)
		local ca = mutls.testca {}
		assert.has_error(function() ca:issue { dns = { 1 } } end)
		assert.has_error(function() ca:issue { cn = {} } end)
		assert.has_error(function() ca:issue { not_before = "yesterday" } end)
		assert.has_error(function() ca:issue { bad_key_usage = "yes" } end)
		assert.has_error(function() ca:intermediate { not_ca = 1 } end)
	end)
	it("load_testca: an existing CA issues more leaves", function()
		local root = mutls.testca { name = "kept CA" }
		local again = assert(mutls.load_testca(root.cert_pem, root.key_pem))
		assert.equal(root.certificate, again.certificate)
		local leaf = again:issue { cn = "later", dns = { "later.internal" }, purpose = "server" }
		assert(leaf.certificate:verify { trust = root, hostname = "later.internal", purpose = "server" })
		local inter = root:intermediate { name = "issuing" }
		local deep = assert(mutls.load_testca(inter.cert_pem .. root.cert_pem, inter.key_pem)):issue { cn = "deep" }
		assert.equal(2, #deep.chain)
		assert(deep.certificate:verify { trust = root, intermediates = { deep.chain[2] } })
		local ca, err = mutls.load_testca(leaf.cert_pem, leaf.key_pem)
		assert.is_nil(ca)
		assert.equal("config", err.code)
		assert.is_truthy(tostring(err):find("is not a CA certificate", 1, true))
		ca, err = mutls.load_testca(root.cert_pem, inter.key_pem)
		assert.is_nil(ca)
		assert.is_truthy(tostring(err):find("does not match the CA certificate", 1, true))
		assert.has_error(function() mutls.load_testca(root.cert_pem) end)
	end)
end)
