/* The client engine fed fuzzer bytes as the server's stream (after its own
 * ClientHello went out). */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	fuzz_world *w = fuzz_world_get();
	mutls_session *s;
	if (mutls_session_client(&s, w->client_cfg, "orders.internal", -1) < 0)
		abort();
	fuzz_drive(s, data, size);
	mutls_session_free(s);
	return 0;
}
