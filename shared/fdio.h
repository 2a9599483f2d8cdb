/*
 * fdio.h: whole writes to a file descriptor (OpenSSH's atomicio idea).
 */
#ifndef ISN_FDIO_H
#define ISN_FDIO_H

#include <stddef.h>

/* All of buf, retrying short writes and EINTR: 0, or -1 with errno. */
int	fdio_write_all(int fd, const void *buf, size_t len);

#endif
