/* SPDX-License-Identifier: MIT */
/*
 * test_reports.c - /proc/buddyinfo, /proc/pagetypeinfo, /proc/zoneinfo and
 * /proc/meminfo: the kernel's line formats, numbers consistent with the
 * zones they describe, and snprintf-style truncation.
 */
#define _GNU_SOURCE

#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "kmm_test.h"

TestSuite(reports, .fini = kt_fini, .timeout = 120);

typedef size_t (*report_fn)(char *buf, size_t size);

/* The whole report in a malloc'ed buffer, checking the length protocol. */
static char *report(report_fn fn)
{
	size_t need = fn(NULL, 0), got;
	char *buf = malloc(need + 1);

	cr_assert_not_null(buf);
	got = fn(buf, need + 1);
	cr_assert_eq(got, need, "the report's length changed between calls");
	cr_assert_eq(strlen(buf), need);
	if (need)
		cr_assert_eq(buf[need - 1], '\n', "a report ends with a newline");
	return buf;
}

/* Split @text into lines (in place); returns the count. */
static int split_lines(char *text, char ***out)
{
	int n = 0, cap = 64;
	char **v = malloc((size_t)cap * sizeof(*v)), *save = NULL, *l;

	for (l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (n == cap) {
			cap *= 2;
			v = realloc(v, (size_t)cap * sizeof(*v));
		}
		v[n++] = l;
	}
	*out = v;
	return n;
}

static void fmt_append(char **buf, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fmt_append(char **buf, size_t *len, const char *fmt, ...)
{
	va_list ap;
	char tmp[512];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	*buf = realloc(*buf, *len + (size_t)n + 1);
	memcpy(*buf + *len, tmp, (size_t)n + 1);
	*len += (size_t)n;
}

/* /proc/buddyinfo as the kernel's frag_show() writes it, from zone data. */
static char *expected_buddyinfo(void)
{
	char *s = NULL;
	size_t len = 0;

	fmt_append(&s, &len, "%s", "");
	for (unsigned nid = 0; nid < kmm_machine.nr_nodes; nid++)
		for (int zi = 0; zi < KMM_MAX_NR_ZONES; zi++) {
			struct kmm_zone *z = kt_zone((int)nid, zi);

			if (!kmm_zone_is_populated(z))
				continue;
			fmt_append(&s, &len, "Node %u, zone %8s ", nid, z->name);
			for (int o = 0; o < KMM_NR_PAGE_ORDERS; o++)
				fmt_append(&s, &len, "%6lu ", z->free_area[o].nr_free);
			fmt_append(&s, &len, "\n");
		}
	return s;
}

static unsigned long meminfo_value(const char *mi, const char *label)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "\n%s:", label);
	if (!strncmp(mi, key + 1, strlen(key + 1)))
		p = mi;
	else
		p = strstr(mi, key);
	cr_assert_not_null(p, "meminfo has no %s line", label);
	if (*p == '\n')
		p++;
	p += strlen(key + 1);
	return strtoul(p, NULL, 10);
}

/* ---- buddyinfo ---------------------------------------------------------------- */

Test(reports, buddyinfo_exact_format)
{
	char *got, *want;

	kt_boot("mem=64M nr_cpus=2");
	got = report(kmm_report_buddyinfo);
	want = expected_buddyinfo();
	cr_assert_str_eq(got, want);
	/* The line a 64 MiB machine's DMA zone has on any kernel. */
	cr_assert_not_null(strstr(got, "Node 0, zone      DMA      0      0      0      0"
				       "      0      0      0      0      0      0      4 \n"),
			   "%s", got);
	cr_assert_eq(strncmp(got, "Node 0, zone      DMA ", 22), 0);
	cr_assert_not_null(strstr(got, "\nNode 0, zone    DMA32 "));
	cr_assert_null(strstr(got, "Normal"), "unpopulated zones are not listed");
	free(got);
	free(want);
}

static void check_buddyinfo_sums(void)
{
	char *bi = report(kmm_report_buddyinfo), *mi = report(kmm_report_meminfo);
	char **lines;
	int n = split_lines(bi, &lines);
	uint64_t pages = 0;

	for (int i = 0; i < n; i++) {
		char zone[16];
		int nid, off = 0;

		cr_assert_eq(sscanf(lines[i], "Node %d, zone %15s%n", &nid, zone, &off), 2,
			     "bad line \"%s\"", lines[i]);
		const char *p = lines[i] + off;
		for (int o = 0; o < KMM_NR_PAGE_ORDERS; o++) {
			char *end;
			unsigned long v = strtoul(p, &end, 10);

			cr_assert_neq(end, p, "missing order %d in \"%s\"", o, lines[i]);
			pages += (uint64_t)v << o;
			p = end;
		}
		cr_assert_str_eq(p, " ", "trailing text in \"%s\"", lines[i]);
	}
	cr_assert_eq(pages, kmm_nr_free_pages());
	cr_assert_eq(pages * 4, meminfo_value(mi, "MemFree"),
		     "buddyinfo sums to %llu pages, MemFree says %lu kB",
		     (unsigned long long)pages, meminfo_value(mi, "MemFree"));
	free(lines);
	free(bi);
	free(mi);
}

Test(reports, buddyinfo_follows_allocations)
{
	struct kt_blocks b = { 0 };
	uint64_t rs = kt_seed("buddyinfo");

	kt_boot("mem=128M nr_cpus=2 cma=8M");
	check_buddyinfo_sums();
	for (int i = 0; i < 500; i++) {
		unsigned o = (unsigned)(kt_rand(&rs) % 11);
		struct kmm_page *p;

		cr_assert_eq(kmm_bind_cpu((int)(kt_rand(&rs) % 2)), 0);
		if (b.n && kt_rand(&rs) % 3 == 0) {
			struct kt_block k = kt_blocks_take(&b, kt_rand(&rs) % b.n);

			kmm___free_pages(k.page, k.order);
		} else if ((p = kmm_alloc_pages(KMM_GFP_HIGHUSER_MOVABLE | KMM___GFP_NOWARN, o))) {
			kt_blocks_push(&b, p, o, 0);
		}
		if (i % 50 == 0) {
			char *got = report(kmm_report_buddyinfo), *want = expected_buddyinfo();

			cr_assert_str_eq(got, want);
			free(got);
			free(want);
			check_buddyinfo_sums();
		}
	}
	kt_blocks_free_all(&b);
	check_buddyinfo_sums();
	kt_blocks_destroy(&b);
}

Test(reports, buddyinfo_numa_and_normal)
{
	char *got;

	kt_boot("mem=256M numa=2");
	got = report(kmm_report_buddyinfo);
	cr_assert_eq(strncmp(got, "Node 0, zone      DMA ", 22), 0);
	cr_assert_not_null(strstr(got, "\nNode 0, zone    DMA32 "));
	cr_assert_not_null(strstr(got, "\nNode 1, zone    DMA32 "));
	cr_assert_null(strstr(got, "Node 1, zone      DMA "));
	free(got);
	kt_shutdown();

	kt_boot("mem=8G kmm.mode=shadow movablecore=1G");
	got = report(kmm_report_buddyinfo);
	char *want = expected_buddyinfo();
	cr_assert_str_eq(got, want);
	cr_assert_not_null(strstr(got, "\nNode 0, zone   Normal "));
	cr_assert_not_null(strstr(got, "\nNode 0, zone  Movable "));
	free(got);
	free(want);
}

/* ---- pagetypeinfo ----------------------------------------------------------- */

static void check_pagetypeinfo(void)
{
	char *pti = report(kmm_report_pagetypeinfo);
	char **lines;
	int n = split_lines(pti, &lines), i = 0;
	char want[512];

	for (unsigned nid = 0; nid < kmm_machine.nr_nodes; nid++) {
		cr_assert_lt(i + 3, n);
		cr_assert_str_eq(lines[i++], "Page block order: 9");
		cr_assert_str_eq(lines[i++], "Pages per block:  512");
		cr_assert_str_eq(lines[i++],
				 "Free pages count per migrate type at order       0      1      2"
				 "      3      4      5      6      7      8      9     10 ");
		for (int zi = 0; zi < KMM_MAX_NR_ZONES; zi++) {
			struct kmm_zone *z = kt_zone((int)nid, zi);

			if (!kmm_zone_is_populated(z))
				continue;
			for (int mt = 0; mt < KMM_MIGRATE_TYPES; mt++) {
				int len = snprintf(want, sizeof(want), "Node %4u, zone %8s, type %12s ",
						   nid, z->name, kmm_migratetype_names[mt]);

				for (int o = 0; o < KMM_NR_PAGE_ORDERS; o++)
					len += snprintf(want + len, sizeof(want) - (size_t)len, "%6lu ",
							z->free_area[o].nr_free_mt[mt]);
				cr_assert_lt(i, n);
				cr_assert_str_eq(lines[i++], want);
			}
		}
		cr_assert_lt(i, n);
		cr_assert_str_eq(lines[i++],
				 "Number of blocks type     Unmovable      Movable  Reclaimable"
				 "   HighAtomic          CMA      Isolate ");
		for (int zi = 0; zi < KMM_MAX_NR_ZONES; zi++) {
			struct kmm_zone *z = kt_zone((int)nid, zi);
			unsigned long total = 0, blocks;
			int len;

			if (!kmm_zone_is_populated(z))
				continue;
			blocks = (unsigned long)((z->spanned_pages + KMM_PAGEBLOCK_NR_PAGES - 1) /
						 KMM_PAGEBLOCK_NR_PAGES);
			len = snprintf(want, sizeof(want), "Node %u, zone %8s ", nid, z->name);
			for (int mt = 0; mt < KMM_MIGRATE_TYPES; mt++) {
				unsigned long c = kt_zone_blocks_mt(z, mt);

				total += c;
				len += snprintf(want + len, sizeof(want) - (size_t)len, "%12lu ", c);
			}
			cr_assert_eq(total, blocks, "zone %s: %lu pageblocks counted, %lu spanned",
				     z->name, total, blocks);
			cr_assert_lt(i, n);
			cr_assert_str_eq(lines[i++], want);
		}
	}
	cr_assert_eq(i, n, "%d unexpected lines at the end", n - i);
	free(lines);
	free(pti);
}

Test(reports, pagetypeinfo_structure_and_counts)
{
	struct kt_blocks b = { 0 };

	kt_boot("mem=128M cma=8M nr_cpus=2");
	check_pagetypeinfo();
	/* The CMA area's 4 pageblocks are counted as CMA. */
	char *pti = report(kmm_report_pagetypeinfo);
	cr_assert_not_null(strstr(pti, "            4            0 \n"), "%s", pti);
	free(pti);
	/* Claims change the block counts; the report follows. */
	kt_fill(&b, KMM_GFP_KERNEL | KMM___GFP_RECLAIMABLE, 3);
	cr_assert_gt(kt_zone_blocks_mt(kt_zone(0, KMM_ZONE_DMA32), KMM_MIGRATE_RECLAIMABLE), 0);
	check_pagetypeinfo();
	kt_blocks_free_all(&b);
	kmm_drain_all_pages(NULL);
	check_pagetypeinfo();
	kt_blocks_destroy(&b);
}

Test(reports, pagetypeinfo_numa)
{
	kt_boot("mem=256M numa=2 movablecore=64M");
	check_pagetypeinfo();
	kt_shutdown();
	kt_boot("mem=8G kmm.mode=shadow movablecore=10%");
	check_pagetypeinfo();
}

/* ---- zoneinfo ---------------------------------------------------------------- */

/* The value after "@key" in @sec (a zone's section), or -1. */
static long long field(const char *sec, const char *key)
{
	const char *p = strstr(sec, key);

	if (!p)
		return -1;
	return strtoll(p + strlen(key), NULL, 10);
}

static void check_zoneinfo(void)
{
	char *zi_text = report(kmm_report_zoneinfo);
	char *cursor = zi_text;

	for (unsigned nid = 0; nid < kmm_machine.nr_nodes; nid++) {
		for (int zi = 0; zi < KMM_MAX_NR_ZONES; zi++) {
			struct kmm_zone *z = kt_zone((int)nid, zi);
			char head[64], want[128], *sec, *next;

			snprintf(head, sizeof(head), "Node %u, zone %8s\n", nid, z->name);
			cr_assert_eq(strncmp(cursor, head, strlen(head)), 0,
				     "expected \"%s\" at \"%.60s\"", head, cursor);
			next = strstr(cursor + 1, "\nNode ");
			sec = strndup(cursor, next ? (size_t)(next - cursor + 1) : strlen(cursor));
			cursor = next ? next + 1 : cursor + strlen(cursor);

			cr_assert_eq(field(sec, "\n  pages free     "),
				     kmm_zone_page_state(z, KMM_NR_FREE_PAGES), "%s", sec);
			cr_assert_eq(field(sec, "\n        min      "),
				     (long long)kmm_wmark_pages(z, KMM_WMARK_MIN));
			cr_assert_eq(field(sec, "\n        low      "),
				     (long long)kmm_wmark_pages(z, KMM_WMARK_LOW));
			cr_assert_eq(field(sec, "\n        high     "),
				     (long long)kmm_wmark_pages(z, KMM_WMARK_HIGH));
			cr_assert_eq(field(sec, "\n        promo    "),
				     (long long)kmm_wmark_pages(z, KMM_WMARK_PROMO));
			cr_assert_eq(field(sec, "\n        spanned  "), (long long)z->spanned_pages);
			cr_assert_eq(field(sec, "\n        present  "), (long long)z->present_pages);
			cr_assert_eq(field(sec, "\n        managed  "), (long long)z->managed_pages);
			cr_assert_eq(field(sec, "\n        cma      "), (long long)z->cma_pages);
			snprintf(want, sizeof(want), "\n        protection: (%ld, %ld, %ld, %ld)",
				 z->lowmem_reserve[0], z->lowmem_reserve[1], z->lowmem_reserve[2],
				 z->lowmem_reserve[3]);
			cr_assert_not_null(strstr(sec, want), "no \"%s\" in\n%s", want + 1, sec);

			if (!kmm_zone_is_populated(z)) {
				cr_assert_null(strstr(sec, "pagesets"), "an empty zone has no pagesets");
				free(sec);
				continue;
			}
			cr_assert_eq(field(sec, "\n      nr_free_pages "),
				     kmm_zone_page_state(z, KMM_NR_FREE_PAGES));
			cr_assert_eq(field(sec, "\n      nr_free_cma  "),
				     kmm_zone_page_state(z, KMM_NR_FREE_CMA_PAGES));
			cr_assert_not_null(strstr(sec, "\n  pagesets\n"));
			/* One block per CPU, in order, matching the pcp. */
			char *p = sec;
			for (unsigned cpu = 0; cpu < kmm_machine.nr_cpus; cpu++) {
				struct kmm_per_cpu_pages *pcp = &z->per_cpu_pageset[cpu];

				snprintf(want, sizeof(want), "\n    cpu: %u\n", cpu);
				p = strstr(p, want);
				cr_assert_not_null(p, "no \"cpu: %u\" in zone %s", cpu, z->name);
				cr_assert_eq(field(p, "\n              count:    "), pcp->count,
					     "zone %s cpu %u count", z->name, cpu);
				cr_assert_eq(field(p, "\n              high:     "), pcp->high);
				cr_assert_eq(field(p, "\n              batch:    "), pcp->batch);
				cr_assert_eq(field(p, "\n              high_min: "), pcp->high_min);
				cr_assert_eq(field(p, "\n              high_max: "), pcp->high_max);
				cr_assert_eq(field(p, "\n  vm stats threshold: "), z->stat_threshold);
				p++;
			}
			snprintf(want, sizeof(want), "\n    cpu: %u\n", kmm_machine.nr_cpus);
			cr_assert_null(strstr(sec, want), "a CPU too many");
			cr_assert_eq(field(sec, "\n  start_pfn:           "),
				     (long long)z->zone_start_pfn);
			cr_assert_eq(field(sec, "\n  node_unreclaimable:  "), 0);
			free(sec);
		}
	}
	cr_assert_eq(*cursor, '\0', "trailing text: \"%.60s\"", cursor);
	free(zi_text);
}

Test(reports, zoneinfo_matches_zones_and_pcp)
{
	struct kmm_page *p[8];

	kt_boot("mem=64M nr_cpus=3 cma=4M");
	check_zoneinfo();
	/* Put pages on CPU 1's and CPU 2's lists. */
	for (int cpu = 1; cpu <= 2; cpu++) {
		cr_assert_eq(kmm_bind_cpu(cpu), 0);
		for (int i = 0; i < 8; i++)
			p[i] = kmm_alloc_pages(KMM_GFP_KERNEL, (unsigned)(i % 2));
		for (int i = 0; i < 8; i++)
			kmm___free_pages(p[i], (unsigned)(i % 2));
	}
	cr_assert_gt(kt_zone(0, KMM_ZONE_DMA32)->per_cpu_pageset[1].count, 0);
	cr_assert_gt(kt_zone(0, KMM_ZONE_DMA32)->per_cpu_pageset[2].count, 0);
	check_zoneinfo();
	char *zi = report(kmm_report_zoneinfo);
	/* The first populated zone of a node carries the per-node stats. */
	cr_assert_eq(strncmp(zi, "Node 0, zone      DMA\n  per-node stats\n", 39), 0);
	cr_assert_null(strstr(strstr(zi, "per-node stats") + 1, "per-node stats"),
		       "one per-node stats block per node");
	free(zi);
	kmm_drain_all_pages(NULL);
	check_zoneinfo();
}

Test(reports, zoneinfo_numa_and_shadow)
{
	kt_boot("mem=256M numa=2 nr_cpus=2 movablecore=32M");
	check_zoneinfo();
	char *zi = report(kmm_report_zoneinfo);
	/* Every zone of every node is listed, populated or not. */
	cr_assert_not_null(strstr(zi, "Node 1, zone      DMA\n"));
	cr_assert_not_null(strstr(zi, "Node 1, zone  Movable\n"));
	int per_node = 0;
	for (const char *s = zi; (s = strstr(s, "per-node stats")); s++)
		per_node++;
	cr_assert_eq(per_node, 2);
	free(zi);
	kt_shutdown();
	kt_boot("mem=8G kmm.mode=shadow nr_cpus=4");
	check_zoneinfo();
}

/* ---- meminfo ---------------------------------------------------------------- */

static void check_meminfo(void)
{
	char *mi = report(kmm_report_meminfo), *copy = strdup(mi);
	char **lines;
	int n = split_lines(copy, &lines);
	regex_t kb, count;

	cr_assert_eq(regcomp(&kb, "^[A-Za-z0-9_()]+: *[0-9]+ kB$", REG_EXTENDED | REG_NOSUB), 0);
	cr_assert_eq(regcomp(&count, "^HugePages_[A-Za-z]+: *[0-9]+$", REG_EXTENDED | REG_NOSUB), 0);
	cr_assert_geq(n, 20);
	cr_assert_eq(strncmp(lines[0], "MemTotal:", 9), 0);
	cr_assert_eq(strncmp(lines[1], "MemFree:", 8), 0);
	cr_assert_eq(strncmp(lines[2], "MemAvailable:", 13), 0);
	for (int i = 0; i < n; i++) {
		const char *colon = strchr(lines[i], ':');
		size_t label = colon ? (size_t)(colon - lines[i]) + 1 : 0;

		cr_assert(regexec(&kb, lines[i], 0, NULL, 0) == 0 ||
			  regexec(&count, lines[i], 0, NULL, 0) == 0, "bad line \"%s\"", lines[i]);
		/* Label padded to 16 columns, the number right-aligned in 8. */
		if (label <= 16 && strlen(lines[i]) >= 24) {
			cr_assert_neq(lines[i][23], ' ', "\"%s\" is not %%-16s%%8lu", lines[i]);
			cr_assert(label == 16 || lines[i][label] == ' ');
		}
	}
	cr_assert_eq(meminfo_value(mi, "MemTotal"), kmm_machine.totalram_pages * 4);
	cr_assert_eq(meminfo_value(mi, "MemFree"), kmm_nr_free_pages() * 4);
	cr_assert_leq(meminfo_value(mi, "MemAvailable"), meminfo_value(mi, "MemFree"));
	cr_assert_eq(meminfo_value(mi, "CmaTotal"), kmm_machine.totalcma_pages * 4);
	uint64_t cma_free = 0;
	for (unsigned nid = 0; nid < kmm_machine.nr_nodes; nid++)
		for (int zi = 0; zi < KMM_MAX_NR_ZONES; zi++)
			cma_free += (uint64_t)kmm_zone_page_state(kt_zone((int)nid, zi),
								  KMM_NR_FREE_CMA_PAGES);
	cr_assert_eq(meminfo_value(mi, "CmaFree"), cma_free * 4);
	cr_assert_eq(meminfo_value(mi, "VmallocTotal"), kmm_machine.params.vmalloc_bytes >> 10);
	cr_assert_eq(meminfo_value(mi, "DirectMap4k"), kmm_machine.max_pfn * 4);
	cr_assert_eq(meminfo_value(mi, "Hugepagesize"), 2048);
	cr_assert_eq(meminfo_value(mi, "SwapTotal"), 0);
	regfree(&kb);
	regfree(&count);
	free(lines);
	free(copy);
	free(mi);
}

Test(reports, meminfo_format_and_values)
{
	struct kt_blocks b = { 0 };
	char *mi;

	kt_boot("mem=64M cma=4M vmalloc=128M nr_cpus=1");
	check_meminfo();
	mi = report(kmm_report_meminfo);
	cr_assert_eq(strncmp(mi, "MemTotal:          65536 kB\n", 28), 0, "%.40s", mi);
	cr_assert_not_null(strstr(mi, "\nCmaTotal:           4096 kB\n"));
	cr_assert_not_null(strstr(mi, "\nVmallocTotal:     131072 kB\n"));
	unsigned long free0 = meminfo_value(mi, "MemFree");
	free(mi);

	/* 1 MiB allocated (order 8 bypasses the pcp): MemFree drops by 1024 kB. */
	struct kmm_page *p = kmm_alloc_pages(KMM_GFP_KERNEL, 8);
	mi = report(kmm_report_meminfo);
	cr_assert_eq(meminfo_value(mi, "MemFree"), free0 - 1024);
	free(mi);
	kmm___free_pages(p, 8);
	kt_fill(&b, KMM_GFP_HIGHUSER_MOVABLE, 10);
	check_meminfo();
	mi = report(kmm_report_meminfo);
	cr_assert_lt(meminfo_value(mi, "CmaFree"), 4096, "movable allocations used CMA");
	cr_assert_lt(meminfo_value(mi, "MemAvailable"), meminfo_value(mi, "MemTotal") / 10);
	free(mi);
	kt_blocks_free_all(&b);
	check_meminfo();
	kt_blocks_destroy(&b);
}

Test(reports, meminfo_large_machine)
{
	kt_boot("mem=8G kmm.mode=shadow numa=2");
	check_meminfo();
	char *mi = report(kmm_report_meminfo);
	cr_assert_not_null(strstr(mi, "MemTotal:        8388608 kB\n"), "%.40s", mi);
	free(mi);
}

/* ---- truncation --------------------------------------------------------------- */

Test(reports, truncation_is_like_snprintf)
{
	static const struct {
		const char *name;
		report_fn fn;
	} fns[] = {
		{ "buddyinfo", kmm_report_buddyinfo },
		{ "pagetypeinfo", kmm_report_pagetypeinfo },
		{ "zoneinfo", kmm_report_zoneinfo },
		{ "meminfo", kmm_report_meminfo },
	};

	kt_boot("mem=64M nr_cpus=2");
	for (size_t f = 0; f < KMM_ARRAY_SIZE(fns); f++) {
		char *full = report(fns[f].fn);
		size_t len = strlen(full);
		size_t sizes[] = { 1, 2, 7, len / 2, len - 1, len, len + 1, len + 100 };
		char sentinel[4] = "abc";

		/* Size 0 writes nothing. */
		cr_assert_eq(fns[f].fn(sentinel, 0), len, "%s", fns[f].name);
		cr_assert_str_eq(sentinel, "abc");
		for (size_t i = 0; i < KMM_ARRAY_SIZE(sizes); i++) {
			size_t sz = sizes[i];
			char *buf = malloc(sz + 16);

			memset(buf, 'X', sz + 16);
			cr_assert_eq(fns[f].fn(buf, sz), len, "%s size %zu", fns[f].name, sz);
			size_t out = sz - 1 < len ? sz - 1 : len;
			cr_assert_eq(buf[out], '\0', "%s size %zu: not terminated at %zu",
				     fns[f].name, sz, out);
			cr_assert_eq(strncmp(buf, full, out), 0, "%s size %zu", fns[f].name, sz);
			for (size_t k = sz; k < sz + 16; k++)
				cr_assert_eq(buf[k], 'X', "%s size %zu: wrote past the buffer",
					     fns[f].name, sz);
			free(buf);
		}
		free(full);
	}
}
