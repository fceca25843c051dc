-- The shared scenario table (tests/scenarios/scenarios.txt) run through the
-- Lua binding: one `it` per [id], under Lua 5.4 and LuaJIT (bash
-- bindings-lua/run-tests). The table's header says what each field means and
-- how a case runs; tests/c/test_scenarios.c and
-- tests/python/test_scenarios.py run the same table through C and Python.
--
-- The table is found next to this file's tests/ directory (or at
-- $MUTLS_SCENARIOS).
local H = require "helpers"
local mutls = H.mutls

local function here()
	local src = debug.getinfo(1, "S").source
	return src:sub(1, 1) == "@" and src:sub(2):match("^(.*)/[^/]*$") or "tests/lua"
end

local TABLE = os.getenv("MUTLS_SCENARIOS")
if not TABLE or TABLE == "" then TABLE = here() .. "/../scenarios/scenarios.txt" end

-- ---- the table ---------------------------------------------------------------

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

local function parse_table(path)
	local f = assert(io.open(path, "r"))
	local cases, n = {}, 0
	for raw in f:lines() do
		n = n + 1
		local line = trim(raw)
		if line ~= "" and line:sub(1, 1) ~= "#" then
			local id = line:match("^%[(.*)%]$")
			if id then
				cases[#cases + 1] = { id = trim(id), kv = {} }
			else
				local key, value = line:match("^([^=]*)=(.*)$")
				assert(key and #cases > 0, ("%s:%d: expected key = value inside a case"):format(path, n))
				cases[#cases].kv[trim(key)] = trim(value)
			end
		end
	end
	f:close()
	return cases
end

-- "a=1 b=x,y c" -> { a = "1", b = "x,y", c = "" }; the last one wins.
local function tokens(text)
	local t = {}
	for tok in (text or ""):gmatch("%S+") do
		local name, value = tok:match("^([^=]*)=(.*)$")
		if name then t[name] = value else t[tok] = "" end
	end
	return t
end

local function split(text)
	local out = {}
	for item in (text or ""):gmatch("[^,]+") do out[#out + 1] = item end
	return out
end

local CASES = parse_table(TABLE)

-- ---- the PKI of a case --------------------------------------------------------

local function new_world()
	local w = { cas = {}, idents = {} }
	w.root = mutls.testca { name = "mutls test root" }
	w.cas.root = w.root
	function w.ca(which)
		if which == "other-ca" then which = "other" end
		if not w.cas[which] then
			if which == "other" then
				w.cas[which] = mutls.testca { name = "mutls other CA" }
			elseif which == "intermediate" then
				w.cas[which] = w.root:intermediate { name = "mutls test intermediate" }
			elseif which == "intermediate-not-ca" then
				w.cas[which] = w.root:intermediate { name = "mutls fake intermediate", not_ca = true }
			elseif which == "weak-root" then
				w.cas[which] = mutls.testca { name = "mutls weak root", key_type = "rsa1024" }
			elseif which == "intermediate-rsa1024" then
				w.cas[which] = w.root:intermediate { name = "mutls weak intermediate", key_type = "rsa1024" }
			elseif which == "intermediate-constrained" then
				w.cas[which] = w.root:intermediate { name = "mutls constrained intermediate",
					permitted_dns = { "svc.local" } }
			elseif which == "intermediate-path0-sub" then
				local limited = w.root:intermediate { name = "mutls limited intermediate", path_length = 0 }
				w.cas[which] = limited:intermediate { name = "mutls sub intermediate" }
			else
				error("unknown CA " .. tostring(which))
			end
		end
		return w.cas[which]
	end
	return w
end

local function make_ident(w, spec)
	local t = tokens(spec)
	local issuer = t.issuer or "root"
	local i = { leaf_only = t.chain == "leaf" }
	if issuer == "none" then
		i.none = true
		return i
	end
	local key_type = t.key_type or "p256"
	if issuer == "self-signed" then
		i.self_ca = mutls.testca { name = t.cn, key_type = key_type }
		i.leaf = i.self_ca.certificate
		return i
	end
	local ca = w.ca(issuer)
	i.id = ca:issue {
		cn = t.cn, dns = split(t.dns), ip = split(t.ip), uri = split(t.uri),
		key_type = key_type, purpose = t.purpose or "both",
		not_before = t.not_before and tonumber(t.not_before) or nil,
		not_after = t.not_after and tonumber(t.not_after) or nil,
	}
	i.leaf = i.id.certificate
	if t.revoked == "yes" then ca:revoke(i.id) end
	if t.wrong_key == "yes" then i.other = ca:issue { cn = "mutls other leaf", key_type = key_type } end
	if t.encrypt then i.encrypted = i.id:encrypted_key_pem(t.encrypt) end
	return i
end

local function identity_options(i, password)
	if i.none then return {} end
	if i.self_ca then
		return { certificate = i.self_ca.cert_pem, private_key = i.self_ca.key_pem, password = password }
	end
	if not (i.leaf_only or i.other or i.encrypted) then return { identity = i.id } end
	return {
		certificate = i.leaf_only and i.id.cert_pem or i.id.chain_pem,
		private_key = i.other and i.other.key_pem or i.encrypted or i.id.key_pem,
		password = password,
	}
end

local function make_hook(spec)
	if not spec or spec == "none" then return nil end
	if spec == "accept" then return function() return true end end
	local reason = spec:match("^reject:(.*)$")
	if reason then return function() return false, reason end end
	local message = spec:match("^raise:(.*)$")
	if message then return function() error(message, 0) end end
	error("bad hook " .. spec)
end

-- A config, or nil, err.
local function make_config(w, ident, spec, hook)
	local t = tokens(spec)
	local opts = identity_options(ident, t.password)
	local trust = {}
	for _, name in ipairs(split(t.trust or "root")) do
		if name ~= "none" then trust[#trust + 1] = w.ca(name) end
	end
	if #trust > 0 then opts.trust = trust end
	if t.crl == "yes" then opts.crl = w.crl end
	opts.peer_certificate = t.peer_certificate
	if t.check_hostname then opts.check_hostname = t.check_hostname == "yes" end
	if t.verify_time then opts.verify_time = os.time() + tonumber(t.verify_time) end
	if t.verify_clock then
		local message = t.verify_clock:match("^raise:(.*)$")
		if message then
			opts.verify_time = function() error(message, 0) end
		else
			local offset = tonumber(t.verify_clock)
			opts.verify_time = function() return os.time() + offset end
		end
	end
	if t.peers then
		local peers = {}
		for _, pattern in ipairs(split(t.peers)) do
			local who = pattern:match("^sha256:<(%a+)>$")
			if who then pattern = "sha256:" .. w.idents[who].leaf:fingerprint("sha256") end
			local holder = pattern:match("^certificate:<(%a+)>$")
			if holder then pattern = w.idents[holder].leaf end
			peers[#peers + 1] = pattern
		end
		opts.peers = peers
	end
	if t.versions then opts.versions = split(t.versions) end
	if t.alpn then opts.alpn = split(t.alpn) end
	opts.verify_hook = make_hook(hook)
	return mutls.config(opts)
end

-- ---- one connection -------------------------------------------------------------

-- Steps 2-4 of the table's THE RUN. Each side: { state = "ok"|"failed", err, s }.
local function connect(ccfg, hostname, scfg, session_data)
	local c = { s = assert(ccfg:client { server_hostname = hostname, session_data = session_data }), state = "want" }
	local s = { s = assert(scfg:server {}), state = "want" }
	local function step(side)
		if side.state ~= "want" then return end
		local ok, err = side.s:handshake()
		if ok then
			side.state = "ok"
		elseif err ~= "wantread" then
			side.state, side.err = "failed", err
		end
	end
	local settled = false
	for _ = 1, 64 do
		step(c)
		local moved = H.move(c.s, s.s)
		step(s)
		moved = moved + H.move(s.s, c.s)
		if moved == 0 then settled = true break end
	end
	assert(settled, "the handshake did not settle in 64 rounds")
	assert(c.state ~= "want" and s.state ~= "want", "a side neither finished nor failed")

	-- step 4: ping from the client, pong from the server
	if c.state == "ok" then
		local n, err = c.s:send("ping")
		if not n then c.state, c.err = "failed", err end
		H.move(c.s, s.s)
	end
	if s.state == "ok" then
		local data, err = s.s:recv(64)
		if data then
			assert(data == "ping", "the server read " .. tostring(data))
			local n, err2 = s.s:send("pong")
			if not n then s.state, s.err = "failed", err2 end
			H.move(s.s, c.s)
		else
			s.state, s.err = "failed", err
		end
	end
	if c.state == "ok" then
		local data, err = c.s:recv(64)
		if data then
			assert(data == "pong", "the client read " .. tostring(data))
		else
			c.state, c.err = "failed", err
		end
	end
	return c, s
end

-- ---- outcomes ---------------------------------------------------------------------

local function sorted_list(list)
	local copy = {}
	for _, v in ipairs(list) do
		if v ~= "none" then copy[#copy + 1] = v end
	end
	table.sort(copy)
	return #copy > 0 and table.concat(copy, ",") or "none"
end

-- The outcome in the table's spelling (without ok's optional fields).
local function outcome_text(side)
	if side.state ~= "failed" then return side.state end
	local e = side.err
	if type(e) ~= "table" then return tostring(e) end
	return ("%s reasons=%s side=%s step=%s alert=%s"):format(e.code, sorted_list(e.reasons),
		e.side or "none", e.step or "none", e.alert or "none")
end

local function expected_text(expect)
	local code = expect:match("^(%S+)")
	if code == "ok" or code == "not-run" then return code end
	local t = tokens(expect)
	for _, field in ipairs { "reasons", "side", "step", "alert" } do
		assert(t[field], ("expect %q lacks %s="):format(expect, field))
	end
	return ("%s reasons=%s side=%s step=%s alert=%s"):format(code, sorted_list(split(t.reasons)),
		t.side, t.step, t.alert)
end

-- The differences between a side's outcome and the table.
local function check(name, side, expect, fragment, own_hook, hook_fragment)
	local bad = {}
	local got, want = outcome_text(side), expected_text(expect)
	if got ~= want then
		bad[#bad + 1] = ("%s: %s%s\n    expected %s"):format(name, got,
			side.err and (" | " .. tostring(side.err)) or "", want)
	end
	local t = tokens(expect)
	if want == "ok" and got == "ok" then
		local s = side.s
		local values = {
			version = s.version, alpn = s.alpn or "none",
			resumed = s.resumed and "yes" or "no", verified = s.verified and "yes" or "no",
		}
		for _, field in ipairs { "version", "alpn", "resumed", "verified" } do
			if t[field] and t[field] ~= values[field] then
				bad[#bad + 1] = ("%s: %s %s, expected %s"):format(name, field, tostring(values[field]), t[field])
			end
		end
	end
	if side.state == "failed" and type(side.err) == "table" then
		local e = side.err
		if not mutls.is_error(e) then bad[#bad + 1] = name .. ": not a mutls error object" end
		if tostring(e) ~= e.message then bad[#bad + 1] = name .. ": tostring(err) is not err.message" end
		if fragment and not H.contains(e.message, fragment) then
			bad[#bad + 1] = ("%s: the message %q does not contain %q"):format(name, e.message, fragment)
		end
		if hook_fragment and not (e.hook_message and H.contains(e.hook_message, hook_fragment)
				and H.contains(e.message, e.hook_message)) then
			bad[#bad + 1] = ("%s: hook_message %q does not contain %q or is not in the message"):format(name,
				tostring(e.hook_message), hook_fragment)
		end
		local want_cert = tokens(expect).peer_certificate
		if want_cert and (e.peer_certificate ~= nil) ~= (want_cert == "yes") then
			bad[#bad + 1] = ("%s: peer_certificate %s, expected %s"):format(name,
				tostring(e.peer_certificate ~= nil), want_cert)
		end
		local raised = own_hook and own_hook:match("^raise:(.*)$")
		if e.code == "hook" and raised and e.hook_message ~= raised then
			bad[#bad + 1] = ("%s: hook_message %q, expected %q"):format(name, tostring(e.hook_message), raised)
		end
	end
	return bad
end

-- ---- a case -------------------------------------------------------------------------

local function known_for(known, lang)
	local head = known and known:match("^([^:]*):")
	if not head then return false end
	for _, l in ipairs(split(head)) do
		if trim(l) == lang then return true end
	end
	return false
end

local function run_case(case)
	local kv = case.kv
	local hostname = kv.hostname
	assert(hostname, "no hostname")
	if hostname == "none" then hostname = nil end

	local w = new_world()
	w.idents.server = make_ident(w, kv["server.identity"])
	w.idents.client = make_ident(w, kv["client.identity"])
	w.crl = w.root.crl_pem

	local c, s = { state = "not-run" }, { state = "not-run" }
	local scfg, ccfg, err
	scfg, err = make_config(w, w.idents.server, kv["server.config"], kv["server.hook"])
	if not scfg then s = { state = "failed", err = err } end
	if scfg then
		ccfg, err = make_config(w, w.idents.client, kv["client.config"], kv["client.hook"])
		if not ccfg then c = { state = "failed", err = err } end
	end

	if scfg and ccfg then
		if kv.resume == "yes" then
			c, s = connect(ccfg, hostname, scfg)
			assert(c.state == "ok" and s.state == "ok", ("the first connection failed: %s / %s")
				:format(tostring(c.err), tostring(s.err)))
			local data = c.s.session_data
			assert(type(data) == "string", "no session data after the first connection")
			if kv["resume.client.config"] then
				ccfg = assert(make_config(w, w.idents.client,
					(kv["client.config"] or "") .. " " .. kv["resume.client.config"], kv["client.hook"]))
			end
			c, s = connect(ccfg, hostname, scfg, data)
		else
			c, s = connect(ccfg, hostname, scfg)
		end
	end

	local dump_path = os.getenv("MUTLS_SCENARIOS_DUMP")
	if dump_path and dump_path ~= "" then -- "id<TAB>side<TAB>outcome<TAB>message"
		local f = assert(io.open(dump_path, "a"))
		for _, pair in ipairs { { "server", s }, { "client", c } } do
			local e = pair[2].err
			f:write(("%s\t%s\t%s\t%s\n"):format(case.id, pair[1], outcome_text(pair[2]),
				e ~= nil and tostring(e) or ""))
		end
		f:close()
	end
	local bad = check("server", s, kv["expect.server"], kv["expect.server.message"], kv["server.hook"],
		kv["expect.server.hook_message"])
	for _, b in ipairs(check("client", c, kv["expect.client"], kv["expect.client.message"], kv["client.hook"],
			kv["expect.client.hook_message"])) do
		bad[#bad + 1] = b
	end
	assert(#bad == 0, "\n" .. table.concat(bad, "\n"))
end

describe("the scenario table (" .. mutls.abi .. ")", function()
	it("has at least 45 cases with distinct ids", function()
		local seen = {}
		for _, case in ipairs(CASES) do
			assert(not seen[case.id], "duplicate id " .. case.id)
			seen[case.id] = true
		end
		assert.is_true(#CASES >= 45)
	end)

	for _, case in ipairs(CASES) do
		local known = case.kv.known_difference
		if known_for(known, "lua") then
			pending(case.id .. " (known difference: " .. known .. ")")
		else
			it(case.id, function() run_case(case) end)
		end
	end
end)
