#include "build.h"

#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attest.h"
#include "cairn/mem.h"

double cairn__now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

unsigned cairn__threads(unsigned threads, size_t n)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t t = threads ? threads : (cpus > 0 ? (size_t)cpus : 1);

    if (t > 8)
        t = 8;
    if (t > n / 32 + 1)
        t = n / 32 + 1;
    return (unsigned)t;
}

struct slot {
    int done;
    int rc;
    struct cairn_rendered r;
};

/* The render of the selected sites, shared by the workers. */
struct par {
    struct cairn_fleet *f;
    const struct cairn_build_hooks *h;
    struct cairn_fdoc **sites; /* selected, in name order */
    size_t n;
    struct slot *slots;
    size_t next;     /* next site to claim */
    size_t consumed; /* the caller is done with slots below */
    size_t wait_for; /* the slot the caller sleeps on, if it does */
    int waiting;
    int stop; /* on_site failed: claim no more */
    pthread_mutex_t lock;
    pthread_cond_t ready, room;
};

/* Workers run at most this far ahead of the caller, which bounds the
 * memory of rendered-but-not-stored sites. */
#define WINDOW 256
/* Storing a site is much quicker than rendering and signing one, so the
 * caller mostly waits. It is woken when the slot it needs and the next
 * BATCH - 1 are done rather than for each (a futex wake, a context switch
 * and, on two cores, a worker preempted per site). Less than WINDOW, so
 * the workers can always claim that far. */
#define BATCH 32

/* The caller waits and can now take a batch (p->lock held). */
static int batch_ready(const struct par *p)
{
    size_t end = p->n - p->wait_for > BATCH ? p->wait_for + BATCH : p->n;

    if (!p->waiting)
        return 0;
    for (size_t k = p->wait_for; k < end; k++)
        if (!p->slots[k].done)
            return 0;
    return 1;
}

static int claim(struct par *p, size_t *idx)
{
    int ok;

    pthread_mutex_lock(&p->lock);
    while (!p->stop && p->next < p->n && p->next >= p->consumed + WINDOW)
        pthread_cond_wait(&p->room, &p->lock);
    ok = !p->stop && p->next < p->n;
    if (ok)
        *idx = p->next++;
    pthread_mutex_unlock(&p->lock);
    return ok;
}

struct worker {
    pthread_t th;
    struct par *p;
    struct cairn_errlist errs;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    struct par *p = w->p;
    size_t i;

    while (claim(p, &i)) {
        struct slot *s = &p->slots[i];
        int rc = cairn_render_site(p->f, p->sites[i], &w->errs, &s->r);

        if (rc == 0 && p->h->prepare)
            p->h->prepare(p->f, &s->r, p->h->prepare_arg);
        pthread_mutex_lock(&p->lock);
        s->rc = rc;
        s->done = 1;
        /* after a stop the batch may never fill: wake it for each */
        if (p->stop || batch_ready(p))
            pthread_cond_broadcast(&p->ready);
        pthread_mutex_unlock(&p->lock);
    }
    return NULL;
}

/* Wait for slot i; 0 when it will never come (the build stopped before
 * a worker claimed it). */
static int wait_slot(struct par *p, size_t i)
{
    int done;

    pthread_mutex_lock(&p->lock);
    while (!p->slots[i].done && (!p->stop || i < p->next)) {
        p->wait_for = i;
        p->waiting = 1;
        pthread_cond_wait(&p->ready, &p->lock);
    }
    p->waiting = 0;
    done = p->slots[i].done;
    pthread_mutex_unlock(&p->lock);
    return done;
}

static void release_slot(struct par *p, size_t i, int stop)
{
    pthread_mutex_lock(&p->lock);
    p->consumed = i + 1;
    p->stop |= stop;
    pthread_cond_broadcast(&p->room);
    pthread_mutex_unlock(&p->lock);
}

/* Hand out one result: after an error, rendering goes on (every error
 * is listed) but nothing more is handed out. */
static int hand_out(const struct cairn_build_hooks *h, struct cairn_fleet *f,
                    struct cairn_rendered *r, int failed)
{
    if (failed || !h->on_site) {
        cairn_rendered_free(r);
        return 0;
    }
    return h->on_site(f, r, h->site_arg);
}

/* The calling thread: results in site order. */
static int consume(struct par *p, int first, struct cairn_build_stats *st)
{
    int rc = 0;

    for (size_t i = 0; i < p->n && wait_slot(p, i); i++) {
        struct slot *s = &p->slots[i];

        if (s->rc) {
            first = first ? first : s->rc;
        } else {
            st->rendered++;
            if (rc == 0)
                rc = hand_out(p->h, p->f, &s->r, first);
            else
                cairn_rendered_free(&s->r);
        }
        release_slot(p, i, rc != 0);
    }
    return rc ? rc : first;
}

static int render_parallel(struct par *p, unsigned nthreads,
                           struct cairn_errlist *errs,
                           struct cairn_build_stats *st, int first)
{
    struct worker *w = cairn_xcalloc(nthreads, sizeof(*w));
    unsigned started = 0;
    int rc;

    p->slots = cairn_xcalloc(p->n, sizeof(*p->slots));
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->ready, NULL);
    pthread_cond_init(&p->room, NULL);
    for (unsigned i = 0; i < nthreads; i++) {
        w[i].p = p;
        cairn_errlist_init(&w[i].errs, errs->max);
        if (pthread_create(&w[i].th, NULL, work, &w[i]) == 0)
            started++;
    }
    if (started == 0)
        work(&w[0]); /* no thread could start: do it here */
    rc = consume(p, first, st);
    for (unsigned i = 0; i < nthreads; i++) {
        if (i < started)
            pthread_join(w[i].th, NULL);
        cairn_errlist_merge(errs, &w[i].errs);
        cairn_errlist_free(&w[i].errs);
    }
    pthread_cond_destroy(&p->room);
    pthread_cond_destroy(&p->ready);
    pthread_mutex_destroy(&p->lock);
    free(p->slots);
    free(w);
    return rc;
}

static int render_serial(struct par *p, struct cairn_errlist *errs,
                         struct cairn_build_stats *st, int first)
{
    int rc = 0;

    for (size_t i = 0; i < p->n && rc == 0; i++) {
        struct cairn_rendered r;
        int rrc = cairn_render_site(p->f, p->sites[i], errs, &r);

        if (rrc) {
            first = first ? first : rrc;
            continue;
        }
        st->rendered++;
        if (p->h->prepare && !first)
            p->h->prepare(p->f, &r, p->h->prepare_arg);
        rc = hand_out(p->h, p->f, &r, first);
    }
    return rc ? rc : first;
}

static int render_sites(struct cairn_fleet *f,
                        const struct cairn_build_hooks *h,
                        struct cairn_errlist *errs,
                        struct cairn_build_stats *st, int first)
{
    struct par p;
    unsigned nthreads;
    int rc;

    memset(&p, 0, sizeof(p));
    p.f = f;
    p.h = h;
    p.sites = cairn_xcalloc(f->nsites ? f->nsites : 1, sizeof(*p.sites));
    for (size_t i = 0; i < f->nsites; i++)
        if (!h->select || h->select(f, f->sites[i], h->select_arg))
            p.sites[p.n++] = f->sites[i];
    nthreads = cairn__threads(h->threads, p.n);
    rc = nthreads > 1 ? render_parallel(&p, nthreads, errs, st, first)
                      : render_serial(&p, errs, st, first);
    free(p.sites);
    return rc;
}

int cairn_build_run(struct cairn_loader *ld, struct cairn_src *src,
                    const struct cairn_build_hooks *h,
                    struct cairn_errlist *errs, struct cairn_build_stats *stats,
                    struct cairn_fleet **fleet_out)
{
    static const struct cairn_build_hooks none;
    struct cairn_build_stats st;
    struct cairn_fleet *f = NULL;
    double t0 = cairn__now_ms(), t1, t2;
    int rc;

    memset(&st, 0, sizeof(st));
    rc = cairn_fleet_load(ld, src, errs, &f);
    t1 = cairn__now_ms();
    st.load_ms = t1 - t0;
    if (rc)
        goto out;
    st.sites = f->nsites;
    /* a bad attestation refuses the commit, but the sites are still
     * rendered so that one run lists every error */
    rc = cairn_attest_fleet(f, errs);
    t2 = cairn__now_ms();
    st.attest_ms = t2 - t1;
    rc = render_sites(f, h ? h : &none, errs, &st, rc);
    st.render_ms = cairn__now_ms() - t2;
out:
    if (stats)
        *stats = st;
    if (rc == 0 && fleet_out) {
        *fleet_out = f;
        f = NULL;
    }
    cairn_fleet_free(f);
    return rc;
}
