-- mtls_upstream.lua: the Lua side of examples/openresty/nginx.conf.
--
-- orders(): one mTLS request to the upstream with mutls.resty.connect — the
--   handshake, the checks of the upstream's certificate, the I/O all run on
--   nginx cosockets, so the worker serves other requests meanwhile.
-- proof(): n such requests at once in light threads while a ticker sleeps
--   1 ms at a time; if any handshake blocked the worker, the ticker could not
--   tick during it. Answers with the counts.

local mutls = require "mutls"
local mresty = require "mutls.resty"

local M = {}

local cfg, cfg_err -- one config, shared by every request

-- init_by_lua: runs in the master process, before the workers fork. The
-- config reads the key files here (the master can read a 0600 key; the
-- workers may run as another user) and every worker inherits it.
function M.init()
	local pki = ngx.config.prefix() .. "build/openresty/pki/"
	cfg, cfg_err = mutls.config{
		certificate = pki .. "client/chain.pem", -- who we are
		private_key = pki .. "client/key.pem",
		trust = pki .. "ca.pem",                 -- whom we trust for the upstream
		-- peers = { "dns:localhost" },          -- optional identity policy
	}
	if not cfg then
		ngx.log(ngx.ERR, "mutls config: ", tostring(cfg_err))
	end
end

local function config()
	return cfg, cfg_err
end

local function upstream()
	local target = os.getenv("MUTLS_UPSTREAM") or "127.0.0.1:8443"
	local host, port = target:match("^(.*):(%d+)$")
	return host, tonumber(port)
end

-- One call: connect + handshake, send a line, read the reply line.
-- Returns a table describing what happened (ok or the error's fields).
local function call(message)
	local c, err = config()
	if not c then
		return { ok = false, stage = "config", err = err }
	end
	local host, port = upstream()
	local conn
	conn, err = mresty.connect(host, port, { config = c, timeout = 5000 })
	if not conn then
		return { ok = false, stage = "handshake", err = err }
	end
	local r = { ok = true, version = conn.session.version, cipher = conn.session.cipher,
		server = conn.session.peer_certificate.subject, verified = conn.session.verified }
	local sent
	sent, err = conn:send(message .. "\n")
	local reply = sent and conn:receive("*l")
	if not reply then
		-- TLS 1.3: an upstream that refused our certificate says so here
		local _, rerr = conn:receive("*l")
		conn:close()
		return { ok = false, stage = "receive", err = err or rerr }
	end
	conn:close()
	r.reply = reply
	return r
end

local function say_error(r)
	local err = r.err
	ngx.say("mTLS call failed at ", r.stage, ":")
	if type(err) == "string" then
		ngx.say("  ", err) -- a socket error ("connection refused", "timeout", ...)
	else
		ngx.say("  ", tostring(err)) -- one sentence: who refused, where, why
		ngx.say("  code ", tostring(err.code), ", reasons ", table.concat(err.reasons or {}, ","),
			", side ", tostring(err.side), ", alert ", tostring(err.alert))
	end
end

function M.orders()
	local r = call("order 42: status?")
	if not r.ok then
		ngx.status = 502
		return say_error(r)
	end
	ngx.say("upstream ", r.server, " (", r.verified and "verified" or "NOT verified", ", ",
		r.version, ", ", r.cipher, ")")
	ngx.say("reply: ", r.reply)
end

function M.proof()
	local n = tonumber(ngx.var.arg_n) or 10
	local ticks, running, max_gap = 0, true, 0
	local ticker = ngx.thread.spawn(function()
		ngx.update_time()
		local last = ngx.now()
		while running do
			ngx.sleep(0.001)
			ngx.update_time()
			local now = ngx.now()
			if now - last > max_gap then max_gap = now - last end
			last = now
			ticks = ticks + 1
		end
	end)
	ngx.update_time()
	local t0 = ngx.now()
	local threads, ok, failed, last = {}, 0, 0, nil
	for i = 1, n do
		threads[i] = ngx.thread.spawn(call, "call " .. i)
	end
	for i = 1, n do
		local _, r = ngx.thread.wait(threads[i])
		if r and r.ok then ok = ok + 1 else failed = failed + 1; last = r end
	end
	ngx.update_time()
	local elapsed = ngx.now() - t0
	running = false
	ngx.thread.wait(ticker)
	ngx.say(("%d mTLS calls in %.0f ms: %d ok, %d failed"):format(n, elapsed * 1000, ok, failed))
	ngx.say(("a light thread sleeping 1 ms at a time ticked %d times meanwhile; its longest wait "
		.. "was %.1f ms"):format(ticks, max_gap * 1000))
	if ok == n and ticks > 0 then
		ngx.say("the calls waited on cosockets: between the CPU work of the handshakes the worker ran other code")
	end
	if last then say_error(last) end
end

return M
