/* SPDX-License-Identifier: MIT */
/* names.c — RR type and rcode mnemonics for logs, the Corefile and tests.
 *
 * Read-only tables; any thread. Types without a mnemonic use the RFC 3597 form "TYPE123".
 * Nothing here is on the query path.
 */
#include "cdns/dns.h"

#include <stdio.h>
#include <strings.h>

static const struct {
    uint16_t type;
    const char *name;
} rrtypes[] = {
    {CDNS_T_A, "A"},
    {CDNS_T_NS, "NS"},
    {CDNS_T_CNAME, "CNAME"},
    {CDNS_T_SOA, "SOA"},
    {CDNS_T_PTR, "PTR"},
    {CDNS_T_HINFO, "HINFO"},
    {CDNS_T_MX, "MX"},
    {CDNS_T_TXT, "TXT"},
    {CDNS_T_AAAA, "AAAA"},
    {CDNS_T_SRV, "SRV"},
    {35, "NAPTR"},
    {39, "DNAME"},
    {CDNS_T_OPT, "OPT"},
    {CDNS_T_DS, "DS"},
    {44, "SSHFP"},
    {CDNS_T_RRSIG, "RRSIG"},
    {CDNS_T_NSEC, "NSEC"},
    {CDNS_T_DNSKEY, "DNSKEY"},
    {50, "NSEC3"},
    {51, "NSEC3PARAM"},
    {52, "TLSA"},
    {64, "SVCB"},
    {65, "HTTPS"},
    {250, "TSIG"},
    {CDNS_T_IXFR, "IXFR"},
    {CDNS_T_AXFR, "AXFR"},
    {CDNS_T_ANY, "ANY"},
    {CDNS_T_CAA, "CAA"},
};

/* Rcodes 0-23 (RFC 6895 registry); 16 is BADVERS in an OPT, BADSIG in a TSIG. */
static const char *const rcodes[] = {
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",  "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
    "NXRRSET", "NOTAUTH", "NOTZONE",  "DSOTYPENI", NULL,      NULL,      NULL,       NULL,
    "BADVERS", "BADKEY",  "BADTIME",  "BADMODE",   "BADNAME", "BADALG",  "BADTRUNC", "BADCOOKIE",
};

const char *cdns_rrtype_name(uint16_t type, char buf[16])
{
    for (size_t i = 0; i < CDNS_ARRAY_LEN(rrtypes); i++)
        if (rrtypes[i].type == type)
            return rrtypes[i].name;
    snprintf(buf, 16, "TYPE%u", (unsigned)type);
    return buf;
}

int cdns_rrtype_from_name(const char *name, uint16_t *type)
{
    for (size_t i = 0; i < CDNS_ARRAY_LEN(rrtypes); i++) {
        if (strcasecmp(rrtypes[i].name, name) == 0) {
            *type = rrtypes[i].type;
            return CDNS_OK;
        }
    }
    if (strncasecmp(name, "TYPE", 4) == 0 && name[4] != '\0') {
        unsigned long v = 0;
        for (const char *p = name + 4; *p != '\0'; p++) {
            if (*p < '0' || *p > '9')
                return CDNS_EINVAL;
            v = v * 10 + (unsigned long)(*p - '0');
            if (v > 65535)
                return CDNS_EINVAL;
        }
        *type = (uint16_t)v;
        return CDNS_OK;
    }
    return CDNS_EINVAL;
}

const char *cdns_rcode_name(uint16_t rcode)
{
    if (rcode < CDNS_ARRAY_LEN(rcodes) && rcodes[rcode] != NULL)
        return rcodes[rcode];
    return "UNKNOWN";
}
