/* SPDX-License-Identifier: MIT */
/* curl_api.c — the table behind curl_api.h. */
#define CDNS_K8S_CURL_API_IMPL
#include "k8s/curl_api.h"

#include "cdns/base.h"

cdns_k8s__curl_api_t cdns_k8s__curl;

/* The members are named as the functions, and so are the symbols. */
static const cdns_dynsym_t syms[] = {
#define CDNS_K8S_CURL_SYM(f) {#f, &cdns_k8s__curl.f},
    CDNS_K8S_CURL_FUNCS(CDNS_K8S_CURL_SYM)
#undef CDNS_K8S_CURL_SYM
};

static cdns_dynlib_t lib = {"libcurl.so.4", syms, sizeof(syms) / sizeof(syms[0]), false};

int cdns_k8s__curl_load(char *err, size_t errlen)
{
    return cdns_dynlib_load(&lib, err, errlen);
}
