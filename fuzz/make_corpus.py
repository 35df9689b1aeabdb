#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make_corpus.py - write the seed corpus of fuzz/fuzz_model.c.

    python3 fuzz/make_corpus.py [DIR]      (default: fuzz/corpus next to this file)

Each seed is a short program in fuzz_model.c's input encoding: an opcode
byte (taken modulo 26) followed by its argument bytes (16-bit arguments
little-endian).  There is at least one seed per operation, each with the
allocations it needs first, plus a few mixes; the files are named after
what they do.  The directory is emptied of *.bin first, so the corpus is
exactly what this script says (reproducers of what the fuzzer found are
seeds here too, with a comment saying what they found).
"""
import os
import struct
import sys

# Opcodes (fuzz_model.c, LLVMFuzzerTestOneInput's switch).
ALLOC_PAGES, FREE_PAGES, VMALLOC, VFREE = 0, 2, 3, 5
VMAP, VUNMAP, VM_MAP_RAM, VM_UNMAP_RAM = 6, 7, 8, 9
ALLOC_VM_AREA, FREE_VM_AREA, KVMALLOC, KVFREE = 10, 11, 12, 13
CONTIG, CONTIG_PAGES, FREE_CONTIG, CMA_ALLOC, CMA_RELEASE = 14, 15, 16, 17, 18
ISOLATE, UNDO_ISOLATE, MMAP, MUNMAP, REMAP, REWRITE, MISC = 19, 20, 21, 22, 23, 24, 25


def u16(v):
    return list(struct.pack("<H", v & 0xFFFF))


def byte_for(decode, want):
    """The first byte value that the C decoder turns into @want."""
    for a in range(256):
        if decode(a) == want:
            return a
    raise ValueError("no byte decodes to %r" % (want,))


def alloc_pages(order, gfp=0):
    # op_alloc_pages: a & 0x80 ? a % 11 : a % 4
    return [ALLOC_PAGES, byte_for(lambda a: a % 11 if a & 0x80 else a % 4, order), gfp]


def vmalloc(pages, kind=0, short=0):
    # op_vmalloc: a & 0x80 ? 1 + a % 128 + (a & 0x40 ? 256 : 0) : 1 + a % 8 pages,
    # less short % 4096 bytes
    a = byte_for(lambda a: 1 + a % 128 + (256 if a & 0x40 else 0) if a & 0x80 else 1 + a % 8,
                 pages)
    return [VMALLOC, a, kind] + u16(short)


def contig(start, n, flags=0):
    a = (0x8000 | ((n - 1) % 2048)) if n > 64 else n - 1
    if n > 64:  # 1 + a % 2048 must be n
        a = 0x8000 + ((n - 1) - (0x8000 % 2048)) % 2048
    return [CONTIG] + u16(start) + u16(a) + [flags]


def isolate(start, n, mode):
    return [ISOLATE] + u16(start) + u16(n - 1) + [mode]


def cma_alloc(count, align):
    a = count - 1 if count <= 64 else 0x8000 | (count - 1)
    return [CMA_ALLOC] + u16(a) + [align]


def bad(case, b=0):
    return [MISC, 1, case, b]


SEEDS = {
    "pages_orders": sum((alloc_pages(o, o % 8) for o in range(11)), [])
    + [FREE_PAGES, 0, FREE_PAGES, 3, FREE_PAGES, 5],
    "pages_gfp_kinds": sum((alloc_pages(g % 4, g) for g in range(8)), [])
    + [FREE_PAGES, 1, REWRITE, 0, 0],
    "vmalloc_kinds": sum((vmalloc(1 + k * 3, k, 100 * k) for k in range(6)), [])
    + [VFREE, 0, VFREE, 2, REWRITE, 1, 0x81],
    "vmalloc_big": vmalloc(330, 0, 1) + vmalloc(60, 1) + [VFREE, 0],
    "vmap_pages": alloc_pages(3) + [VMAP, 0, 7, 0, REWRITE, 2, 3, VUNMAP, 0, FREE_PAGES, 0],
    "vmap_vmalloc": vmalloc(8) + [VMAP, 1, 3, 2, VUNMAP, 0, VFREE, 0],
    "vm_map_ram_small": alloc_pages(2) + [VM_MAP_RAM, 0, 3, 0, VM_MAP_RAM, 0, 0, 1,
                                          REWRITE, 3, 1, VM_UNMAP_RAM, 0, VM_UNMAP_RAM, 0],
    "vm_map_ram_large": alloc_pages(7) + [VM_MAP_RAM, 0, 99, 3, VM_UNMAP_RAM, 0],
    "vm_area": [ALLOC_VM_AREA, 5, ALLOC_VM_AREA, 63, FREE_VM_AREA, 0, FREE_VM_AREA, 0],
    "kvmalloc": [KVMALLOC] + u16(100) + [KVMALLOC] + u16(9000) + [REWRITE, 5, 0, KVFREE, 0, KVFREE, 0],
    "contig_range": contig(0x2000, 100) + contig(0x3000, 512, 2) + [FREE_CONTIG, 0, FREE_CONTIG, 0],
    "contig_over_held": alloc_pages(10) + alloc_pages(10) + alloc_pages(10) + contig(0x1000, 2048)
    + contig(0x1800, 2048) + contig(0x2000, 2048) + contig(0x2800, 2048) + [FREE_PAGES, 0],
    "contig_across_zones": contig(0x0F00, 0x200),
    "contig_pages": [CONTIG_PAGES] + u16(100) + [CONTIG_PAGES] + u16(1023) + [FREE_CONTIG, 1],
    "cma": cma_alloc(1, 0) + cma_alloc(100, 4) + cma_alloc(513, 9) + [CMA_RELEASE, 1, CMA_RELEASE, 0],
    "cma_whole": cma_alloc(2048, 11),
    "isolate": isolate(0x2000, 512, 0) + isolate(0x2100, 10, 2) + alloc_pages(9) + [UNDO_ISOLATE, 0],
    "isolate_cma_mode": isolate(0x3800, 700, 1) + cma_alloc(8, 0) + [UNDO_ISOLATE, 0],
    "isolate_then_contig": isolate(0x2400, 600, 2) + contig(0x2500, 50) + [UNDO_ISOLATE, 0],
    "mmap_anon": [MMAP, 7, 1, MMAP, 20, 0, REWRITE, 8, 2, MUNMAP, 0, 0x83, MUNMAP, 2, 0xC1, MUNMAP, 0, 0],
    "mmap_migrate": [MMAP, 63, 1, MMAP, 63, 0] + contig(0x1000, 2048) + contig(0x3800, 1024, 1)
    + cma_alloc(2048, 0) + [MUNMAP, 0, 0],
    "remap_vmalloc_user": vmalloc(6, 2) + [REMAP, 0, 3, 1, REWRITE, 9, 1, MUNMAP, 1, 0, VFREE, 0],
    "remap_refused": vmalloc(4, 0) + vmalloc(4, 2) + [REMAP, 0, 0, 0, REMAP, 1, 2, 0x82],
    "drain_purge": vmalloc(3) + [VFREE, 0, MISC, 0, MISC, 2],
}
for case in range(14):
    pre = []
    if case in (7, 8):
        pre = alloc_pages(1)
    elif case == 9:
        pre = alloc_pages(2) + [VM_MAP_RAM, 0, 3, 0]
    elif case == 10:
        pre = vmalloc(4)
    elif case == 11:
        pre = [MMAP, 3, 1]
    SEEDS["refused_%02d" % case] = pre + bad(case, case * 17)
# Reproducer (found by the fuzzer, a model error): a pageblock holding only
# the tail half of an order-10 block isolates, as the kernel's scan skips
# tail pages; the model used to insist on -EBUSY.  Eight order-10 blocks,
# then one-pageblock isolations across memory, each undone.
SEEDS["isolate_block_tails"] = (sum((alloc_pages(10) for _ in range(8)), [])
                                + sum((isolate(pb * 512, 1, 0) + [UNDO_ISOLATE, 0]
                                       for pb in range(8, 32)), []))
SEEDS["mix"] = (alloc_pages(0) + vmalloc(5, 1) + [VMAP, 1, 4, 0] + [MMAP, 9, 0]
                + contig(0x2800, 300) + cma_alloc(64, 6) + isolate(0x3c00, 100, 2)
                + [KVMALLOC] + u16(5000) + [ALLOC_VM_AREA, 2] + [REWRITE, 2, 0]
                + [VM_MAP_RAM, 0, 0, 0] + bad(13) + [UNDO_ISOLATE, 0])


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        if f.endswith(".bin"):
            os.remove(os.path.join(out, f))
    for name, prog in sorted(SEEDS.items()):
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(bytes(b & 0xFF for b in prog))
    print("%d seeds in %s" % (len(SEEDS), out))


if __name__ == "__main__":
    main()
