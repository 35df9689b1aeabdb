/* SPDX-License-Identifier: MIT */
/*
 * map.h - `kmm map`: pictures of physical memory and the vmalloc space
 * (SVG, and HTML with the SVG inline and a table of totals).
 */
#ifndef KMM_TOOLS_MAP_H
#define KMM_TOOLS_MAP_H

/**
 * map_write_files - draw the booted machine as it is now.
 * @svg_path: where to write the SVG, or NULL.
 * @html_path: where to write the HTML page, or NULL.
 * @note: a line for the picture's heading (boot parameters, seed), or NULL.
 *
 * Context: main thread, machine booted; takes the locks of
 * kmm_snapshot_zone() and kmm_snapshot_vmalloc() (each zone in turn, then
 * the vmalloc space), so call it with no kmm lock held.
 * Return: 0, or -1 after a message on stderr (a file could not be written,
 * no memory for the snapshot).
 */
int map_write_files(const char *svg_path, const char *html_path, const char *note);

/**
 * map_write - map_write_files(PREFIX.svg, PREFIX.html): what `kmm run
 * --map PREFIX` calls after its workload, while allocations are held.
 * Return: as map_write_files().
 */
int map_write(const char *prefix);

/** kmm_map_main - `kmm map ...`; argv[0] is "map".  Exit status 0, 1, 2. */
int kmm_map_main(int argc, char **argv);

#endif
