/*
 * child.h: starting the daemon's helper processes (isn-edge-dicom,
 * isn-edge-submit, isn-edge-fetch) the one way they all need.
 */
#ifndef ISN_EDGE_CHILD_H
#define ISN_EDGE_CHILD_H

#include <sys/types.h>

/*
 * Forks and execs argv[0] with argv. The child runs in a process group
 * of its own (so that kill(-pid) reaches whatever it starts), gets
 * SIGTERM when the daemon dies, has SIGPIPE and SIGCHLD at their
 * defaults and no descriptor above 2. Its stdout is a pipe whose read
 * end is *outfd; with infd, its stdin is a pipe whose write end is
 * *infd, else /dev/null. Both ends are non-blocking and close-on-exec.
 * 0, or -1 with *cause.
 */
int	child_spawn(char *const argv[], int *outfd, int *infd, pid_t *pid,
	    char **cause);

#endif
