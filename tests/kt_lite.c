/* SPDX-License-Identifier: MIT */
/*
 * kt_lite.c - the runner behind kt_lite.h (see there): used instead of
 * Criterion in ThreadSanitizer builds.
 */
#define _GNU_SOURCE

#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kt_lite.h"

#define KT_LITE_MAX_TESTS 1024
#define KT_LITE_DEFAULT_TIMEOUT 300.0

/* Child exit codes. */
#define EXIT_PASS 0
#define EXIT_FAIL 1
#define EXIT_SKIP 77

struct kt_lite_test {
	const char *suite, *name;
	void (*fn)(void);
	void (*init)(void);
	void (*fini)(void);
	double timeout;
};

static struct kt_lite_test tests[KT_LITE_MAX_TESTS];
static int nr_tests;
static int expect_failures;	/* in the child: non-fatal failures so far */

void kt_lite_register(const char *suite, const char *name, void (*fn)(void),
		      const struct kt_lite_opts *so, const struct kt_lite_opts *to)
{
	struct kt_lite_test *t;

	if (nr_tests == KT_LITE_MAX_TESTS) {
		fprintf(stderr, "kt_lite: too many tests\n");
		abort();
	}
	t = &tests[nr_tests++];
	t->suite = suite;
	t->name = name;
	t->fn = fn;
	t->init = to->init ? to->init : so->init;
	t->fini = to->fini ? to->fini : so->fini;
	t->timeout = to->timeout > 0 ? to->timeout : so->timeout > 0 ? so->timeout
								      : KT_LITE_DEFAULT_TIMEOUT;
}

void kt_lite_fail(bool fatal, const char *file, int line, const char *expr,
		  const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "[----] %s:%d: Assertion Failed\n[----]   %s\n", file, line,
		msg[strspn(msg, " ")] ? msg + 1 : expr);
	fflush(stderr);
	if (fatal)
		_exit(EXIT_FAIL);
	expect_failures++;
}

void kt_lite_skip(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "[----] skipped:%s\n", msg);
	fflush(stderr);
	_exit(EXIT_SKIP);
}

void kt_lite_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "[----] ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

static int cmp_tests(const void *a, const void *b)
{
	const struct kt_lite_test *x = a, *y = b;
	int c = strcmp(x->suite, y->suite);

	return c ? c : strcmp(x->name, y->name);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run one test in a child; returns its wait status. */
static int run_one(const struct kt_lite_test *t)
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("kt_lite: fork");
		exit(2);
	}
	if (pid == 0) {
		alarm((unsigned)t->timeout + 1);
		if (t->init)
			t->init();
		t->fn();
		if (t->fini)
			t->fini();
		fflush(NULL);
		_exit(expect_failures ? EXIT_FAIL : EXIT_PASS);
	}
	while (waitpid(pid, &status, 0) < 0)
		;
	return status;
}

int main(int argc, char **argv)
{
	const char *filter = NULL;
	int tested = 0, passing = 0, failing = 0, crashing = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--filter") && i + 1 < argc)
			filter = argv[++i];
		else if (!strncmp(argv[i], "--filter=", 9))
			filter = argv[i] + 9;
		else if (!strcmp(argv[i], "--list")) {
			qsort(tests, (size_t)nr_tests, sizeof(tests[0]), cmp_tests);
			for (int k = 0; k < nr_tests; k++)
				printf("%s/%s\n", tests[k].suite, tests[k].name);
			return 0;
		}
	}
	qsort(tests, (size_t)nr_tests, sizeof(tests[0]), cmp_tests);
	for (int k = 0; k < nr_tests; k++) {
		const struct kt_lite_test *t = &tests[k];
		char full[256];
		double t0;
		int st;

		snprintf(full, sizeof(full), "%s/%s", t->suite, t->name);
		if (filter && fnmatch(filter, full, 0))
			continue;
		t0 = now();
		st = run_one(t);
		if (WIFEXITED(st) && WEXITSTATUS(st) == EXIT_SKIP) {
			fprintf(stderr, "[SKIP] %s::%s\n", t->suite, t->name);
			continue;
		}
		tested++;
		if (WIFEXITED(st) && WEXITSTATUS(st) == EXIT_PASS) {
			passing++;
			fprintf(stderr, "[PASS] %s::%s: (%.2fs)\n", t->suite, t->name, now() - t0);
		} else if (WIFEXITED(st)) {
			failing++;
			fprintf(stderr, "[FAIL] %s::%s: (%.2fs)\n", t->suite, t->name, now() - t0);
		} else {
			/* As in Criterion, Failing includes Crashing. */
			failing++;
			crashing++;
			fprintf(stderr, "[----] %s::%s: CRASH! (signal %d%s)\n", t->suite, t->name,
				WTERMSIG(st), WTERMSIG(st) == SIGALRM ? ", timed out" : "");
			fprintf(stderr, "[FAIL] %s::%s\n", t->suite, t->name);
		}
	}
	fprintf(stderr, "[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: %d \n",
		tested, passing, failing, crashing);
	return failing ? 1 : 0;
}
