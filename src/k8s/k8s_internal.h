/* SPDX-License-Identifier: MIT */
/* k8s_internal.h — what the files of src/k8s share beyond the public contract in k8s.h.
 * Main thread only, like the rest of the module.
 */
#ifndef CDNS_K8S_INTERNAL_H
#define CDNS_K8S_INTERNAL_H

#include "cdns/k8s.h"

/* The loop the client runs on; watches put their timers on it. */
uv_loop_t *cdns_k8s__client_loop(const cdns_k8s_client_t *c);

#endif
