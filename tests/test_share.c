/* SPDX-License-Identifier: MIT */
/*
 * test_share.c - handing a user mapping to another process over a Unix
 * socket (kmm_mm_share_send/recv, src/port/linux/share.c) and the sealed
 * node memfds behind it.
 *
 * The receiving side runs in a forked child that calls nothing of kmm but
 * kmm_mm_share_recv() (plain host calls) and reports through its exit
 * status; what it wrote is then read through the vmalloc address in the
 * parent.  The child's mapping is a new one at a new address, so the
 * bytes it sees came through the socket, not through fork's inheritance.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kmm_test.h"

#include <kmm/mm.h>
#include <kmm/vmalloc.h>

#include "port_linux.h"

#define PG KMM_PAGE_SIZE
#define NPG 6

TestSuite(share, .fini = kt_fini, .timeout = 60);

static void *buf;

static int remap_buf(struct kmm_mmap_file *f, struct kmm_vm_area_struct *vma)
{
	(void)f;
	return kmm_remap_vmalloc_range(vma, buf, vma->vm_pgoff);
}

/* A user mm with the NPG-page vmalloc_user buffer mapped at *@u. */
static struct kmm_mm_struct *setup(unsigned long *u)
{
	static struct kmm_mmap_file file = { .mmap = remap_buf };
	struct kmm_mm_struct *mm;

	kt_boot("mem=64M");
	mm = kmm_mm_create(0);
	cr_assert_not_null(mm);
	buf = kmm_vmalloc_user(NPG * PG);
	cr_assert_not_null(buf);
	*u = kmm_vm_mmap(mm, 0, NPG * PG, KMM_PROT_READ | KMM_PROT_WRITE, KMM_MAP_SHARED,
			 0, &file);
	cr_assert(!KMM_IS_ERR_VALUE(*u));
	return mm;
}

static void teardown(struct kmm_mm_struct *mm)
{
	cr_assert_eq(kmm_mm_validate(mm), 0);
	kmm_mm_destroy(mm);
	kmm_vfree(buf);
}

static int child_status(pid_t pid)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st), "the child died of signal %d", WTERMSIG(st));
	return WEXITSTATUS(st);
}

Test(share, bytes_cross_both_ways_through_the_socket)
{
	struct kmm_mm_struct *mm;
	unsigned long u;
	int sv[2];
	pid_t pid;

	mm = setup(&u);
	for (int i = 0; i < NPG; i++)
		memset((char *)buf + i * PG, 'a' + i, PG);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	if (pid == 0) {
		size_t len = 0;
		char *p = kmm_mm_share_recv(sv[1], &len);

		if (!p || len != NPG * PG)
			_exit(10);
		if (p == (char *)u)
			_exit(11);	/* must be a mapping of its own */
		for (int i = 0; i < NPG; i++)
			if (p[i * PG] != 'a' + i || p[i * PG + PG - 1] != 'a' + i)
				_exit(20 + i);
		strcpy(p + 2 * PG + 100, "written by the receiver");
		_exit(0);
	}
	cr_assert_eq(kmm_mm_share_send(sv[0], mm, u, NPG * PG), 0);
	cr_assert_eq(child_status(pid), 0);
	cr_assert_str_eq((char *)buf + 2 * PG + 100, "written by the receiver");
	cr_assert_str_eq((char *)u + 2 * PG + 100, "written by the receiver");
	close(sv[0]);
	close(sv[1]);
	teardown(mm);
}

Test(share, holes_stay_inaccessible_in_the_receiver)
{
	struct kmm_mm_struct *mm;
	unsigned long u;
	int sv[2];
	pid_t pid;

	mm = setup(&u);
	cr_assert_eq(kmm_vm_munmap(mm, u + 2 * PG, PG), 0);	/* a hole at page 2 */
	memset((char *)buf + 3 * PG, 'z', 16);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	if (pid == 0) {
		size_t len = 0;
		char *p = kmm_mm_share_recv(sv[1], &len);
		unsigned char c;

		if (!p)
			_exit(10);
		if (kt_probe_read(p + 2 * PG, &c))
			_exit(11);	/* the hole was readable */
		if (!kt_probe_read(p + 3 * PG, &c) || c != 'z')
			_exit(12);
		_exit(0);
	}
	cr_assert_eq(kmm_mm_share_send(sv[0], mm, u, NPG * PG), 0);
	cr_assert_eq(child_status(pid), 0);
	close(sv[0]);
	close(sv[1]);
	teardown(mm);
}

Test(share, bad_input_is_refused)
{
	struct kmm_mm_struct *mm;
	unsigned long u;
	int sv[2], dg[2];

	mm = setup(&u);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, dg), 0);
	cr_assert_eq(kmm_mm_share_send(dg[0], mm, u, PG), -EINVAL, "datagram socket");
	cr_assert_eq(kmm_mm_share_send(sv[0], mm, u + 1, PG), -EINVAL, "unaligned");
	cr_assert_eq(kmm_mm_share_send(sv[0], mm, u, 0), -EINVAL, "empty");
	cr_assert_eq(kmm_mm_share_send(sv[0], NULL, u, PG), -EINVAL, "no mm");
	cr_assert_eq(kmm_mm_share_send(sv[0], mm, mm->task_size - PG, 2 * PG), -EINVAL,
		     "past the mm");
	cr_assert_eq(kmm_mm_share_send(sv[0], mm, u - 16 * PG, PG), -EINVAL,
		     "nothing mapped");
	/* A malformed message: the receiver refuses it and maps nothing. */
	{
		char junk[64];
		size_t len = 0;

		memset(junk, 0x5a, sizeof(junk));
		cr_assert_eq(write(sv[0], junk, sizeof(junk)), (ssize_t)sizeof(junk));
		errno = 0;
		cr_assert_null(kmm_mm_share_recv(sv[1], &len));
		cr_assert_eq(errno, EPROTO);
	}
	close(sv[0]);
	close(sv[1]);
	close(dg[0]);
	close(dg[1]);
	teardown(mm);
}

Test(share, shadow_mode_has_nothing_to_share)
{
	struct kmm_mm_struct *mm;
	unsigned long u;
	int sv[2];

	kt_boot("kmm.mode=shadow mem=64M");
	mm = kmm_mm_create(0);
	cr_assert_not_null(mm);
	u = kmm_vm_mmap(mm, 0, PG, KMM_PROT_READ | KMM_PROT_WRITE,
			KMM_MAP_PRIVATE | KMM_MAP_POPULATE, 0, NULL);
	cr_assert(!KMM_IS_ERR_VALUE(u));
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(kmm_mm_share_send(sv[0], mm, u, PG), -EINVAL);
	cr_assert_eq(kmm_port_linux_node_memfd(0), -1);
	close(sv[0]);
	close(sv[1]);
	kmm_mm_destroy(mm);
}

Test(share, node_memfd_is_sealed)
{
	int fd, seals;

	kt_boot("mem=64M");
	fd = kmm_port_linux_node_memfd(0);
	cr_assert_geq(fd, 0);
	seals = fcntl(fd, F_GET_SEALS);
	cr_assert_eq(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
		     F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	cr_assert_neq(ftruncate(fd, 0), 0, "a receiver could shrink physical memory");
	cr_assert_eq(errno, EPERM);
	cr_assert_eq(kmm_port_linux_node_memfd(5), -1, "no such node");
}
