/* SPDX-License-Identifier: MIT */
/* whoami — answers with the client's address, port and transport (CoreDNS's whoami).
 *
 * The smallest plugin: it proves the contract. The ADDITIONAL section gets an A or AAAA for the
 * client's address and an SRV "_udp.<qname>" / "_tcp.<qname>" carrying its port; owners point
 * at the question, so nothing is allocated. Runs on worker threads; no state.
 */
#include <arpa/inet.h>
#include <string.h>

#include "cdns/plugin.h"

int cdns_whoami__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag);

static cdns_verdict_t whoami_serve(cdns_req_t *req, void *inst, void *ws)
{
    (void)inst;
    (void)ws;
    cdns_msg_t *m = &req->msg;
    const struct sockaddr *sa = (const struct sockaddr *)&req->client;
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        cdns_msg_put_rr(m, CDNS_SEC_ADDITIONAL, CDNS_MSG_QNAME_OFF, NULL, CDNS_T_AAAA, req->q.qclass, 0,
                        s6->sin6_addr.s6_addr, 16);
    } else if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        cdns_msg_put_rr(m, CDNS_SEC_ADDITIONAL, CDNS_MSG_QNAME_OFF, NULL, CDNS_T_A, req->q.qclass, 0,
                        (const uint8_t *)&s4->sin_addr, 4);
    }
    /* "_udp." + qname, written in full (the writer compresses the qname part). */
    uint8_t owner[CDNS_DNAME_MAX + 5];
    static const uint8_t udp[] = {4, '_', 'u', 'd', 'p'}, tcp[] = {4, '_', 't', 'c', 'p'};
    memcpy(owner, req->tcp ? tcp : udp, 5);
    size_t qlen = req->q.qname_len;
    if (qlen + 5 <= CDNS_DNAME_MAX) {
        memcpy(owner + 5, req->q.qname_lower, qlen);
        uint16_t port = cdns_req_client_port(req);
        uint8_t srv[7] = {0, 0, 0, 0, (uint8_t)(port >> 8), (uint8_t)port, 0};
        cdns_msg_put_rr(m, CDNS_SEC_ADDITIONAL, 0, owner, CDNS_T_SRV, req->q.qclass, 0, srv, sizeof(srv));
    }
    m->flags |= CDNS_F_AA;
    cdns_msg_set_rcode(m, CDNS_RCODE_NOERROR);
    return CDNS_DONE;
}

const cdns_plugin_api_t cdns_plugin_whoami = {
    .name = "whoami",
    .setup = cdns_whoami__setup,
    .serve = whoami_serve,
    .flags = CDNS_PLUGIN_ONCE,
};
