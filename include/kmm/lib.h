/* SPDX-License-Identifier: MIT */
/*
 * kmm/lib.h - small freestanding helpers: formatting, logging, strings.
 */
#ifndef KMM_LIB_H
#define KMM_LIB_H

#include <stdarg.h>

#include <kmm/port.h>
#include <kmm/types.h>

/**
 * kmm_vscnprintf - format into @buf like vscnprintf(): always
 * NUL-terminated when @size > 0.
 * Supports flags '-', '0', ' ', '+', '#', width and precision (also '*'),
 * length modifiers hh h l ll z t j, and conversions d i u x X o c s p %.
 * Return: characters written, excluding the NUL.
 */
int kmm_vscnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int kmm_scnprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * kmm_seq - an append-only text buffer, the core's seq_file.  Reports write
 * into one; when it is full, further output is dropped and @overflow set,
 * but @need keeps counting what the whole output takes (snprintf style),
 * so a caller can size a buffer with a first pass of size 0.
 */
struct kmm_seq {
	char *buf;
	size_t size;
	size_t len;		/* bytes in @buf (excluding the NUL) */
	size_t need;		/* bytes the whole output needs */
	bool overflow;
};

void kmm_seq_init(struct kmm_seq *s, char *buf, size_t size);
void kmm_seq_printf(struct kmm_seq *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void kmm_seq_puts(struct kmm_seq *s, const char *str);

/**
 * kmm_printk - log one line through kmm_port_log() at @level, prefixed with
 * "kmm: ".
 */
void kmm_printk(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define kmm_pr_err(...) kmm_printk(KMM_LOG_ERR, __VA_ARGS__)
#define kmm_pr_warn(...) kmm_printk(KMM_LOG_WARNING, __VA_ARGS__)
#define kmm_pr_info(...) kmm_printk(KMM_LOG_INFO, __VA_ARGS__)
/* Debug lines: the hosted port prints them only with KMM_LOG_DEBUG=1. */
#define kmm_pr_debug(...) kmm_printk(KMM_LOG_DEBUG, __VA_ARGS__)

/** kmm_set_log_hook - capture kmm's log lines (NULL: back to the port). */
typedef void (*kmm_log_hook_t)(int level, const char *msg, void *arg);
void kmm_set_log_hook(kmm_log_hook_t hook, void *arg);

/* Freestanding string helpers. */
size_t kmm_strlen(const char *s);
int kmm_strncmp(const char *a, const char *b, size_t n);
void *kmm_memset(void *d, int c, size_t n);
/**
 * kmm_sort_ulong - sort @n values ascending in place (heapsort, as the
 * kernel's lib/sort.c: O(n log n) worst case, no allocation).
 */
void kmm_sort_ulong(unsigned long *a, size_t n);
void *kmm_memcpy(void *d, const void *s, size_t n);
/** kmm_parse_u64 - decimal or 0x-hex, the whole [s, s+len). 0 or -EINVAL. */
int kmm_parse_u64(const char *s, size_t len, uint64_t *out);
/** kmm_isqrt - integer square root (the kernel's int_sqrt). */
uint64_t kmm_isqrt(uint64_t x);

#endif /* KMM_LIB_H */
