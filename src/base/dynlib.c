/* SPDX-License-Identifier: MIT */
/* dynlib.c — libraries loaded when a configuration first needs them.
 *
 * libcurl (with OpenSSL, Kerberos, LDAP, ssh2 and the rest of its ~40 dependencies) and ldns
 * (with libcrypto) are linked by name only where they are used: a server answering from an
 * objects file never maps them (2.7 MB of resident library pages less at 10k services,
 * bench/RESULTS.md). The callers keep a table
 * of typed function pointers filled here (k8s/curl_api.h, plugins/file/ldns_api.h).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "cdns/base.h"

int cdns_dynlib_load(cdns_dynlib_t *lib, char *err, size_t errlen)
{
    if (lib->loaded)
        return CDNS_OK;
    void *h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *why = dlerror();
        snprintf(err, errlen, "cannot load %s: %s", lib->soname, why ? why : "unknown error");
        return CDNS_EIO;
    }
    void *found[64];
    if (lib->nsyms > sizeof(found) / sizeof(found[0])) {
        snprintf(err, errlen, "%s: too many symbols (%zu)", lib->soname, lib->nsyms);
        return CDNS_EIO;
    }
    for (size_t i = 0; i < lib->nsyms; i++) {
        (void)dlerror();
        found[i] = dlsym(h, lib->syms[i].name);
        if (found[i] == NULL) {
            const char *why = dlerror();
            snprintf(err, errlen, "%s has no %s: %s", lib->soname, lib->syms[i].name, why ? why : "null symbol");
            return CDNS_EIO;
        }
    }
    /* POSIX: a data pointer from dlsym converts to the function pointer it stands for. */
    for (size_t i = 0; i < lib->nsyms; i++)
        memcpy(lib->syms[i].fnp, &found[i], sizeof(found[i]));
    lib->loaded = true;
    return CDNS_OK;
}
