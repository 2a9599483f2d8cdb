/*
 * daemon.c: detach, pid file, privileges (daemon.h).
 */
#include "config.h"

#include <sys/file.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "xmalloc.h"

static int	 daemon_pidfd = -1;
static char	*daemon_pidpath;

/*
 * Fork into the background. The parent waits until the child reports
 * that it started (one zero byte on the pipe) and exits 0, or exits 1
 * when the pipe closes first; the child's errors until then reach the
 * terminal on stderr.
 */
int
daemon_fork(void)
{
	int	 p[2];
	pid_t	 pid;
	char	 c;
	ssize_t	 n;

	if (pipe(p) == -1)
		fatal("pipe");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid > 0) {
		close(p[1]);
		do
			n = read(p[0], &c, 1);
		while (n == -1 && errno == EINTR);
		_exit(n == 1 && c == 0 ? 0 : 1);
	}
	close(p[0]);
	if (setsid() == -1)
		fatal("setsid");
	if (chdir("/") == -1)
		fatal("chdir /");
	return (p[1]);
}

/* Tell the waiting parent we are up, then leave the terminal. */
void
daemon_detach(int readyfd, const char *name)
{
	char	c = 0;
	int	fd;

	log_init(0, name, LOG_DAEMON);
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	if (write(readyfd, &c, 1) != 1)
		log_warn("could not report startup to the parent");
	close(readyfd);
}

/* Create and lock the pid file; a second instance finds it locked. */
void
daemon_pidfile(const char *path)
{
	char	buf[32];
	int	len;

	if (path == NULL)
		return;
	daemon_pidfd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (daemon_pidfd == -1)
		fatal("could not open pid file \"%s\"", path);
	if (flock(daemon_pidfd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			fatalx("pid file \"%s\" is locked: another "
			    "instance is running", path);
		fatal("could not lock pid file \"%s\"", path);
	}
	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(daemon_pidfd, 0) == -1 || write(daemon_pidfd, buf, len) != len)
		fatal("could not write pid file \"%s\"", path);
	daemon_pidpath = xstrdup(path);
}

void
daemon_pidfile_remove(void)
{
	if (daemon_pidpath == NULL)
		return;
	if (unlink(daemon_pidpath) == -1)
		log_debug("pid file not removed path=\"%s\" err=\"%s\"",
		    daemon_pidpath, strerror(errno));
	close(daemon_pidfd);
	free(daemon_pidpath);
	daemon_pidpath = NULL;
}

/* Bind first, then become the configured user (only when root). */
void
daemon_drop_privileges(const char *user)
{
	struct passwd	*pw;

	if (geteuid() != 0) {
		if (user != NULL)
			log_debug("not root: user \"%s\" ignored", user);
		return;
	}
	if (user == NULL) {
		log_warnx("running as root: set \"user\" in the "
		    "configuration");
		return;
	}
	if ((pw = getpwnam(user)) == NULL)
		fatalx("unknown user \"%s\"", user);
	if (setgroups(1, &pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		fatal("could not become user \"%s\"", user);
	log_info("privileges dropped user=%s uid=%ld", user,
	    (long)pw->pw_uid);
}

/* An absolute form of path, so that reloads survive chdir("/"). */
char *
daemon_abspath(const char *path)
{
	char	 cwd[4096], *out;

	if (path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
		return (xstrdup(path));
	xasprintf(&out, "%s/%s", cwd, path);
	return (out);
}
