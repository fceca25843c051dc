/* Certificate parsing: DER, PEM and PEM lists, then every accessor. */
#include "fuzz_common.h"

static void touch(const mutls_x509 *c)
{
	char *text = NULL, **names = NULL;
	size_t count = 0;
	if (mutls_x509_subject(&text, c) == 0) mutls_free(text);
	if (mutls_x509_issuer(&text, c) == 0) mutls_free(text);
	if (mutls_x509_common_name(&text, c) == 0) mutls_free(text);
	if (mutls_x509_serial(&text, c) == 0) mutls_free(text);
	if (mutls_x509_fingerprint(&text, c, "sha256") == 0) mutls_free(text);
	if (mutls_x509_pem(&text, c) == 0) mutls_free(text);
	for (int t = MUTLS_SAN_DNS; t <= MUTLS_SAN_EMAIL; t++)
		if (mutls_x509_names(&names, &count, c, (mutls_san_type)t) == 0)
			mutls_strings_free(names, count);
	(void)mutls_x509_not_before(c);
	(void)mutls_x509_not_after(c);
	(void)mutls_x509_is_ca(c);
	(void)mutls_x509_key_type(c);
	(void)mutls_x509_label(c);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	mutls_x509 *c = NULL, **list = NULL;
	size_t n = 0;
	char *text;

	if (mutls_x509_from_der(&c, data, size) == 0) {
		touch(c);
		mutls_x509_unref(c);
	}
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	if (mutls_x509_list_from_pem(&list, &n, text, size) == 0) {
		for (size_t i = 0; i < n; i++)
			touch(list[i]);
		mutls_x509_list_free(list, n);
	}
	free(text);
	return 0;
}
