-- The quick soak (tests/soak/soak.lua, issue 5.6) under the interpreter
-- running busted: 3,000 full mTLS handshakes in memory mode in a fresh
-- process, RSS sampled every 1,000 after a full collectgarbage(); RSS may
-- grow at most 2 MiB between handshake 1,000 and 3,000. The long run
-- (100,000; 1 MiB from 10,000) is documented in docs/hardening.md.
local H = require "helpers"

local function repo_root()
	local src = debug.getinfo(1, "S").source:gsub("^@", "")
	if src:sub(1, 1) ~= "/" then
		local p = io.popen("pwd")
		src = p:read("*l") .. "/" .. src
		p:close()
	end
	return src:match("^(.*)/tests/lua/[^/]*$") or "."
end

local SOAK = repo_root() .. "/tests/soak/soak.lua"
-- the same interpreter (and so the same module ABI, via LUA_CPATH);
-- MUTLS_LUA names another (scripts/sanitize-bindings: its ASan launcher)
local INTERP = os.getenv("MUTLS_LUA") or (jit and "luajit" or "lua5.4")
-- Under ASan RSS is the quarantine's, not ours: every handshake is still
-- checked, the RSS bound is not.
local BOUND = os.getenv("MUTLS_UNDER_SANITIZER") and 10000000 or 2048

local function run(args)
	local p = assert(io.popen(("timeout -k 2 90 %s %s %s 2>&1; echo \"__exit=$?\""):format(INTERP, SOAK, args)))
	local out = p:read("*a")
	p:close()
	local code = tonumber(out:match("__exit=(%d+)%s*$"))
	return out, code
end

describe("soak (quick)", function()
	it("3,000 handshakes: RSS grows at most 2 MiB from 1,000 to 3,000 (" .. INTERP .. ")", function()
		local out, code = run("3000 --every 1000 --base 1000 --max-growth-kib " .. BOUND)
		assert.equal(0, code, out)
		local rss, order = {}, {}
		for n, kib in out:gmatch("\n%s+(%d+)%s+(%d+)%s") do
			order[#order + 1] = tonumber(n)
			rss[tonumber(n)] = tonumber(kib)
		end
		assert.same({ 0, 1000, 2000, 3000 }, order, out)
		assert.is_true(rss[3000] - rss[1000] <= BOUND, out)
		local growth = out:match("RSS growth from 1000 to 3000 handshakes: ([+-]%d+) KiB %(bound " .. BOUND .. " KiB%): ok")
		assert.truthy(growth, out)
		assert.equal(rss[3000] - rss[1000], tonumber(growth))
	end)

	it("the verdict can fail: an impossible bound exits 1", function()
		local out, code = run("200 --every 100 --base 100 --max-growth-kib -100000")
		assert.equal(1, code, out)
		assert.truthy(H.contains(out, "TOO MUCH"), out)
	end)
end)
