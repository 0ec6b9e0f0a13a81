/* SPDX-License-Identifier: MIT */
/* rcu.c — the publish/reclaim primitives behind snapshots and pipelines (liburcu QSBR).
 *
 * Readers (workers) pay nothing: a dereference is a plain load, and they report quiescent
 * states from their loops (net/worker.c). The main thread swaps pointers and waits in
 * cdns_rcu_synchronize() before freeing what it replaced.
 */
#include <urcu-qsbr.h>

#include "cdns/plugin.h"

#if defined(__SANITIZE_THREAD__)
char cdns_rcu_tsan_token;
#endif

/* The compiler's atomics rather than liburcu's macros (inline asm and volatile loads): the same
 * instructions on x86-64 (a plain load; xchg), and ThreadSanitizer sees the publication. */
void *cdns_rcu_deref(void *const *slot)
{
    return __atomic_load_n((void **)slot, __ATOMIC_ACQUIRE);
}

void *cdns_rcu_swap(void **slot, void *newp)
{
    return __atomic_exchange_n(slot, newp, __ATOMIC_SEQ_CST);
}

void cdns_rcu_synchronize(void)
{
    synchronize_rcu();
#if defined(__SANITIZE_THREAD__)
    __tsan_acquire(&cdns_rcu_tsan_token);
#endif
}
