/* SPDX-License-Identifier: MIT */
/*
 * bench/test_bench_summary.c - the summary table of kmm_bench_run()
 * (bench_common.c: bench_summary_add(), kmm_bench_summary_print(),
 * kmm_bench_summary_reset(), kmm_bench_summary_rows()).
 *
 * No benchmark runs here: rows with known figures go in, and the printed
 * table and CSV are read back: the ratio of each row in its own direction,
 * alignment, quoting, the rejection of bad rows (and that they leave the
 * table as it was), the capacity, reset, and concurrent adds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef KT_NO_CRITERION
#include "kt_lite.h"
#else
#include <criterion/criterion.h>
#endif

#include "bench.h"
#include "bench_common.h"

TestSuite(bench_summary);

/* What kmm_bench_summary_print(@csv) writes, as a malloc'ed string. */
static char *printed(bool csv)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	kmm_bench_summary_print(f, csv);
	cr_assert_eq(fclose(f), 0);
	return buf;
}

/* The lines of @s (modified in place) into @line, at most @max. */
static unsigned split_lines(char *s, char **line, unsigned max)
{
	unsigned n = 0;
	char *save = NULL, *l;

	for (l = strtok_r(s, "\n", &save); l && n < max; l = strtok_r(NULL, "\n", &save))
		line[n++] = l;
	return n;
}

/* The index of the table's header line ("benchmark  operation ..."). */
static unsigned header_index(char **line, unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (!strncmp(line[i], "benchmark  ", 11))
			return i;
	cr_assert_fail("no header line");
	return 0;
}

/* The @k-th whitespace-separated field from the end of @l (0: the last). */
static void field_from_end(const char *l, unsigned k, char *out, size_t len)
{
	const char *end = l + strlen(l), *start;

	for (;;) {
		while (end > l && end[-1] == ' ')
			end--;
		start = end;
		while (start > l && start[-1] != ' ')
			start--;
		if (!k--)
			break;
		end = start;
	}
	snprintf(out, len, "%.*s", (int)(end - start), start);
}

Test(bench_summary, empty_prints_nothing)
{
	char *s;

	kmm_bench_summary_reset();
	cr_assert_eq(kmm_bench_summary_rows(), 0);
	s = printed(true);
	cr_assert_str_eq(s, "");
	free(s);
}

Test(bench_summary, rows_ratios_in_their_direction_aligned)
{
	char *s, *line[16], f[32];
	unsigned n, h, i;

	kmm_bench_summary_reset();
	cr_assert_eq(bench_summary_add("page_alloc", "order-0 pair, 1T", 10, 25, "ns/op",
				       "malloc(4096)", BENCH_RATIO_BASE_OVER_KMM), 0);
	cr_assert_eq(bench_summary_add("contig", "(b) alloc_contig_range, user", 0.8, 0.2,
				       "ms/MiB", "memcpy", BENCH_RATIO_KMM_OVER_BASE), 0);
	cr_assert_eq(kmm_bench_summary_rows(), 2);
	s = printed(false);
	cr_assert(strstr(s, "\n==> summary <==\n") == s, "%s", s);
	cr_assert_null(strstr(s, "benchmark,operation"), "CSV without csv");
	n = split_lines(s, line, 16);
	h = header_index(line, n);
	cr_assert_eq(n, h + 3, "header and 2 rows, got %u lines", n);
	for (i = h + 1; i < n; i++)
		cr_assert_eq(strlen(line[i]), strlen(line[h]), "misaligned: '%s' vs '%s'",
			     line[i], line[h]);
	cr_assert(!strncmp(line[h + 1], "page_alloc  order-0 pair, 1T", 28), "%s", line[h + 1]);
	field_from_end(line[h + 1], 0, f, sizeof(f));
	cr_assert_str_eq(f, "base/kmm");
	field_from_end(line[h + 1], 1, f, sizeof(f));
	cr_assert_str_eq(f, "2.50");		/* 25 / 10 */
	field_from_end(line[h + 1], 3, f, sizeof(f));
	cr_assert_str_eq(f, "malloc(4096)");
	field_from_end(line[h + 2], 0, f, sizeof(f));
	cr_assert_str_eq(f, "kmm/base");
	field_from_end(line[h + 2], 1, f, sizeof(f));
	cr_assert_str_eq(f, "4.00");		/* 0.8 / 0.2 */
	field_from_end(line[h + 2], 4, f, sizeof(f));
	cr_assert_str_eq(f, "0.8000");
	free(s);
}

Test(bench_summary, csv_quotes_and_full_precision)
{
	char *s, *c;

	kmm_bench_summary_reset();
	cr_assert_eq(bench_summary_add("vmalloc", "fix_size 1p", 8276.5, 7136.25, "ns/op",
				       "mmap(MAP_POPULATE)", BENCH_RATIO_BASE_OVER_KMM), 0);
	cr_assert_eq(bench_summary_add("contig", "(a) alloc_contig_range, free", 0.0038,
				       0.0981, "ms/MiB", "memcpy", BENCH_RATIO_KMM_OVER_BASE), 0);
	s = printed(true);
	c = strstr(s, "\nbenchmark,operation,unit,kmm,baseline,baseline_value,ratio,ratio_is\n");
	cr_assert_not_null(c, "%s", s);
	cr_assert_not_null(strstr(c, "\nvmalloc,\"fix_size 1p\",ns/op,8276.5,\"mmap(MAP_POPULATE)\","
				     "7136.25,0.86223,base/kmm\n"), "%s", c);
	cr_assert_not_null(strstr(c, "\ncontig,\"(a) alloc_contig_range, free\",ms/MiB,0.0038,"
				     "\"memcpy\",0.0981,0.038736,kmm/base\n"), "%s", c);
	free(s);
}

Test(bench_summary, small_ratio_stays_positive)
{
	char *s, *line[16], f[32];
	unsigned n, h;

	kmm_bench_summary_reset();
	cr_assert_eq(bench_summary_add("contig", "(a) free_contig_range", 0.0004, 0.1, "ms/MiB",
				       "memcpy", BENCH_RATIO_KMM_OVER_BASE), 0);
	s = printed(false);
	n = split_lines(s, line, 16);
	h = header_index(line, n);
	cr_assert_eq(n, h + 2);
	field_from_end(line[h + 1], 1, f, sizeof(f));
	cr_assert_str_eq(f, "0.004");
	cr_assert_gt(strtod(f, NULL), 0);
	field_from_end(line[h + 1], 4, f, sizeof(f));
	cr_assert_str_eq(f, "0.0004");
	free(s);
}

Test(bench_summary, bad_rows_rejected_table_intact)
{
	static const double bad[] = { 0, -1, NAN, INFINITY };
	char *before, *after;
	unsigned i;

	kmm_bench_summary_reset();
	cr_assert_eq(bench_summary_add("page_alloc", "op", 10, 20, "ns/op", "malloc",
				       BENCH_RATIO_BASE_OVER_KMM), 0);
	before = printed(true);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(bench_summary_add("page_alloc", "op", bad[i], 20, "ns/op", "malloc",
					       BENCH_RATIO_BASE_OVER_KMM), -EINVAL, "kmm %g", bad[i]);
		cr_assert_eq(bench_summary_add("page_alloc", "op", 10, bad[i], "ns/op", "malloc",
					       BENCH_RATIO_BASE_OVER_KMM), -EINVAL, "base %g", bad[i]);
	}
	cr_assert_eq(bench_summary_add(NULL, "op", 1, 2, "ns/op", "m", BENCH_RATIO_BASE_OVER_KMM),
		     -EINVAL);
	cr_assert_eq(bench_summary_add("b", NULL, 1, 2, "ns/op", "m", BENCH_RATIO_BASE_OVER_KMM),
		     -EINVAL);
	cr_assert_eq(bench_summary_add("b", "op", 1, 2, NULL, "m", BENCH_RATIO_BASE_OVER_KMM),
		     -EINVAL);
	cr_assert_eq(bench_summary_add("b", "op", 1, 2, "ns/op", NULL, BENCH_RATIO_BASE_OVER_KMM),
		     -EINVAL);
	cr_assert_eq(bench_summary_add("b", "op", 1, 2, "ns/op", "m", (enum bench_ratio_dir)7),
		     -EINVAL);
	cr_assert_eq(kmm_bench_summary_rows(), 1);
	after = printed(true);
	cr_assert_str_eq(after, before);
	free(before);
	free(after);
}

Test(bench_summary, capacity_then_enospc_and_reset)
{
	char op[32], *s, *line[BENCH_SUMMARY_MAX + 16];
	unsigned i, n, h;

	kmm_bench_summary_reset();
	for (i = 0; i < BENCH_SUMMARY_MAX; i++) {
		snprintf(op, sizeof(op), "op %u", i);
		cr_assert_eq(bench_summary_add("b", op, i + 1, 2 * (i + 1), "ns/op", "m",
					       BENCH_RATIO_BASE_OVER_KMM), 0, "row %u", i);
	}
	cr_assert_eq(bench_summary_add("b", "one too many", 1, 2, "ns/op", "m",
				       BENCH_RATIO_BASE_OVER_KMM), -ENOSPC);
	cr_assert_eq(kmm_bench_summary_rows(), BENCH_SUMMARY_MAX);
	s = printed(false);
	cr_assert_null(strstr(s, "one too many"));
	n = split_lines(s, line, BENCH_SUMMARY_MAX + 16);
	h = header_index(line, n);
	cr_assert_eq(n - h - 1, BENCH_SUMMARY_MAX);
	free(s);
	kmm_bench_summary_reset();
	cr_assert_eq(kmm_bench_summary_rows(), 0);
	s = printed(true);
	cr_assert_str_eq(s, "");
	free(s);
	cr_assert_eq(bench_summary_add("b", "after reset", 1, 2, "ns/op", "m",
				       BENCH_RATIO_BASE_OVER_KMM), 0);
	cr_assert_eq(kmm_bench_summary_rows(), 1);
}

Test(bench_summary, long_strings_truncated)
{
	/* The op field holds 63 characters (char op[64]): a 199-character
	 * name prints as exactly 63 x between the column gaps, never 64. */
	enum { KEPT = 63 };
	char longop[200], kept[KEPT + 5], too_many[KEPT + 2], *s;

	memset(longop, 'x', sizeof(longop) - 1);
	longop[sizeof(longop) - 1] = 0;
	snprintf(kept, sizeof(kept), "  %.*s  ", KEPT, longop);
	snprintf(too_many, sizeof(too_many), "%.*s", KEPT + 1, longop);
	kmm_bench_summary_reset();
	cr_assert_eq(bench_summary_add("b", longop, 1, 2, "ns/op", "m",
				       BENCH_RATIO_BASE_OVER_KMM), 0);
	s = printed(false);
	cr_assert_not_null(strstr(s, kept), "%s", s);
	cr_assert_null(strstr(s, too_many), "%s", s);
	free(s);
}

#define ADDERS 4
#define ADDS 12

static void *adder(void *arg)
{
	unsigned t = (unsigned)(uintptr_t)arg, i;
	char op[32];

	for (i = 0; i < ADDS; i++) {
		snprintf(op, sizeof(op), "t%u op %u", t, i);
		if (bench_summary_add("threads", op, 1, 2, "ns/op", "m",
				      BENCH_RATIO_BASE_OVER_KMM))
			return (void *)1;
	}
	return NULL;
}

Test(bench_summary, concurrent_adds_all_kept)
{
	pthread_t tid[ADDERS];
	char *s, want[32];
	void *r;
	unsigned t, i;

	kmm_bench_summary_reset();
	for (t = 0; t < ADDERS; t++)
		cr_assert_eq(pthread_create(&tid[t], NULL, adder, (void *)(uintptr_t)t), 0);
	for (t = 0; t < ADDERS; t++) {
		cr_assert_eq(pthread_join(tid[t], &r), 0);
		cr_assert_null(r, "thread %u failed to add", t);
	}
	cr_assert_eq(kmm_bench_summary_rows(), ADDERS * ADDS);
	s = printed(false);
	for (t = 0; t < ADDERS; t++)
		for (i = 0; i < ADDS; i++) {
			snprintf(want, sizeof(want), "  t%u op %u  ", t, i);
			cr_assert_not_null(strstr(s, want), "%s missing", want);
		}
	free(s);
}
