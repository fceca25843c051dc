/* Issue N P-256 leaves (default 1000) with a DNS SAN from one test CA and
 * report the rate, by wall clock and by this process's CPU time (what
 * bench/run's TestCA row measures; other load on the machine does not count
 * there). Usage: bench_pki [N] */
#define _POSIX_C_SOURCE 200809L
#include "mutls.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double seconds(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const char *const dns[] = { "bench.example.internal" };
	mutls_issue_options opts = MUTLS_ISSUE_OPTIONS_INIT;
	mutls_testca *ca = NULL;
	long n = 1000;
	double start, cpu_start, elapsed, cpu;
	int rc;

	if (argc > 1) {
		char *end;
		n = strtol(argv[1], &end, 10);
		if (*end || n <= 0) {
			fprintf(stderr, "usage: %s [count]\n", argv[0]);
			return 2;
		}
	}
	if ((rc = mutls_testca_new(&ca, NULL)) < 0) {
		fprintf(stderr, "testca: %s\n", mutls_error_message(mutls_error_last()));
		return 1;
	}
	opts.dns = dns;
	opts.dns_count = 1;

	start = seconds(CLOCK_MONOTONIC);
	cpu_start = seconds(CLOCK_PROCESS_CPUTIME_ID);
	for (long i = 0; i < n; i++) {
		mutls_identity *id = NULL;
		if ((rc = mutls_testca_issue(&id, ca, &opts)) < 0) {
			fprintf(stderr, "issue #%ld: %s\n", i, mutls_error_message(mutls_error_last()));
			mutls_testca_free(ca);
			return 1;
		}
		/* as the bindings and bench_worker do: the PEM texts are read */
		if (!mutls_identity_cert_pem(id) || !mutls_identity_key_pem(id)) {
			fprintf(stderr, "issue #%ld: no PEM\n", i);
			mutls_identity_free(id);
			mutls_testca_free(ca);
			return 1;
		}
		mutls_identity_free(id);
	}
	cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
	elapsed = seconds(CLOCK_MONOTONIC) - start;

	printf("issued %ld P-256 leaves in %.3f s (%.0f leaves/s; CPU %.3f s, %.0f leaves/s)\n",
		n, elapsed, elapsed > 0 ? (double)n / elapsed : 0.0,
		cpu, cpu > 0 ? (double)n / cpu : 0.0);
	mutls_testca_free(ca);
	return 0;
}
