/* SPDX-License-Identifier: MIT */
/* progress.c - the kmm program's progress bar (see progress.h). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

static struct {
	const char *label;
	uint64_t total;
	double t0, last;
	bool on, drawn;
} bar;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void progress_start(const char *label, uint64_t total)
{
	const char *env = getenv("KMM_PROGRESS");

	bar.label = label;
	bar.total = total ? total : 1;
	bar.t0 = now();
	bar.last = 0;
	bar.drawn = false;
	if (env && *env)
		bar.on = strcmp(env, "0") != 0;
	else
		bar.on = isatty(STDERR_FILENO);
}

void progress_update(uint64_t done)
{
	double t, frac, eta;
	int width = 30, fill, i;
	char line[128];
	int n;

	if (!bar.on)
		return;
	t = now();
	if (t - bar.t0 < 1.0 || t - bar.last < 0.1)
		return;
	bar.last = t;
	if (done > bar.total)
		done = bar.total;
	frac = (double)done / (double)bar.total;
	fill = (int)(frac * width);
	eta = frac > 0 ? (t - bar.t0) * (1 - frac) / frac : 0;
	n = snprintf(line, sizeof(line), "\r%-12s [", bar.label);
	for (i = 0; i < width && n < (int)sizeof(line) - 40; i++)
		line[n++] = i < fill ? '#' : '.';
	snprintf(line + n, sizeof(line) - (size_t)n, "] %5.1f%%  %4.0fs left ",
		 100 * frac, eta);
	fputs(line, stderr);
	fflush(stderr);
	bar.drawn = true;
}

void progress_done(void)
{
	if (bar.drawn) {
		fprintf(stderr, "\r%*s\r", 64, "");
		fflush(stderr);
	}
	bar.on = bar.drawn = false;
}
