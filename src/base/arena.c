/* SPDX-License-Identifier: MIT */
/* arena.c — a bump allocator over a chain of malloc'd blocks.
 *
 * Used for memory that dies all at once: a parsed Corefile, a request's scratch space. Reset
 * keeps the first block, so a steady workload that fits in it never calls malloc again.
 * Owned by one thread at a time.
 */
#include "cdns/base.h"

#include <stdlib.h>
#include <string.h>

struct cdns_arena_block {
    cdns_arena_block_t *prev;
    size_t size; /* usable bytes in data */
    size_t used;
    _Alignas(16) unsigned char data[];
};

void cdns_arena_init(cdns_arena_t *a, size_t block_size)
{
    a->head = NULL;
    a->block_size = block_size ? block_size : 4096;
}

void cdns_arena_deinit(cdns_arena_t *a)
{
    cdns_arena_block_t *b = a->head;
    while (b != NULL) {
        cdns_arena_block_t *prev = b->prev;
        free(b);
        b = prev;
    }
    a->head = NULL;
}

void cdns_arena_reset(cdns_arena_t *a)
{
    cdns_arena_block_t *b = a->head;
    if (b == NULL)
        return;
    while (b->prev != NULL) {
        cdns_arena_block_t *prev = b->prev;
        free(b);
        b = prev;
    }
    b->used = 0;
    a->head = b;
}

void *cdns_arena_alloc(cdns_arena_t *a, size_t size)
{
    size = (size + 7u) & ~(size_t)7u;
    cdns_arena_block_t *b = a->head;
    if (b == NULL || b->size - b->used < size) {
        size_t want = size > a->block_size ? size : a->block_size;
        cdns_arena_block_t *nb = malloc(sizeof(*nb) + want);
        if (nb == NULL)
            return NULL;
        nb->size = want;
        nb->used = 0;
        /* An oversized request gets a block of its own behind the current one, so the
         * current block's free space stays usable. */
        if (b != NULL && size > a->block_size) {
            nb->prev = b->prev;
            b->prev = nb;
            nb->used = size;
            return nb->data;
        }
        nb->prev = b;
        a->head = nb;
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += size;
    return p;
}

void *cdns_arena_memdup(cdns_arena_t *a, const void *p, size_t size)
{
    void *d = cdns_arena_alloc(a, size ? size : 1);
    if (d != NULL && size)
        memcpy(d, p, size);
    return d;
}

char *cdns_arena_strdup(cdns_arena_t *a, const char *s)
{
    return cdns_arena_memdup(a, s, strlen(s) + 1);
}
