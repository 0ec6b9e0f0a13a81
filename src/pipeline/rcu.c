/* SPDX-License-Identifier: MIT */
/* rcu.c — the publish/reclaim primitives behind snapshots and pipelines (liburcu QSBR).
 *
 * Readers (workers) pay nothing: a dereference is a plain load, and they report quiescent
 * states from their loops (net/worker.c). The main thread swaps pointers and waits in
 * cdns_rcu_synchronize() before freeing what it replaced.
 */
#include <urcu-qsbr.h>

#include "cdns/plugin.h"

void *cdns_rcu_deref(void *const *slot)
{
    return rcu_dereference(*(void **)slot);
}

void *cdns_rcu_swap(void **slot, void *newp)
{
    return rcu_xchg_pointer(slot, newp);
}

void cdns_rcu_synchronize(void)
{
    synchronize_rcu();
}
