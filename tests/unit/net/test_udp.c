/* SPDX-License-Identifier: MIT */
/* Unit tests of src/net/udp.c's receive ring, without sockets: a worker with only its slots,
 * driven the way udp_batch drives it (arm, read into the first entries, serve, re-arm) and the
 * way TCP takes slots from it. Checks that every slot stays accounted for (nfree), that the
 * armed entries stay contiguous with valid headers, and that the batch being served is never
 * handed out. The unit is included to reach its static functions. */
#include "net/udp.c"

#include "check_main.h"

enum { NSLOTS = 100 };

typedef struct ring_fx {
    cdns_net_worker_t *w;
    cdns_net_slot_t slots[NSLOTS];
    uint8_t in[NSLOTS][16]; /* receive buffers are never written here: a few octets will do */
} ring_fx_t;

static ring_fx_t *fx_new(void)
{
    ring_fx_t *fx = calloc(1, sizeof(*fx));
    ck_assert_ptr_nonnull(fx);
    fx->w = calloc(1, sizeof(*fx->w));
    ck_assert_ptr_nonnull(fx->w);
    for (size_t i = NSLOTS; i-- > 0;) {
        cdns_net_slot_t *s = &fx->slots[i];
        s->w = fx->w;
        s->in = fx->in[i];
        s->next = fx->w->free;
        fx->w->free = s;
    }
    fx->w->nfree = NSLOTS;
    return fx;
}

static void fx_free(ring_fx_t *fx)
{
    free(fx->w);
    free(fx);
}

static unsigned free_list_len(const cdns_net_worker_t *w)
{
    unsigned n = 0;
    for (const cdns_net_slot_t *s = w->free; s != NULL; s = s->next)
        n++;
    return n;
}

/* Armed entries: distinct slots, none also on the free list, each header pointing at its own
 * slot; idle = free + armed. Plain loops and one assertion each: Check's per-call bookkeeping
 * would make hundreds of batches slow under the sanitizers. */
static void check_ring(const ring_fx_t *fx)
{
    const cdns_net_worker_t *w = fx->w;
    ck_assert_uint_le(w->narmed, CDNS_NET_BATCH);
    bool seen[NSLOTS] = {false};
    for (const cdns_net_slot_t *f = w->free; f != NULL; f = f->next)
        seen[f - fx->slots] = true;
    for (unsigned i = 0; i < w->narmed; i++) {
        const cdns_net_slot_t *s = w->rslot[i];
        ck_assert(s >= fx->slots && s < fx->slots + NSLOTS);
        ck_assert_msg(!seen[s - fx->slots], "entry %u: slot armed twice or also free", i);
        seen[s - fx->slots] = true;
        const struct msghdr *mh = &w->rmsg[i].msg_hdr;
        bool ok = mh->msg_iov == &w->riov[i] && w->riov[i].iov_base == s->in && w->riov[i].iov_len == CDNS_NET_IN_CAP &&
                  mh->msg_name == &s->req.client && mh->msg_namelen == sizeof(s->req.client) &&
                  mh->msg_control == s->ctrl.buf && mh->msg_controllen == sizeof(s->ctrl.buf);
        ck_assert_msg(ok, "entry %u: header not armed for its slot", i);
    }
    ck_assert_uint_eq(w->nfree, free_list_len(w) + w->narmed);
}

/* What udp_batch does around recvmmsg when got datagrams arrived: the first `keep` of them
 * stay in service (ASYNC), the others are answered and their slots given back. */
static void batch(ring_fx_t *fx, unsigned got, unsigned keep, cdns_net_slot_t **kept)
{
    cdns_net_worker_t *w = fx->w;
    if (w->narmed < CDNS_NET_BATCH)
        ring_fill(w);
    ck_assert_uint_le(got, w->narmed);
    w->nfree -= got;
    w->ring_busy = got;
    for (unsigned i = 0; i < got; i++) {
        if (i < keep)
            kept[i] = w->rslot[i];
        else
            cdns_net__slot_put(w, w->rslot[i]);
    }
    ring_refill(w, got);
    w->ring_busy = 0;
    check_ring(fx);
}

START_TEST(one_datagram_rearms_one_entry)
{
    ring_fx_t *fx = fx_new();
    cdns_net_worker_t *w = fx->w;
    ring_fill(w);
    check_ring(fx);
    ck_assert_uint_eq(w->narmed, CDNS_NET_BATCH);
    cdns_net_slot_t *first = w->rslot[0], *last = w->rslot[CDNS_NET_BATCH - 1];
    for (int i = 0; i < 3 * NSLOTS; i++)
        batch(fx, 1, 0, NULL);
    /* LIFO: the slot just answered goes straight back into the entry it came from, and the
     * rest of the ring was not touched. */
    ck_assert_ptr_eq(w->rslot[0], first);
    ck_assert_ptr_eq(w->rslot[CDNS_NET_BATCH - 1], last);
    ck_assert_uint_eq(w->nfree, NSLOTS);
    fx_free(fx);
}
END_TEST

START_TEST(full_batches_and_async_slots)
{
    ring_fx_t *fx = fx_new();
    cdns_net_worker_t *w = fx->w;
    cdns_net_slot_t *kept[CDNS_NET_BATCH];
    batch(fx, CDNS_NET_BATCH, 0, kept);
    ck_assert_uint_eq(w->narmed, CDNS_NET_BATCH);
    /* 30 stay parked: the ring re-arms from the free list (100 - 64 - 30 = 6 left there). */
    batch(fx, CDNS_NET_BATCH, 30, kept);
    ck_assert_uint_eq(w->narmed, CDNS_NET_BATCH);
    ck_assert_uint_eq(w->nfree, NSLOTS - 30);
    ck_assert_uint_eq(free_list_len(w), NSLOTS - 30 - CDNS_NET_BATCH);
    for (int i = 0; i < 30; i++)
        cdns_net__slot_put(w, kept[i]);
    check_ring(fx);
    ck_assert_uint_eq(w->nfree, NSLOTS);
    fx_free(fx);
}
END_TEST

START_TEST(refill_with_the_free_list_empty_moves_entries_down)
{
    ring_fx_t *fx = fx_new();
    cdns_net_worker_t *w = fx->w;
    ring_fill(w);
    /* Everything off the free list is taken (by TCP, say): the ring alone holds idle slots. */
    cdns_net_slot_t *taken[NSLOTS];
    unsigned nt = 0;
    while (w->free != NULL)
        taken[nt++] = cdns_net__slot_get(w);
    ck_assert_uint_eq(nt, NSLOTS - CDNS_NET_BATCH);
    check_ring(fx);
    /* Ten datagrams stay parked: the last ten entries fill their places. */
    cdns_net_slot_t *kept10[10], *kept50[50];
    batch(fx, 10, 10, kept10);
    ck_assert_uint_eq(w->narmed, CDNS_NET_BATCH - 10);
    for (unsigned i = 0; i < w->narmed; i++)
        for (int k = 0; k < 10; k++)
            ck_assert_ptr_ne(w->rslot[i], kept10[k]);
    /* Fifty of the remaining 54 stay parked: only four entries can be armed again. */
    batch(fx, 50, 50, kept50);
    ck_assert_uint_eq(w->narmed, 4);
    ck_assert_uint_eq(w->nfree, 4);
    for (unsigned i = 0; i < nt; i++)
        cdns_net__slot_put(w, taken[i]);
    for (int k = 0; k < 10; k++)
        cdns_net__slot_put(w, kept10[k]);
    for (int k = 0; k < 50; k++)
        cdns_net__slot_put(w, kept50[k]);
    /* The next batch tops the ring up again. */
    batch(fx, 1, 0, NULL);
    ck_assert_uint_eq(w->narmed, CDNS_NET_BATCH);
    ck_assert_uint_eq(w->nfree, NSLOTS);
    fx_free(fx);
}
END_TEST

START_TEST(tcp_takes_armed_slots_but_not_the_batch)
{
    ring_fx_t *fx = fx_new();
    cdns_net_worker_t *w = fx->w;
    ring_fill(w);
    cdns_net_slot_t *taken[NSLOTS];
    unsigned nt = 0;
    cdns_net_slot_t *s;
    while ((s = cdns_net__slot_get(w)) != NULL)
        taken[nt++] = s;
    /* Every slot, the armed ones included, once the free list ran dry. */
    ck_assert_uint_eq(nt, NSLOTS);
    ck_assert_uint_eq(w->narmed, 0);
    ck_assert_uint_eq(w->nfree, 0);
    for (unsigned i = 0; i < nt; i++)
        cdns_net__slot_put(w, taken[i]);
    /* While a batch of 64 is being served, its entries are not idle. */
    ring_fill(w);
    w->nfree -= CDNS_NET_BATCH;
    w->ring_busy = CDNS_NET_BATCH;
    nt = 0;
    while ((s = cdns_net__slot_get(w)) != NULL)
        taken[nt++] = s;
    ck_assert_uint_eq(nt, NSLOTS - CDNS_NET_BATCH);
    ck_assert_uint_eq(w->narmed, CDNS_NET_BATCH);
    fx_free(fx);
}
END_TEST

static Suite *udp_suite(void)
{
    Suite *s = suite_create("udp");
    TCase *tc = tcase_create("ring");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, one_datagram_rearms_one_entry);
    tcase_add_test(tc, full_batches_and_async_slots);
    tcase_add_test(tc, refill_with_the_free_list_empty_moves_entries_down);
    tcase_add_test(tc, tcp_takes_armed_slots_but_not_the_batch);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(udp_suite)
