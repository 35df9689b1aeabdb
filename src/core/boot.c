/* SPDX-License-Identifier: MIT */
/*
 * boot.c - parse a kernel-style command line and build the machine.
 *
 * Boot order (each step undone in reverse on failure):
 *   1. parse parameters into kmm_machine.params (no allocation);
 *   2. lay out nodes and zones by physical address, as x86-64 does:
 *        ZONE_DMA     [0, 16 MiB)
 *        ZONE_DMA32   [16 MiB, 4 GiB)
 *        ZONE_NORMAL  [4 GiB, ...)
 *        ZONE_MOVABLE the top movablecore/nr_nodes of each node, taken
 *                     from the highest populated zone (MAX_ORDER aligned);
 *   3. place CMA areas (pageblock aligned, inside one zone);
 *   4. host memory through the port (memfd + direct map, or shadow);
 *   5. memmap and node data, every page Reserved;
 *   6. the page allocator: free lists, watermarks, per-CPU lists; all
 *      memory is handed to the buddy allocator (CMA pageblocks first marked
 *      MIGRATE_CMA).
 *
 * CPUs are spread over nodes in contiguous runs: cpu c is on node
 * c * nr_nodes / nr_cpus.
 *
 * Locks: none; boot and shutdown run alone.
 */
#include <kmm/boot.h>
#include <kmm/cma.h>
#include <kmm/fault.h>
#include <kmm/lib.h>
#include <kmm/migrate.h>
#include <kmm/mm.h>
#include <kmm/page_alloc.h>
#include <kmm/pgtable.h>
#include <kmm/stat.h>
#include <kmm/vmalloc.h>
#include <kmm/kvfree_rcu.h>

struct kmm_machine kmm_machine;

#define SZ_1M (1ULL << 20)
#define SZ_1G (1ULL << 30)
#define DMA_END_PFN ((16ULL * SZ_1M) >> KMM_PAGE_SHIFT)
#define DMA32_END_PFN ((4ULL * SZ_1G) >> KMM_PAGE_SHIFT)
#define MIN_MEM (4ULL * SZ_1M)
#define MAX_MEM (1ULL << 46)		/* 64 TiB: PFNs fit easily */
#define DEFAULT_VMALLOC (32ULL * SZ_1G)

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

uint64_t kmm_random(void)
{
	/* xorshift64*: not thread-safe by design (tests seed it); races only
	 * make it less random, never invalid. */
	uint64_t x = __atomic_load_n(&rng_state, __ATOMIC_RELAXED);

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	__atomic_store_n(&rng_state, x, __ATOMIC_RELAXED);
	return x * 0x2545F4914F6CDD1DULL;
}

bool kmm_booted(void)
{
	return kmm_machine.booted;
}

unsigned kmm_smp_processor_id(void)
{
	unsigned n = kmm_machine.nr_cpus ? kmm_machine.nr_cpus : 1;
	unsigned c = kmm_port_cpu();

	return kmm_likely(c < n) ? c : c % n;
}

int kmm_cpu_to_node(unsigned cpu)
{
	if (kmm_machine.nr_nodes <= 1 || !kmm_machine.nr_cpus)
		return 0;
	cpu %= kmm_machine.nr_cpus;
	return (int)((uint64_t)cpu * kmm_machine.nr_nodes / kmm_machine.nr_cpus);
}

int kmm_numa_node_id(void)
{
	return kmm_cpu_to_node(kmm_smp_processor_id());
}

int kmm_bind_cpu(int cpu)
{
	if (cpu < -1 || (kmm_machine.booted && cpu >= (int)kmm_machine.nr_cpus) ||
	    cpu >= KMM_MAX_CPUS)
		return -KMM_EINVAL;
	kmm_port_bind_cpu(cpu);
	return 0;
}

int kmm_parse_size(const char *s, size_t len, uint64_t *out)
{
	uint64_t v, mult = 1;

	if (!len)
		return -KMM_EINVAL;
	switch (s[len - 1]) {
	case 'k': case 'K': mult = 1ULL << 10; len--; break;
	case 'm': case 'M': mult = 1ULL << 20; len--; break;
	case 'g': case 'G': mult = 1ULL << 30; len--; break;
	case 't': case 'T': mult = 1ULL << 40; len--; break;
	default: break;
	}
	if (kmm_parse_u64(s, len, &v))
		return -KMM_EINVAL;
	if (v && mult > UINT64_MAX / v)
		return -KMM_EINVAL;
	*out = v * mult;
	return 0;
}

/* ---- parameters -------------------------------------------------------- */

static bool key_is(const char *k, size_t klen, const char *name)
{
	size_t n = kmm_strlen(name);

	return klen == n && !kmm_strncmp(k, name, n);
}

static int bad_param(const char *tok, size_t len, const char *why)
{
	kmm_pr_err("boot: bad parameter '%.*s': %s", (int)len, tok, why);
	return -KMM_EINVAL;
}

static int parse_bool(const char *v, size_t vlen, bool *out)
{
	if (vlen == 1 && (v[0] == '0' || v[0] == '1')) {
		*out = v[0] == '1';
		return 0;
	}
	return -KMM_EINVAL;
}

static int parse_one(struct kmm_boot_params *p, const char *tok, size_t len)
{
	const char *eq = tok, *v;
	size_t klen, vlen;
	uint64_t n;

	while (eq < tok + len && *eq != '=')
		eq++;
	if (eq == tok + len)
		return bad_param(tok, len, "unknown parameter (expected key=value)");
	klen = (size_t)(eq - tok);
	v = eq + 1;
	vlen = len - klen - 1;
	if (!vlen)
		return bad_param(tok, len, "empty value");

	if (key_is(tok, klen, "mem")) {
		if (kmm_parse_size(v, vlen, &n))
			return bad_param(tok, len, "not a size");
		if (n < MIN_MEM || n > MAX_MEM)
			return bad_param(tok, len, "must be between 4M and 64T");
		p->mem_bytes = n & KMM_PAGE_MASK;
	} else if (key_is(tok, klen, "numa")) {
		if (kmm_parse_u64(v, vlen, &n) || n < 1 || n > KMM_MAX_NUMNODES)
			return bad_param(tok, len, "must be 1..64");
		p->numa_nodes = (unsigned)n;
	} else if (key_is(tok, klen, "nr_cpus")) {
		if (kmm_parse_u64(v, vlen, &n) || n < 1 || n > KMM_MAX_CPUS)
			return bad_param(tok, len, "must be 1..256");
		p->nr_cpus = (unsigned)n;
	} else if (key_is(tok, klen, "movablecore")) {
		if (v[vlen - 1] == '%') {
			if (kmm_parse_u64(v, vlen - 1, &n) || n > 100)
				return bad_param(tok, len, "percentage must be 0..100");
			p->movablecore_percent = (unsigned)n;
			p->movablecore_bytes = 0;
		} else {
			if (kmm_parse_size(v, vlen, &n))
				return bad_param(tok, len, "not a size");
			p->movablecore_bytes = n;
			p->movablecore_percent = 0;
		}
	} else if (key_is(tok, klen, "cma")) {
		const char *at = v;
		uint64_t base;

		while (at < v + vlen && *at != '@')
			at++;
		if (kmm_parse_size(v, (size_t)(at - v), &n) || !n)
			return bad_param(tok, len, "expected SIZE[@BASE]");
		if (at < v + vlen) {
			if (kmm_parse_size(at + 1, (size_t)(v + vlen - at - 1), &base))
				return bad_param(tok, len, "bad @BASE");
			p->cma_base = base;
		} else {
			p->cma_base = UINT64_MAX;
		}
		p->cma_bytes = n;
	} else if (key_is(tok, klen, "vmalloc")) {
		if (kmm_parse_size(v, vlen, &n) || n < 16 * SZ_1M || n > (1ULL << 45))
			return bad_param(tok, len, "must be a size between 16M and 32T");
		p->vmalloc_bytes = KMM_ALIGN_UP(n, KMM_PAGE_SIZE);
	} else if (key_is(tok, klen, "kmm.mode")) {
		if (key_is(v, vlen, "real"))
			p->mode = KMM_MODE_REAL;
		else if (key_is(v, vlen, "strict"))
			p->mode = KMM_MODE_STRICT;
		else if (key_is(v, vlen, "shadow"))
			p->mode = KMM_MODE_SHADOW;
		else
			return bad_param(tok, len, "must be real, strict or shadow");
	} else if (key_is(tok, klen, "fail_page_alloc")) {
		/* Checked now on a scratch attr; armed once boot is done, so
		 * boot's own allocations are not counted. */
		struct kmm_fault_attr scratch = { .name = "check" };

		if (vlen >= sizeof(p->fail_page_alloc) ||
		    kmm_fault_setup(&scratch, v, vlen))
			return bad_param(tok, len,
					 "expected <interval>,<probability>,<space>,<times>");
		kmm_memcpy(p->fail_page_alloc, v, vlen);
		p->fail_page_alloc[vlen] = 0;
	} else if (key_is(tok, klen, "fail_page_alloc.nth")) {
		if (kmm_parse_u64(v, vlen, &n) || !n || n > (uint64_t)INT64_MAX)
			return bad_param(tok, len, "must be a positive count");
		p->fail_page_alloc_nth = (long)n;
	} else if (key_is(tok, klen, "init_on_alloc")) {
		if (parse_bool(v, vlen, &p->init_on_alloc))
			return bad_param(tok, len, "must be 0 or 1");
	} else if (key_is(tok, klen, "init_on_free")) {
		if (parse_bool(v, vlen, &p->init_on_free))
			return bad_param(tok, len, "must be 0 or 1");
	} else if (key_is(tok, klen, "transparent_hugepage")) {
		if (key_is(v, vlen, "always") || key_is(v, vlen, "madvise"))
			p->thp_enabled = true;
		else if (key_is(v, vlen, "never"))
			p->thp_enabled = false;
		else
			return bad_param(tok, len, "must be always, madvise or never");
	} else if (key_is(tok, klen, "kmm.seed")) {
		if (kmm_parse_u64(v, vlen, &n))
			return bad_param(tok, len, "not a number");
		p->seed = n;
		p->have_seed = true;
	} else {
		return bad_param(tok, len, "unknown parameter");
	}
	return 0;
}

static int parse_cmdline(struct kmm_boot_params *p, const char *cmdline)
{
	const char *s = cmdline;

	*p = (struct kmm_boot_params){
		.mem_bytes = SZ_1G,
		.numa_nodes = 1,
		.nr_cpus = 0,
		.cma_base = UINT64_MAX,
		.vmalloc_bytes = DEFAULT_VMALLOC,
		.mode = KMM_MODE_REAL,
		.thp_enabled = true,
	};
	if (!s)
		return 0;
	while (*s) {
		const char *t;
		int ret;

		while (*s == ' ' || *s == '\t' || *s == '\n')
			s++;
		if (!*s)
			break;
		t = s;
		while (*s && *s != ' ' && *s != '\t' && *s != '\n')
			s++;
		ret = parse_one(p, t, (size_t)(s - t));
		if (ret)
			return ret;
	}
	return 0;
}

/* ---- layout ------------------------------------------------------------ */

struct layout {
	uint64_t node_start[KMM_MAX_NUMNODES];
	uint64_t node_pages[KMM_MAX_NUMNODES];
	uint64_t zone_start[KMM_MAX_NUMNODES][KMM_MAX_NR_ZONES];
	uint64_t zone_end[KMM_MAX_NUMNODES][KMM_MAX_NR_ZONES];
};

static const uint64_t zone_limit[KMM_MAX_NR_ZONES] = {
	[KMM_ZONE_DMA] = DMA_END_PFN,
	[KMM_ZONE_DMA32] = DMA32_END_PFN,
	[KMM_ZONE_NORMAL] = UINT64_MAX,
	[KMM_ZONE_MOVABLE] = UINT64_MAX,
};

static int compute_layout(const struct kmm_boot_params *p, struct layout *l)
{
	uint64_t total = p->mem_bytes >> KMM_PAGE_SHIFT;
	uint64_t per, movable, movable_per_node;
	unsigned nid, nodes = p->numa_nodes, mz = KMM_ZONE_DMA;
	int z;

	/* Nodes: equal MAX_ORDER-aligned shares, the remainder to the last. */
	per = KMM_ALIGN_DOWN(total / nodes, KMM_MAX_ORDER_NR_PAGES);
	if (nodes > 1 && per == 0) {
		kmm_pr_err("boot: numa=%u: mem= too small to give each node 4 MiB",
			   nodes);
		return -KMM_EINVAL;
	}
	for (nid = 0; nid < nodes; nid++) {
		l->node_start[nid] = per * nid;
		l->node_pages[nid] = nid + 1 == nodes ? total - per * nid : per;
	}

	/* Zones by address within each node. */
	for (nid = 0; nid < nodes; nid++) {
		uint64_t ns = l->node_start[nid], ne = ns + l->node_pages[nid];
		uint64_t lo = 0;

		for (z = KMM_ZONE_DMA; z <= KMM_ZONE_NORMAL; z++) {
			uint64_t s = KMM_MAX(lo, ns), e = KMM_MIN(zone_limit[z], ne);

			if (s < e) {
				l->zone_start[nid][z] = s;
				l->zone_end[nid][z] = e;
				if ((unsigned)z > mz)
					mz = (unsigned)z;
			} else {
				l->zone_start[nid][z] = l->zone_end[nid][z] = 0;
			}
			lo = zone_limit[z];
		}
		l->zone_start[nid][KMM_ZONE_MOVABLE] = 0;
		l->zone_end[nid][KMM_ZONE_MOVABLE] = 0;
	}

	/* ZONE_MOVABLE from the top of each node's highest zone (movable_zone). */
	if (p->movablecore_percent)
		movable = total * p->movablecore_percent / 100;
	else
		movable = p->movablecore_bytes >> KMM_PAGE_SHIFT;
	if (!movable)
		return 0;
	if (movable >= total) {
		/* Linux: kernelcore would be 0, and then there is no ZONE_MOVABLE. */
		kmm_pr_info("boot: movablecore= covers all memory: no ZONE_MOVABLE, as on Linux");
		return 0;
	}
	movable_per_node = movable / nodes;
	for (nid = 0; nid < nodes; nid++) {
		uint64_t zs = l->zone_start[nid][mz], ze = l->zone_end[nid][mz];
		uint64_t start;

		if (zs == ze || !movable_per_node)
			continue;
		start = ze > movable_per_node ? ze - movable_per_node : 0;
		start = KMM_ALIGN_UP(start, KMM_MAX_ORDER_NR_PAGES);
		if (start < zs)
			start = zs;	/* the whole zone turns movable */
		if (start >= ze)
			continue;
		l->zone_start[nid][KMM_ZONE_MOVABLE] = start;
		l->zone_end[nid][KMM_ZONE_MOVABLE] = ze;
		l->zone_end[nid][mz] = start;
		if (start == zs)
			l->zone_start[nid][mz] = l->zone_end[nid][mz] = 0;
	}
	return 0;
}

/* Find the zone of @pfn in @l, or -1. */
static int layout_zone_of(const struct layout *l, unsigned nodes, uint64_t pfn,
			  unsigned *nid_out)
{
	unsigned nid;
	int z;

	for (nid = 0; nid < nodes; nid++)
		for (z = 0; z < KMM_MAX_NR_ZONES; z++)
			if (pfn >= l->zone_start[nid][z] && pfn < l->zone_end[nid][z]) {
				*nid_out = nid;
				return z;
			}
	return -1;
}

/*
 * Place the cma= area: at @BASE if given, else top-down in the highest
 * non-movable zone of node 0 that can hold it (dma_contiguous_reserve()
 * prefers high addresses below the DMA32 limit on x86; kmm simply takes
 * the highest fit).  The area is pageblock aligned and inside one zone.
 */
static int place_cma(const struct kmm_boot_params *p, const struct layout *l,
		     struct kmm_cma_reservation *r)
{
	uint64_t count = KMM_ALIGN_UP(p->cma_bytes >> KMM_PAGE_SHIFT,
				      KMM_PAGEBLOCK_NR_PAGES);
	uint64_t base;
	unsigned nid = 0, nid2 = 0;
	int z, z2;

	if (!p->cma_bytes)
		return 0;
	if (p->cma_bytes & ~KMM_PAGE_MASK) {
		kmm_pr_err("boot: cma=: size must be a multiple of 4K");
		return -KMM_EINVAL;
	}
	if (p->cma_base != UINT64_MAX) {
		if (p->cma_base & ((KMM_PAGEBLOCK_NR_PAGES << KMM_PAGE_SHIFT) - 1)) {
			kmm_pr_err("boot: cma=: base %#llx is not aligned to a pageblock (2 MiB)",
				   (unsigned long long)p->cma_base);
			return -KMM_EINVAL;
		}
		base = p->cma_base >> KMM_PAGE_SHIFT;
		z = layout_zone_of(l, p->numa_nodes, base, &nid);
		z2 = layout_zone_of(l, p->numa_nodes, base + count - 1, &nid2);
		if (z < 0 || z != z2 || nid != nid2 || base + count < base) {
			kmm_pr_err("boot: cma=: %llu MiB at %#llx is not inside one zone",
				   (unsigned long long)(count >> 8),
				   (unsigned long long)p->cma_base);
			return -KMM_EINVAL;
		}
	} else {
		base = UINT64_MAX;
		for (z = KMM_ZONE_NORMAL; z >= KMM_ZONE_DMA && base == UINT64_MAX; z--) {
			uint64_t zs = l->zone_start[0][z], ze = l->zone_end[0][z];
			uint64_t b;

			if (ze - zs < count)
				continue;
			b = KMM_ALIGN_DOWN(ze - count, KMM_PAGEBLOCK_NR_PAGES);
			if (b >= zs)
				base = b;
		}
		if (base == UINT64_MAX) {
			kmm_pr_err("boot: cma=: failed to reserve %llu MiB: no zone of node 0 is big enough",
				   (unsigned long long)(count >> 8));
			return -KMM_EINVAL;
		}
	}
	r->base_pfn = base;
	r->count = count;
	kmm_scnprintf(r->name, sizeof(r->name), "reserved");
	return 1;
}

/* ---- machine construction --------------------------------------------- */

static void free_machine_meta(void)
{
	unsigned nid;

	for (nid = 0; nid < KMM_MAX_NUMNODES; nid++) {
		if (kmm_machine.node_data[nid]) {
			kmm_port_meta_free(kmm_machine.node_data[nid],
					   sizeof(struct kmm_pglist_data));
			kmm_machine.node_data[nid] = NULL;
		}
	}
	if (kmm_machine.mem_map) {
		kmm_port_meta_free(kmm_machine.mem_map,
				   kmm_machine.max_pfn * sizeof(struct kmm_page));
		kmm_machine.mem_map = NULL;
	}
}

static int build_nodes(const struct layout *l)
{
	unsigned nid;
	int z;

	for (nid = 0; nid < kmm_machine.nr_nodes; nid++) {
		struct kmm_pglist_data *pg = kmm_port_meta_alloc(sizeof(*pg));

		if (!pg)
			return -KMM_ENOMEM;
		kmm_machine.node_data[nid] = pg;
		pg->node_id = (int)nid;
		pg->node_start_pfn = l->node_start[nid];
		pg->node_spanned_pages = l->node_pages[nid];
		pg->node_present_pages = l->node_pages[nid];
		for (z = 0; z < KMM_MAX_NR_ZONES; z++) {
			struct kmm_zone *zone = &pg->node_zones[z];
			uint64_t s = l->zone_start[nid][z], e = l->zone_end[nid][z];

			zone->zone_pgdat = pg;
			zone->type = (enum kmm_zone_type)z;
			zone->name = kmm_zone_names[z];
			zone->zone_start_pfn = s;
			zone->spanned_pages = e - s;
			zone->present_pages = e - s;
			zone->managed_pages = e - s;
			if (e > s)
				pg->nr_zones = z + 1;
		}
	}
	return 0;
}

static void init_memmap(void)
{
	unsigned nid;
	int z;

	for (nid = 0; nid < kmm_machine.nr_nodes; nid++) {
		for (z = 0; z < KMM_MAX_NR_ZONES; z++) {
			struct kmm_zone *zone = &kmm_machine.node_data[nid]->node_zones[z];
			uint64_t pfn, end = kmm_zone_end_pfn(zone);
			uint64_t flags = ((uint64_t)nid << KMM_PAGE_NID_SHIFT) |
					 ((uint64_t)z << KMM_PAGE_ZONE_SHIFT) |
					 (1ULL << KMM_PG_reserved);

			for (pfn = zone->zone_start_pfn; pfn < end; pfn++) {
				struct kmm_page *page = &kmm_machine.mem_map[pfn];

				page->flags = flags;
				kmm_list_init(&page->lru);
				atomic_init(&page->_refcount, 0);
				atomic_init(&page->_mapcount, -1);
			}
		}
	}
}

int kmm_boot(const char *cmdline)
{
	struct kmm_boot_params params;
	static struct layout layout;	/* large: keep it off the stack */
	uint64_t node_start[KMM_MAX_NUMNODES], node_pages[KMM_MAX_NUMNODES];
	struct kmm_cma_reservation cma = { 0 };
	unsigned nid;
	int ret;

	if (kmm_machine.booted) {
		kmm_pr_err("boot: already booted; call kmm_shutdown() first");
		return -KMM_EBUSY;
	}
	kmm_fault_reset(&kmm_fail_page_alloc);
	kmm_fault_reset(&kmm_fail_host_map);
	kmm_fault_reset(&kmm_fail_meta_alloc);
	kmm_fault_reset(&kmm_fail_host_call);
	kmm_fault_reset(&kmm_fail_objcache);
	ret = parse_cmdline(&params, cmdline);
	if (ret)
		goto fail_params;
	if (!params.nr_cpus)
		params.nr_cpus = KMM_CLAMP(kmm_port_nr_host_cpus(), 1u,
					   (unsigned)KMM_MAX_CPUS);
	kmm_memset(&layout, 0, sizeof(layout));
	ret = compute_layout(&params, &layout);
	if (ret)
		goto fail_params;
	ret = place_cma(&params, &layout, &cma);
	if (ret < 0)
		goto fail_params;

	kmm_memset(&kmm_machine, 0, sizeof(kmm_machine));
	kmm_machine.params = params;
	kmm_machine.nr_nodes = params.numa_nodes;
	kmm_machine.nr_cpus = params.nr_cpus;
	kmm_machine.max_pfn = params.mem_bytes >> KMM_PAGE_SHIFT;
	if (ret > 0)
		kmm_machine.cma_reserved[kmm_machine.nr_cma_areas++] = cma;
	rng_state = params.have_seed ? (params.seed ? params.seed : 1)
				     : (kmm_port_clock_ns() | 1);
	kmm__stat_reset();
	kmm__migrate_reset();
	kmm__contig_reset();

	for (nid = 0; nid < kmm_machine.nr_nodes; nid++) {
		node_start[nid] = layout.node_start[nid];
		node_pages[nid] = layout.node_pages[nid];
	}
	ret = kmm_port_phys_init(kmm_machine.nr_nodes, node_start, node_pages,
				 params.mode, &kmm_machine.direct_map);
	if (ret) {
		kmm_pr_err("boot: the port could not create %llu MiB of physical memory in %s mode (%d)",
			   (unsigned long long)(params.mem_bytes >> 20),
			   params.mode == KMM_MODE_SHADOW ? "shadow" :
			   params.mode == KMM_MODE_STRICT ? "strict" : "real", ret);
		goto fail_clear;
	}

	ret = -KMM_ENOMEM;
	kmm_machine.mem_map = kmm_port_meta_alloc(kmm_machine.max_pfn *
						  sizeof(struct kmm_page));
	if (!kmm_machine.mem_map) {
		kmm_pr_err("boot: cannot allocate the memmap (%llu pages)",
			   (unsigned long long)kmm_machine.max_pfn);
		goto fail_phys;
	}
	ret = build_nodes(&layout);
	if (ret)
		goto fail_meta;
	init_memmap();
	ret = kmm__page_alloc_init();
	if (ret)
		goto fail_meta;
	ret = kmm_port_va_reserve(params.vmalloc_bytes, &kmm_machine.vmalloc_start);
	if (ret) {
		kmm_pr_err("boot: cannot reserve %llu MiB of kernel VA space",
			   (unsigned long long)(params.vmalloc_bytes >> 20));
		goto fail_pa;
	}
	kmm_machine.vmalloc_end = kmm_machine.vmalloc_start + params.vmalloc_bytes;
	kmm_machine.booted = true;	/* the page allocator works from here */
	ret = kmm_mm_init(&kmm_init_mm, "init_mm", true);
	if (ret) {
		kmm_machine.booted = false;
		goto fail_va;
	}
	ret = kmm__vmalloc_init();
	if (ret) {
		kmm_pr_err("boot: cannot set up the vmalloc layer (%d)", ret);
		kmm_mm_free_pgtables(&kmm_init_mm);
		kmm_machine.booted = false;
		goto fail_va;
	}
	kmm__user_mms_init();
	ret = kmm__kvfree_rcu_init(kmm_machine.nr_cpus);
	if (ret) {
		kmm_pr_err("boot: cannot set up kvfree_rcu (%d)", ret);
		kmm__user_mms_fini();
		kmm__vmalloc_fini();
		kmm_mm_free_pgtables(&kmm_init_mm);
		kmm_machine.booted = false;
		goto fail_va;
	}
	ret = kmm__cma_init();
	if (ret) {
		kmm__kvfree_rcu_fini();
		kmm__user_mms_fini();
		kmm__vmalloc_fini();
		kmm_mm_free_pgtables(&kmm_init_mm);
		kmm_machine.booted = false;
		goto fail_va;
	}
	/* Fault injection starts with the first allocation after boot. */
	if (params.fail_page_alloc[0])
		kmm_fault_setup(&kmm_fail_page_alloc, params.fail_page_alloc,
				kmm_strlen(params.fail_page_alloc));
	if (params.fail_page_alloc_nth)
		kmm_fault_set_nth(&kmm_fail_page_alloc, params.fail_page_alloc_nth);
	return 0;

fail_va:
	kmm_port_va_release();
fail_pa:
	kmm__page_alloc_fini();
fail_meta:
	free_machine_meta();
fail_phys:
	kmm_port_phys_fini();
fail_clear:
	kmm_memset(&kmm_machine, 0, sizeof(kmm_machine));
fail_params:
	kmm_fault_reset(&kmm_fail_page_alloc);
	return ret;
}

void kmm_shutdown(void)
{
	if (!kmm_machine.booted)
		return;
	kmm__cma_fini();
	kmm__user_mms_fini();
	kmm__kvfree_rcu_fini();	/* frees into vmalloc: first */
	kmm__vmalloc_fini();
	kmm_mm_free_pgtables(&kmm_init_mm);
	kmm_port_va_release();
	kmm__page_alloc_fini();
	free_machine_meta();
	kmm_port_phys_fini();
	kmm_memset(&kmm_machine, 0, sizeof(kmm_machine));
	kmm_fault_reset(&kmm_fail_page_alloc);
}
