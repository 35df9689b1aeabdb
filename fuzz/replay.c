/* SPDX-License-Identifier: MIT */
/*
 * replay.c - run fuzz_model.c's LLVMFuzzerTestOneInput() on files, without
 * libFuzzer: the corpus as a regression test in the normal (gcc) build.
 *
 *   fuzz_replay FILE|DIR...
 *
 * Every regular file named, and every regular file directly inside a
 * directory named, is one input (directories in name order).  An input
 * that breaks the model abort()s the program, naming the op; otherwise it
 * prints "fuzz_replay: N inputs, M bytes, OK" and exits 0.  Exit 2 when a
 * path cannot be read or no input was found.
 */
#define _GNU_SOURCE

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long nr_inputs, nr_bytes;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0, got;

	if (!f) {
		perror(path);
		return -1;
	}
	do {
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got);
	fclose(f);
	if (getenv("FUZZ_REPLAY_VERBOSE"))
		fprintf(stderr, "fuzz_replay: %s (%zu bytes)\n", path, n);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	nr_inputs++;
	nr_bytes += n;
	return 0;
}

static int name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int run_path(const char *path)
{
	struct stat st;
	struct dirent **ents;
	int n, rc = 0;

	if (stat(path, &st)) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path);
	n = scandir(path, &ents, NULL, name_cmp);
	if (n < 0) {
		perror(path);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char *p;
		struct stat es;

		if (ents[i]->d_name[0] != '.' &&
		    asprintf(&p, "%s/%s", path, ents[i]->d_name) >= 0) {
			if (!stat(p, &es) && S_ISREG(es.st_mode) && run_file(p))
				rc = -1;
			free(p);
		}
		free(ents[i]);
	}
	free(ents);
	return rc;
}

int main(int argc, char **argv)
{
	int rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++)
		if (run_path(argv[i]))
			rc = 2;
	printf("fuzz_replay: %lu inputs, %lu bytes, %s\n", nr_inputs, nr_bytes,
	       rc ? "unreadable paths" : nr_inputs ? "OK" : "no input");
	return rc ? rc : nr_inputs ? 0 : 2;
}
