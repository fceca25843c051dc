-- Certificates: parsing (PEM, DER, files, chains), fields, fingerprints,
-- offline verification. Mirrors parts of tests/c/test_x509.c and test_verify.c.
local H = require "helpers"
local mutls = H.mutls

-- The openssl CLI in dir: a root (root.pem, root.key), and issue(name,
-- issuer, subject, ext) makes name.pem under issuer.pem with the extensions
-- ext, as a private PKI does.
local EC = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
-- the extensions of the CAs and leaves openssl_pki makes below
local CA_EXT = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n"
local function leaf_ext_with(purposes)
	return "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n" ..
		"extendedKeyUsage=" .. purposes .. "\nsubjectAltName=%s\n"
end

local function openssl_pki(dir)
	assert.is_true(H.sh(("cd %s && openssl req -x509 %s -keyout root.key -out root.pem -subj /CN=root " ..
		"-days 3 >/dev/null 2>&1"):format(dir, EC)))
	return function(name, issuer, subject, ext)
		H.write(dir .. "/" .. name .. ".ext", ext)
		assert.is_true(H.sh(("cd %s && openssl req -new %s -keyout %s.key -subj %s -out %s.csr " ..
			">/dev/null 2>&1 && openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -days 2 " ..
			"-extfile %s.ext -out %s.pem >/dev/null 2>&1"):format(dir, EC, name, subject, name, name, issuer,
			issuer, name, name)))
		return assert(mutls.certificate(H.read(dir .. "/" .. name .. ".pem")))
	end
end

describe("certificate", function()
	local pki
	before_each(function() pki = H.pki() end)

	it("has every field", function()
		local c = pki.server.certificate
		assert.equal("CN=orders", c.subject)
		assert.equal("CN=mutls test root,O=mutls test PKI", c.issuer)
		assert.equal("orders", c.common_name)
		assert.equal("CN=orders", c.label)
		assert.is_true(#c.serial > 0)
		assert.is_truthy(c.serial:match("^[0-9a-f]+$"))
		assert.same({ "orders.internal", "localhost" }, c.dns_names)
		assert.same({ "127.0.0.1", "::1" }, c.ip_addresses)
		assert.same({}, c.uris)
		assert.same({}, c.emails)
		assert.is_false(c.is_ca)
		assert.equal("p256", c.key_type)
		assert.is_true(H.contains(c.pem, "-----BEGIN CERTIFICATE-----"))
		assert.equal(0x30, c.der:byte(1))
		local now = os.time()
		assert.is_true(c.not_before <= now and c.not_before > now - 7200)
		assert.is_true(c.not_after > now + 300 * H.DAY)
		if math.type then
			assert.equal("integer", math.type(c.not_before))
			assert.equal("integer", math.type(c.not_after))
		end
		assert.is_nil(c.no_such_field)
		assert.is_true(pki.ca.certificate.is_ca)
		assert.equal("mutls test root", pki.ca.certificate.common_name)
		assert.equal("mutls.Certificate: CN=orders", tostring(c))
	end)

	it("a certificate without a CN", function()
		local id = pki.ca:issue { dns = { "nocn.internal" }, email = { "ops@example.org" } }
		assert.is_nil(id.certificate.common_name)
		assert.same({ "ops@example.org" }, id.certificate.emails)
	end)

	it("parses PEM, DER, files and chains", function()
		local c = assert(mutls.certificate(pki.server.cert_pem))
		assert.equal(pki.server.certificate, c) -- __eq compares the DER
		local d = assert(mutls.certificate_from_der(c.der))
		assert.equal(c.der, d.der)
		local dir = H.tmpdir()
		local paths = pki.server:write_to(dir)
		local f = assert(mutls.load_certificate(paths.cert))
		assert.equal(c, f)
		H.write(dir .. "/cert.der", c.der)
		assert.equal(c, assert(mutls.load_certificate(dir .. "/cert.der")))
		local inter = pki.ca:intermediate { name = "mutls test intermediate" }
		local id = inter:issue { cn = "deep", dns = { "deep.internal" } }
		local list = assert(mutls.load_certificates(id.chain_pem))
		assert.equal(2, #list)
		assert.equal("CN=deep", list[1].label)
		assert.equal("CN=mutls test intermediate", list[2].label)
		H.write(dir .. "/chain.pem", id.chain_pem)
		assert.equal(2, #assert(mutls.load_certificates(dir .. "/chain.pem")))
		assert.equal(1, #assert(mutls.load_certificates(dir .. "/cert.der")))
		-- the identity's chain is the same
		assert.equal(list[2], id.chain[2])
		H.rmdir(dir)
	end)

	it("bad input is nil, err (code config)", function()
		local c, err = mutls.certificate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
		assert.is_nil(c)
		assert.equal("config", err.code)
		c, err = mutls.certificate_from_der("not der")
		assert.equal("config", err.code)
		c, err = mutls.load_certificate("/nonexistent/cert.pem")
		assert.equal("config", err.code)
		assert.is_true(H.contains(err.message, "/nonexistent/cert.pem"))
		c, err = mutls.load_certificates("/nonexistent/chain.pem")
		assert.equal("config", err.code)
		assert.is_true(H.contains(err.message, "/nonexistent/chain.pem"))
	end)

	it("fingerprints", function()
		local c = pki.client.certificate
		local fp = c:fingerprint("sha256")
		assert.equal(64, #fp)
		assert.is_truthy(fp:match("^[0-9a-f]+$"))
		assert.equal(fp, c:fingerprint())
		assert.equal(40, #c:fingerprint("sha1"))
		assert.equal(128, #c:fingerprint("sha512"))
		local none, err = c:fingerprint("md42")
		assert.is_nil(none)
		assert.is_true(mutls.is_error(err))
	end)

	it("verifies offline like a handshake does", function()
		local cert = pki.server.certificate
		assert.is_true(cert:verify { trust = pki.ca, hostname = "orders.internal", purpose = "server" })
		local ok, err = cert:verify { trust = pki.ca, hostname = "orders.internal", purpose = "client" }
		assert.is_nil(ok)
		assert.equal("verify-failed", err.code)
		assert.same({ "bad-purpose" }, err.reasons)
		assert.equal(cert, err.peer_certificate)
		local old = H.issue(pki.ca, "old", "old.internal", nil, nil, "both", -10 * H.DAY, -H.DAY)
		ok, err = old.certificate:verify { trust = pki.ca.cert_pem, hostname = "new.internal" }
		assert.same({ "expired", "name-mismatch" }, err.reasons)
		assert.is_true(H.contains(err.message, "certificate CN=old expired at "))
		-- unknown issuer, then fixed with the intermediates
		local inter = pki.ca:intermediate {}
		local deep = inter:issue { cn = "deep", dns = { "deep.internal" } }
		ok, err = deep.certificate:verify { trust = pki.ca }
		assert.same({ "unknown-issuer" }, err.reasons)
		assert.is_true(deep.certificate:verify { trust = pki.ca, intermediates = { inter.certificate } })
		-- revoked, by CRL
		pki.ca:revoke(pki.client)
		ok, err = pki.client.certificate:verify { trust = pki.ca, crl = pki.ca.crl_pem, purpose = "client" }
		assert.same({ "revoked" }, err.reasons)
		-- policy
		assert.is_true(pki.server.certificate:verify { trust = pki.ca, peers = { "dns:*.internal" } })
		ok, err = pki.server.certificate:verify { trust = pki.ca, peers = "cn:billing" }
		assert.same({ "policy" }, err.reasons)
		-- bad key usage is a bad purpose
		local bad = pki.ca:issue { cn = "orders", dns = { "orders.internal" }, purpose = "server", bad_key_usage = true }
		ok, err = bad.certificate:verify { trust = pki.ca, hostname = "orders.internal", purpose = "server" }
		assert.same({ "bad-purpose" }, err.reasons)
		assert.is_true(H.contains(err.message, "key usage does not allow digital signatures"))
		-- bad trust is a config error, bad types raise
		ok, err = cert:verify { trust = "/nonexistent/ca.pem" }
		assert.equal("config", err.code)
		assert.has_error(function() cert:verify { purpose = "everything" } end)
		assert.has_error(function() cert:verify { intermediates = { "pem" } } end)
		assert.has_error(function() cert:verify { bogus = 1 } end)
		assert.has_error(function() cert:verify() end)
	end)
	it("verifies at a given time (at = seconds or a function), with a profile and a depth limit", function()
		local later = pki.ca:issue { cn = "later", dns = { "later.internal" }, purpose = "server",
			not_before = 86400, not_after = 3 * 86400 }
		local c = later.certificate
		local ok, err = c:verify { trust = pki.ca, hostname = "later.internal", purpose = "server" }
		assert.is_nil(ok)
		assert.same({ "not-yet-valid" }, err.reasons)
		local at = os.time() + 2 * 86400
		assert.is_true(c:verify { trust = pki.ca, hostname = "later.internal", purpose = "server", at = at })
		assert.is_true(c:verify { trust = pki.ca, purpose = "server", at = function() return at end,
			profile = "strict", max_chain_depth = 0 })
		ok, err = c:verify { trust = pki.ca, purpose = "server", at = os.time() + 10 * 86400 }
		assert.is_nil(ok)
		assert.same({ "expired" }, err.reasons)
		assert.has_error(function() c:verify { trust = pki.ca, at = "tomorrow" } end)
		assert.has_error(function() c:verify { trust = pki.ca, profile = "lenient" } end)
		local cfg = assert(mutls.config { trust = pki.ca, verify_time = at, profile = "strict",
			max_chain_depth = 1 })
		assert.truthy(cfg)
		assert.has_error(function() mutls.config { verify_time = "now" } end)
	end)

	it("checks a CRL's next update at the verification time", function()
		-- the test CA's CRL is valid for 30 days
		local c = pki.ca:issue { cn = "crl-dated", dns = { "crl.internal" }, purpose = "server",
			not_after = 365 * 86400 }.certificate
		assert.is_true(c:verify { trust = pki.ca, crl = pki.ca.crl_pem, purpose = "server",
			at = os.time() + 20 * 86400 })
		local ok, err = c:verify { trust = pki.ca, crl = pki.ca.crl_pem, purpose = "server",
			at = os.time() + 60 * 86400 }
		assert.is_nil(ok)
		assert.same({ "expired" }, err.reasons)
		assert.matches("could not be checked for revocation: the CRL of CN=", err.message, 1, true)
	end)

	it("key usage and extended key usage by name", function()
		local ca = mutls.testca { name = "usage CA" }
		local server = ca:issue { cn = "srv", purpose = "server" }.certificate
		local client = ca:issue { cn = "cli", purpose = "client" }.certificate
		local anything = ca:issue { cn = "any", purpose = "none", bad_key_usage = true }.certificate
		assert.same({ "serverAuth" }, server.extended_key_usage)
		assert.same({ "clientAuth" }, client.extended_key_usage)
		assert.same({}, anything.extended_key_usage)
		assert.equal("digitalSignature", server.key_usage[1])
		for _, u in ipairs(anything.key_usage) do assert.not_equal("digitalSignature", u) end
		assert.same({ "digitalSignature", "keyCertSign", "cRLSign" }, ca.certificate.key_usage)
		assert.same({}, ca.certificate.extended_key_usage)
	end)

	-- issue 11 #11: dns:*.svc.local matched "x\0y.svc.local"
	it("a dns:*. or uri: pattern never matches a name with a NUL or a byte its kind does not allow", function()
		if not H.have("openssl") then return pending("openssl is not installed") end
		local dir = H.tmpdir()
		H.write(dir .. "/ca.pem", pki.ca.cert_pem)
		H.write(dir .. "/ca.key", pki.ca.key_pem)
		local function leaf(san_der_hex)
			H.write(dir .. "/ext.cnf", "subjectAltName=DER:" .. san_der_hex .. "\n")
			assert.is_true(H.sh(("cd %s && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes " ..
				"-keyout key.pem -subj /CN=x -out req.csr >/dev/null 2>&1 && " ..
				"openssl x509 -req -in req.csr -CA ca.pem -CAkey ca.key -days 2 " ..
				"-extfile ext.cnf -out cert.pem >/dev/null 2>&1"):format(dir)))
			return assert(mutls.certificate(H.read(dir .. "/cert.pem")))
		end
		local clean = leaf("300d820b782e7376632e6c6f63616c") -- x.svc.local
		local nul = leaf("300f820d7800792e7376632e6c6f63616c") -- x\0y.svc.local
		local slash = leaf("300f820d782f792e7376632e6c6f63616c") -- x/y.svc.local
		-- and a URI with a NUL under a uri: prefix pattern
		local uri = leaf("301886167370696666653a2f2f6578616d706c652e6f72672f78") -- spiffe://example.org/x
		local uri_nul = leaf("301a86187370696666653a2f2f6578616d706c652e6f72672f780079") -- .../x\0y
		H.rmdir(dir)
		assert.is_true(clean:verify { trust = pki.ca, peers = { "dns:*.svc.local" } })
		assert.is_true(uri:verify { trust = pki.ca, peers = { "uri:spiffe://example.org/*" } })
		for _, case in ipairs { { nul, "dns:*.svc.local" }, { slash, "dns:*.svc.local" },
				{ uri_nul, "uri:spiffe://example.org/*" } } do
			local ok, err = case[1]:verify { trust = pki.ca, peers = { case[2] } }
			assert.is_nil(ok)
			assert.same({ "policy" }, err.reasons)
		end
	end)
	-- issue 15: name constraints with an otherName of a type GnuTLS does
	-- not know (csrc/nc_unreadable.c; Python: test_nc_unreadable.py)
	it("a CA constraining an unknown otherName: a leaf without one verifies, one with one is refused", function()
		if not H.have("openssl") then return pending("openssl is not installed") end
		local dir = H.tmpdir()
		local make = openssl_pki(dir)
		local function issue(name, issuer, ext) return make(name, issuer, "/CN=" .. name, ext) end
		local other = "otherName:1.3.6.1.4.1.55555.1;UTF8:"
		local ica = issue("ica", "root", CA_EXT ..
			"nameConstraints=critical,permitted;DNS:corp.example,excluded;" .. other .. "forbidden\n")
		local leaf_ext = leaf_ext_with("serverAuth")
		local good = issue("good", "ica", leaf_ext:format("DNS:api.corp.example"))
		local outside = issue("outside", "ica", leaf_ext:format("DNS:api.other.example"))
		local named = issue("named", "ica", leaf_ext:format("DNS:api.corp.example," .. other .. "someone"))
		local root = assert(mutls.certificate(H.read(dir .. "/root.pem")))
		H.rmdir(dir)
		local function check(cert, host)
			return cert:verify { trust = root, intermediates = { ica }, hostname = host, purpose = "server" }
		end
		assert.is_true(check(good, "api.corp.example"))
		local ok, err = check(outside, "api.other.example")
		assert.is_nil(ok)
		assert.same({ "name-constraints" }, err.reasons)
		assert.truthy(tostring(err):find("names DNS:api.other.example", 1, true), tostring(err))
		ok, err = check(named, "api.corp.example")
		assert.is_nil(ok)
		assert.same({ "name-constraints" }, err.reasons)
		assert.truthy(tostring(err):find("whose name constraints cannot be checked", 1, true), tostring(err))
	end)
	-- URI and directoryName subtrees, which GnuTLS reads but does not
	-- enforce (csrc/nc_names.c; Python: test_nc_uri_dn.py)
	it("a CA permitting URIs under corp.example cannot issue another trust domain's SPIFFE ID", function()
		if not H.have("openssl") then return pending("openssl is not installed") end
		local dir = H.tmpdir()
		local issue = openssl_pki(dir)
		local ca_ext = CA_EXT .. "nameConstraints=critical,"
		local ica = issue("ica", "root", "/CN=ica", ca_ext .. "permitted;URI:corp.example\n")
		local dir_ca = issue("dirca", "root", "/O=corp/CN=dirca", ca_ext .. "permitted;dirName:corp\n[corp]\nO=corp\n")
		local leaf_ext = leaf_ext_with("clientAuth")
		local good = issue("good", "ica", "/CN=good", leaf_ext:format("URI:spiffe://corp.example/svc"))
		local evil = issue("evil", "ica", "/CN=evil", leaf_ext:format("URI:spiffe://evil.example/svc"))
		local corp = issue("corp", "dirca", "/O=corp/CN=api", leaf_ext:format("DNS:api.corp.example"))
		local other = issue("other", "dirca", "/O=evil/CN=api", leaf_ext:format("DNS:api.corp.example"))
		local root = assert(mutls.certificate(H.read(dir .. "/root.pem")))
		H.rmdir(dir)
		local function check(cert, issuer)
			return cert:verify { trust = root, intermediates = { issuer }, purpose = "client",
				peers = { "uri:spiffe://evil.example/svc", "uri:spiffe://corp.example/svc", "dns:api.corp.example" } }
		end
		assert.is_true(check(good, ica))
		assert.is_true(check(corp, dir_ca))
		local ok, err = check(evil, ica)
		assert.is_nil(ok)
		assert.same({ "name-constraints" }, err.reasons)
		assert.truthy(tostring(err):find("names URI:spiffe://evil.example/svc, outside what the name " ..
			"constraints of CA CN=ica permit", 1, true), tostring(err))
		ok, err = check(other, dir_ca)
		assert.is_nil(ok)
		assert.same({ "name-constraints" }, err.reasons)
		assert.truthy(tostring(err):find("has the subject CN=api,O=evil, outside what", 1, true), tostring(err))
	end)
	-- an intermediate trusted so that its own CRL can be loaded, revoked by
	-- its root's CRL: refused whether the peer presents it or not (GnuTLS
	-- checks no trust anchor against a CRL; csrc/crl_checks.c; Python:
	-- test_crl_paths.py)
	it("a revoked trusted intermediate is refused even when the chain leaves it out", function()
		local root = assert(mutls.testca { name = "crl root" })
		local inter = assert(root:intermediate { name = "crl inter" })
		local svc = assert(inter:issue { cn = "svc", dns = { "svc.internal" }, purpose = "client" })
		local leaf = svc.certificate
		local function check(given)
			return leaf:verify { trust = { root, inter }, crl = { root.crl_pem, inter.crl_pem },
				intermediates = given, purpose = "client" }
		end
		assert.is_true(check { inter.certificate })
		assert.is_true(check {})
		root:revoke(inter.certificate)
		for _, given in ipairs { { inter.certificate }, {} } do
			local ok, err = check(given)
			assert.is_nil(ok, #given)
			assert.same({ "revoked" }, err.reasons)
			assert.truthy(tostring(err):find("the CA certificate CN=crl inter", 1, true), tostring(err))
		end
	end)
	-- iPAddress is one name form: a CA permitting IPv4 subtrees only permits
	-- no IPv6 address (GnuTLS held each address against subtrees of its own
	-- length; csrc/nc_names.c; Python: test_nc_ip_email.py)
	it("a CA permitting 10.0.0.0/8 cannot issue an IPv6 address, to a leaf or a CA below", function()
		if not H.have("openssl") then return pending("openssl is not installed") end
		local dir = H.tmpdir()
		local issue = openssl_pki(dir)
		local ca_ext = CA_EXT
		local ica = issue("ica", "root", "/CN=ica", ca_ext .. "nameConstraints=critical,permitted;IP:10.0.0.0/255.0.0.0\n")
		local leaf_ext = leaf_ext_with("serverAuth")
		local good = issue("good", "ica", "/CN=good", leaf_ext:format("IP:10.1.2.3"))
		local v6 = issue("v6", "ica", "/CN=v6", leaf_ext:format("IP:2001:db8::1"))
		local mapped = issue("mapped", "ica", "/CN=mapped", leaf_ext:format("IP:::ffff:192.0.2.1"))
		local sub = issue("sub", "ica", "/CN=sub", ca_ext .. "subjectAltName=IP:2001:db8::1\n")
		local under = issue("under", "sub", "/CN=under", leaf_ext:format("IP:10.0.0.1"))
		local root = assert(mutls.certificate(H.read(dir .. "/root.pem")))
		H.rmdir(dir)
		local function check(cert, host, ...)
			return cert:verify { trust = root, intermediates = { ... }, hostname = host, purpose = "server" }
		end
		assert.is_true(check(good, "10.1.2.3", ica))
		local ok, err = check(v6, "2001:db8::1", ica)
		assert.is_nil(ok)
		assert.same({ "name-constraints" }, err.reasons)
		assert.truthy(tostring(err):find("names IP:2001:db8::1, outside what the name constraints of CA CN=ica " ..
			"permit (permitted: IP:10.0.0.0/8, no IPv6 address)", 1, true), tostring(err))
		ok, err = check(mapped, "::ffff:192.0.2.1", ica)
		assert.is_nil(ok)
		assert.truthy(tostring(err):find("(the IPv4 address 192.0.2.1), outside what", 1, true), tostring(err))
		ok, err = check(under, "10.0.0.1", sub, ica)
		assert.is_nil(ok)
		assert.same({ "name-constraints" }, err.reasons)
		assert.truthy(tostring(err):find("has in its chain the CA certificate CN=sub, which names IP:2001:db8::1, " ..
			"outside what", 1, true), tostring(err))
	end)
	-- nameConstraints that cannot be read one way only, and URIs with no
	-- host name under URI subtrees (csrc/nc_names.c; Python:
	-- test_nc_uri_dn.py, test_malformed_constraints_are_refused and
	-- test_a_leading_period_permits_the_hosts_below_only)
	it("malformed name constraints, and a URI without a host under URI subtrees, are refused", function()
		if not H.have("openssl") then return pending("openssl is not installed") end
		local dir = H.tmpdir()
		local issue = openssl_pki(dir)
		local function tlv(tag, body) return string.char(tag, #body) .. body end
		local function hex(s) return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end)) end
		local corp, evil = tlv(0x30, tlv(0x82, "corp.example")), tlv(0x30, tlv(0x82, "evil.example"))
		local ca_ext = CA_EXT
		local leaf_ext = leaf_ext_with("serverAuth,clientAuth")
		-- openssl writes any value as given with DER:
		local malformed = {
			["lists out of order"] = tlv(0x30, tlv(0xa1, evil) .. tlv(0xa0, corp)),
			["a list twice"] = tlv(0x30, tlv(0xa0, corp) .. tlv(0xa0, evil)),
			["a maximum"] = tlv(0x30, tlv(0xa0, tlv(0x30, tlv(0x82, "corp.example") .. tlv(0x81, "\1")))),
		}
		local cases = {}
		for what, value in pairs(malformed) do
			local name = "bad" .. #cases
			cases[#cases + 1] = { what, issue(name, "root", "/CN=" .. name,
				ca_ext .. "2.5.29.30=critical,DER:" .. hex(value) .. "\n"), name }
		end
		for _, case in ipairs(cases) do
			local leaf = issue(case[3] .. "leaf", case[3], "/CN=api", leaf_ext:format("DNS:api.evil.example"))
			case[4] = leaf
		end
		local ica = issue("ica", "root", "/CN=ica", ca_ext .. "nameConstraints=critical,permitted;URI:.corp.example\n")
		local good = issue("good", "ica", "/CN=good", leaf_ext:format("URI:https://api.corp.example/v1"))
		local hostless = {}
		for i, uri in ipairs { "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", "https://192.0.2.1/v1",
				"https://evil.example%2e.corp.example/" } do
			hostless[i] = { uri, issue("nohost" .. i, "ica", "/CN=nohost" .. i, leaf_ext:format("URI:" .. uri)) }
		end
		local root = assert(mutls.certificate(H.read(dir .. "/root.pem")))
		H.rmdir(dir)
		for _, case in ipairs(cases) do
			local ok, err = case[4]:verify { trust = root, intermediates = { case[2] },
				hostname = "api.evil.example", purpose = "server" }
			assert.is_nil(ok, case[1])
			assert.same({ "name-constraints" }, err.reasons)
			assert.truthy(tostring(err):find("malformed name constraints", 1, true), case[1] .. ": " .. tostring(err))
		end
		assert.is_true(good:verify { trust = root, intermediates = { ica }, purpose = "client" })
		for _, case in ipairs(hostless) do
			local ok, err = case[2]:verify { trust = root, intermediates = { ica }, purpose = "client" }
			assert.is_nil(ok, case[1])
			assert.same({ "name-constraints" }, err.reasons)
			assert.truthy(tostring(err):find("no host name", 1, true), case[1] .. ": " .. tostring(err))
		end
	end)
	-- the chain cache re-uses a passed check no longer than the CRLs of the
	-- path that passed are current (Python: test_check_peer.py)
	it("a re-used chain check ends when a CRL of the path that passed expires", function()
		if not H.have("openssl") then return pending("openssl is not installed") end
		local dir = H.tmpdir()
		local issue = openssl_pki(dir) -- root.pem: Root A
		local function sh(cmd) assert.is_true(H.sh(("cd %s && %s >/dev/null 2>&1"):format(dir, cmd)), cmd) end
		sh("openssl req -x509 " .. EC .. " -keyout rootb.key -out rootb.pem -subj /CN=rootb -days 3")
		-- one intermediate name and key under both roots; under Root A only a.example
		sh("openssl req -new " .. EC .. " -keyout int.key -subj /CN=Int -out int.csr")
		local ca_ext = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n" ..
			"subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
		H.write(dir .. "/inta.ext", ca_ext .. "nameConstraints=critical,permitted;DNS:a.example\n")
		H.write(dir .. "/intb.ext", ca_ext)
		sh("openssl x509 -req -in int.csr -CA root.pem -CAkey root.key -days 2 -extfile inta.ext -out inta.pem")
		sh("openssl x509 -req -in int.csr -CA rootb.pem -CAkey rootb.key -days 2 -extfile intb.ext -out intb.pem")
		H.write(dir .. "/leaf.ext", "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n" ..
			"extendedKeyUsage=clientAuth\nsubjectAltName=DNS:leaf.b.example\n")
		sh("openssl req -new " .. EC .. " -keyout leaf.key -subj /CN=leaf -out leaf.csr")
		sh("openssl x509 -req -in leaf.csr -CA inta.pem -CAkey int.key -days 2 -extfile leaf.ext -out leaf.pem")
		-- CRLs: Root A's for ten days, Root B's for one hour (openssl ca)
		for _, r in ipairs { { "a", "root", "-crldays 10" }, { "b", "rootb", "-crlhours 1" } } do
			H.write(("%s/%s.idx"):format(dir, r[1]), "")
			H.write(("%s/%s.cnf"):format(dir, r[1]), ("[ca]\ndefault_ca = d\n[d]\ndatabase = %s/%s.idx\n" ..
				"default_md = sha256\n"):format(dir, r[1]))
			sh(("openssl ca -config %s.cnf -gencrl -cert %s.pem -keyfile %s.key %s -out %s.crl"):format(r[1], r[2],
				r[2], r[3], r[1]))
		end
		local read = function(f) return H.read(dir .. "/" .. f) end
		local chain = { assert(mutls.certificate(read("leaf.pem"))), assert(mutls.certificate(read("inta.pem"))),
			assert(mutls.certificate(read("intb.pem"))) }
		local trust, crls = read("root.pem") .. read("rootb.pem"), { read("a.crl"), read("b.crl") }
		local start = os.time()
		local at = start + 3500 -- Root B's CRL expires at start + 3600
		local function config()
			return assert(mutls.config { trust = trust, crl = crls, verify_time = function() return at end })
		end
		local cfg = config()
		H.rmdir(dir)
		local s = cfg:check_peer(chain)
		assert.is_true(s.verified, s.verification.message)
		at = start + 3700
		for _, session in ipairs { cfg:check_peer(chain), config():check_peer(chain) } do
			assert.is_false(session.verified)
			assert.truthy(session.verification.message:find("the CRL of CN=rootb expired at", 1, true),
				session.verification.message)
		end
	end)
	-- CRLs by openssl ca -gencrl, signed by name.pem / name.key in dir, from
	-- a fresh database; revoke: the PEM files to list; exts: crl_extensions
	-- lines; last, next: its dates (seconds since the epoch)
	local function openssl_crl(dir, name, opts)
		local n = (opts.n or name)
		local function sh(cmd) assert.is_true(H.sh(("cd %s && %s >/dev/null 2>&1"):format(dir, cmd)), cmd) end
		H.write(("%s/%s.idx"):format(dir, n), "")
		H.write(("%s/%s.num"):format(dir, n), "01\n")
		H.write(("%s/%s.cnf"):format(dir, n), ("[ca]\ndefault_ca = d\n[d]\ndatabase = %s.idx\ncrlnumber = %s.num\n" ..
			"default_md = sha256\ncrl_extensions = crlext\n[crlext]\nauthorityKeyIdentifier = keyid:always\n%s\n")
			:format(n, n, opts.exts or ""))
		local signer = ("-config %s.cnf -cert %s.pem -keyfile %s.key"):format(n, name, name)
		for _, cert in ipairs(opts.revoke or {}) do sh(("openssl ca -batch %s -revoke %s"):format(signer, cert)) end
		local dates = "-crldays 2"
		if opts.last then
			dates = ("-crl_lastupdate %s -crl_nextupdate %s"):format(os.date("!%Y%m%d%H%M%SZ", opts.last),
				os.date("!%Y%m%d%H%M%SZ", opts.next))
		end
		sh(("openssl ca -batch %s -gencrl %s -out %s.crl"):format(signer, dates, n))
		return H.read(("%s/%s.crl"):format(dir, n))
	end
	-- Python: test_crl_load.py::test_verify_at_checks_the_crls_dates_at_that_time
	it("verify{ at = } checks the CRL's dates at that time when loading it", function()
		if not H.have("openssl") then return pending("openssl is not installed") end
		local dir = H.tmpdir()
		local ca = mutls.testca { name = "dated CRLs" }
		local leaf = ca:issue { cn = "revoked", dns = { "r.internal" }, purpose = "server", not_after = 365 * 86400 }
		H.write(dir .. "/ca.pem", ca.cert_pem)
		H.write(dir .. "/ca.key", ca.key_pem)
		H.write(dir .. "/leaf.pem", leaf.cert_pem)
		local now = os.time()
		-- current from two days ahead to five: not valid yet now
		local crl = openssl_crl(dir, "ca", { revoke = { "leaf.pem" }, last = now + 2 * 86400, next = now + 5 * 86400 })
		H.rmdir(dir)
		local c = leaf.certificate
		local ok, err = c:verify { trust = ca, crl = crl, purpose = "server", at = now + 3 * 86400 }
		assert.is_nil(ok)
		assert.same({ "revoked" }, err.reasons, tostring(err))
		ok, err = c:verify { trust = ca, crl = crl, purpose = "server", at = function() return now + 6 * 86400 end }
		assert.is_nil(ok)
		assert.same({ "expired", "revoked" }, err.reasons, tostring(err))
		assert.truthy(tostring(err):find("the CRL of CN=dated CRLs expired at", 1, true), tostring(err))
		-- without at, the system clock
		ok, err = c:verify { trust = ca, crl = crl, purpose = "server" }
		assert.is_nil(ok)
		assert.equal("config", err.code)
		assert.truthy(tostring(err):find("the CRL of CN=dated CRLs is not valid until", 1, true), tostring(err))
	end)
	-- Python: test_crl_load.py (partial, delta and unknown critical CRLs;
	-- a source with an unusable CRL)
	it("partial and delta CRLs are refused, and a bundle with an unusable CRL is refused whole", function()
		if not H.have("openssl") then return pending("openssl is not installed") end
		local dir = H.tmpdir()
		local issue = openssl_pki(dir)
		local inter = issue("inter", "root", "/CN=Inter", "basicConstraints=critical,CA:TRUE\n" ..
			"keyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
		local trust = H.read(dir .. "/root.pem") .. inter.pem
		local now = os.time()
		local idp = openssl_crl(dir, "inter", { n = "idp", exts = "issuingDistributionPoint = critical, @idp\n" ..
			"[idp]\nonlyCA = TRUE\n" })
		local delta = openssl_crl(dir, "inter", { n = "delta", exts = "2.5.29.27 = critical, ASN1:INTEGER:1\n" })
		local root_crl = openssl_crl(dir, "root", { n = "rootcrl" })
		local expired = openssl_crl(dir, "inter", { n = "expired", last = now - 20 * 86400, next = now - 86400 })
		H.rmdir(dir)
		for _, case in ipairs { { idp, "it has an issuingDistributionPoint extension (a partial or indirect CRL" },
				{ delta, "it is a delta CRL (deltaCRLIndicator" } } do
			for _, vt in ipairs { false, now } do
				local cfg, err = mutls.config { trust = trust, crl = case[1], verify_time = vt or nil }
				assert.is_nil(cfg)
				assert.equal("config", err.code)
				assert.truthy(err.message:find("crl: the CRL of CN=Inter cannot be used: " .. case[2], 1, true),
					err.message)
			end
		end
		local cfg, err = mutls.config { trust = trust, crl = root_crl .. expired }
		assert.is_nil(cfg)
		assert.equal("config", err.code)
		assert.truthy(err.message:find("the CRL of CN=Inter (the 2nd of the 2 CRLs in this source) expired at ", 1,
			true), err.message)
		assert.truthy(err.message:find("(none of this source's CRLs was added)", 1, true), err.message)
		-- with a verification clock, its dates wait for the clock
		assert(mutls.config { trust = trust, crl = root_crl .. expired, verify_time = now })
	end)
end)
