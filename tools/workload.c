/* SPDX-License-Identifier: MIT */
/*
 * workload.c - a realistic mixed page-allocator workload: every CPU (one
 * thread bound to each) allocates blocks of all orders and migratetypes with
 * a kernel-like size mix, stamps every page with its owner and a sequence
 * number through the direct map, keeps a pool of short- and long-lived
 * blocks, and checks each page's stamp before freeing it.  A page handed to
 * two owners, or scribbled by the allocator, shows up as a bad stamp.
 * 5% of the steps are kernel VA: vmalloc/vzalloc/vfree of 1-64 pages, and
 * 2% are vm_map_ram bursts (up to 16 fresh pages mapped at once, stamped
 * through the mapping, checked through the direct map, unmapped).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kmm/kmm.h>
#include <kmm/vmalloc.h>

#include "workload.h"
#include "progress.h"

#define POOL 1024

struct blk {
	struct kmm_page *page;
	unsigned order;
	uint64_t tag;
};

#define VPOOL 48

struct varea {
	unsigned char *addr;
	unsigned long pages;
	uint64_t tag;
};

struct worker {
	struct varea vpool[VPOOL];
	unsigned vlive;
	pthread_t tid;
	unsigned cpu;
	const struct workload_opts *o;
	uint64_t rng;
	struct blk pool[POOL];
	unsigned live;
	struct workload_result r;
	unsigned long done;	/* steps so far, for the progress bar */
};

static struct worker *workers;
static unsigned nworkers;


static void stamp(struct blk *b)
{
	uint64_t i, n = 1ULL << b->order;

	if (kmm_machine.params.mode == KMM_MODE_SHADOW)
		return;
	for (i = 0; i < n; i++) {
		uint64_t *p = (uint64_t *)((char *)kmm_page_address(b->page) +
					   i * KMM_PAGE_SIZE);
		p[0] = b->tag + i;
		p[KMM_PAGE_SIZE / 8 - 1] = ~(b->tag + i);
	}
}

static unsigned long check(struct blk *b, unsigned long *verified)
{
	uint64_t i, n = 1ULL << b->order;
	unsigned long bad = 0;

	if (kmm_machine.params.mode == KMM_MODE_SHADOW)
		return 0;
	for (i = 0; i < n; i++) {
		uint64_t *p = (uint64_t *)((char *)kmm_page_address(b->page) +
					   i * KMM_PAGE_SIZE);
		if (p[0] != b->tag + i || p[KMM_PAGE_SIZE / 8 - 1] != ~(b->tag + i))
			bad++;
		(*verified)++;
	}
	return bad;
}

/* Kernel-like mix: mostly order 0, some small, few large. */
static unsigned pick_order(uint64_t *s)
{
	unsigned r = (unsigned)(tool_xs(s) % 100);

	if (r < 70)
		return 0;
	if (r < 85)
		return 1 + (unsigned)(tool_xs(s) % 3);
	if (r < 95)
		return 4 + (unsigned)(tool_xs(s) % 5);
	return 9 + (unsigned)(tool_xs(s) % 2);
}

static kmm_gfp_t pick_gfp(uint64_t *s, int *mt)
{
	unsigned r = (unsigned)(tool_xs(s) % 100);

	if (r < 45) {
		*mt = KMM_MIGRATE_UNMOVABLE;
		return KMM_GFP_KERNEL | KMM___GFP_NOWARN;
	}
	if (r < 80) {
		*mt = KMM_MIGRATE_MOVABLE;
		return KMM_GFP_HIGHUSER_MOVABLE | KMM___GFP_NOWARN;
	}
	if (r < 92) {
		*mt = KMM_MIGRATE_RECLAIMABLE;
		return KMM_GFP_KERNEL | KMM___GFP_RECLAIMABLE | KMM___GFP_NOWARN;
	}
	if (r < 97) {
		*mt = KMM_MIGRATE_UNMOVABLE;
		return KMM_GFP_ATOMIC | KMM___GFP_NOWARN;
	}
	*mt = KMM_MIGRATE_UNMOVABLE;
	return KMM_GFP_KERNEL | KMM_GFP_DMA32 | KMM___GFP_NOWARN;
}

/*
 * vmalloc areas: stamped through the vmalloc address, checked through the
 * direct map (page_address(vmalloc_to_page())) before vfree.
 */
static void vstamp(struct varea *v)
{
	unsigned long i;

	if (kmm_machine.params.mode == KMM_MODE_SHADOW)
		return;
	for (i = 0; i < v->pages; i++) {
		uint64_t *p = (uint64_t *)(v->addr + i * KMM_PAGE_SIZE);

		p[0] = v->tag + i;
		p[KMM_PAGE_SIZE / 8 - 1] = ~(v->tag + i);
	}
}

static unsigned long vcheck(struct varea *v, unsigned long *verified)
{
	unsigned long i, bad = 0;

	if (kmm_machine.params.mode == KMM_MODE_SHADOW)
		return 0;
	for (i = 0; i < v->pages; i++) {
		struct kmm_page *pg = kmm_vmalloc_to_page(v->addr + i * KMM_PAGE_SIZE);
		uint64_t *p = pg ? (uint64_t *)kmm_page_address(pg) : NULL;

		if (!p || p[0] != v->tag + i || p[KMM_PAGE_SIZE / 8 - 1] != ~(v->tag + i))
			bad++;
		(*verified)++;
	}
	return bad;
}

static void vrelease(struct worker *w, unsigned i)
{
	struct varea *v = &w->vpool[i];

	w->r.corrupt_pages += vcheck(v, &w->r.verified_pages);
	kmm_vfree(v->addr);
	w->r.vfrees++;
	w->vpool[i] = w->vpool[--w->vlive];
}

void workload_vmalloc_step(struct worker *w, unsigned long step);
void workload_vmalloc_step(struct worker *w, unsigned long step)
{
	uint64_t r = tool_xs(&w->rng) % 100;

	if (w->vlive < VPOOL && (r < 55 || !w->vlive)) {
		/* Mostly small, some large (up to 64 pages), zeroed or not. */
		unsigned long pages = r < 40 ? 1 + tool_xs(&w->rng) % 4 : 1 + tool_xs(&w->rng) % 64;
		/* vzalloc/vmalloc, quiet: a full machine is expected here. */
		kmm_gfp_t gfp = KMM_GFP_KERNEL | KMM___GFP_NOWARN | ((r & 1) ? KMM___GFP_ZERO : 0);
		unsigned char *a = kmm___vmalloc(pages * KMM_PAGE_SIZE, gfp);

		if (!a) {
			w->r.fails++;
			return;
		}
		w->vpool[w->vlive] = (struct varea){ a, pages,
			((uint64_t)w->cpu << 56) ^ (step << 8) ^ tool_xs(&w->rng) ^ 0x5a };
		vstamp(&w->vpool[w->vlive]);
		w->vlive++;
		w->r.vallocs++;
	} else if (w->vlive) {
		vrelease(w, r < 70 ? w->vlive - 1 : (unsigned)(tool_xs(&w->rng) % w->vlive));
	}
}

/* A vm_map_ram burst: as a driver mapping a scatter list for a moment. */
static void workload_vm_map_ram_step(struct worker *w, unsigned long step)
{
	struct kmm_page *pages[16];
	unsigned n = 1 + (unsigned)(tool_xs(&w->rng) % 16), i, got;
	uint64_t tag = ((uint64_t)w->cpu << 56) ^ (step << 8) ^ 0xa5;
	unsigned char *va;

	for (got = 0; got < n; got++) {
		pages[got] = kmm_alloc_pages(KMM_GFP_KERNEL | KMM___GFP_NOWARN, 0);
		if (!pages[got])
			break;
	}
	va = got ? kmm_vm_map_ram(pages, got, -1) : NULL;
	if (!va) {
		w->r.fails++;
		goto out;
	}
	if (kmm_machine.params.mode != KMM_MODE_SHADOW) {
		for (i = 0; i < got; i++)
			*(uint64_t *)(va + i * KMM_PAGE_SIZE) = tag + i;
		for (i = 0; i < got; i++) {
			if (*(uint64_t *)kmm_page_address(pages[i]) != tag + i)
				w->r.corrupt_pages++;
			w->r.verified_pages++;
		}
	}
	kmm_vm_unmap_ram(va, got);
	w->r.vmaps++;
	w->r.vmap_pages += got;
out:
	for (i = 0; i < got; i++)
		kmm___free_pages(pages[i], 0);
}

static void release(struct worker *w, unsigned i)
{
	struct blk *b = &w->pool[i];

	w->r.corrupt_pages += check(b, &w->r.verified_pages);
	kmm___free_pages(b->page, b->order);
	w->r.frees++;
	w->pool[i] = w->pool[--w->live];
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned long step;

	kmm_bind_cpu((int)w->cpu);
	for (step = 0; step < w->o->steps; step++) {
		uint64_t r = tool_xs(&w->rng) % 100;

		if (!(step & 1023))
			__atomic_store_n(&w->done, step, __ATOMIC_RELAXED);
		if (r >= 95) {	/* 5% of the steps: kernel VA (vmalloc/vfree) */
			workload_vmalloc_step(w, step);
			continue;
		}
		if (r >= 93) {	/* 2%: a vm_map_ram burst */
			workload_vm_map_ram_step(w, step);
			continue;
		}

		/* Allocate while the pool is below its target size. */
		if (w->live < POOL && (r < 55 || w->live < 16)) {
			int mt;
			kmm_gfp_t gfp = pick_gfp(&w->rng, &mt);
			unsigned order = pick_order(&w->rng);
			struct kmm_page *p = kmm_alloc_pages(gfp, order);

			if (!p) {
				w->r.fails++;
				continue;
			}
			w->pool[w->live] = (struct blk){ p, order,
				((uint64_t)w->cpu << 56) ^ (step << 8) ^ tool_xs(&w->rng) };
			stamp(&w->pool[w->live]);
			w->live++;
			w->r.allocs++;
			w->r.by_order[order]++;
			w->r.by_mt[mt]++;
		} else if (w->live) {
			/* Short-lived: mostly the newest; sometimes an old one. */
			unsigned i = r < 85 ? w->live - 1
					    : (unsigned)(tool_xs(&w->rng) % w->live);
			release(w, i);
		}
	}
	/* Keep keep_percent of the pools alive for the "after" reports. */
	while (w->live > (unsigned)(POOL * w->o->keep_percent / 100))
		release(w, (unsigned)(tool_xs(&w->rng) % w->live));
	while (w->vlive > (unsigned)(VPOOL * w->o->keep_percent / 100))
		vrelease(w, (unsigned)(tool_xs(&w->rng) % w->vlive));
	return NULL;
}

static void merge(struct workload_result *r, const struct workload_result *x)
{
	int i;

	r->allocs += x->allocs;
	r->frees += x->frees;
	r->fails += x->fails;
	r->verified_pages += x->verified_pages;
	r->vallocs += x->vallocs;
	r->vfrees += x->vfrees;
	r->vmaps += x->vmaps;
	r->vmap_pages += x->vmap_pages;
	r->corrupt_pages += x->corrupt_pages;
	for (i = 0; i < 11; i++)
		r->by_order[i] += x->by_order[i];
	for (i = 0; i < 3; i++)
		r->by_mt[i] += x->by_mt[i];
}

int workload_run(const struct workload_opts *o, struct workload_result *r)
{
	struct timespec t0, t1;
	unsigned i;

	nworkers = o->threads ? o->threads : kmm_machine.nr_cpus;
	workers = calloc(nworkers, sizeof(*workers));
	if (!workers)
		return -1;
	memset(r, 0, sizeof(*r));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < nworkers; i++) {
		workers[i].cpu = i % kmm_machine.nr_cpus;
		workers[i].o = o;
		workers[i].rng = (o->seed ^ (0x9E3779B97F4A7C15ULL * (i + 1))) | 1;
		if (pthread_create(&workers[i].tid, NULL, worker_main, &workers[i])) {
			nworkers = i;
			break;
		}
	}
	progress_start("workload", (uint64_t)o->steps * nworkers);
	for (;;) {
		uint64_t sum = 0;

		for (i = 0; i < nworkers; i++)
			sum += __atomic_load_n(&workers[i].done, __ATOMIC_RELAXED);
		if (sum + 1024ULL * nworkers >= (uint64_t)o->steps * nworkers)
			break;
		progress_update(sum);
		nanosleep(&(struct timespec){ 0, 50 * 1000 * 1000 }, NULL);
	}
	for (i = 0; i < nworkers; i++)
		pthread_join(workers[i].tid, NULL);
	progress_done();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (i = 0; i < nworkers; i++) {
		merge(r, &workers[i].r);
		r->held_blocks += workers[i].live;
		r->held_vareas += workers[i].vlive;
	}
	r->seconds = (double)(t1.tv_sec - t0.tv_sec) +
		     (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return r->corrupt_pages ? -1 : 0;
}

int workload_release(struct workload_result *r)
{
	unsigned i;

	if (!workers)
		return 0;
	for (i = 0; i < nworkers; i++) {
		struct worker *w = &workers[i];

		w->r.corrupt_pages = 0;
		w->r.verified_pages = 0;
		kmm_bind_cpu((int)w->cpu);
		while (w->live)
			release(w, w->live - 1);
		while (w->vlive)
			vrelease(w, w->vlive - 1);
		r->verified_pages += w->r.verified_pages;
		r->corrupt_pages += w->r.corrupt_pages;
	}
	kmm_bind_cpu(-1);
	free(workers);
	workers = NULL;
	r->held_blocks = 0;
	r->held_vareas = 0;
	return r->corrupt_pages ? -1 : 0;
}
