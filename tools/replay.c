/* SPDX-License-Identifier: MIT */
/*
 * replay.c - `kmm replay`: apply a real kernel's vmalloc trace to a kmm
 * machine and measure how often kmm places an area where the kernel did.
 *
 * Input: a capture directory (trace.txt.gz, vmallocinfo.before.gz,
 * vmallocinfo.after.gz, nproc) or a single trace file (plain or .gz).
 *
 *   1. boot a shadow machine with the kernel's VA layout (VMALLOC_START
 *      0xffffc90000000000, 32 TiB) and its CPU count;
 *   2. load every busy area and every "unpurged vm_area" of
 *      vmallocinfo.before at its address (vm_map_ram lines included, as
 *      plain busy areas), with no automatic purging;
 *   3. for each event, in order, on the CPU of its [00N] column:
 *        alloc_vmap_area         allocate with the same size, align and
 *                                range; compare the address;
 *        free_vmap_area_noflush  lazily free the busy area at va_start;
 *        purge_vmap_area_lazy    purge (as the kernel's drain worker);
 *   4. by default, after a different placement the area is moved to the
 *      kernel's address (--no-resync: keep kmm's), so every decision is
 *      judged from the kernel's own state: a wrong pool pop is undone (the
 *      area back to its pool's head), and when the kernel popped an area
 *      kmm holds deeper in the same pool, what lies above it is returned
 *      to the free space;
 *   5. pass 1 learns the state vmallocinfo hides (struct learn below) and
 *      pass 2 replays from it, reporting apart the allocations that took a
 *      reconstructed area.
 * It prints events per second, the exact-placement rate, failures, purge
 * agreement, and how the final busy set compares with vmallocinfo.after.
 * Then the capture's page-allocator events, if any: replay_pages.c.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#include <kmm/kmm.h>
#include <kmm/vmalloc.h>

#include "replay.h"

struct replay_stats {
	unsigned long events, allocs, exact, mismatched, failed_both,
		failed_kmm_only, failed_kernel_only, frees, frees_unknown,
		purges, purge_count_equal, resynced, resync_failed, lines_skipped,
		trimmed, from_seed, exact_from_seed;
	unsigned long where[5];		/* mismatches by where the kernel's address was */
	unsigned long allocs_after_purge, exact_after_purge;
	unsigned long kmm_purged, kernel_purged;
};

struct replay_opts {
	const char *path;
	bool is_dir;
	bool resync;
	bool verbose;
	int max_mismatch_print;
	int busy_guess;
};

gzFile replay_open_gz(const char *dir, const char *name)
{
	char p[4200];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return gzopen(p, "rb");
}

/* A pool pop returns an area of the very size it was pooled with. */
static unsigned long hint_key(unsigned long addr, unsigned long size)
{
	return addr | KMM_MIN(size >> 12, 4095UL);
}

struct addr_set;
static bool set_get(const struct addr_set *s, unsigned long k, int *val);
static void set_put(struct addr_set *s, unsigned long k, int val);

/* "0xSTART-0xEND SIZE ..." -> busy or lazy area. */
/*
 * vmallocinfo lists each vmap node's lazy areas in address order, node
 * after node: a drop in address starts the next node.  The node a lazy area
 * sits in is the one it was allocated through (its pool on purge).  Busy
 * areas are listed by address-derived node and say nothing about it; they
 * get @busy_node_guess (-1: none, so they return to the free tree).
 */
static int load_vmallocinfo(gzFile f, unsigned long *busy, unsigned long *lazy,
			    unsigned long *bad, int busy_node_guess,
			    const struct addr_set *hint, struct addr_set *seen)
{
	char line[1024];
	unsigned long prev_lazy = 0;
	int lazy_node = 0;

	while (gzgets(f, line, sizeof(line))) {
		unsigned long s, e;
		int ret, node;

		if (sscanf(line, "0x%lx-0x%lx", &s, &e) != 2 || e <= s) {
			(*bad)++;
			continue;
		}
		if (strstr(line, "unpurged vm_area")) {
			if (*lazy && s < prev_lazy && lazy_node + 1 < (int)kmm_machine.nr_cpus)
				lazy_node++;
			prev_lazy = s;
			ret = kmm__vmap_load_area(s, e - s, true, lazy_node);
			if (!ret)
				(*lazy)++;
		} else {
			node = busy_node_guess;

			if (hint && set_get(hint, hint_key(s, e - s), &node))
				;	/* learned in pass 1 */
			else if (node == -2)	/* by address */
				node = (int)((s / (16 * 4096UL)) % kmm_machine.nr_cpus);
			ret = kmm__vmap_load_area(s, e - s, false, node);
			if (!ret)
				(*busy)++;
		}
		if (ret)
			(*bad)++;
		else if (seen)
			set_put(seen, s, 0);
	}
	return 0;
}

/* Parse "... [CPU] ... EVENT: args"; returns the event name start. */
static char *parse_line(char *line, int *cpu)
{
	char *b = strchr(line, '['), *ev;

	if (!b || sscanf(b + 1, "%d", cpu) != 1)
		return NULL;
	ev = strstr(b, ": ");
	if (!ev)
		return NULL;
	ev += 2;
	/* skip the timestamp's ": " : the event follows the second one */
	while (*ev == ' ')
		ev++;
	return ev;
}

struct addr_vec {
	unsigned long *v;
	size_t n, cap;
};

static void collect_busy(void *arg, const struct kmm_vmap_area *va)
{
	struct addr_vec *a = arg;

	if (a->n == a->cap) {
		unsigned long *nv;

		a->cap = a->cap ? 2 * a->cap : 1024;
		nv = realloc(a->v, a->cap * sizeof(*a->v));
		if (!nv)
			return;
		a->v = nv;
	}
	a->v[a->n++] = va->va_start;
}

static void busy_set(unsigned long **out, size_t *n)
{
	struct addr_vec a = { 0 };

	kmm__vmap_for_each_busy(collect_busy, &a);
	*out = a.v;
	*n = a.n;
}

static int cmp_ul(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

static void compare_after(const char *dir)
{
	gzFile f = replay_open_gz(dir, "vmallocinfo.after.gz");
	unsigned long *ours, *theirs = NULL;
	size_t n_ours, n_theirs = 0, cap = 1024, i = 0, j = 0, common = 0;
	char line[1024];

	if (!f)
		return;
	theirs = malloc(cap * sizeof(*theirs));
	while (theirs && gzgets(f, line, sizeof(line))) {
		unsigned long s, e;

		if (strstr(line, "unpurged") || sscanf(line, "0x%lx-0x%lx", &s, &e) != 2)
			continue;
		if (n_theirs == cap) {
			cap *= 2;
			theirs = realloc(theirs, cap * sizeof(*theirs));
		}
		theirs[n_theirs++] = s;
	}
	gzclose(f);
	busy_set(&ours, &n_ours);
	if (!ours || !theirs) {
		free(ours);
		free(theirs);
		return;
	}
	qsort(ours, n_ours, sizeof(*ours), cmp_ul);
	qsort(theirs, n_theirs, sizeof(*theirs), cmp_ul);
	while (i < n_ours && j < n_theirs) {
		if (ours[i] == theirs[j]) {
			common++;
			i++;
			j++;
		} else if (ours[i] < theirs[j]) {
			i++;
		} else {
			j++;
		}
	}
	printf("busy areas at the end  kmm %zu, kernel %zu (vmallocinfo.after), at the same address %zu\n",
	       n_ours, n_theirs, common);
	free(ours);
	free(theirs);
}

unsigned replay_read_nproc(const char *dir)
{
	char p[4200];
	FILE *f;
	unsigned n = 2;

	snprintf(p, sizeof(p), "%s/nproc", dir);
	f = fopen(p, "r");
	if (f) {
		if (fscanf(f, "%u", &n) != 1 || !n)
			n = 2;
		fclose(f);
	}
	return n;
}

static void replay_usage(FILE *f)
{
	fprintf(f,
		"usage: kmm replay [--cold-pools] [--no-resync] [--verbose] [--boot PARAMS]\n"
		"                  [--pages-only|--vmalloc-only] TRACE_DIR|TRACE_FILE\n"
		"\n"
		"Replay a kernel's vmalloc trace (alloc_vmap_area, free_vmap_area_noflush,\n"
		"purge_vmap_area_lazy) on a shadow machine with the kernel's VA layout,\n"
		"starting from its vmallocinfo.before, and report how many allocations\n"
		"land at exactly the kernel's address.  Then, when the capture has\n"
		"mm_page_alloc/mm_page_free/mm_page_free_batched events, replay them on a\n"
		"shadow machine with the zone spans of zoneinfo.before.gz, laid out as\n"
		"buddyinfo.before and pagetypeinfo.before, and report the exact-PFN rate,\n"
		"failures, frees of pages it never saw allocated, and the distance of its\n"
		"free lists to buddyinfo.after.\n"
		"\n"
		"The kernel's per-node pools are not in /proc/vmallocinfo.  By default a\n"
		"first pass (pools empty) learns what was hidden: areas the kernel popped\n"
		"from pools it had before tracing, in the order popped; areas allocated\n"
		"after the snapshot (sized from their free's nr_lazy step); the node of\n"
		"pre-existing areas.  A second pass starts from that state, with phantom\n"
		"areas for the pools' 25%% decays to take, and reports, apart, the\n"
		"allocations that took no reconstructed area.  Both passes are reported.\n"
		"\n"
"  --cold-pools    one pass, pools empty at the start\n"
		"  --pages-only    only the page-allocator replay\n"
		"  --vmalloc-only  only the vmalloc replay\n"
		"  --no-resync     keep kmm's placement after a mismatch (default: move\n"
		"                  the area to the kernel's address and go on)\n"
		"  --verbose       print each mismatch and each purge\n"
		"  --busy-node N|addr  vmap node to assume for busy areas of\n"
		"                  vmallocinfo.before (default: none, so they return to\n"
		"                  the free tree; addr: the node of their address)\n"
		"  --boot PARAMS   boot parameters appended to the defaults (later ones\n"
		"                  win): kmm.mode=shadow mem=1G vmalloc=32T\n"
		"                  nr_cpus=<nproc of the capture>\n");
}

/*
 * What pass 1 learns about the kernel's state at capture start that
 * /proc/vmallocinfo does not show:
 *   seeds    areas the kernel popped from a pool they were in before tracing
 *            (first seen as a pool-like allocation of an address the trace
 *            never allocated or freed before), in the order popped, which is
 *            their order in the pool's list;
 *   unknown  areas allocated after the snapshot and freed in the trace (size
 *            from the free's nr_lazy step), to be loaded as busy;
 *   hints    the node a pre-existing area belongs to, from the CPU that later
 *            pops it from a pool.
 */
struct seed {
	unsigned long addr, size, order;
	unsigned node;
};

struct seeds {
	struct seed *v;
	size_t n, cap;
};

struct addr_set {
	unsigned long *k;
	int *val;
	size_t n, cap;		/* open addressing, cap a power of two */
};

struct learn {
	struct seeds seeds, unknown;
	unsigned long purge_at[64];	/* event numbers of the trace's purges */
	unsigned nr_purges;
	unsigned long nr_phantoms;
	struct addr_set seen;	/* addresses allocated or freed so far */
	struct addr_set hint;	/* address -> node */
	struct addr_set seed_set;	/* seeds not popped yet, for the statistics */
};

static size_t set_slot(const struct addr_set *s, unsigned long k)
{
	size_t i = (size_t)((k >> 12) * 0x9E3779B97F4A7C15UL) & (s->cap - 1);

	while (s->k[i] && s->k[i] != k)
		i = (i + 1) & (s->cap - 1);
	return i;
}

static void set_put(struct addr_set *s, unsigned long k, int val)
{
	size_t i;

	if (2 * (s->n + 1) > s->cap) {
		struct addr_set ns = { .cap = s->cap ? 2 * s->cap : 1024 };

		ns.k = calloc(ns.cap, sizeof(*ns.k));
		ns.val = calloc(ns.cap, sizeof(*ns.val));
		if (!ns.k || !ns.val) {
			free(ns.k);
			free(ns.val);
			return;
		}
		for (i = 0; i < s->cap; i++)
			if (s->k[i]) {
				size_t j = set_slot(&ns, s->k[i]);

				ns.k[j] = s->k[i];
				ns.val[j] = s->val[i];
				ns.n++;
			}
		free(s->k);
		free(s->val);
		*s = ns;
	}
	i = set_slot(s, k);
	if (!s->k[i])
		s->n++;
	s->k[i] = k;
	s->val[i] = val;
}

static bool set_get(const struct addr_set *s, unsigned long k, int *val)
{
	size_t i;

	if (!s->cap)
		return false;
	i = set_slot(s, k);
	if (!s->k[i])
		return false;
	if (val)
		*val = s->val[i];
	return true;
}

/* Deleted slots keep key 1 (no address is odd), so probe chains hold. */
static void set_del(struct addr_set *s, unsigned long k)
{
	if (s->cap && s->k[set_slot(s, k)] == k)
		s->k[set_slot(s, k)] = 1;
}

static void learn_free(struct learn *l)
{
	free(l->seeds.v);
	free(l->unknown.v);
	free(l->seen.k);
	free(l->seen.val);
	free(l->hint.k);
	free(l->hint.val);
	free(l->seed_set.k);
	free(l->seed_set.val);
}

static void seeds_add(struct seeds *s, unsigned long addr, unsigned long size,
		      unsigned node, unsigned long order)
{
	if (s->n == s->cap) {
		struct seed *nv;

		s->cap = s->cap ? 2 * s->cap : 256;
		nv = realloc(s->v, s->cap * sizeof(*nv));
		if (!nv)
			return;
		s->v = nv;
	}
	s->v[s->n++] = (struct seed){ addr, size, order, node };
}

static int seed_cmp(const void *a, const void *b)
{
	const struct seed *x = a, *y = b;

	if (x->node != y->node)
		return x->node < y->node ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;	/* pop order */
}

static int seed_class_cmp(const void *a, const void *b)
{
	const struct seed *x = a, *y = b;

	if (x->node != y->node)
		return x->node < y->node ? -1 : 1;
	if (x->size != y->size)
		return x->size < y->size ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* The purge interval an event falls in: 0 before the first purge. */
static unsigned purge_interval(const struct learn *l, unsigned long event)
{
	unsigned j = 0;

	while (j < l->nr_purges && event > l->purge_at[j])
		j++;
	return j;
}

/*
 * Every purge first decays a quarter of each pool from its head.  Seeds the
 * kernel popped only after purge j were still in its pool then, so the
 * areas that purge decayed were others the kernel had ahead of them and
 * never popped: at least a third of what followed.  For each size class,
 * working back from the last purge, load that many phantom areas (address
 * 0: placed where the trace never goes) just before each interval's seeds,
 * so kmm's decay takes them instead of an area the kernel pops later.
 * Areas the purges themselves add sit above them and are not counted: an
 * estimate, reported as such.
 */
static void add_phantoms(struct learn *l)
{
	size_t i = 0, n = l->seeds.n;

	if (!l->nr_purges)
		return;
	qsort(l->seeds.v, n, sizeof(*l->seeds.v), seed_class_cmp);
	while (i < n) {
		unsigned long per[65] = { 0 }, after = 0, m;
		struct seed cls = l->seeds.v[i];
		size_t j = i;
		int k;

		while (j < n && l->seeds.v[j].node == cls.node && l->seeds.v[j].size == cls.size)
			per[purge_interval(l, l->seeds.v[j++].order)]++;
		for (k = (int)l->nr_purges; k >= 1; k--) {
			after += per[k];
			for (m = after / 3; m; m--) {
				seeds_add(&l->seeds, 0, cls.size, cls.node, l->purge_at[k - 1]);
				l->nr_phantoms++;
			}
			after += after / 3;
		}
		i = j;
	}
}

/* One pass over the trace; @collect gathers hidden-pool candidates. */
static int run_pass(const struct replay_opts *o, const char *dir, const char *cmd,
		    struct learn *use, struct learn *learn,
		    struct replay_stats *st, bool print, bool probe)
{
	unsigned long loaded_busy = 0, loaded_lazy = 0, loaded_bad = 0, seeded = 0;
	unsigned long preloaded = 0, event_no = 0;
	long prev_nr_lazy = -1;	/* the kernel's count after the last free */
	struct timespec t0, t1;
	char line[2048];
	gzFile f, vi;
	double secs;
	size_t i;
	int ret;

	memset(st, 0, sizeof(*st));
	f = o->is_dir ? replay_open_gz(dir, "trace.txt.gz") : gzopen(o->path, "rb");
	if (!f) {
		fprintf(stderr, "kmm replay: cannot open the trace in %s\n", o->path);
		return 1;
	}
	ret = kmm_boot(cmd);
	if (ret) {
		fprintf(stderr, "kmm replay: boot \"%s\" failed: %s\n", cmd, strerror(-ret));
		gzclose(f);
		return 1;
	}
	kmm_vmap_set_auto_purge(false);
	vi = replay_open_gz(dir, "vmallocinfo.before.gz");
	if (vi) {
		load_vmallocinfo(vi, &loaded_busy, &loaded_lazy, &loaded_bad, o->busy_guess,
				 use ? &use->hint : NULL, learn ? &learn->seen : NULL);
		gzclose(vi);
	}
	for (i = 0; use && i < use->unknown.n; i++) {
		const struct seed *u = &use->unknown.v[i];
		int node = (int)u->node;

		set_get(&use->hint, hint_key(u->addr, u->size), &node);
		int r = kmm__vmap_load_area(u->addr, u->size, false, node);

		if (!r)
			preloaded++;
		else if (o->verbose && print)
			printf("  could not preload [%#lx, +%#lx) on node %d: %s (%s)\n", u->addr,
			       u->size, node, strerror(-r),
			       (const char *[]){ "outside", "free", "busy", "lazy", "pooled" }
				       [kmm__vmap_where(u->addr, NULL)]);
	}
	for (i = 0; use && i < use->seeds.n; i++) {
		struct seed *sd = &use->seeds.v[i];
		unsigned long addr = sd->addr;

		/* A phantom: somewhere the trace never reaches, the top of the space. */
		if (!addr)
			addr = ((kmm_vmalloc_end() + 1) & ~((1UL << 20) - 1)) - (i + 1) * (1UL << 20);
		if (!kmm__vmap_load_pooled(addr, sd->size, sd->node))
			seeded++;
		else if (probe)
			sd->size = 0;	/* overlaps the known state: not a pool area */
	}
	if (probe) {
		kmm_shutdown();
		gzclose(f);
		return 0;
	}
	if (print) {
		printf("machine                \"%s\"\n", cmd);
		printf("initial state          %lu busy and %lu unpurged areas from vmallocinfo.before (%lu lines not loaded)",
		       loaded_busy, loaded_lazy, loaded_bad);
		if (use)
			printf(",\n                       %lu areas in reconstructed pools, %lu busy areas allocated after the snapshot",
			       seeded, preloaded);
		printf("\n");
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (gzgets(f, line, sizeof(line))) {
		int cpu = 0;
		char *ev = parse_line(line, &cpu);

		if (!ev) {
			st->lines_skipped++;
			continue;
		}
		kmm_bind_cpu(cpu % (int)kmm_machine.nr_cpus);
		event_no++;
		if (!strncmp(ev, "alloc_vmap_area:", 16)) {
			unsigned long kaddr, size, align, vstart, vend;
			int failed, err;
			struct kmm_vmap_area *va;
			enum kmm_vmap_where w;
			unsigned pn = 0;
			unsigned long pool_hits_before;
			bool from_pool, seen_before;

			if (sscanf(ev, "alloc_vmap_area: va_start: %lu size=%lu align=%lu vstart=0x%lx vend=0x%lx failed=%d",
				   &kaddr, &size, &align, &vstart, &vend, &failed) != 6) {
				st->lines_skipped++;
				continue;
			}
			st->events++;
			st->allocs++;
			{
				struct kmm_vmalloc_stats vst;

				kmm_vmalloc_get_stats(&vst);
				pool_hits_before = vst.nr_pool_hits;
			}
			va = kmm__alloc_vmap_area(size, align, vstart, vend, -1,
						  KMM_GFP_KERNEL | KMM___GFP_NOWARN, 0, NULL, &err);
			if (!va || failed) {
				if (!va && failed)
					st->failed_both++;
				else if (!va)
					st->failed_kmm_only++;
				else {
					st->failed_kernel_only++;
					kmm__free_vmap_area_noflush(kmm__find_unlink_vmap_area(va->va_start));
				}
				continue;
			}
			if (st->purges) {
				st->allocs_after_purge++;
				if (va->va_start == kaddr)
					st->exact_after_purge++;
			}
			seen_before = learn && set_get(&learn->seen, kaddr, NULL);
			if (learn)
				set_put(&learn->seen, kaddr, 0);
			if (use && use->seed_set.cap && set_get(&use->seed_set, va->va_start, NULL)) {
				/* A reconstructed area's first pop: counted apart. */
				set_del(&use->seed_set, va->va_start);
				st->from_seed++;
				if (va->va_start == kaddr)
					st->exact_from_seed++;
			}
			if (va->va_start == kaddr) {
				st->exact++;
				continue;
			}
			st->mismatched++;
			{
				struct kmm_vmalloc_stats vst;

				kmm_vmalloc_get_stats(&vst);
				from_pool = vst.nr_pool_hits > pool_hits_before;
			}
			w = kmm__vmap_where(kaddr, &pn);
			st->where[w]++;
			if (learn && vstart == kmm_vmalloc_start() && vend == kmm_vmalloc_end() &&
			    size <= KMM_MAX_VA_SIZE_PAGES * 4096UL && !(kaddr & (align - 1)) &&
			    (w == KMM_VMAP_WHERE_FREE ||
			     (w == KMM_VMAP_WHERE_POOL && pn != (unsigned)cpu % kmm_machine.nr_cpus))) {
				unsigned node = (unsigned)cpu % kmm_machine.nr_cpus;

				/* The kernel popped it from node @node's pool. */
				if (!seen_before)
					seeds_add(&learn->seeds, kaddr, size, node, event_no);
				else if (!set_get(&learn->hint, hint_key(kaddr, size), NULL))
					set_put(&learn->hint, hint_key(kaddr, size), (int)node);
			}
			if (print && st->mismatched <= (unsigned long)o->max_mismatch_print) {
				static const char *const wn[] = { "outside", "free", "busy",
								  "lazy", "pooled" };

				struct kmm_vmalloc_stats vst;

				kmm_vmalloc_get_stats(&vst);
				char nodestr[32] = "";

				if (w == KMM_VMAP_WHERE_POOL)
					snprintf(nodestr, sizeof(nodestr), ", node %u", pn);
				printf("  mismatch #%lu (event %lu): size=%lu align=%lu cpu=%d kernel %#lx (%s in kmm%s) kmm %#lx (from %s)\n",
				       st->mismatched, st->events, size, align, cpu, kaddr,
				       wn[w], nodestr,
				       va->va_start,
				       from_pool ? "pool" : "tree");
			}
			if (o->resync) {
				/*
				 * The kernel popped an area kmm holds deeper in
				 * the same pool: what kmm has above it the
				 * kernel has not, so it goes (with kmm's pop).
				 */
				if (from_pool && w == KMM_VMAP_WHERE_POOL &&
				    pn == (unsigned)cpu % kmm_machine.nr_cpus &&
				    kmm__vmap_pool_trim_above(kaddr, size, pn) >= 0) {
					from_pool = false;
					st->trimmed++;
				}
				if (kmm__vmap_relocate(va->va_start, kaddr, from_pool) == 0)
					st->resynced++;
				else
					st->resync_failed++;
			}
		} else if (!strncmp(ev, "free_vmap_area_noflush:", 23)) {
			unsigned long a;
			long nr_lazy = -1, step;
			bool seen_before;
			struct kmm_vmap_area *va;
			if (sscanf(ev, "free_vmap_area_noflush: va_start=0x%lx nr_lazy=%ld", &a,
				   &nr_lazy) < 1) {
				st->lines_skipped++;
				continue;
			}
			st->events++;
			st->frees++;
			/* nr_lazy counts after adding this area: its size, in pages. */
			step = prev_nr_lazy >= 0 ? nr_lazy - prev_nr_lazy : -1;
			prev_nr_lazy = nr_lazy;
			seen_before = learn && set_get(&learn->seen, a, NULL);
			if (learn)
				set_put(&learn->seen, a, 0);
			va = kmm__find_unlink_vmap_area(a);
			if (!va) {
				st->frees_unknown++;
				if (o->verbose && print)
					printf("  unknown free (event %lu) of %#lx on cpu %d, nr_lazy step %ld\n",
					       event_no, a, cpu, step);
				/*
				 * Allocated after the snapshot: remember it for
				 * the next pass, and file it as lazy now.
				 */
				if (nr_lazy >= 0 && step > 0 && step <= 1L << 20) {
					unsigned long size = (unsigned long)step << 12;
					int node = (int)((unsigned)cpu % kmm_machine.nr_cpus);

					if (learn && !seen_before)
						seeds_add(&learn->unknown, a, size, (unsigned)node,
							  event_no);
					kmm__vmap_load_area(a, size, true, node);
				}
				continue;
			}
			kmm__free_vmap_area_noflush(va);
		} else if (!strncmp(ev, "purge_vmap_area_lazy:", 21)) {
			unsigned long ks, ke, n;
			struct kmm_vmalloc_stats before, after;

			if (sscanf(ev, "purge_vmap_area_lazy: start=0x%lx end=0x%lx num_purged=%lu",
				   &ks, &ke, &n) != 3) {
				st->lines_skipped++;
				continue;
			}
			st->events++;
			st->purges++;
			prev_nr_lazy = -1;
			if (learn && learn->nr_purges < KMM_ARRAY_SIZE(learn->purge_at))
				learn->purge_at[learn->nr_purges++] = event_no;
			kmm_vmalloc_get_stats(&before);
			kmm__purge_vmap_area_lazy(~0UL, 0, false);
			kmm_vmalloc_get_stats(&after);
			st->kmm_purged += after.nr_purged_areas - before.nr_purged_areas;
			st->kernel_purged += n;
			if (after.nr_purged_areas - before.nr_purged_areas == n)
				st->purge_count_equal++;
			if (o->verbose && print)
				printf("  purge at event %lu: kernel purged %lu [%#lx, %#lx), kmm %lu; pooled now %lu, lazy pages %lu\n",
				       st->events, n, ks, ke,
				       after.nr_purged_areas - before.nr_purged_areas,
				       after.nr_pooled, after.nr_lazy_pages);
		} else {
			st->lines_skipped++;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	gzclose(f);
	kmm_bind_cpu(-1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

	if (print) {
		printf("events                 %lu in %.3f s (%.0f events/s); %lu other lines skipped\n",
		       st->events, secs, secs > 0 ? (double)st->events / secs : 0.0,
		       st->lines_skipped);
		printf("allocations            %lu: exact %lu (%.2f%%), different %lu, failed in both %lu, only kmm %lu, only kernel %lu\n",
		       st->allocs, st->exact,
		       st->allocs ? 100.0 * (double)st->exact / (double)st->allocs : 0.0,
		       st->mismatched, st->failed_both, st->failed_kmm_only,
		       st->failed_kernel_only);
		if (use)
			printf("  of which              %lu popped a reconstructed area (exact %lu), %lu did not:\n"
			       "                       exact %lu (%.2f%%)\n",
			       st->from_seed, st->exact_from_seed, st->allocs - st->from_seed,
			       st->exact - st->exact_from_seed,
			       st->allocs > st->from_seed
				       ? 100.0 * (double)(st->exact - st->exact_from_seed) /
						 (double)(st->allocs - st->from_seed)
				       : 0.0);
		printf("after the first purge  %lu allocations, exact %lu (%.2f%%)\n",
		       st->allocs_after_purge, st->exact_after_purge,
		       st->allocs_after_purge ? 100.0 * (double)st->exact_after_purge /
						       (double)st->allocs_after_purge : 0.0);
		printf("kernel's address was   free in kmm %lu, pooled in kmm %lu, busy %lu, lazy %lu, outside %lu\n",
		       st->where[KMM_VMAP_WHERE_FREE], st->where[KMM_VMAP_WHERE_POOL],
		       st->where[KMM_VMAP_WHERE_BUSY], st->where[KMM_VMAP_WHERE_LAZY],
		       st->where[KMM_VMAP_WHERE_NONE]);
		printf("resync                 %s: %lu moved to the kernel's address, %lu could not be;\n"
		       "                       %lu pool heads trimmed to the kernel's pop\n",
		       o->resync ? "on" : "off", st->resynced, st->resync_failed, st->trimmed);
		printf("frees                  %lu (%lu of areas kmm did not know)\n", st->frees,
		       st->frees_unknown);
		printf("purges                 %lu: same number of areas purged in %lu; kmm purged %lu areas, the kernel %lu\n",
		       st->purges, st->purge_count_equal, st->kmm_purged, st->kernel_purged);
		compare_after(dir);
	}
	ret = kmm_vmalloc_validate();
	if (print)
		printf("validate               %s\n", ret ? "FAILED" : "ok");
	kmm_shutdown();
	return ret ? 1 : 0;
}

int kmm_replay_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "no-resync", no_argument, NULL, 'n' },
		{ "cold-pools", no_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "boot", required_argument, NULL, 'b' },
		{ "busy-node", required_argument, NULL, 'B' },
		{ "pages-only", no_argument, NULL, 'P' },
		{ "vmalloc-only", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct replay_opts o = { .resync = true, .max_mismatch_print = 0, .busy_guess = -1 };
	struct replay_stats st1, st2;
	struct learn found = { 0 };
	const char *extra = "";
	bool cold = false, pages_only = false, vmalloc_only = false;
	char cmd[1024], dir[4000], trace[4200];
	struct stat sb;
	size_t i, j;
	int c, ret = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "ncvb:B:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': o.resync = false; break;
		case 'c': cold = true; break;
		case 'v': o.verbose = true; o.max_mismatch_print = 1 << 30; break;
		case 'b': extra = optarg; break;
		case 'B': o.busy_guess = !strcmp(optarg, "addr") ? -2 : atoi(optarg); break;
		case 'P': pages_only = true; break;
		case 'V': vmalloc_only = true; break;
		case 'h': replay_usage(stdout); return 0;
		default: replay_usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		replay_usage(stderr);
		return 2;
	}
	o.path = argv[optind];
	if (stat(o.path, &sb)) {
		fprintf(stderr, "kmm replay: %s: %s\n", o.path, strerror(errno));
		return 1;
	}
	o.is_dir = S_ISDIR(sb.st_mode);
	snprintf(dir, sizeof(dir), "%s", o.path);
	if (!o.is_dir) {
		char *slash = strrchr(dir, '/');

		if (slash)
			*slash = 0;
		else
			snprintf(dir, sizeof(dir), ".");
	}
	snprintf(cmd, sizeof(cmd), "kmm.mode=shadow mem=1G vmalloc=32T nr_cpus=%u %s",
		 replay_read_nproc(dir), extra);
	printf("kmm replay: %s\n", o.path);
	if (pages_only && vmalloc_only) {
		replay_usage(stderr);
		return 2;
	}
	snprintf(trace, sizeof(trace), "%s", o.path);
	if (o.is_dir)
		snprintf(trace, sizeof(trace), "%s/trace.txt.gz", o.path);
	if (pages_only)
		goto pages;
	if (cold || !o.resync) {
		ret = run_pass(&o, dir, cmd, NULL, NULL, &st1, true, false);
		goto pages;
	}

	printf("\n-- pass 1: pools empty at the start --\n");
	ret = run_pass(&o, dir, cmd, NULL, &found, &st1, true, false);
	if (ret)
		goto out;
	qsort(found.seeds.v, found.seeds.n, sizeof(*found.seeds.v), seed_cmp);
	/* Drop seeds that cannot have been pooled, then add the phantoms. */
	run_pass(&o, dir, cmd, &found, NULL, &st2, false, true);
	for (i = j = 0; i < found.seeds.n; i++)
		if (found.seeds.v[i].size)
			found.seeds.v[j++] = found.seeds.v[i];
	found.seeds.n = j;
	add_phantoms(&found);
	qsort(found.seeds.v, found.seeds.n, sizeof(*found.seeds.v), seed_cmp);
	printf("\n-- pass 2: with what pass 1 learnt: %zu areas in the kernel's pools before tracing\n"
	       "   (%lu of them phantoms for its decays to take), %zu areas allocated after the\n"
	       "   snapshot, the node of %zu areas --\n",
	       found.seeds.n, found.nr_phantoms, found.unknown.n, found.hint.n);
	for (i = 0; i < found.seeds.n; i++)
		if (found.seeds.v[i].addr)
			set_put(&found.seed_set, found.seeds.v[i].addr, 0);
	ret = run_pass(&o, dir, cmd, &found, NULL, &st2, true, false);
out:
	learn_free(&found);
pages:
	if (!vmalloc_only && !ret) {
		/*
		 * With resync every allocation is judged from the kernel's own
		 * state (the exact-PFN rate); without, kmm's policy runs on its
		 * own, which is what its final free lists measure.
		 */
		if (o.resync) {
			printf("\n-- page allocator, resync: each allocation judged from the kernel's state --\n");
			ret = kmm_replay_pages(dir, trace, extra, true, o.verbose);
		}
		if (!ret) {
			printf("\n-- page allocator, no resync: kmm's own placements from the same start --\n");
			ret = kmm_replay_pages(dir, trace, extra, false, o.verbose);
		}
		if (ret < 0)	/* nothing to replay: said once */
			ret = 0;
	}
	return ret;
}
