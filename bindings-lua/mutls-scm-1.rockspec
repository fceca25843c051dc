-- LuaRocks build of the mutls Lua binding (Lua 5.4 or LuaJIT 2.1).
--
-- From the repository root (luarocks make builds in the current directory):
--
--   luarocks make bindings-lua/mutls-scm-1.rockspec                   # default Lua
--   luarocks --lua-version 5.4 make bindings-lua/mutls-scm-1.rockspec
--   luarocks --lua-version 5.1 make bindings-lua/mutls-scm-1.rockspec \
--            LUA_INCDIR=/usr/include/luajit-2.1                       # LuaJIT
--   luarocks --tree /tmp/rocks make bindings-lua/mutls-scm-1.rockspec # a private tree
--
-- scripts/check-packaging (run by scripts/test) builds it both ways into
-- temporary trees, runs the README's Lua snippet with each, and checks that
-- the source list below is every csrc/*.c and bindings-lua/src/*.c (CMake
-- and setup.py glob them; this list is by hand). The builtin backend leaves
-- its object files next to the sources; remove them with:
-- rm -f csrc/*.o bindings-lua/src/*.o mutls.so
--
-- The "builtin" backend compiles the C core (csrc/*.c) together with the
-- binding (bindings-lua/src/*.c) into one mutls.so for the Lua that luarocks
-- targets, and installs the pure-Lua adapters mutls.socket and mutls.resty.
-- Needs the GnuTLS headers (Debian: libgnutls28-dev) and a C11 compiler.
-- The CMake build (cmake -S . -B build) is the project's main build; it makes
-- build/lua/5.4/mutls.so and build/lua/jit/mutls.so from the same sources.
rockspec_format = "3.0"
package = "mutls"
version = "scm-1"

source = {
	url = "git+file:///work/main", -- not used by `luarocks make`
}

description = {
	summary = "Mutual TLS over GnuTLS: sessions, verification with reasons, hooks, a test PKI",
	detailed = [[
mutls wraps GnuTLS for mutual TLS. The Lua binding gives mutls.config{...},
cfg:client{...} / cfg:server{...} sessions over a file descriptor or in memory
(sans-IO), certificates, a test CA (mutls.testca{...}) and errors that say
which step failed, on which side, and why. mutls.socket adapts it to
LuaSocket, mutls.resty to OpenResty cosockets.
]],
	license = "MIT",
}

dependencies = {
	"lua >= 5.1, < 5.5",
}

external_dependencies = {
	GNUTLS = {
		header = "gnutls/gnutls.h",
		library = "gnutls",
	},
}

build = {
	type = "builtin",
	modules = {
		mutls = {
			sources = {
				"bindings-lua/src/module.c",
				"bindings-lua/src/errors.c",
				"bindings-lua/src/config.c",
				"bindings-lua/src/session.c",
				"bindings-lua/src/certificate.c",
				"bindings-lua/src/testca.c",
				"bindings-lua/src/hooks.c",
				"bindings-lua/src/convert.c",
				"csrc/chain_cache.c",
				"csrc/config.c",
				"csrc/crl.c",
				"csrc/crl_checks.c",
				"csrc/der.c",
				"csrc/error.c",
				"csrc/explain.c",
				"csrc/failure.c",
				"csrc/identity.c",
				"csrc/keygen.c",
				"csrc/key_strength.c",
				"csrc/malformed.c",
				"csrc/nc_names.c",
				"csrc/nc_unreadable.c",
				"csrc/own_certificate.c",
				"csrc/path_checks.c",
				"csrc/path_retry.c",
				"csrc/policy.c",
				"csrc/session.c",
				"csrc/session_cache.c",
				"csrc/source.c",
				"csrc/testca.c",
				"csrc/trace.c",
				"csrc/transport.c",
				"csrc/util.c",
				"csrc/verify.c",
				"csrc/verify_time.c",
				"csrc/x509.c",
				"csrc/x509_fields.c",
			},
			incdirs = { "csrc/include", "csrc", "bindings-lua/src", "$(GNUTLS_INCDIR)" },
			libdirs = { "$(GNUTLS_LIBDIR)" },
			libraries = { "gnutls", "pthread" },
		},
		["mutls.socket"] = "bindings-lua/mutls/socket.lua",
		["mutls.resty"] = "bindings-lua/mutls/resty.lua",
		["mutls.https"] = "bindings-lua/mutls/https.lua",
		["mutls.receive"] = "bindings-lua/mutls/receive.lua",
		["mutls.nginx"] = "bindings-lua/mutls/nginx.lua",
	},
}
