--- Receive patterns shared by mutls.resty and mutls.socket.
--
-- receive(conn, pattern, opts) reads through a connection object that keeps
-- unread bytes in `conn._buf` and has `conn:_recv_some(max)` (data, or nil,
-- err). Patterns, as LuaSocket and cosockets have them: "*l"/"l" a line (LF
-- ends it, CRs are dropped), "*a"/"a" everything until the peer closes, or a
-- number of bytes. Returns data, or nil, err, partial.
--
-- opts: prefix (prepended to what is returned, LuaSocket's third argument),
-- chunk (bytes per read), eof_ok(conn, err) (is err at the end of "*a" an
-- orderly close: then the data is returned), check_size (refuse negative or
-- fractional sizes), bad_type and bad_pattern (the argument errors' texts).
local type, error = type, error
local find, sub, gsub = string.find, string.sub, string.gsub
local concat = table.concat

local M = {}

function M.receive(conn, pattern, opts)
	local prefix, chunk = opts.prefix or "", opts.chunk
	local buf = conn._buf
	if type(pattern) == "number" then
		local size = pattern
		if opts.check_size and (size < 0 or size % 1 ~= 0) then
			error("bad argument #1 to 'receive' (bad size)", 3)
		end
		while #buf < size do
			local data, err = conn:_recv_some(chunk)
			if not data then
				conn._buf = ""
				return nil, err, prefix .. buf
			end
			buf = buf .. data
		end
		conn._buf = sub(buf, size + 1)
		return prefix .. sub(buf, 1, size)
	end
	if type(pattern) ~= "string" then
		error("bad argument #1 to 'receive' (" .. opts.bad_type .. ")", 3)
	end
	if pattern == "*l" or pattern == "l" then
		while true do
			local nl = find(buf, "\n", 1, true)
			if nl then
				conn._buf = sub(buf, nl + 1)
				return prefix .. (gsub(sub(buf, 1, nl - 1), "\r", ""))
			end
			local data, err = conn:_recv_some(chunk)
			if not data then
				conn._buf = ""
				return nil, err, prefix .. (gsub(buf, "\r", ""))
			end
			buf = buf .. data
		end
	elseif pattern == "*a" or pattern == "a" then
		local parts = { prefix, buf }
		conn._buf = ""
		while true do
			local data, err = conn:_recv_some(chunk)
			if not data then
				if opts.eof_ok(conn, err) then
					return concat(parts)
				end
				return nil, err, concat(parts)
			end
			parts[#parts + 1] = data
		end
	end
	error("bad argument #1 to 'receive' (" .. opts.bad_pattern(pattern) .. ")", 3)
end

return M
