/* SPDX-License-Identifier: MIT */
/*
 * kmm/report.h - /proc reports in the kernel's exact text formats.
 *
 * Each function writes the whole file into @buf (NUL-terminated).
 * Context: any thread; reads counters without locks, takes zone->lock for
 * free-list counts as the kernel does.
 * Return: bytes the full report needs (excluding the NUL); when that is >=
 * @size the output was truncated, as with snprintf.
 */
#ifndef KMM_REPORT_H
#define KMM_REPORT_H

#include <kmm/types.h>

size_t kmm_report_buddyinfo(char *buf, size_t size);
size_t kmm_report_pagetypeinfo(char *buf, size_t size);
size_t kmm_report_zoneinfo(char *buf, size_t size);
size_t kmm_report_meminfo(char *buf, size_t size);

#endif /* KMM_REPORT_H */
