#include "truth.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn/log.h"
#include "cairn/mem.h"

#define TRUTH_FILE_CAP (64u << 20) /* stop reading past this */
#define TRUTH_LINE_MAX 600

struct entry {
    char *name;
    uint8_t pneumonia;
};

struct xray_truth {
    char *path;
    off_t offset;      /* bytes consumed (whole lines only) */
    struct entry *tab; /* open addressing, power-of-two size */
    size_t size, used;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h;
}

static void put(struct xray_truth *t, char *name, uint8_t v);

static void grow(struct xray_truth *t)
{
    struct entry *old = t->tab;
    size_t n = t->size;

    t->size = n ? 2 * n : 1024;
    t->tab = cairn_xcalloc(t->size, sizeof(*t->tab));
    t->used = 0;
    for (size_t i = 0; i < n; i++)
        if (old[i].name)
            put(t, old[i].name, old[i].pneumonia);
    free(old);
}

/* Takes ownership of name; a later line for the same name wins. */
static void put(struct xray_truth *t, char *name, uint8_t v)
{
    size_t i;

    if ((t->used + 1) * 2 > t->size)
        grow(t);
    for (i = fnv1a(name) & (t->size - 1); t->tab[i].name;
         i = (i + 1) & (t->size - 1)) {
        if (strcmp(t->tab[i].name, name) == 0) {
            t->tab[i].pneumonia = v;
            free(name);
            return;
        }
    }
    t->tab[i].name = name;
    t->tab[i].pneumonia = v;
    t->used++;
}

static void parse_line(struct xray_truth *t, const char *line, size_t n)
{
    const char *comma = NULL;

    for (size_t i = 0; i < n; i++)
        if (line[i] == ',')
            comma = line + i;
    if (!comma || comma == line)
        return;
    if ((size_t)(line + n - comma - 1) == 9 &&
        memcmp(comma + 1, "PNEUMONIA", 9) == 0)
        put(t, cairn_xstrndup(line, (size_t)(comma - line)), 1);
    else if ((size_t)(line + n - comma - 1) == 6 &&
             memcmp(comma + 1, "NORMAL", 6) == 0)
        put(t, cairn_xstrndup(line, (size_t)(comma - line)), 0);
}

/* Read the complete lines appended since the last call; a partial last
 * line stays for the next call. */
static void refresh(struct xray_truth *t)
{
    char buf[65536];
    int fd = open(t->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0)
        return;
    while (t->offset < (off_t)TRUTH_FILE_CAP) {
        ssize_t r = pread(fd, buf, sizeof(buf), t->offset);
        size_t start = 0;

        if (r <= 0)
            break;
        for (size_t i = 0; i < (size_t)r; i++) {
            if (buf[i] != '\n')
                continue;
            if (i - start <= TRUTH_LINE_MAX)
                parse_line(t, buf + start, i - start);
            start = i + 1;
        }
        if (start == 0 && (size_t)r == sizeof(buf))
            start =
                sizeof(buf); /* no newline in 64 KiB: not our format, skip */
        t->offset += (off_t)start;
        if ((size_t)r < sizeof(buf))
            break;
    }
    close(fd);
}

struct xray_truth *xray_truth_new(const char *path)
{
    struct xray_truth *t = cairn_xcalloc(1, sizeof(*t));

    t->path = cairn_xstrdup(path);
    grow(t);
    refresh(t);
    return t;
}

void xray_truth_free(struct xray_truth *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->size; i++)
        free(t->tab[i].name);
    free(t->tab);
    free(t->path);
    free(t);
}

static const char *find(const struct xray_truth *t, const char *name)
{
    for (size_t i = fnv1a(name) & (t->size - 1); t->tab[i].name;
         i = (i + 1) & (t->size - 1))
        if (strcmp(t->tab[i].name, name) == 0)
            return t->tab[i].pneumonia ? "PNEUMONIA" : "NORMAL";
    return NULL;
}

const char *xray_truth_lookup(struct xray_truth *t, const char *name)
{
    const char *v = find(t, name);

    if (v)
        return v;
    refresh(t);
    return find(t, name);
}
