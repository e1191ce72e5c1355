/* wake: eventfd doorbells (see wake.h). */
#include "core/wake.h"

#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

int wake_open(void)
{
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

void wake_signal(int fd)
{
    uint64_t one = 1;
    ssize_t w = write(fd, &one, sizeof one);
    (void)w; /* EAGAIN: the counter is already non-zero, so it is readable anyway */
}

void wake_drain(int fd)
{
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r;
}
