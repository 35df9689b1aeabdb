/* SPDX-License-Identifier: MIT */
#ifndef KMM_TOOLS_PROGRESS_H
#define KMM_TOOLS_PROGRESS_H
/*
 * A progress bar on stderr for the kmm program's long steps: drawn only
 * when stderr is a terminal and only once the step has run for a second
 * (so short runs and pipes see nothing), redrawn at most ten times a
 * second, erased by progress_done().  KMM_PROGRESS=0 turns it off,
 * KMM_PROGRESS=1 draws it even when stderr is not a terminal (tests).
 * One bar at a time, from one thread.
 */
#include <stdint.h>

void progress_start(const char *label, uint64_t total);
void progress_update(uint64_t done);
void progress_done(void);
#endif
