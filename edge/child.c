/*
 * child.c: the one fork-and-exec of the daemon's helpers (child.h); the
 * job runner, the import runner and dcmc each had a copy of it.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/syscall.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "xmalloc.h"

/* In the child, before exec: nothing of the daemon's leaks into it. */
static void
child_closefrom3(void)
{
	long	i, max;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3, ~0U, 0) == 0)
		return;
#endif
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (i = 3; i < max; i++)
		close((int)i);
}

static void
child_close2(int fd[2])
{
	if (fd[0] != -1)
		close(fd[0]);
	if (fd[1] != -1)
		close(fd[1]);
}

int
child_spawn(char *const argv[], int *outfd, int *infd, pid_t *pidp,
    char **cause)
{
	int	out[2] = { -1, -1 }, in[2] = { -1, -1 }, fd;
	pid_t	pid, parent = getpid();

	if (pipe2(out, O_CLOEXEC) == -1 ||
	    (infd != NULL && pipe2(in, O_CLOEXEC) == -1)) {
		xcause(cause, "pipe: %s", strerror(errno));
		child_close2(out);
		return (-1);
	}
	if ((pid = fork()) == -1) {
		xcause(cause, "fork: %s", strerror(errno));
		child_close2(out);
		child_close2(in);
		return (-1);
	}
	if (pid == 0) {
		setpgid(0, 0);
#ifdef __linux__
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)	/* it died before prctl */
			_exit(127);
#endif
		signal(SIGPIPE, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		if (dup2(out[1], STDOUT_FILENO) == -1)
			_exit(127);
		fd = infd != NULL ? in[0] : open("/dev/null", O_RDONLY);
		if (fd == -1 || dup2(fd, STDIN_FILENO) == -1)
			_exit(127);
		child_closefrom3();
		execv(argv[0], argv);
		_exit(127);
	}
	/* Also here: whichever runs first, kill(-pid) finds the group. */
	setpgid(pid, pid);
	close(out[1]);
	*outfd = out[0];
	(void)fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
	if (infd != NULL) {
		close(in[0]);
		*infd = in[1];
		(void)fcntl(in[1], F_SETFL, fcntl(in[1], F_GETFL) | O_NONBLOCK);
	}
	*pidp = pid;
	return (0);
}
