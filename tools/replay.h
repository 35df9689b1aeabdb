/* SPDX-License-Identifier: MIT */
#ifndef KMM_TOOLS_REPLAY_H
#define KMM_TOOLS_REPLAY_H
/* `kmm replay`: see replay.c. Returns the exit status. */
int kmm_replay_main(int argc, char **argv);
#endif
