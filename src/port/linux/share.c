/* SPDX-License-Identifier: MIT */
/*
 * share.c - handing a user mapping to another process over a Unix-domain
 * socket (hosted port only; beyond the kernel).
 *
 * A user mapping in real mode is host mappings of the node memfds, so
 * another process sees the same bytes by mapping the same memfd pages.
 * The sender walks the range's PTEs under mmap_lock and sends
 *
 *   message 1   struct share_hdr, with the memfd of every node the range
 *               uses attached (SCM_RIGHTS)
 *   then        hdr.nr_runs struct share_run, each a PFN-contiguous run of
 *               pages with one protection: where it goes in the range,
 *               which memfd, which file offset
 *
 * and the receiver reserves a PROT_NONE range of the same length, maps
 * each run over it with MAP_FIXED | MAP_SHARED and closes the memfds (the
 * mappings keep them).  Pages the range did not map stay PROT_NONE.
 *
 * The sender's later changes (munmap, a new mapping) do not reach the
 * receiver: it keeps the pages it was given, as a process that was handed
 * a physical page would.  What it can reach is documented in
 * port_linux.h and docs/SECURITY.md: every page of the memfds sent.
 *
 * Two rules keep that from leaking data between owners:
 *   - every page sent is pinned (one more reference, never dropped while
 *     the machine lives): kmm cannot see when the receiver unmaps it, so
 *     the page must never be freed, reused or migrated (migration would
 *     leave the receiver on the old frame, which another owner would get
 *     next).  The sender's munmap/vfree only drops its own reference.
 *   - a node whose pages the range maps only readable is sent as a
 *     read-only file (reopened O_RDONLY through /proc/self/fd): the
 *     receiver cannot write any page of it, nor mprotect a mapping of it
 *     writable.  Only a node with a writable page in the range goes
 *     read-write.
 *
 * Only SOCK_STREAM sockets: the run list may be large and is written in a
 * loop.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <kmm/boot.h>
#include <kmm/mm.h>
#include <kmm/mmzone.h>
#include <kmm/page_alloc.h>
#include <kmm/pgtable.h>

#include "port_linux.h"

#define SHARE_MAGIC 0x72616873206d6d6bULL	/* "kmm shar" */
#define SHARE_PAGE 4096UL

struct share_hdr {
	uint64_t magic;
	uint64_t len;		/* bytes of the range */
	uint32_t nr_runs;
	uint32_t nr_fds;
};

struct share_run {
	uint64_t offset;	/* bytes into the range */
	uint64_t bytes;
	uint64_t file_offset;	/* in its memfd */
	uint32_t fd_index;
	uint32_t prot;		/* PROT_* */
};

static int write_all(int sock, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t w = send(sock, p, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(int sock, void *buf, size_t n)
{
	char *p = buf;

	while (n) {
		ssize_t r = recv(sock, p, n, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EPROTO;	/* the sender went away mid-message */
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static bool stream_socket(int sock)
{
	int type = 0;
	socklen_t l = sizeof(type);

	return getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &l) == 0 && type == SOCK_STREAM;
}

/* File slots: one read-only and one read-write per node. */
#define SHARE_MAX_FDS (2 * KMM_MAX_NUMNODES)

static unsigned fd_slot(unsigned nid, uint32_t prot)
{
	return 2 * nid + ((prot & PROT_WRITE) ? 1 : 0);
}

/* Build the run list of [addr, addr + len); mmap_lock held.  Marks in
 * @used the (node, access) slots the runs need. */
static long collect_runs(struct kmm_mm_struct *mm, unsigned long addr, unsigned long len,
			 struct share_run *runs, bool *used)
{
	long n = 0;
	unsigned long off;

	for (off = 0; off < len; off += SHARE_PAGE) {
		kmm_pte_t *ptep = kmm_lookup_pte(mm, addr + off);
		kmm_pte_t pte = ptep ? kmm_ptep_get(ptep) : (kmm_pte_t){ 0 };
		uint64_t pfn = kmm_pte_pfn(pte);
		unsigned nid, slot;
		uint32_t prot;
		struct share_run *last = n ? &runs[n - 1] : NULL;

		if (!kmm_pte_present(pte) || !kmm_pfn_valid(pfn))
			continue;
		nid = (unsigned)kmm_page_nid(kmm_pfn_to_page(pfn));
		if (nid >= KMM_MAX_NUMNODES || kmm_port_linux_node_memfd(nid) < 0)
			return -EINVAL;
		prot = PROT_READ | (kmm_pte_write(pte) ? PROT_WRITE : 0);
		slot = fd_slot(nid, prot);
		used[slot] = true;
		if (last && last->offset + last->bytes == off && last->prot == prot &&
		    last->fd_index == slot && last->file_offset + last->bytes == pfn * SHARE_PAGE) {
			last->bytes += SHARE_PAGE;
			continue;
		}
		runs[n++] = (struct share_run){
			.offset = off,
			.bytes = SHARE_PAGE,
			.file_offset = pfn * SHARE_PAGE,
			.fd_index = slot,	/* renumbered once the fds are known */
			.prot = prot,
		};
	}
	return n;
}

/*
 * Pin every page of the runs (mmap_lock held, so the mappings, and the
 * references they hold, are still there).  A page nobody holds (refcount
 * 0: a raw PFN map of a free page) cannot be handed out, since the next
 * owner's data would follow it: -EFAULT, and the pins taken are dropped.
 */
static int pin_runs(const struct share_run *runs, long n, unsigned long addr,
		    struct kmm_mm_struct *mm)
{
	long i;

	for (i = 0; i < n; i++) {
		for (uint64_t o = 0; o < runs[i].bytes; o += SHARE_PAGE) {
			kmm_pte_t pte = kmm_ptep_get(kmm_lookup_pte(mm, addr + runs[i].offset + o));
			struct kmm_page *page = kmm_pfn_to_page(kmm_pte_pfn(pte));
			struct kmm_page *head = page;

			if (kmm_page_test(page, KMM_PG_tail))
				head = kmm_pfn_to_page(page->private);
			if (kmm_page_test(head, KMM_PG_buddy) || kmm_page_test(head, KMM_PG_pcp) ||
			    kmm_page_ref_count(head) <= 0) {
				/* undo: this run up to here, then every earlier run */
				for (uint64_t b = 0; b < o; b += SHARE_PAGE)
					kmm_put_page(kmm_pfn_to_page(
						(runs[i].file_offset + b) / SHARE_PAGE));
				while (i-- > 0)
					for (uint64_t b = 0; b < runs[i].bytes; b += SHARE_PAGE)
						kmm_put_page(kmm_pfn_to_page(
							(runs[i].file_offset + b) / SHARE_PAGE));
				return -EFAULT;
			}
			kmm_get_page(page);
		}
	}
	return 0;
}

/* The file to send for @slot: the node memfd itself (read-write), or a
 * new read-only open of it (closed by the caller).  -errno on failure. */
static int slot_fd(unsigned slot, bool *opened)
{
	int memfd = kmm_port_linux_node_memfd(slot / 2);
	char path[64];
	int fd;

	*opened = false;
	if (memfd < 0)
		return -EINVAL;
	if (slot & 1)
		return memfd;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*opened = true;
	return fd;
}

int kmm_mm_share_send(int sock, struct kmm_mm_struct *mm, unsigned long addr,
		      unsigned long len)
{
	int fds[SHARE_MAX_FDS], index_of_slot[SHARE_MAX_FDS];
	bool used[SHARE_MAX_FDS] = { false }, opened[SHARE_MAX_FDS] = { false };
	char cbuf[CMSG_SPACE(sizeof(fds))];
	struct share_hdr hdr = { .magic = SHARE_MAGIC };
	struct share_run *runs;
	struct msghdr msg = { 0 };
	struct cmsghdr *cm;
	struct iovec iov;
	unsigned nr_fds = 0, i;
	long n;
	int ret;

	if (!mm || !mm->user || !len || (addr & (SHARE_PAGE - 1)) ||
	    kmm_machine.params.mode == KMM_MODE_SHADOW || !stream_socket(sock))
		return -EINVAL;
	len = (len + SHARE_PAGE - 1) & ~(SHARE_PAGE - 1);
	if (addr < mm->mmap_base || addr + len < addr || addr + len > mm->task_size)
		return -EINVAL;
	runs = malloc((len / SHARE_PAGE) * sizeof(*runs));
	if (!runs)
		return -ENOMEM;
	/* The files first: a failure here must not leave pins behind. */
	kmm_port_lock(&mm->mmap_lock);
	n = collect_runs(mm, addr, len, runs, used);
	ret = n <= 0 ? (n < 0 ? (int)n : -EINVAL) : 0;
	for (i = 0; !ret && i < SHARE_MAX_FDS; i++) {
		index_of_slot[i] = -1;
		if (!used[i])
			continue;
		ret = slot_fd(i, &opened[nr_fds]);
		if (ret >= 0) {
			fds[nr_fds] = ret;
			index_of_slot[i] = (int)nr_fds++;
			ret = 0;
		}
	}
	if (!ret)
		ret = pin_runs(runs, n, addr, mm);
	kmm_port_unlock(&mm->mmap_lock);
	if (ret)
		goto out;
	for (long r = 0; r < n; r++)
		runs[r].fd_index = (uint32_t)index_of_slot[runs[r].fd_index];
	hdr.len = len;
	hdr.nr_runs = (uint32_t)n;
	hdr.nr_fds = nr_fds;
	iov = (struct iovec){ .iov_base = &hdr, .iov_len = sizeof(hdr) };
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = CMSG_SPACE(nr_fds * sizeof(int));
	memset(cbuf, 0, sizeof(cbuf));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(nr_fds * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, nr_fds * sizeof(int));
	/*
	 * From here on the pins stay even if sending fails: once sendmsg()
	 * was tried the fds may have reached the other end.
	 */
	do {
		ssize_t sent = sendmsg(sock, &msg, MSG_NOSIGNAL);

		/* A short header (the fds went with it) cannot be resumed. */
		ret = sent == (ssize_t)sizeof(hdr) ? 0 : sent < 0 ? -errno : -EIO;
	} while (ret == -EINTR);
	if (!ret)
		ret = write_all(sock, runs, (size_t)n * sizeof(*runs));
out:
	for (i = 0; i < nr_fds; i++)
		if (opened[i])
			close(fds[i]);
	free(runs);
	return ret;
}

static void close_fds(const int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

void *kmm_mm_share_recv(int sock, size_t *len)
{
	int fds[SHARE_MAX_FDS];
	char cbuf[CMSG_SPACE(sizeof(fds))];
	struct share_hdr hdr;
	struct share_run *runs = NULL;
	struct msghdr msg = { 0 };
	struct iovec iov = { .iov_base = &hdr, .iov_len = sizeof(hdr) };
	struct cmsghdr *cm;
	unsigned nr_fds = 0, i;
	void *base = MAP_FAILED;
	ssize_t r;
	int err = EPROTO;

	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf;
	msg.msg_controllen = sizeof(cbuf);
	do {
		r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return NULL;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			nr_fds = (unsigned)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			if (nr_fds > SHARE_MAX_FDS)
				nr_fds = SHARE_MAX_FDS;
			memcpy(fds, CMSG_DATA(cm), nr_fds * sizeof(int));
		}
	if (r != (ssize_t)sizeof(hdr) || (msg.msg_flags & MSG_CTRUNC) ||
	    hdr.magic != SHARE_MAGIC || hdr.nr_fds != nr_fds || !hdr.nr_runs ||
	    !hdr.len || (hdr.len & (SHARE_PAGE - 1)) || hdr.nr_runs > hdr.len / SHARE_PAGE)
		goto out;
	runs = malloc((size_t)hdr.nr_runs * sizeof(*runs));
	if (!runs) {
		err = ENOMEM;
		goto out;
	}
	if (read_all(sock, runs, (size_t)hdr.nr_runs * sizeof(*runs)))
		goto out;
	base = mmap(NULL, hdr.len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	if (base == MAP_FAILED) {
		err = errno;
		goto out;
	}
	for (i = 0; i < hdr.nr_runs; i++) {
		const struct share_run *u = &runs[i];

		if (u->fd_index >= nr_fds || !u->bytes || (u->bytes | u->offset |
		    u->file_offset) & (SHARE_PAGE - 1) || u->offset > hdr.len ||
		    u->bytes > hdr.len - u->offset ||
		    (u->prot & ~(uint32_t)(PROT_READ | PROT_WRITE)))
			goto out;
		if (mmap((char *)base + u->offset, u->bytes, (int)u->prot,
			 MAP_FIXED | MAP_SHARED, fds[u->fd_index],
			 (off_t)u->file_offset) == MAP_FAILED) {
			err = errno;
			goto out;
		}
	}
	err = 0;
	*len = hdr.len;
out:
	free(runs);
	close_fds(fds, nr_fds);
	if (err) {
		if (base != MAP_FAILED)
			munmap(base, hdr.len);
		errno = err;
		return NULL;
	}
	return base;
}
