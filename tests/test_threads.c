/* SPDX-License-Identifier: MIT */
/*
 * test_threads.c - the allocator under concurrency (suite 'threads', run
 * under TSan by `make tsan`): threads bound to CPUs allocate, write their
 * own pattern through the direct map, verify it and free, proving no page
 * is ever handed to two owners; afterwards every page is accounted for.
 *
 * Worker threads never call Criterion's assertions (they are not
 * thread-safe); they record the first failure and the main thread asserts.
 */
#define _GNU_SOURCE

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kmm_test.h"

TestSuite(threads, .fini = kt_fini, .timeout = 240);

/* Fewer operations under the sanitizers' slowdown is not needed: the
 * counts below keep a TSan run of this file well under a minute. */
#define OPS_PER_THREAD 4000
#define MAX_HELD 48

struct worker {
	pthread_t th;
	int id;
	int cpu;
	uint64_t seed;
	int ops;
	bool thisnode;		/* sometimes ask for the local node only */
	/* results */
	int errors;
	char msg[256];
	unsigned long allocs, frees, failed;
};

/* A worker's first error (kmm_test.h). */
#define fail(w, ...) kt_worker_error(&(w)->errors, (w)->msg, sizeof((w)->msg), __VA_ARGS__)

static const kmm_gfp_t worker_gfps[] = {
	KMM_GFP_KERNEL,
	KMM_GFP_HIGHUSER_MOVABLE,
	KMM_GFP_KERNEL | KMM___GFP_RECLAIMABLE,
	KMM_GFP_KERNEL | KMM___GFP_ZERO,
	KMM_GFP_KERNEL | KMM___GFP_COMP,
};

static const unsigned worker_orders[] = { 0, 0, 0, 0, 1, 1, 2, 3, 9 };

static void release(struct worker *w, struct kt_block *k, uint64_t *rs)
{
	if (!kt_pattern_ok(k->page, k->order, k->tag))
		fail(w, "thread %d: pfn %#llx order %u (tag %#llx) was overwritten by someone else",
		     w->id, (unsigned long long)kmm_page_to_pfn(k->page), k->order,
		     (unsigned long long)k->tag);
	if (kmm_page_ref_count(k->page) != 1)
		fail(w, "thread %d: pfn %#llx refcount %d", w->id,
		     (unsigned long long)kmm_page_to_pfn(k->page), kmm_page_ref_count(k->page));
	if (kt_rand(rs) % 4 == 0)
		kmm_put_page(k->page);
	else
		kmm___free_pages(k->page, k->order);
	w->frees++;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct kt_block held[MAX_HELD];
	int nheld = 0;
	uint64_t rs = w->seed;

	if (kmm_bind_cpu(w->cpu))
		fail(w, "kmm_bind_cpu(%d) failed", w->cpu);
	for (int i = 0; i < w->ops; i++) {
		uint64_t r = kt_rand(&rs) % 100;

		if (r < 50 && nheld < MAX_HELD) {
			kmm_gfp_t g = worker_gfps[kt_rand(&rs) % KMM_ARRAY_SIZE(worker_gfps)];
			unsigned o = worker_orders[kt_rand(&rs) % KMM_ARRAY_SIZE(worker_orders)];
			uint64_t tag = ((uint64_t)(w->id + 1) << 48) | (uint64_t)(i + 1);
			int nid = -1;
			struct kmm_page *p;

			if (w->thisnode && kt_rand(&rs) % 2) {
				g |= KMM___GFP_THISNODE;
				nid = kmm_numa_node_id();
			}
			p = kmm_alloc_pages_node(nid, g | KMM___GFP_NOWARN, o);
			if (!p) {
				w->failed++;
				continue;
			}
			w->allocs++;
			if (kmm_page_ref_count(p) != 1)
				fail(w, "thread %d: new pfn %#llx has refcount %d", w->id,
				     (unsigned long long)kmm_page_to_pfn(p), kmm_page_ref_count(p));
			if ((g & KMM___GFP_ZERO) && !kt_block_is_zero(p, o))
				fail(w, "thread %d: __GFP_ZERO pfn %#llx not zero", w->id,
				     (unsigned long long)kmm_page_to_pfn(p));
			if ((g & KMM___GFP_THISNODE) && kmm_page_nid(p) != nid)
				fail(w, "thread %d: __GFP_THISNODE on node %d got node %d", w->id, nid,
				     kmm_page_nid(p));
			kt_pattern_write(p, o, tag);
			held[nheld++] = (struct kt_block){ p, o, tag };
		} else if (r < 90 && nheld) {
			int k = (int)(kt_rand(&rs) % (uint64_t)nheld);

			release(w, &held[k], &rs);
			held[k] = held[--nheld];
		} else if (r < 93) {
			kmm_drain_all_pages(NULL);
		} else if (r < 96 && nheld) {
			struct kt_block *k = &held[kt_rand(&rs) % (uint64_t)nheld];

			kmm_get_page(k->page);
			kmm_put_page(k->page);
		} else if (nheld + 8 <= MAX_HELD) {
			struct kmm_page *arr[8] = { 0 };
			unsigned long n = kmm_alloc_pages_bulk(KMM_GFP_KERNEL | KMM___GFP_NOWARN, -1,
							       8, arr);

			for (unsigned long j = 0; j < n; j++) {
				uint64_t tag = ((uint64_t)(w->id + 1) << 48) | (1ULL << 40) |
					       ((uint64_t)i << 4) | j;

				kt_pattern_write(arr[j], 0, tag);
				held[nheld++] = (struct kt_block){ arr[j], 0, tag };
				w->allocs++;
			}
		}
	}
	while (nheld)
		release(w, &held[--nheld], &rs);
	return NULL;
}

static void check_workers(struct worker *w, int n)
{
	unsigned long allocs = 0, frees = 0;

	for (int i = 0; i < n; i++) {
		cr_assert_eq(w[i].errors, 0, "%s (%d errors)", w[i].msg, w[i].errors);
		allocs += w[i].allocs;
		frees += w[i].frees;
	}
	cr_assert_eq(allocs, frees);
	cr_assert_gt(allocs, (unsigned long)n * 100, "the workers hardly allocated");
}

/* After the workers are done: every page is back and merged. */
static void check_conservation(const struct kt_snap *boot)
{
	struct kt_snap now;

	kt_assert_valid("after the threads");
	cr_assert_eq(kt_free_total(), kt_boot_free);
	kmm_drain_all_pages(NULL);
	kt_snap_take(&now);
	cr_assert_eq(now.nr_free, boot->nr_free);
	cr_assert_eq(now.pcp, 0);
	cr_assert_str_eq(now.buddyinfo, boot->buddyinfo, "not merged back:\n%s\nboot:\n%s",
			 now.buddyinfo, boot->buddyinfo);
	cr_assert_eq(kmm_stat_read(KMM_STAT_BAD_PAGE), 0);
}

static void run_workers(const char *cmdline, int nthreads, bool thisnode)
{
	struct worker *w = calloc((size_t)nthreads, sizeof(*w));
	uint64_t seed = kt_seed("threads");
	struct kt_snap boot;

	kt_boot(cmdline);
	kt_snap_take(&boot);
	for (int i = 0; i < nthreads; i++) {
		w[i].id = i;
		w[i].cpu = i % (int)kmm_machine.nr_cpus;
		w[i].seed = seed + (uint64_t)i * 7919;
		w[i].ops = OPS_PER_THREAD;
		w[i].thisnode = thisnode;
		cr_assert_eq(pthread_create(&w[i].th, NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < nthreads; i++)
		pthread_join(w[i].th, NULL);
	check_workers(w, nthreads);
	check_conservation(&boot);
	free(w);
}

Test(threads, two_threads)
{
	run_workers("mem=128M nr_cpus=2", 2, false);
}

Test(threads, four_threads)
{
	run_workers("mem=128M nr_cpus=4", 4, false);
}

Test(threads, eight_threads_on_four_cpus)
{
	/* Two threads per CPU: the pcp trylock falls back to the zone. */
	run_workers("mem=128M nr_cpus=4", 8, false);
}

Test(threads, eight_threads_numa)
{
	run_workers("mem=256M numa=2 nr_cpus=4", 8, true);
}

Test(threads, small_machine_runs_dry)
{
	/* 48 MiB: the workers hold up to 8 * 48 blocks of up to 2 MiB, far
	 * more than there is; allocations fail and drain concurrently. */
	struct worker *w = calloc(8, sizeof(*w));
	struct kt_snap boot;
	uint64_t seed = kt_seed("threads dry");
	unsigned long failed = 0;

	kt_boot("mem=48M nr_cpus=4");
	kt_snap_take(&boot);
	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){ .id = i, .cpu = i % 4, .seed = seed + (uint64_t)i,
					.ops = OPS_PER_THREAD };
		cr_assert_eq(pthread_create(&w[i].th, NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(w[i].th, NULL);
		failed += w[i].failed;
	}
	check_workers(w, 8);
	check_conservation(&boot);
	cr_log_info("allocations that failed for lack of memory: %lu", failed);
	free(w);
}

/*
 * Pageblocks change type (claims) while other CPUs free pages in them:
 * the free path reads the pageblock's type without zone->lock, the claim
 * writes it under zone->lock.  Under TSan this must not be a data race.
 */
struct churn {
	pthread_t th;
	int cpu;
	bool claimer;
	uint64_t seed;
	atomic_bool *stop;
	unsigned long ops;
};

static void *churn_main(void *arg)
{
	struct churn *c = arg;
	static const kmm_gfp_t types[] = {
		KMM_GFP_KERNEL, KMM_GFP_KERNEL | KMM___GFP_RECLAIMABLE, KMM_GFP_HIGHUSER_MOVABLE,
	};
	struct kmm_page *held[64] = { 0 };
	unsigned order[64] = { 0 };
	uint64_t rs = c->seed;

	kmm_bind_cpu(c->cpu);
	while (!atomic_load_explicit(c->stop, memory_order_relaxed) || c->ops < 2000) {
		int k = (int)(kt_rand(&rs) % 64);

		if (held[k]) {
			kmm___free_pages(held[k], order[k]);
			held[k] = NULL;
		} else {
			/* Claimers take pageblock-sized blocks of changing types;
			 * the others take single pages of changing types. */
			order[k] = c->claimer ? KMM_PAGEBLOCK_ORDER - (unsigned)(kt_rand(&rs) % 2) : 0;
			held[k] = kmm_alloc_pages(types[kt_rand(&rs) % 3] | KMM___GFP_NOWARN, order[k]);
		}
		if (kt_rand(&rs) % 64 == 0)
			kmm_drain_all_pages(NULL);
		c->ops++;
	}
	for (int k = 0; k < 64; k++)
		if (held[k])
			kmm___free_pages(held[k], order[k]);
	return NULL;
}

Test(threads, pageblock_types_change_while_freeing)
{
	struct churn c[4];
	atomic_bool stop = false;
	struct kt_snap boot;
	uint64_t seed = kt_seed("pageblock churn");
	double t0 = kt_now();

	kt_boot("mem=48M nr_cpus=4");
	kt_snap_take(&boot);
	for (int i = 0; i < 4; i++) {
		c[i] = (struct churn){ .cpu = i, .claimer = i < 2, .seed = seed + (uint64_t)i,
				       .stop = &stop };
		cr_assert_eq(pthread_create(&c[i].th, NULL, churn_main, &c[i]), 0);
	}
	while (kt_now() - t0 < 1.0)
		sched_yield();
	atomic_store(&stop, true);
	for (int i = 0; i < 4; i++)
		pthread_join(c[i].th, NULL);
	cr_assert_gt(kt_zone(0, KMM_ZONE_DMA32)->events[KMM_ZEV_CLAIM], 50);
	check_conservation(&boot);
}

/* ---- hand-offs between CPUs --------------------------------------------------- */

struct handoff {
	pthread_mutex_t lock;
	struct kt_block q[256];
	int head, tail, count;
	atomic_int producers_left;
};

struct hworker {
	pthread_t th;
	struct handoff *h;
	int id, cpu;
	uint64_t seed;
	int errors;
	char msg[200];
	unsigned long moved;
};

static void *producer(void *arg)
{
	struct hworker *w = arg;
	uint64_t rs = w->seed;

	kmm_bind_cpu(w->cpu);
	for (int i = 0; i < 3000; i++) {
		unsigned o = worker_orders[kt_rand(&rs) % KMM_ARRAY_SIZE(worker_orders)];
		struct kmm_page *p = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_NOWARN, o);
		uint64_t tag = ((uint64_t)(w->id + 1) << 40) | (uint64_t)(i + 1);
		bool queued = false;

		if (!p)
			continue;
		kt_pattern_write(p, o, tag);
		while (!queued) {
			pthread_mutex_lock(&w->h->lock);
			if (w->h->count < 256) {
				w->h->q[w->h->tail] = (struct kt_block){ p, o, tag };
				w->h->tail = (w->h->tail + 1) % 256;
				w->h->count++;
				queued = true;
			}
			pthread_mutex_unlock(&w->h->lock);
			if (!queued)
				sched_yield();
		}
		w->moved++;
	}
	atomic_fetch_sub(&w->h->producers_left, 1);
	return NULL;
}

static void *consumer(void *arg)
{
	struct hworker *w = arg;

	kmm_bind_cpu(w->cpu);
	for (;;) {
		struct kt_block k;
		bool got = false;

		pthread_mutex_lock(&w->h->lock);
		if (w->h->count) {
			k = w->h->q[w->h->head];
			w->h->head = (w->h->head + 1) % 256;
			w->h->count--;
			got = true;
		}
		pthread_mutex_unlock(&w->h->lock);
		if (!got) {
			if (atomic_load(&w->h->producers_left) == 0) {
				pthread_mutex_lock(&w->h->lock);
				bool empty = w->h->count == 0;
				pthread_mutex_unlock(&w->h->lock);
				if (empty)
					break;
			}
			sched_yield();
			continue;
		}
		if (!kt_pattern_ok(k.page, k.order, k.tag) && !w->errors++)
			snprintf(w->msg, sizeof(w->msg), "pfn %#llx order %u lost its pattern",
				 (unsigned long long)kmm_page_to_pfn(k.page), k.order);
		/* Freed on another CPU than the one that allocated it. */
		kmm___free_pages(k.page, k.order);
		w->moved++;
	}
	return NULL;
}

Test(threads, free_on_another_cpu)
{
	struct handoff h = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct hworker w[4];
	uint64_t seed = kt_seed("handoff");
	struct kt_snap boot;
	unsigned long produced = 0, consumed = 0;

	kt_boot("mem=128M nr_cpus=4");
	kt_snap_take(&boot);
	atomic_init(&h.producers_left, 2);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct hworker){ .h = &h, .id = i, .cpu = i, .seed = seed + (uint64_t)i };
		cr_assert_eq(pthread_create(&w[i].th, NULL, i < 2 ? producer : consumer, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(w[i].th, NULL);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(w[i].errors, 0, "%s", w[i].msg);
		if (i < 2)
			produced += w[i].moved;
		else
			consumed += w[i].moved;
	}
	cr_assert_eq(produced, consumed);
	cr_assert_gt(produced, 1000);
	/* The consumers' CPUs got the pages on their lists. */
	check_conservation(&boot);
}

/* ---- readers while the allocator runs -------------------------------------------- */

struct reader {
	pthread_t th;
	atomic_bool *stop;
	int errors;
	char msg[200];
	unsigned long rounds;
};

static void *report_reader(void *arg)
{
	struct reader *r = arg;
	static char buf[1 << 17];

	while (!atomic_load(r->stop)) {
		size_t n;

		n = kmm_report_buddyinfo(buf, sizeof(buf));
		if (n >= sizeof(buf) || strncmp(buf, "Node 0, zone      DMA ", 22)) {
			if (!r->errors++)
				snprintf(r->msg, sizeof(r->msg), "buddyinfo: %.60s", buf);
		}
		n = kmm_report_pagetypeinfo(buf, sizeof(buf));
		if (n >= sizeof(buf) || strncmp(buf, "Page block order: 9\n", 20)) {
			if (!r->errors++)
				snprintf(r->msg, sizeof(r->msg), "pagetypeinfo: %.60s", buf);
		}
		n = kmm_report_zoneinfo(buf, sizeof(buf));
		if (n >= sizeof(buf) || !strstr(buf, "pagesets")) {
			if (!r->errors++)
				snprintf(r->msg, sizeof(r->msg), "zoneinfo: %.60s", buf);
		}
		n = kmm_report_meminfo(buf, sizeof(buf));
		if (n >= sizeof(buf) || strncmp(buf, "MemTotal:", 9)) {
			if (!r->errors++)
				snprintf(r->msg, sizeof(r->msg), "meminfo: %.60s", buf);
		}
		(void)kmm_nr_free_pages();
		r->rounds++;
	}
	return NULL;
}

Test(threads, reports_while_allocating)
{
	struct worker *w = calloc(4, sizeof(*w));
	atomic_bool stop = false;
	struct reader rd = { .stop = &stop };
	uint64_t seed = kt_seed("reports while allocating");
	struct kt_snap boot;

	kt_boot("mem=128M nr_cpus=4");
	kt_snap_take(&boot);
	cr_assert_eq(pthread_create(&rd.th, NULL, report_reader, &rd), 0);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .id = i, .cpu = i, .seed = seed + (uint64_t)i,
					.ops = OPS_PER_THREAD };
		cr_assert_eq(pthread_create(&w[i].th, NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(w[i].th, NULL);
	atomic_store(&stop, true);
	pthread_join(rd.th, NULL);
	cr_assert_eq(rd.errors, 0, "%s", rd.msg);
	cr_assert_gt(rd.rounds, 0);
	check_workers(w, 4);
	check_conservation(&boot);
	free(w);
}
