/*
 * Git objects checked without a repository: an evidence bundle carries raw
 * commit and tree objects, and `cairnctl audit verify` must check them
 * offline. Object ids come from cairn_git_object_id (git.h); what is
 * parsed here is the object text itself, as git writes it (commit headers,
 * binary tree entries), with every length checked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "cairn/mem.h"

void cairn__audit_time(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (!gmtime_r(&tt, &tm) ||
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "@%lld", (long long)t);
}

int cairn__audit_parse_time(const char *s, int64_t *out)
{
    struct tm tm;
    const char *end;

    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%Y-%m-%d", &tm);
    if (end && *end == 'T')
        end = strptime(end, "T%H:%M:%SZ", &tm);
    if (!end || *end || tm.tm_year < 70)
        return CAIRN_EPARSE;
    *out = (int64_t)timegm(&tm);
    return 0;
}

/* ---- commits -------------------------------------------------------- */

static int is_hex40(const char *s, size_t n)
{
    if (n != CAIRN_GIT_OID_HEXLEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* "Name <email> 1700000000 +0000" -> the time. */
static int person_time(const char *v, size_t n, int64_t *out)
{
    const char *gt = NULL;
    int64_t t = 0;
    size_t i;

    for (i = 0; i < n; i++)
        if (v[i] == '>')
            gt = v + i;
    if (!gt || (size_t)(gt - v) + 2 >= n || gt[1] != ' ')
        return CAIRN_EPARSE;
    for (i = (size_t)(gt - v) + 2; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
        if (t > (INT64_MAX - 9) / 10)
            return CAIRN_EPARSE;
        t = t * 10 + (v[i] - '0');
    }
    if (i == (size_t)(gt - v) + 2 || (i < n && v[i] != ' '))
        return CAIRN_EPARSE;
    *out = t;
    return 0;
}

struct cparse {
    const char *p;
    size_t n;
    struct cairn__commit_obj c;
    struct cairn_buf sig, rest;
    int have_tree, have_committer, have_sig;
};

/* One header line (without its newline) and its continuation lines
 * [cont, cont_end): take what the audit needs. */
static int header(struct cparse *s, const char *line, size_t len,
                  const char *cont, size_t cont_len, struct cairn_diag *d)
{
    const char *sp = memchr(line, ' ', len);
    size_t klen = sp ? (size_t)(sp - line) : len;
    const char *v = sp ? sp + 1 : line + len;
    size_t vlen = len - klen - (sp ? 1 : 0);

    if (klen == 4 && memcmp(line, "tree", 4) == 0 && !s->have_tree) {
        if (!is_hex40(v, vlen))
            return cairn_diag_set(d, CAIRN_EPARSE,
                                  "commit object: bad tree line");
        memcpy(s->c.tree, v, vlen);
        s->have_tree = 1;
    } else if (klen == 6 && memcmp(line, "parent", 6) == 0) {
        if (!is_hex40(v, vlen))
            return cairn_diag_set(d, CAIRN_EPARSE,
                                  "commit object: bad parent line");
        if (!s->c.parent[0])
            memcpy(s->c.parent, v, vlen);
    } else if (klen == 9 && memcmp(line, "committer", 9) == 0) {
        if (person_time(v, vlen, &s->c.committer_time) != 0)
            return cairn_diag_set(d, CAIRN_EPARSE,
                                  "commit object: bad committer line");
        s->have_committer = 1;
    } else if (klen == 6 && memcmp(line, "gpgsig", 6) == 0) {
        if (s->have_sig)
            return cairn_diag_set(d, CAIRN_EPARSE,
                                  "commit object: two gpgsig headers");
        s->have_sig = 1;
        if (cairn_buf_append(&s->sig, v, vlen) != 0)
            return cairn_diag_set(d, CAIRN_ETOOBIG,
                                  "commit object: signature too long");
        /* continuation lines lose their leading space, keep their newline */
        for (size_t i = 0; i < cont_len;) {
            const char *nl = memchr(cont + i, '\n', cont_len - i);
            size_t l = (size_t)(nl - (cont + i));

            if (cairn_buf_append(&s->sig, "\n", 1) != 0 ||
                cairn_buf_append(&s->sig, cont + i + 1, l - 1) != 0)
                return cairn_diag_set(d, CAIRN_ETOOBIG,
                                      "commit object: signature too long");
            i += l + 1;
        }
        return 1; /* left out of the signed data */
    }
    return 0;
}

/* The header block: lines up to the first empty one. */
static int headers(struct cparse *s, size_t *body, struct cairn_diag *d)
{
    size_t i = 0;

    while (i < s->n) {
        const char *line = s->p + i, *nl = memchr(line, '\n', s->n - i);
        size_t len, j;
        int rc;

        if (!nl)
            return cairn_diag_set(d, CAIRN_EPARSE,
                                  "commit object: no message separator");
        len = (size_t)(nl - line);
        if (len == 0) {
            *body = i;
            return 0;
        }
        j = i + len + 1; /* continuation lines start with a space */
        while (j < s->n && s->p[j] == ' ') {
            const char *n2 = memchr(s->p + j, '\n', s->n - j);

            if (!n2)
                return cairn_diag_set(d, CAIRN_EPARSE,
                                      "commit object: truncated header");
            j = (size_t)(n2 - s->p) + 1;
        }
        rc = header(s, line, len, s->p + i + len + 1, j - (i + len + 1), d);
        if (rc < 0)
            return rc;
        if (rc == 0 && cairn_buf_append(&s->rest, line, j - i) != 0)
            return cairn_diag_set(d, CAIRN_ETOOBIG, "commit object too big");
        i = j;
    }
    return cairn_diag_set(d, CAIRN_EPARSE,
                          "commit object: no message separator");
}

int cairn__commit_obj_parse(const uint8_t *raw, size_t len,
                            struct cairn__commit_obj *out, struct cairn_diag *d)
{
    struct cparse s;
    size_t body = 0;
    int rc;

    memset(&s, 0, sizeof(s));
    s.p = (const char *)raw;
    s.n = len;
    cairn_buf_init(&s.sig, CAIRN_SSHSIG_MAX_ARMOR * 2);
    cairn_buf_init(&s.rest, len + 1);
    if (memchr(raw, '\0', len))
        rc = cairn_diag_set(d, CAIRN_EPARSE, "commit object: NUL byte");
    else
        rc = headers(&s, &body, d);
    if (rc == 0 && (!s.have_tree || !s.have_committer))
        rc = cairn_diag_set(d, CAIRN_EPARSE, "commit object: no %s line",
                            s.have_tree ? "committer" : "tree");
    if (rc == 0 && cairn_buf_append(&s.rest, s.p + body, len - body) != 0)
        rc = cairn_diag_set(d, CAIRN_ETOOBIG, "commit object too big");
    if (rc) {
        cairn_buf_free(&s.sig);
        cairn_buf_free(&s.rest);
        return rc;
    }
    s.c.signed_data = cairn_buf_steal(&s.rest, &s.c.signed_len);
    if (s.have_sig)
        s.c.sig = cairn_buf_steal(&s.sig, &s.c.sig_len);
    cairn_buf_free(&s.sig);
    *out = s.c;
    return 0;
}

void cairn__commit_obj_free(struct cairn__commit_obj *c)
{
    if (!c)
        return;
    free(c->sig);
    free(c->signed_data);
    c->sig = c->signed_data = NULL;
}

void cairn__commit_obj_verify(const struct cairn__commit_obj *c,
                              const struct cairn_sshsig_signers *signers,
                              struct cairn_sshsig_result *res)
{
    cairn_sshsig_verify(signers, c->sig, c->sig ? c->sig_len : 0,
                        c->signed_data, c->signed_len, CAIRN_SSHSIG_NS_GIT,
                        c->committer_time, res);
}

/* ---- trees ---------------------------------------------------------- */

int cairn__tree_entry(const uint8_t *raw, size_t len, const char *name,
                      char oid[CAIRN_GIT_OID_HEXLEN + 1], unsigned *mode,
                      struct cairn_diag *d)
{
    size_t i = 0, nlen = strlen(name);

    while (i < len) {
        unsigned m = 0;
        const uint8_t *nul;
        size_t start;

        while (i < len && raw[i] >= '0' && raw[i] <= '7' && m < 01000000)
            m = m * 8 + (unsigned)(raw[i++] - '0');
        if (i >= len || raw[i] != ' ')
            return cairn_diag_set(d, CAIRN_EPARSE,
                                  "tree object: bad entry mode");
        start = ++i;
        nul = memchr(raw + i, '\0', len - i);
        if (!nul || (size_t)(nul - raw) + 1 + 20 > len || nul == raw + start)
            return cairn_diag_set(d, CAIRN_EPARSE,
                                  "tree object: truncated entry");
        i = (size_t)(nul - raw) + 1;
        if ((size_t)(nul - (raw + start)) == nlen &&
            memcmp(raw + start, name, nlen) == 0) {
            for (size_t k = 0; k < 20; k++)
                snprintf(oid + 2 * k, 3, "%02x", raw[i + k]);
            *mode = m;
            return 0;
        }
        i += 20;
    }
    return cairn_diag_set(d, CAIRN_ENOENT, "tree object: no entry '%s'", name);
}
