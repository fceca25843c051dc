/* A tiny test runner: every TEST(name) registers a case; the program runs
 * the case named on its command line (ctest runs one case per process), or
 * every case when given none. A failed CHECK prints where and exits 1. */
#ifndef MUTLS_TESTLIB_H
#define MUTLS_TESTLIB_H

#include "mutls.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*testlib_fn)(void);
void testlib_register(const char *name, testlib_fn fn);
void testlib_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));

#define TEST(name) \
	static void test_##name(void); \
	__attribute__((constructor)) static void testlib_reg_##name(void) \
	{ testlib_register(#name, test_##name); } \
	static void test_##name(void)

#define CHECK(cond) do { if (!(cond)) testlib_fail(__FILE__, __LINE__, "CHECK(%s)", #cond); } while (0)
#define CHECK_INT(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
	if (a_ != b_) testlib_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, a_, #b, b_); } while (0)
#define CHECK_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
	if (!a_ || !b_ || strcmp(a_, b_) != 0) testlib_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } while (0)
#define CHECK_CONTAINS(hay, needle) do { const char *h_ = (hay), *n_ = (needle); \
	if (!h_ || !strstr(h_, n_)) testlib_fail(__FILE__, __LINE__, "%s == \"%s\" does not contain \"%s\"", #hay, h_ ? h_ : "(null)", n_); } while (0)
/* A mutls call that must succeed; prints the library's message if not. */
#define CHECK_OK(call) do { int rc_ = (call); if (rc_ != 0) { \
	const mutls_error *e_ = mutls_error_last(); \
	testlib_fail(__FILE__, __LINE__, "%s returned %d (%s): %s", #call, rc_, mutls_code_name(rc_), e_ ? mutls_error_message(e_) : "(no message)"); } } while (0)

#endif
