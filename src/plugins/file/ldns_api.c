/* SPDX-License-Identifier: MIT */
/* ldns_api.c — the table behind ldns_api.h. */
#define CDNS_FILE_LDNS_API_IMPL
#include "plugins/file/ldns_api.h"

#include "cdns/base.h"

cdns_file__ldns_api_t cdns_file__ldns;

/* The members are named as the functions, and so are the symbols. */
static const cdns_dynsym_t syms[] = {
#define CDNS_FILE_LDNS_SYM(f) {#f, &cdns_file__ldns.f},
    CDNS_FILE_LDNS_FUNCS(CDNS_FILE_LDNS_SYM)
#undef CDNS_FILE_LDNS_SYM
};

static cdns_dynlib_t lib = {"libldns.so.3", syms, sizeof(syms) / sizeof(syms[0]), false};

int cdns_file__ldns_load(char *err, size_t errlen)
{
    return cdns_dynlib_load(&lib, err, errlen);
}
