/*
 * daemon.h: what every ISN daemon does around its event loop (the
 * clearinghouse and the edge): detach with the parent waiting for the
 * child's start, a locked pid file, dropping root for the configured
 * user once the listeners are bound.
 */
#ifndef ISN_DAEMON_H
#define ISN_DAEMON_H

/*
 * Forks: the parent waits until the child writes its "started" byte
 * (daemon_detach) and exits 0, or exits 1 when the pipe closes first (the
 * child's errors until then reach the terminal on stderr). The child,
 * in a new session in "/", gets the pipe's write end.
 */
int	daemon_fork(void);
/* Logs to syslog as name, tells the parent, leaves the terminal. */
void	daemon_detach(int readyfd, const char *name);

/* Creates and locks the pid file (NULL: none); fatal when it is locked. */
void	daemon_pidfile(const char *path);
void	daemon_pidfile_remove(void);

/* As root: become user (fatal on failure; a warning when user is NULL). */
void	daemon_drop_privileges(const char *user);

/* An absolute form of path, so that reloads survive chdir("/"). */
char	*daemon_abspath(const char *path);

#endif
