/* SPDX-License-Identifier: MIT */
/*
 * test_kvfree_rcu.c - kvfree_rcu(ptr, rhf), kvfree_rcu_mightsleep(ptr) and
 * kvfree_rcu_barrier() (include/kmm/kvfree_rcu.h, src/core/kvfree_rcu.c,
 * the compat <linux/rcupdate.h>), and the port's deferred work under
 * them: objects are freed only after a grace period (a reader that holds
 * rcu_read_lock() still reads the bytes long after the call), the
 * monitor frees them with no further call, full blocks batch, the
 * two-argument form links objects through their rcu_head when the page
 * cache is empty and the cache is refilled, the headless form waits for a
 * grace period and frees inline when no block can be had, shadow mode
 * never writes an object, and threads (this program is in meson suite
 * 'threads': `make tsan` runs it on tests/kt_lite.c).
 *
 * kmm_kvfree_rcu_validate() and kmm_vmalloc_validate() run after each
 * step; every test that frees all it allocated checks that the free pages
 * came back.
 */
#define _GNU_SOURCE

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "kmm_test.h"

#include <kmm/fault.h>
#include <kmm/kvfree_rcu.h>
#include <kmm/vmalloc.h>

#include <linux/rcupdate.h>

#define PG KMM_PAGE_SIZE
#define MAXE KMM_KVFREE_BULK_MAX_ENTR

TestSuite(kvfree_rcu, .fini = kt_fini, .timeout = 60);

struct obj {
	struct rcu_head rcu;
	unsigned char array[20];
};

static void check_valid(const char *what)
{
	kt_assert_validator(kmm_kvfree_rcu_validate(), "kmm_kvfree_rcu_validate()", what);
	kt_assert_validator(kmm_vmalloc_validate(), "kmm_vmalloc_validate()", what);
}

static struct kmm_kvfree_rcu_stats stats(void)
{
	struct kmm_kvfree_rcu_stats st;

	kmm_kvfree_rcu_get_stats(&st);
	return st;
}

static unsigned long nr_busy_areas(void)
{
	struct kmm_vmalloc_stats vst;

	kmm_vmalloc_get_stats(&vst);
	return vst.nr_busy;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Everything back: barrier, purge, drain; then the boot's free count. */
static void assert_all_back(const char *what)
{
	kmm_kvfree_rcu_barrier();
	kmm_vm_unmap_aliases();
	kmm_drain_all_pages(NULL);
	check_valid(what);
	cr_assert_eq(stats().nr_bulk_pages, 0, "%s: block pages left", what);
	cr_assert_eq(stats().nr_pending + stats().nr_in_flight, 0, "%s: objects left", what);
	cr_assert_geq(kt_free_total() + KT_BOOT_SLACK, kt_boot_free,
		      "%s: %llu free pages, %llu at boot", what,
		      (unsigned long long)kt_free_total(),
		      (unsigned long long)kt_boot_free);
}

/* Poll @cond for up to @ms milliseconds. */
#define wait_for(cond, ms)                                                    \
	({                                                                    \
		unsigned kt_w_;                                               \
		for (kt_w_ = 0; kt_w_ < (ms) && !(cond); kt_w_++)             \
			sleep_ms(1);                                          \
		(cond);                                                       \
	})

/* ---- the basics -------------------------------------------------------------- */

Test(kvfree_rcu, two_arg_frees_vmalloc_after_barrier)
{
	enum { N = 300 };
	struct obj *p[N];
	unsigned long busy0;

	kt_boot("mem=64M nr_cpus=2");
	kmm_bind_cpu(0);
	busy0 = nr_busy_areas();
	for (int i = 0; i < N; i++) {
		p[i] = kmm_vmalloc(PG);
		cr_assert_not_null(p[i]);
		p[i]->array[0] = 'a';
	}
	cr_assert_eq(nr_busy_areas(), busy0 + N);
	for (int i = 0; i < N; i++)
		kvfree_rcu(p[i], rcu);
	cr_assert_eq(stats().nr_queued, N);
	check_valid("queueing");
	kmm_kvfree_rcu_barrier();
	cr_assert_eq(stats().nr_freed, N);
	cr_assert_eq(nr_busy_areas(), busy0, "every vmalloc area freed");
	for (int i = 0; i < N; i++)
		cr_assert_null(kmm_find_vm_area(p[i]));
	assert_all_back("two-argument kvfree_rcu");
}

Test(kvfree_rcu, mightsleep_frees_kvmalloc_and_vmalloc)
{
	enum { N = 200 };
	void *p[N];

	kt_boot("mem=64M nr_cpus=2");
	for (int i = 0; i < N; i++) {
		p[i] = (i & 1) ? kmm_kvmalloc(64 + (size_t)i, KMM_GFP_KERNEL) :
				 kmm_vmalloc(PG * (1 + (size_t)(i % 3)));
		cr_assert_not_null(p[i]);
		memset(p[i], 0x5a, 64);
	}
	for (int i = 0; i < N; i++)
		kvfree_rcu_mightsleep(p[i]);
	cr_assert_eq(stats().nr_queued, N);
	cr_assert_eq(stats().nr_bulk, N, "headless objects go to bulk blocks");
	cr_assert_eq(stats().nr_head, 0);
	check_valid("kvfree_rcu_mightsleep");
	assert_all_back("kvfree_rcu_mightsleep");
	cr_assert_eq(stats().nr_freed, N);
}

Test(kvfree_rcu, null_is_ignored_and_outside_boot_warns)
{
	kt_boot("mem=64M");
	kmm_kvfree_call_rcu(NULL, NULL);
	kvfree_rcu_mightsleep(NULL);
	cr_assert_eq(stats().nr_queued, 0);
	check_valid("NULL");
	kt_shutdown();
	kt_log_start();
	{
		static char not_kmm[64];

		kmm_kvfree_call_rcu(NULL, not_kmm);
	}
	cr_assert_eq(kt_log_count_level(KMM_LOG_WARNING, "kvfree_rcu:"), 1);
	kt_log_stop();
}

/* ---- grace periods ------------------------------------------------------------- */

struct reader {
	pthread_t th;
	const unsigned char *p;
	atomic_int state;	/* 0 start, 1 inside rcu_read_lock, 2 read now, 3 done */
	unsigned char seen;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	rcu_read_lock();
	atomic_store(&r->state, 1);
	while (atomic_load(&r->state) != 2)
		sleep_ms(1);
	r->seen = r->p[0];	/* still the object's: the grace period waits for us */
	rcu_read_unlock();
	atomic_store(&r->state, 3);
	return NULL;
}

Test(kvfree_rcu, reader_keeps_the_object_until_it_leaves)
{
	struct reader r = { 0 };
	struct obj *p;

	kt_boot("mem=64M nr_cpus=2");
	p = kmm_vmalloc(PG);
	cr_assert_not_null(p);
	p->array[0] = 0x77;
	r.p = p->array;
	cr_assert_eq(pthread_create(&r.th, NULL, reader_main, &r), 0);
	while (atomic_load(&r.state) != 1)
		sleep_ms(1);
	kvfree_rcu(p, rcu);
	/* Ten drain periods: the monitor has long handed the object on. */
	sleep_ms(10 * (unsigned)(KMM_KFREE_DRAIN_NS / 1000000));
	cr_assert_eq(stats().nr_in_flight, 1, "the object waits for its grace period");
	cr_assert_eq(stats().nr_freed, 0);
	cr_assert_not_null(kmm_find_vm_area(p), "freed under a reader");
	atomic_store(&r.state, 2);
	pthread_join(r.th, NULL);
	cr_assert_eq(r.seen, 0x77, "the reader read the object's own byte");
	cr_assert(wait_for(stats().nr_freed == 1, 5000), "freed once the reader left");
	cr_assert_null(kmm_find_vm_area(p));
	assert_all_back("reader");
}

Test(kvfree_rcu, monitor_frees_without_another_call)
{
	void *p;

	kt_boot("mem=64M nr_cpus=2");
	p = kmm_vmalloc(PG);
	cr_assert_not_null(p);
	kvfree_rcu_mightsleep(p);
	cr_assert_eq(stats().nr_pending, 1, "collected on the CPU first");
	cr_assert(wait_for(stats().nr_freed == 1, 5000),
		  "the deferred monitor and the grace period freed it");
	cr_assert_null(kmm_find_vm_area(p));
	cr_assert_eq(stats().nr_batches, 1);
	assert_all_back("monitor");
}

/* ---- batching and the page cache ------------------------------------------------ */

Test(kvfree_rcu, full_blocks_chain_and_batch)
{
	enum { N = 2 * MAXE + 10 };
	static void *p[N];
	struct kmm_kvfree_rcu_stats st;
	struct reader r = { 0 };

	kt_boot("mem=64M nr_cpus=2");
	kmm_bind_cpu(1);
	/* A reader holds the grace period so the whole batch is observable. */
	r.p = (const unsigned char *)"x";
	cr_assert_eq(pthread_create(&r.th, NULL, reader_main, &r), 0);
	while (atomic_load(&r.state) != 1)
		sleep_ms(1);
	for (int i = 0; i < N; i++) {
		p[i] = kmm_kvmalloc(32, KMM_GFP_KERNEL);
		cr_assert_not_null(p[i]);
		kvfree_rcu_mightsleep(p[i]);
	}
	st = stats();
	cr_assert_eq(st.nr_bulk, N);
	cr_assert_geq(st.nr_bulk_pages, 3, "%d objects need 3 blocks of %d", N, MAXE);
	check_valid("three blocks");
	/* A full block's worth makes the monitor run after one jiffy, not 20. */
	cr_assert(wait_for(stats().nr_in_flight > 0, 1000), "nothing handed on");
	sleep_ms(50);
	st = stats();
	cr_assert_eq(st.nr_in_flight + st.nr_pending, N);
	cr_assert_geq(st.nr_in_flight, MAXE);
	cr_assert_leq(st.nr_batches, KMM_KFREE_N_BATCHES, "at most two channels in flight");
	cr_assert_eq(st.nr_freed, 0, "freed under a reader");
	check_valid("in flight");
	atomic_store(&r.state, 2);
	pthread_join(r.th, NULL);
	cr_assert(wait_for(stats().nr_freed == N, 5000));
	st = stats();
	cr_assert_leq(st.nr_cached_pages, KMM_RCU_MIN_CACHED_OBJS);
	cr_assert_eq(st.nr_bulk_pages, st.nr_cached_pages, "emptied blocks: cached or freed");
	kmm_bind_cpu(-1);
	assert_all_back("batches");
}

Test(kvfree_rcu, two_arg_links_heads_until_the_cache_is_refilled)
{
	struct obj *a, *b;

	kt_boot("mem=64M nr_cpus=2");
	kmm_bind_cpu(0);
	a = kmm_vmalloc(PG);
	b = kmm_vmalloc(PG);
	cr_assert(a && b);
	kvfree_rcu(a, rcu);
	cr_assert_eq(stats().nr_head, 1, "no spare page yet: linked through its rcu_head");
	cr_assert_eq(stats().nr_bulk, 0);
	check_valid("head list");
	cr_assert(wait_for(stats().nr_cached_pages == KMM_RCU_MIN_CACHED_OBJS, 5000),
		  "the refill work filled the cache");
	kvfree_rcu(b, rcu);
	cr_assert_eq(stats().nr_bulk, 1, "the next one goes to a block");
	assert_all_back("refill");
	cr_assert_eq(stats().nr_freed, 2);
}

Test(kvfree_rcu, mightsleep_waits_and_frees_inline_without_memory)
{
	void *p;
	unsigned long busy0;

	kt_boot("mem=64M nr_cpus=2");
	kmm_bind_cpu(0);
	p = kmm_vmalloc(PG);
	cr_assert_not_null(p);
	busy0 = nr_busy_areas();
	kmm_fault_set_nth(&kmm_fail_page_alloc, 1);	/* the block page */
	kvfree_rcu_mightsleep(p);
	kmm_fault_set_nth(&kmm_fail_page_alloc, 0);
	cr_assert_eq(stats().nr_sync, 1);
	cr_assert_eq(stats().nr_freed, 1, "freed before the call returned");
	cr_assert_eq(nr_busy_areas(), busy0 - 1);
	cr_assert_null(kmm_find_vm_area(p));
	assert_all_back("synchronous fallback");
}

Test(kvfree_rcu, two_arg_survives_no_memory_at_all)
{
	enum { N = 100 };
	struct obj *p[N];
	const char *always = "1,100,0,-1";

	kt_boot("mem=64M nr_cpus=2");
	kmm_bind_cpu(0);
	for (int i = 0; i < N; i++) {
		p[i] = kmm_vmalloc(PG);
		cr_assert_not_null(p[i]);
	}
	cr_assert_eq(kmm_fault_setup(&kmm_fail_page_alloc, always, strlen(always)), 0);
	for (int i = 0; i < N; i++)
		kvfree_rcu(p[i], rcu);
	check_valid("no memory");
	sleep_ms(5);	/* the refill work runs and fails */
	cr_assert_eq(stats().nr_head, N, "every object through its own head");
	cr_assert_eq(stats().nr_cached_pages, 0);
	kmm_kvfree_rcu_barrier();
	cr_assert_eq(stats().nr_freed, N);
	kmm_fault_reset(&kmm_fail_page_alloc);
	assert_all_back("no memory");
}

/* ---- shadow mode and shutdown ------------------------------------------------ */

Test(kvfree_rcu, shadow_mode_never_writes_the_object)
{
	enum { N = 50 };
	struct obj *p[N];

	kt_boot("kmm.mode=shadow mem=64M nr_cpus=2");
	for (int i = 0; i < N; i++) {
		p[i] = kmm_vmalloc(PG);
		cr_assert_not_null(p[i]);
	}
	/* The addresses are not memory: writing a head would fault. */
	for (int i = 0; i < N; i++)
		kvfree_rcu(p[i], rcu);
	cr_assert_eq(stats().nr_head, 0);
	cr_assert_eq(stats().nr_bulk, N);
	kmm_kvfree_rcu_barrier();
	cr_assert_eq(stats().nr_freed, N);
	for (int i = 0; i < N; i++)
		cr_assert_null(kmm_find_vm_area(p[i]));
	assert_all_back("shadow");
}

Test(kvfree_rcu, shutdown_frees_what_is_queued)
{
	kt_boot("mem=64M nr_cpus=2");
	for (int i = 0; i < 1000; i++) {
		void *p = (i & 1) ? kmm_vmalloc(PG) : kmm_kvmalloc(100, KMM_GFP_KERNEL);

		cr_assert_not_null(p);
		kmm_kvfree_call_rcu(NULL, p);
	}
	cr_assert_gt(stats().nr_pending + stats().nr_in_flight, 0);
	/* kt_fini: shutdown, then LeakSanitizer finds nothing. */
}

/* ---- threads ----------------------------------------------------------------- */

#define TH_N 8
#define TH_OPS 1500

struct worker {
	pthread_t th;
	int cpu;
	int errors;
	char msg[160];
};

#define wfail(w, ...) kt_worker_error(&(w)->errors, (w)->msg, sizeof((w)->msg), __VA_ARGS__)

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint64_t rs = (uint64_t)w->cpu * 0x9e3779b97f4a7c15ULL + 1;

	kmm_bind_cpu(w->cpu);
	for (int i = 0; i < TH_OPS; i++) {
		uint64_t r = kt_rand(&rs);
		struct obj *o;

		rcu_read_lock();
		o = (r & 1) ? kmm_vmalloc(PG) : kmm_kvmalloc(sizeof(*o) + (r & 63), KMM_GFP_KERNEL);
		if (!o) {
			rcu_read_unlock();
			wfail(w, "CPU %d: allocation %d failed", w->cpu, i);
			break;
		}
		o->array[0] = (unsigned char)i;
		if (r & 2) {
			kvfree_rcu(o, rcu);	/* never sleeps: fine inside a reader */
			rcu_read_unlock();
		} else {
			rcu_read_unlock();	/* it may wait for a grace period */
			kvfree_rcu_mightsleep(o);
		}
		if ((r & 255) == 0)
			kmm_kvfree_rcu_barrier();
	}
	return NULL;
}

Test(kvfree_rcu, eight_cpus_queue_and_barrier, .timeout = 240)
{
	struct worker w[TH_N];

	kt_boot("mem=256M nr_cpus=8");
	for (int i = 0; i < TH_N; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].cpu = i;
		cr_assert_eq(pthread_create(&w[i].th, NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < TH_N; i++)
		pthread_join(w[i].th, NULL);
	for (int i = 0; i < TH_N; i++)
		cr_assert_eq(w[i].errors, 0, "%s", w[i].msg);
	cr_assert_eq(stats().nr_queued, (unsigned long)TH_N * TH_OPS);
	assert_all_back("eight CPUs");
	cr_assert_eq(stats().nr_freed, (unsigned long)TH_N * TH_OPS);
}

/* ---- the port's deferred work under the monitor ------------------------------ */

struct probe_work {
	struct kmm_work work;
	atomic_int runs;
	atomic_ullong ran_at;
	atomic_int hold;	/* >0: the function waits while it is set */
	atomic_int again;	/* schedule itself again this many times */
};

static void probe_fn(struct kmm_work *w)
{
	struct probe_work *p = kmm_container_of(w, struct probe_work, work);

	atomic_store(&p->ran_at, kmm_port_clock_ns());
	atomic_fetch_add(&p->runs, 1);
	while (atomic_load(&p->hold))
		sleep_ms(1);
	if (atomic_load(&p->again) > 0) {
		atomic_fetch_sub(&p->again, 1);
		kmm_port_schedule_work(w, probe_fn, 0);
	}
}

static void *sleep_then_release(void *arg)
{
	struct probe_work *p = arg;

	sleep_ms(50);
	atomic_store(&p->hold, 0);
	return NULL;
}

TestSuite(port_work, .timeout = 30);

Test(port_work, runs_once_after_its_delay)
{
	static struct probe_work p;
	uint64_t t0 = kmm_port_clock_ns();

	kmm_port_schedule_work(&p.work, probe_fn, 30000000);
	sleep_ms(5);
	cr_assert_eq(atomic_load(&p.runs), 0, "ran before its deadline");
	cr_assert(wait_for(atomic_load(&p.runs) == 1, 5000));
	cr_assert_geq(atomic_load(&p.ran_at) - t0, 30000000ULL);
	sleep_ms(50);
	cr_assert_eq(atomic_load(&p.runs), 1, "ran once");
}

Test(port_work, pending_item_moves_only_earlier)
{
	static struct probe_work p;
	uint64_t t0 = kmm_port_clock_ns();

	kmm_port_schedule_work(&p.work, probe_fn, 100000000);
	kmm_port_schedule_work(&p.work, probe_fn, 2000000000);	/* later: ignored */
	kmm_port_schedule_work(&p.work, probe_fn, 20000000);	/* earlier: moves */
	cr_assert(wait_for(atomic_load(&p.runs) == 1, 5000));
	cr_assert_lt(atomic_load(&p.ran_at) - t0, 100000000ULL, "not brought forward");
	sleep_ms(150);
	cr_assert_eq(atomic_load(&p.runs), 1, "one pending item runs once");
}

Test(port_work, cancel_sync_dequeues_and_waits)
{
	static struct probe_work a, b;

	kmm_port_schedule_work(&a.work, probe_fn, 20000000);
	kmm_port_cancel_work_sync(&a.work);
	sleep_ms(60);
	cr_assert_eq(atomic_load(&a.runs), 0, "a cancelled item ran");

	atomic_store(&b.hold, 1);
	kmm_port_schedule_work(&b.work, probe_fn, 0);
	cr_assert(wait_for(atomic_load(&b.runs) == 1, 5000));
	/* b is running and holds: release it from another thread. */
	{
		pthread_t th;

		cr_assert_eq(pthread_create(&th, NULL, sleep_then_release, &b), 0);
		kmm_port_cancel_work_sync(&b.work);
		cr_assert_eq(atomic_load(&b.hold), 0, "returned before the item finished");
		pthread_join(th, NULL);
	}
}

Test(port_work, rescheduled_from_inside_runs_again)
{
	static struct probe_work p;

	atomic_store(&p.again, 2);
	kmm_port_schedule_work(&p.work, probe_fn, 0);
	cr_assert(wait_for(atomic_load(&p.runs) == 3, 5000));
	kmm_port_cancel_work_sync(&p.work);
	cr_assert_eq(atomic_load(&p.runs), 3);
}
