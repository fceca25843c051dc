#include "testlib.h"
#include <stdarg.h>

#define TESTLIB_MAX 256

static struct { const char *name; testlib_fn fn; } cases[TESTLIB_MAX];
static int ncases;

void testlib_register(const char *name, testlib_fn fn)
{
	if (ncases < TESTLIB_MAX) {
		cases[ncases].name = name;
		cases[ncases].fn = fn;
		ncases++;
	}
}

void testlib_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s:%d: FAIL: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

int main(int argc, char **argv)
{
	int ran = 0;
	for (int i = 0; i < ncases; i++) {
		if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
			continue;
		printf("%s ... ", cases[i].name);
		fflush(stdout);
		cases[i].fn();
		printf("ok\n");
		ran++;
	}
	if (ran == 0) {
		fprintf(stderr, "no test case named %s\n", argc > 1 ? argv[1] : "(any)");
		return 1;
	}
	return 0;
}
