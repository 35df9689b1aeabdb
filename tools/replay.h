/* SPDX-License-Identifier: MIT */
#ifndef KMM_TOOLS_REPLAY_H
#define KMM_TOOLS_REPLAY_H
/* `kmm replay`: see replay.c. Returns the exit status. */
int kmm_replay_main(int argc, char **argv);
#include <stdbool.h>
#include <zlib.h>

/* @dir/@name opened with gzopen (plain text too), or NULL. */
gzFile replay_open_gz(const char *dir, const char *name);
/* The capture's CPU count from @dir/nproc (2 when missing or bad). */
unsigned replay_read_nproc(const char *dir);
/*
 * The page-allocator replay (replay_pages.c): @dir holds zoneinfo.before.gz
 * and buddyinfo.before/.after, @trace the ftrace text.  Prints its report;
 * returns 0, 1 when the machine could not be built or a validator failed,
 * or -1 (after one line saying why) when there is nothing to replay.
 */
int kmm_replay_pages(const char *dir, const char *trace, const char *extra_boot,
		     bool resync, bool verbose);
#endif
