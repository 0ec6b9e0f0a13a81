/* SPDX-License-Identifier: MIT */
/* fuzz_corefile.c — the Corefile parser on arbitrary text: never crashes, always either a
 * corefile or a "FILE:LINE: message" diagnostic. */
#include <assert.h>
#include <string.h>

#include "cdns/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cdns_corefile_t *cf = NULL;
    cdns_diag_t diag = {{0}};
    /* Imports resolve against a directory that does not exist, so the fuzzer cannot read files. */
    int rc = cdns_corefile_parse((const char *)data, size, "/nonexistent-fuzz/Corefile", &cf, &diag);
    if (rc == CDNS_OK)
        cdns_corefile_free(cf);
    else
        assert(diag.msg[0] != '\0');
    return 0;
}
