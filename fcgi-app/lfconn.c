/* lfconn: a request thread's libfcgi connection (see lfconn.h). */
#include "lfconn.h"

#include <sys/socket.h>

static const char *lf_param(void *ctx, const char *name)
{
    FCGX_Request *fr = ctx;
    return FCGX_GetParam(name, fr->envp);
}

static long lf_read_body(void *ctx, char *p, size_t n)
{
    FCGX_Request *fr = ctx;
    int want = n > (1u << 30) ? 1 << 30 : (int)n;
    int got = FCGX_GetStr(p, want, fr->in);
    if (FCGX_GetError(fr->in) != 0)
        return -1;
    return got;
}

static int lf_write(void *ctx, const char *p, size_t n)
{
    FCGX_Request *fr = ctx;
    while (n > 0) { /* FCGX_PutStr takes an int */
        int k = n > (1u << 30) ? 1 << 30 : (int)n;
        if (FCGX_PutStr(p, k, fr->out) != k)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return FCGX_FFlush(fr->out) < 0 ? -1 : 0;
}

static unsigned lf_wait(void *ctx, int efd, bool want_write, long long wait_ms)
{
    FCGX_Request *fr = ctx;
    return req_poll_fd(fr->ipcFd, efd, want_write, wait_ms);
}

static void lf_shutdown(void *ctx)
{
    FCGX_Request *fr = ctx;
    shutdown(fr->ipcFd, SHUT_RDWR);
}

/* libfcgi's FCGX_Finish_r would write the end of STDOUT and END_REQUEST and close; FCGX_Free
 * with close 0 frees the streams and the parameters only (fcgiapp.c), so the descriptor and
 * the protocol state go to the new owner untouched. Everything was flushed by lf_write. */
static int lf_detach(void *ctx, int *fd, unsigned *fcgi_id)
{
    FCGX_Request *fr = ctx;
    if (fr->ipcFd < 0 || FCGX_FFlush(fr->out) < 0)
        return -1;
    *fd = fr->ipcFd;
    *fcgi_id = (unsigned)fr->requestId;
    FCGX_Free(fr, 0);
    fr->ipcFd = -1;
    return 0;
}

const struct req_conn_ops lfconn_ops = {
    .param = lf_param,
    .read_body = lf_read_body,
    .write = lf_write,
    .wait = lf_wait,
    .shutdown = lf_shutdown,
    .detach = lf_detach,
};
