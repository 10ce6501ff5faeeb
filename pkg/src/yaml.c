/*
 * YAML into jansson values with a source map, driven by libyaml's event
 * API: each event is handled by one function, containers being built sit
 * on an explicit stack (no recursion, so no stack overflow on deep input),
 * and every limit is checked before the work it guards is done.
 * docs/internals/yaml.md has the rules and the reasons.
 */
#include "cairn/yaml.h"
#include "cairn/fs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "cairn/mem.h"
#include "yaml_int.h"

#define DEF_MAX_BYTES ((size_t)1 << 20)
#define DEF_MAX_NODES ((size_t)100000)
#define DEF_MAX_DEPTH ((size_t)64)
/* Scalar text (keys included) after alias expansion, per input byte
 * allowed: without aliases the text never exceeds the input. */
#define TEXT_FACTOR ((size_t)8)
/* Hard ceilings, so that offsets and ids fit the source map's uint32_t. */
#define CEIL_MAX_BYTES ((size_t)1 << 30)
#define CEIL_MAX_NODES ((size_t)1 << 30)

struct cairn_yaml_doc {
    char *file;
    json_t *root;
    struct cairn__srcmap map;
};

/* A container being filled. */
struct frame {
    json_t *val;       /* borrowed: owned by its parent or by p->root */
    uint32_t ent;      /* its source-map entry */
    size_t kids_base;  /* its children start here on p->kids */
    size_t nodes_base; /* p->nodes before it was counted */
    size_t text_base;  /* p->text before it started */
    size_t height;     /* 1 + the height of its tallest child */
    char *anchor;      /* registered when it ends; NULL if none */
    char *key;         /* pending member key; NULL when a key comes next */
    size_t key_len;
    yaml_mark_t key_mark;
};

struct anchor {
    uint32_t ent;  /* the anchored node's entry */
    json_t *val;   /* borrowed from the tree, which only grows while parsing */
    size_t nodes;  /* nodes in its expansion, aliases included */
    size_t text;   /* scalar and key bytes in its expansion */
    size_t height; /* 0 for a scalar */
};

struct parse {
    const char *file;
    const char *data;
    size_t len;
    struct cairn_yaml_limits lim;
    yaml_parser_t yp;
    struct frame *stack;
    size_t depth, stack_alloc;
    uint32_t *kids; /* children of the open containers, innermost last */
    size_t nkids, kids_alloc;
    struct anchor *anchors;
    size_t nanchors, anchors_alloc;
    json_t
        *anchor_idx; /* name -> index in anchors (jansson's hash is seeded) */
    size_t nodes;    /* nodes so far, alias expansions included */
    size_t text;     /* scalar and key bytes so far, expansions included */
    int docs;
    json_t *root; /* owned until handed to the document */
    struct cairn_yaml_doc *doc;
    struct cairn_diag *d;
};

static void *grow(void *p, size_t *alloc, size_t need, size_t sz)
{
    size_t a = *alloc ? *alloc : 8;

    if (need <= *alloc)
        return p;
    while (a < need)
        a *= 2;
    *alloc = a;
    return cairn_xrealloc(p, a * sz);
}

static int mark_line(const yaml_mark_t *m)
{
    return m->line >= INT32_MAX ? INT32_MAX : (int)m->line + 1;
}

static int mark_col(const yaml_mark_t *m)
{
    return m->column >= INT32_MAX ? INT32_MAX : (int)m->column + 1;
}

/* Record "file:line:col: message"; returns code. */
static int fail(struct parse *p, int code, const yaml_mark_t *m,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail(struct parse *p, int code, const yaml_mark_t *m,
                const char *fmt, ...)
{
    char msg[CAIRN_DIAG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return cairn_diag_set(p->d, code, "%s:%d:%d: %s", p->file, mark_line(m),
                          mark_col(m), msg);
}

/* User text for a message: at most 64 bytes, control characters and
 * quotes replaced, so that a key cannot forge log lines. */
static const char *shown(const char *s, size_t n, char out[80])
{
    size_t o = 0;

    for (size_t i = 0; i < n && o < 64; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = (c < 0x20 || c == 0x7f || c == '"') ? '?' : (char)c;
    }
    if (o < n) {
        /* Cut at a character boundary, then mark the cut. */
        while (o > 0 && ((unsigned char)s[o] & 0xC0) == 0x80)
            o--;
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* A tag for a message, with the core prefix written back as "!!". */
static const char *shown_tag(const char *tag, char out[80])
{
    static const char core[] = "tag:yaml.org,2002:";
    char tmp[80];

    if (strncmp(tag, core, sizeof(core) - 1) != 0)
        return shown(tag, strlen(tag), out);
    shown(tag + sizeof(core) - 1, strlen(tag + sizeof(core) - 1), tmp);
    memcpy(out, "!!", 2);
    memcpy(out + 2, tmp, strlen(tmp) + 1); /* shown() writes at most 68 */
    return out;
}

static struct frame *top(struct parse *p)
{
    return p->depth ? &p->stack[p->depth - 1] : NULL;
}

/* The next scalar of this frame is a mapping key. */
static int wants_key(const struct frame *f)
{
    return f && json_is_object(f->val) && !f->key;
}

/* Count `weight` nodes (1, or an alias's whole expansion) before building
 * anything, so that a node bomb is refused without being expanded. */
static int count_nodes(struct parse *p, size_t weight, const yaml_mark_t *m)
{
    if (weight > p->lim.max_nodes - p->nodes)
        return fail(p, CAIRN_ETOOBIG, m,
                    "document has more than %zu nodes (aliases expanded)",
                    p->lim.max_nodes);
    p->nodes += weight;
    return 0;
}

/* Count n bytes of scalar text (a copy through an alias counts again):
 * a node is one node whatever its length, so the node cap alone would let
 * a few aliases of one long string turn a small file into gigabytes. */
static int count_text(struct parse *p, size_t n, const yaml_mark_t *m)
{
    size_t cap = p->lim.max_bytes * TEXT_FACTOR;

    if (n > cap - p->text)
        return fail(p, CAIRN_ETOOBIG, m,
                    "document has more than %zu bytes of text (aliases "
                    "expanded)",
                    cap);
    p->text += n;
    return 0;
}

/* Attach v (consumed) where the open container expects its next value,
 * or make it the root; give it a source-map entry. */
static uint32_t attach(struct parse *p, json_t *v, const yaml_mark_t *m,
                       enum cairn__srckind kind)
{
    struct cairn__srcmap *map = &p->doc->map;
    struct frame *f = top(p);
    uint32_t id = cairn__srcmap_add(map, mark_line(m), mark_col(m), kind);

    if (!f) {
        p->root = v;
        return id;
    }
    if (json_is_object(f->val)) {
        cairn__srcmap_set_key(map, id, f->key, f->key_len,
                              mark_line(&f->key_mark), mark_col(&f->key_mark));
        /* The key was checked (UTF-8, no NUL, not a duplicate). */
        json_object_set_new_nocheck(f->val, f->key, v);
        free(f->key);
        f->key = NULL;
    } else {
        json_array_append_new(f->val, v);
    }
    p->kids = grow(p->kids, &p->kids_alloc, p->nkids + 1, sizeof(*p->kids));
    p->kids[p->nkids++] = id;
    return id;
}

static void add_anchor(struct parse *p, const char *name, uint32_t ent,
                       json_t *val, size_t nodes, size_t text, size_t height)
{
    struct anchor *a;

    /* A redefined anchor replaces the old one for later aliases. */
    p->anchors = grow(p->anchors, &p->anchors_alloc, p->nanchors + 1,
                      sizeof(*p->anchors));
    a = &p->anchors[p->nanchors];
    a->ent = ent;
    a->val = val;
    a->nodes = nodes;
    a->text = text;
    a->height = height;
    json_object_set_new(p->anchor_idx, name,
                        json_integer((json_int_t)p->nanchors++));
}

static void child_height(struct parse *p, size_t h)
{
    struct frame *f = top(p);

    if (f && h + 1 > f->height)
        f->height = h + 1;
}

/* The JSON value of a scalar event, checked: no NUL (a "\0" escape would
 * silently cut C strings later), a known tag, text that fits the tag.
 * Keys are strings whatever they look like, but a tag on one must fit. */
static int scalar_value(struct parse *p, const yaml_event_t *ev, int as_key,
                        json_t **out)
{
    const char *s = (const char *)ev->data.scalar.value;
    const char *tagname = (const char *)ev->data.scalar.tag;
    size_t n = ev->data.scalar.length;
    enum cairn__ytag tag = cairn__yaml_tag(tagname);
    int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    const char *why;
    char buf[80];
    json_t *v;

    if (memchr(s, '\0', n))
        return fail(p, CAIRN_EPARSE, &ev->start_mark,
                    "NUL character in a scalar (\\0 escape) is not allowed");
    if (tag == CAIRN__YTAG_UNKNOWN)
        return fail(p, CAIRN_EPARSE, &ev->start_mark,
                    "unknown tag \"%s\" (allowed: !!str !!int !!float !!bool "
                    "!!null !!map !!seq)",
                    shown_tag(tagname, buf));
    if (as_key && tag == CAIRN__YTAG_NONE)
        tag = CAIRN__YTAG_STR;
    v = cairn__yaml_scalar(s, n, plain, tag, &why);
    if (v && as_key && !json_is_string(v)) {
        json_decref(v);
        v = json_stringn(s, n);
        why = "invalid UTF-8";
    }
    if (!v)
        return fail(p, CAIRN_EPARSE, &ev->start_mark, "%s: \"%s\"", why,
                    shown(s, n, buf));
    *out = v;
    return 0;
}

static int dup_key(struct parse *p, const struct frame *f, const char *s,
                   size_t n, const yaml_mark_t *m)
{
    const struct cairn__srcmap *map = &p->doc->map;
    int line = 0, col = 0;
    char buf[80];

    for (size_t i = f->kids_base; i < p->nkids; i++) {
        const struct cairn__srcent *e = &map->ents[p->kids[i]];
        if (e->key_len == n && memcmp(map->keys + e->key_off, s, n) == 0) {
            line = e->kline;
            col = e->kcol;
            break;
        }
    }
    return fail(p, CAIRN_EPARSE, m,
                "duplicate key \"%s\" (first defined at %d:%d)",
                shown(s, n, buf), line, col);
}

static int on_key(struct parse *p, struct frame *f, const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    const yaml_mark_t *m = &ev->start_mark;
    json_t *k = NULL;
    int rc;

    rc = scalar_value(p, ev, 1, &k);
    json_decref(k);
    if (rc == 0)
        rc = count_text(p, n, m);
    if (rc)
        return rc;
    if (ev->data.scalar.anchor)
        return fail(p, CAIRN_EPARSE, m,
                    "anchors on mapping keys are not supported");
    /* YAML 1.1 merge keys are not part of 1.2; refusing beats silently
     * making "<<" an ordinary key the author did not mean. */
    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && n == 2 &&
        memcmp(s, "<<", 2) == 0)
        return fail(p, CAIRN_EPARSE, m,
                    "merge keys (<<) are not supported: write the keys out "
                    "(quote \"<<\" for a literal key)");
    if (json_object_get(f->val, s))
        return dup_key(p, f, s, n, m);
    f->key = cairn_xstrndup(s, n);
    f->key_len = n;
    f->key_mark = *m;
    return 0;
}

static int on_scalar(struct parse *p, const yaml_event_t *ev)
{
    const char *anchor = (const char *)ev->data.scalar.anchor;
    json_t *v = NULL;
    uint32_t id;
    int rc;

    if (wants_key(top(p)))
        return on_key(p, top(p), ev);
    rc = count_nodes(p, 1, &ev->start_mark);
    if (rc == 0)
        rc = count_text(p, ev->data.scalar.length, &ev->start_mark);
    if (rc == 0)
        rc = scalar_value(p, ev, 0, &v);
    if (rc)
        return rc;
    id = attach(p, v, &ev->start_mark, CAIRN__SRC_SCALAR);
    if (anchor)
        add_anchor(p, anchor, id, v, 1, ev->data.scalar.length, 0);
    return 0;
}

static int check_start(struct parse *p, const yaml_event_t *ev, int is_map)
{
    const char *what = is_map ? "mapping" : "sequence";
    const char *tag = (const char *)(is_map ? ev->data.mapping_start.tag
                                            : ev->data.sequence_start.tag);
    enum cairn__ytag want = is_map ? CAIRN__YTAG_MAP : CAIRN__YTAG_SEQ;
    const yaml_mark_t *m = &ev->start_mark;
    char buf[80];

    if (wants_key(top(p)))
        return fail(p, CAIRN_EPARSE, m,
                    "a %s cannot be a mapping key (keys must be scalars)",
                    what);
    if (tag && cairn__yaml_tag(tag) != want)
        return fail(p, CAIRN_EPARSE, m,
                    "tag \"%s\" is not allowed on a %s (use !!%s or no tag)",
                    shown_tag(tag, buf), what, is_map ? "map" : "seq");
    if (p->depth + 1 > p->lim.max_depth)
        return fail(p, CAIRN_ETOOBIG, m, "nesting deeper than %zu levels",
                    p->lim.max_depth);
    return count_nodes(p, 1, m);
}

static int on_start(struct parse *p, const yaml_event_t *ev, int is_map)
{
    const char *anchor =
        (const char *)(is_map ? ev->data.mapping_start.anchor
                              : ev->data.sequence_start.anchor);
    json_t *v;
    struct frame *f;
    uint32_t id;
    int rc = check_start(p, ev, is_map);

    if (rc)
        return rc;
    v = is_map ? json_object() : json_array();
    if (!v)
        return fail(p, CAIRN_ENOMEM, &ev->start_mark, "out of memory");
    id =
        attach(p, v, &ev->start_mark, is_map ? CAIRN__SRC_MAP : CAIRN__SRC_SEQ);
    p->stack = grow(p->stack, &p->stack_alloc, p->depth + 1, sizeof(*f));
    f = &p->stack[p->depth++];
    memset(f, 0, sizeof(*f));
    f->val = v;
    f->ent = id;
    f->kids_base = p->nkids;
    f->nodes_base = p->nodes - 1;
    f->text_base = p->text;
    f->height = 1;
    f->anchor = anchor ? cairn_xstrdup(anchor) : NULL;
    return 0;
}

static int on_end(struct parse *p)
{
    struct frame f = *top(p); /* libyaml balances start and end events */
    size_t n = p->nkids - f.kids_base;

    cairn__srcmap_close(&p->doc->map, f.ent, n ? p->kids + f.kids_base : NULL,
                        n);
    p->nkids = f.kids_base;
    p->depth--;
    if (f.anchor)
        add_anchor(p, f.anchor, f.ent, f.val, p->nodes - f.nodes_base,
                   p->text - f.text_base, f.height);
    free(f.anchor);
    free(f.key);
    child_height(p, f.height);
    return 0;
}

/* An alias is a deep copy of its anchor, so that later edits of the tree
 * (merging, templating) never change two places at once. Its size and
 * depth are known from the anchor, so a bomb is refused before copying. */
static int on_alias(struct parse *p, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    const yaml_mark_t *m = &ev->start_mark;
    const json_t *idx = json_object_get(p->anchor_idx, name);
    struct anchor a;
    json_t *v;
    uint32_t id;
    char buf[80];
    int rc;

    if (wants_key(top(p)))
        return fail(p, CAIRN_EPARSE, m, "an alias cannot be a mapping key");
    if (!idx)
        return fail(p, CAIRN_EPARSE, m,
                    "alias *%s refers to no anchor defined before it",
                    shown(name, strlen(name), buf));
    a = p->anchors[json_integer_value(idx)];
    if (p->depth + a.height > p->lim.max_depth)
        return fail(p, CAIRN_ETOOBIG, m,
                    "alias *%s nests deeper than %zu levels",
                    shown(name, strlen(name), buf), p->lim.max_depth);
    rc = count_nodes(p, a.nodes, m);
    if (rc == 0)
        rc = count_text(p, a.text, m);
    if (rc)
        return rc;
    v = json_deep_copy(a.val);
    if (!v)
        return fail(p, CAIRN_ENOMEM, m, "out of memory");
    id = attach(p, v, m, (enum cairn__srckind)p->doc->map.ents[a.ent].kind);
    p->doc->map.ents[id].alias = a.ent;
    child_height(p, a.height);
    return 0;
}

static int on_event(struct parse *p, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++p->docs > 1)
            return fail(p, CAIRN_EPARSE, &ev->start_mark,
                        "more than one document (a file holds exactly one)");
        return 0;
    case YAML_SCALAR_EVENT:
        return on_scalar(p, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_start(p, ev, 0);
    case YAML_MAPPING_START_EVENT:
        return on_start(p, ev, 1);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_end(p);
    case YAML_ALIAS_EVENT:
        return on_alias(p, ev);
    default:
        return 0;
    }
}

/* libyaml's reader reports a byte offset, not a mark: count it out. */
static yaml_mark_t offset_mark(const char *s, size_t len, size_t off)
{
    yaml_mark_t m = {0, 0, 0};

    if (off > len)
        off = len;
    for (size_t i = 0; i < off; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n' || (c == '\r' && (i + 1 >= len || s[i + 1] != '\n'))) {
            m.line++;
            m.column = 0;
        } else if ((c & 0xC0) != 0x80) {
            m.column++; /* columns count characters, as libyaml's do */
        }
    }
    m.index = off;
    return m;
}

static int yaml_failure(struct parse *p)
{
    const yaml_parser_t *y = &p->yp;
    const char *problem = y->problem ? y->problem : "syntax error";
    yaml_mark_t m;

    switch (y->error) {
    case YAML_MEMORY_ERROR:
        return cairn_diag_set(p->d, CAIRN_ENOMEM, "%s: out of memory", p->file);
    case YAML_READER_ERROR:
        m = offset_mark(p->data, p->len, y->problem_offset);
        if (y->problem_value < 0)
            return fail(p, CAIRN_EPARSE, &m, "%s", problem);
        return fail(p, CAIRN_EPARSE, &m, "%s (0x%02x)", problem,
                    (unsigned)y->problem_value);
    default:
        if (!y->context)
            return fail(p, CAIRN_EPARSE, &y->problem_mark, "%s", problem);
        return fail(p, CAIRN_EPARSE, &y->problem_mark,
                    "%s (%s started at %d:%d)", problem, y->context,
                    mark_line(&y->context_mark), mark_col(&y->context_mark));
    }
}

static int run(struct parse *p)
{
    yaml_event_t ev;
    int rc = 0, end = 0;

    while (rc == 0 && !end) {
        if (!yaml_parser_parse(&p->yp, &ev))
            return yaml_failure(p);
        end = ev.type == YAML_STREAM_END_EVENT;
        rc = on_event(p, &ev);
        yaml_event_delete(&ev);
    }
    return rc;
}

static void set_limits(const struct cairn_yaml_limits *in,
                       struct cairn_yaml_limits *out)
{
    static const struct cairn_yaml_limits none = {0, 0, 0};

    *out = in ? *in : none;
    if (out->max_bytes == 0)
        out->max_bytes = DEF_MAX_BYTES;
    if (out->max_nodes == 0)
        out->max_nodes = DEF_MAX_NODES;
    if (out->max_depth == 0)
        out->max_depth = DEF_MAX_DEPTH;
    if (out->max_bytes > CEIL_MAX_BYTES)
        out->max_bytes = CEIL_MAX_BYTES;
    if (out->max_nodes > CEIL_MAX_NODES)
        out->max_nodes = CEIL_MAX_NODES;
    if (out->max_depth > CEIL_MAX_NODES)
        out->max_depth = CEIL_MAX_NODES;
}

static void parse_free(struct parse *p)
{
    for (size_t i = 0; i < p->depth; i++) {
        free(p->stack[i].anchor);
        free(p->stack[i].key);
    }
    free(p->stack);
    free(p->kids);
    free(p->anchors);
    json_decref(p->anchor_idx);
    json_decref(p->root);
    yaml_parser_delete(&p->yp);
    cairn_yaml_free(p->doc);
}

int cairn_yaml_parse(const char *file, const char *data, size_t len,
                     const struct cairn_yaml_limits *lim,
                     struct cairn_yaml_doc **out, struct cairn_diag *d)
{
    struct parse p;
    int rc;

    if (!file || (!data && len) || !out)
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "cairn_yaml_parse: NULL argument");
    memset(&p, 0, sizeof(p));
    p.file = file;
    p.data = data ? data : "";
    p.len = len;
    p.d = d;
    set_limits(lim, &p.lim);
    if (len > p.lim.max_bytes)
        return cairn_diag_set(d, CAIRN_ETOOBIG,
                              "%s: %zu bytes is over the %zu-byte cap", file,
                              len, p.lim.max_bytes);
    if (!yaml_parser_initialize(&p.yp))
        return cairn_diag_set(d, CAIRN_ENOMEM, "%s: out of memory", file);
    yaml_parser_set_encoding(&p.yp, YAML_UTF8_ENCODING);
    yaml_parser_set_input_string(&p.yp, (const unsigned char *)p.data, len);
    p.anchor_idx = json_object();
    p.doc = cairn_xcalloc(1, sizeof(*p.doc));
    p.doc->file = cairn_xstrdup(file);
    rc = p.anchor_idx ? run(&p) : CAIRN_ENOMEM;
    if (rc == 0) {
        p.doc->root = p.root ? p.root : json_null();
        p.root = NULL;
        *out = p.doc;
        p.doc = NULL;
    }
    parse_free(&p);
    return rc;
}

int cairn_yaml_load(const char *path, const struct cairn_yaml_limits *lim,
                    struct cairn_yaml_doc **out, struct cairn_diag *d)
{
    struct cairn_yaml_limits l;
    char *buf = NULL;
    size_t len = 0;
    int rc;

    if (!path || !out)
        return cairn_diag_set(d, CAIRN_EINVAL,
                              "cairn_yaml_load: NULL argument");
    set_limits(lim, &l);
    rc = cairn_fs_read(path, l.max_bytes, &buf, &len, d);
    if (rc)
        return rc;
    rc = cairn_yaml_parse(path, buf, len, &l, out, d);
    free(buf);
    return rc;
}

void cairn_yaml_free(struct cairn_yaml_doc *doc)
{
    if (!doc)
        return;
    json_decref(doc->root);
    cairn__srcmap_free(&doc->map);
    free(doc->file);
    free(doc);
}

json_t *cairn_yaml_root(const struct cairn_yaml_doc *doc)
{
    return doc ? doc->root : NULL;
}

const char *cairn_yaml_file(const struct cairn_yaml_doc *doc)
{
    return doc ? doc->file : NULL;
}

/* Where the node at ptr starts, or with key its mapping key. */
static struct cairn_loc locate(const struct cairn_yaml_doc *doc,
                               const char *ptr, int key)
{
    struct cairn_loc loc = {doc ? doc->file : NULL, 1, 1};
    const struct cairn__srcent *e;

    if (!doc || !ptr || doc->map.n == 0)
        return loc;
    e = cairn__srcmap_find(&doc->map, ptr);
    loc.line = key && e->kline ? e->kline : e->line;
    loc.col = key && e->kline ? e->kcol : e->col;
    return loc;
}

struct cairn_loc cairn_yaml_locate(const struct cairn_yaml_doc *doc,
                                   const char *ptr)
{
    return locate(doc, ptr, 0);
}

struct cairn_loc cairn_yaml_locate_key(const struct cairn_yaml_doc *doc,
                                       const char *ptr)
{
    return locate(doc, ptr, 1);
}
