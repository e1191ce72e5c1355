/* master: socket, children, signals, timers (see master.h). */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "core/alloc.h"
#include "core/backoff.h"
#include "core/clock.h"
#include "core/log.h"
#include "metrics.h"

#define MASTER_BACKLOG 4096
#define MASTER_KILL_GRACE_MS 2000   /* after a child's drain deadline, before SIGKILL */
#define MASTER_STABLE_MS 10000      /* a child that lived this long was not crash-looping */
#define MASTER_BACKOFF_MIN_MS 100
#define MASTER_BACKOFF_MAX_MS 10000
#define MASTER_FORK_RETRY_MS 1000
#define MASTER_SB_PER_SLOT 4        /* scoreboard slots per child: reloads overlap generations */

enum master_state { M_RUNNING, M_RELOADING, M_DRAINING };
static const char *const state_names[] = {"running", "reloading", "draining"};

struct kid {
    pid_t pid;
    size_t slot;
    int sb_slot;               /* its scoreboard slot (metrics.h), -1 when none was free */
    unsigned gen;
    long long started_ms;
    long long kill_at_ms;      /* LLONG_MAX while not stopping */
    bool retiring;             /* of an older generation (reload), or draining */
    bool killed;
};

struct slot {
    bool filled;               /* a child of the current generation holds it */
    long long respawn_at_ms;
    int crashes;               /* unexpected exits in a row */
};

struct master {
    const struct nova_config *cfg;
    enum master_state state;
    unsigned gen;
    int listen_fd;
    ino_t sock_ino;
    pid_t pid;
    struct kid *kids;
    size_t n_kids, cap_kids;
    struct slot *slots;
    size_t n_slots;
};

static int sig_pipe[2] = {-1, -1};

/* The only work in a handler: one byte naming the signal. */
static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t w = write(sig_pipe[1], &b, 1);
    (void)w; /* a full pipe already holds enough wake-ups */
    errno = saved;
}

/* ---- the socket ------------------------------------------------------------------------- */

static int master_listen(struct master *m)
{
    const char *path = m->cfg->fcgi_socket;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        log_error("NOVA_FCGI_SOCKET %s: longer than %zu bytes", path, sizeof sa.sun_path - 1);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            log_error("%s exists and is not a socket; leaving it alone", path);
            return -1;
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
            close(probe);
            log_error("%s: another server is listening there", path);
            return -1;
        }
        if (probe >= 0)
            close(probe);
        if (unlink(path) < 0) {
            log_error("unlink(%s): %s", path, strerror(errno));
            return -1;
        }
        log_info("removed the stale socket %s", path);
    }
    /* Non-blocking: children accept only when they have an idle thread, and one that loses
     * the race to a sibling gets EAGAIN instead of blocking. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        log_error("socket(AF_UNIX): %s", strerror(errno));
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        log_error("bind(%s): %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    /* Who may connect is set before listen(): until then a connect is refused, so nobody
     * gets in through the umask's mode. Only the owner and the socket's group (the one nginx's
     * workers run with) may speak FastCGI here: anyone else would bypass nginx's limits. */
    const struct nova_config *c = m->cfg;
    if (c->fcgi_socket_gid >= 0 && lchown(path, (uid_t)-1, (gid_t)c->fcgi_socket_gid) < 0) {
        log_error("chown(%s, group %s): %s", path, c->fcgi_socket_group, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    if (chmod(path, c->fcgi_socket_mode) < 0 || listen(fd, MASTER_BACKLOG) < 0 ||
        stat(path, &st) < 0) {
        log_error("chmod/listen(%s): %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    m->sock_ino = st.st_ino;
    m->listen_fd = fd;
    return 0;
}

/* Removes the socket file, unless another instance has replaced it since. */
static void master_unlink(struct master *m)
{
    struct stat st;
    if (stat(m->cfg->fcgi_socket, &st) == 0 && st.st_ino == m->sock_ino)
        unlink(m->cfg->fcgi_socket);
}

/* ---- children --------------------------------------------------------------------------- */

static void master_spawn(struct master *m, size_t slot)
{
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old); /* no handler may run in the child before it is ready */
    int sb_slot = metrics_slot_claim(m->gen);
    if (sb_slot < 0)
        log_warn("no free scoreboard slot: the new child will not be listed in /status");
    pid_t pid = fork();
    if (pid == 0) {
        close(sig_pipe[0]);
        close(sig_pipe[1]);
        exit(child_main(m->cfg, m->listen_fd, m->pid, sb_slot));
    }
    int saved = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    long long now = clock_mono_ms();
    if (pid < 0) {
        metrics_slot_release(sb_slot);
        log_error("fork: %s; retrying in %d ms", strerror(saved), MASTER_FORK_RETRY_MS);
        m->slots[slot].respawn_at_ms = now + MASTER_FORK_RETRY_MS;
        return;
    }
    if (m->n_kids == m->cap_kids) {
        m->cap_kids = m->cap_kids ? m->cap_kids * 2 : 8;
        m->kids = xrealloc(m->kids, m->cap_kids * sizeof *m->kids);
    }
    metrics_slot_forked(sb_slot, pid);
    m->kids[m->n_kids++] = (struct kid){pid, slot, sb_slot, m->gen, now, LLONG_MAX, false, false};
    m->slots[slot].filled = true;
    log_info("child %d started (slot %zu, generation %u)", (int)pid, slot, m->gen);
}

static void describe_status(int st, char *out, size_t n)
{
    if (WIFEXITED(st))
        snprintf(out, n, "exit status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(out, n, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(out, n, "status 0x%x", st);
}

/* A child of the current generation ended while it should run: plan its respawn. */
static void master_lost(struct master *m, const struct kid *k, const char *how, long long now)
{
    struct slot *s = &m->slots[k->slot];
    long long lived = now - k->started_ms;
    if (lived >= MASTER_STABLE_MS)
        s->crashes = 0;
    s->crashes++;
    /* At once the first time, then 100 ms, 200 ms, ... while it keeps dying young. */
    long long delay = s->crashes > 1
                          ? backoff_after(MASTER_BACKOFF_MIN_MS, MASTER_BACKOFF_MAX_MS,
                                          s->crashes - 1)
                          : 0;
    s->filled = false;
    s->respawn_at_ms = now + delay;
    metrics_respawned();
    char when[48];
    if (delay)
        snprintf(when, sizeof when, "in %lld ms (it keeps dying)", delay);
    else
        snprintf(when, sizeof when, "now");
    log_warn("child %d (slot %zu) ended unexpectedly after %lld ms: %s; respawning %s",
             (int)k->pid, k->slot, lived, how, when);
}

static void master_reap(struct master *m)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        char how[96];
        describe_status(st, how, sizeof how);
        size_t i = 0;
        while (i < m->n_kids && m->kids[i].pid != pid)
            i++;
        if (i == m->n_kids) {
            log_warn("reaped process %d that is not one of our children: %s", (int)pid, how);
            continue;
        }
        struct kid k = m->kids[i];
        m->kids[i] = m->kids[--m->n_kids];
        metrics_slot_release(k.sb_slot);
        long long now = clock_mono_ms();
        if (k.retiring || m->state == M_DRAINING)
            log_info("child %d stopped: %s", (int)pid, how);
        else if (k.gen == m->gen)
            master_lost(m, &k, how, now);
    }
}

/* SIGTERM to a child: the first starts its drain, a second makes it end its streams now. */
static void master_term_kid(struct master *m, struct kid *k, long long now)
{
    if (kill(k->pid, SIGTERM) < 0 && errno != ESRCH)
        log_warn("kill(%d, SIGTERM): %s", (int)k->pid, strerror(errno));
    long long at = now + m->cfg->drain_s * 1000 + MASTER_KILL_GRACE_MS;
    if (k->retiring)
        at = now + MASTER_KILL_GRACE_MS;
    if (at < k->kill_at_ms)
        k->kill_at_ms = at;
    k->retiring = true;
}

static void master_reload(struct master *m)
{
    if (m->state == M_DRAINING)
        return;
    log_info("SIGHUP: starting %zu fresh children, then draining the old ones", m->n_slots);
    size_t old = m->n_kids;
    m->gen++;
    m->state = M_RELOADING;
    metrics_master_state(METRICS_RELOADING, m->gen);
    for (size_t s = 0; s < m->n_slots; s++) {
        m->slots[s].filled = false;
        m->slots[s].crashes = 0;
        master_spawn(m, s);
    }
    long long now = clock_mono_ms();
    for (size_t i = 0; i < old; i++)
        if (!m->kids[i].retiring)
            master_term_kid(m, &m->kids[i], now);
}

static void master_drain(struct master *m, int sig)
{
    long long now = clock_mono_ms();
    bool again = m->state == M_DRAINING;
    if (!again) {
        log_info("%s: draining %zu children (up to %ld s)", strsignal(sig), m->n_kids,
                 m->cfg->drain_s);
        /* Nobody will accept again: new connections are refused at once instead of waiting
         * in the backlog, and a new instance may take the path while these children drain. */
        close(m->listen_fd);
        m->listen_fd = -1;
        master_unlink(m);
    } else
        log_info("%s again: children end their streams now", strsignal(sig));
    m->state = M_DRAINING;
    metrics_master_state(METRICS_DRAINING, m->gen);
    for (size_t i = 0; i < m->n_kids; i++)
        if (again || !m->kids[i].retiring) /* children retiring from a reload drain on */
            master_term_kid(m, &m->kids[i], now);
}

static void master_signals(struct master *m)
{
    unsigned char b[64];
    ssize_t n;
    while ((n = read(sig_pipe[0], b, sizeof b)) > 0)
        for (ssize_t i = 0; i < n; i++) {
            if (b[i] == SIGCHLD)
                master_reap(m);
            else if (b[i] == SIGHUP)
                master_reload(m);
            else if (b[i] == SIGTERM || b[i] == SIGINT || b[i] == SIGQUIT)
                master_drain(m, b[i]);
        }
}

/* Spawns due slots, kills children past their deadline; returns the poll timeout. */
static int master_timers(struct master *m)
{
    long long now = clock_mono_ms(), next = LLONG_MAX;
    for (size_t s = 0; m->state != M_DRAINING && s < m->n_slots; s++) {
        if (m->slots[s].filled)
            continue;
        if (m->slots[s].respawn_at_ms <= now)
            master_spawn(m, s);
        if (!m->slots[s].filled && m->slots[s].respawn_at_ms < next)
            next = m->slots[s].respawn_at_ms;
    }
    bool retiring = false;
    for (size_t i = 0; i < m->n_kids; i++) {
        struct kid *k = &m->kids[i];
        retiring |= k->retiring;
        if (k->killed)
            continue;
        if (k->kill_at_ms <= now) {
            log_warn("child %d did not stop in time; SIGKILL", (int)k->pid);
            kill(k->pid, SIGKILL);
            k->killed = true;
        } else if (k->kill_at_ms < next) {
            next = k->kill_at_ms;
        }
    }
    if (m->state == M_RELOADING && !retiring) {
        log_info("reload done: %zu children of generation %u", m->n_kids, m->gen);
        m->state = M_RUNNING;
        metrics_master_state(METRICS_RUNNING, m->gen);
    }
    if (next == LLONG_MAX)
        return -1;
    return next <= now ? 0 : next - now > INT_MAX ? INT_MAX : (int)(next - now);
}

static int master_signal_setup(void)
{
    if (pipe2(sig_pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
        log_error("pipe2: %s", strerror(errno));
        return -1;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    const int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], &sa, NULL) < 0) {
            log_error("sigaction(%d): %s", sigs[i], strerror(errno));
            return -1;
        }
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int master_run(const struct nova_config *cfg)
{
    struct master m = {.cfg = cfg, .state = M_RUNNING, .gen = 1, .listen_fd = -1,
                       .pid = getpid()};
    m.n_slots = (size_t)cfg->fcgi_children;
    m.slots = xcalloc(m.n_slots, sizeof *m.slots);
    /* Before any fork: every child shares the one scoreboard. */
    if (metrics_init(m.n_slots * MASTER_SB_PER_SLOT, cfg->fcgi_children, cfg->fcgi_threads) < 0 ||
        master_signal_setup() < 0 || master_listen(&m) < 0) {
        free(m.slots);
        return 1;
    }
    log_info("listening on %s: %zu children x %ld threads", cfg->fcgi_socket, m.n_slots,
             cfg->fcgi_threads);
    while (m.state != M_DRAINING || m.n_kids > 0) {
        int timeout = master_timers(&m);
        if (m.state == M_DRAINING && m.n_kids == 0)
            break;
        struct pollfd p = {sig_pipe[0], POLLIN, 0};
        if (poll(&p, 1, timeout) < 0 && errno != EINTR)
            log_error("poll: %s", strerror(errno));
        master_signals(&m);
    }
    log_info("all children stopped (%s); bye", state_names[m.state]);
    if (m.listen_fd >= 0) {
        close(m.listen_fd);
        master_unlink(&m);
    }
    close(sig_pipe[0]);
    close(sig_pipe[1]);
    free(m.kids);
    free(m.slots);
    return 0;
}
