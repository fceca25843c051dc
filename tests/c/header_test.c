/* Compiled with -Wall -Wextra -pedantic -Werror -std=c99: the public header
 * must stand alone. */
#include "mutls.h"

int mutls_header_test_dummy(void);
int mutls_header_test_dummy(void)
{
	mutls_issue_options issue = MUTLS_ISSUE_OPTIONS_INIT;
	mutls_testca_options ca = MUTLS_TESTCA_OPTIONS_INIT;
	return (int)issue.version + (int)ca.version;
}
