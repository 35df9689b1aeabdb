/* SPDX-License-Identifier: MIT */
#ifndef KMM_TOOLS_TEST_VMALLOC_H
#define KMM_TOOLS_TEST_VMALLOC_H
/* `kmm test-vmalloc`: see test_vmalloc.c. Returns the exit status. */
int kmm_test_vmalloc_main(int argc, char **argv);
#endif
