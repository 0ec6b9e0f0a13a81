/* SPDX-License-Identifier: MIT */
/* log.h — the log plugin's configuration, shared by setup.c and log.c. */
#ifndef CDNS_PLUGIN_LOG_H
#define CDNS_PLUGIN_LOG_H

#include "cdns/plugin.h"

#define CDNS_LOG_CLASS_SUCCESS 0x1u
#define CDNS_LOG_CLASS_DENIAL 0x2u
#define CDNS_LOG_CLASS_ERROR 0x4u
#define CDNS_LOG_CLASS_ALL 0x7u

#define CDNS_LOG_COMMON                                                                                                \
    "{remote}:{port} - {>id} \"{type} {class} {name} {proto} {size} {>do} {>bufsize}\" {rcode} {>rflags} {rsize} "     \
    "{duration}"

typedef struct cdns_log_rule {
    uint8_t name[CDNS_DNAME_MAX]; /* queries at or below this name (lowercase wire) */
    const char *format;
    unsigned classes; /* CDNS_LOG_CLASS_* */
} cdns_log_rule_t;

typedef struct cdns_log_conf {
    cdns_log_rule_t *rules;
    size_t nrules;
} cdns_log_conf_t;

int cdns_log__setup(cdns_setup_ctx_t *ctx, const cdns_cf_directive_t *d, void **inst, cdns_diag_t *diag);
void cdns_log__teardown(void *inst);
size_t cdns_log__format(const char *fmt, const cdns_req_t *req, char *out, size_t cap);

#endif
