/* The server engine fed fuzzer bytes as the client's stream. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	fuzz_world *w = fuzz_world_get();
	mutls_session *s;
	if (mutls_session_server(&s, w->server_cfg, -1) < 0)
		abort();
	fuzz_drive(s, data, size);
	mutls_session_free(s);
	return 0;
}
