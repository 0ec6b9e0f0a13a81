/* SPDX-License-Identifier: MIT */
/* fuzz_kubeconfig.c — the kubeconfig reader (libyaml → cdns_k8s_conn_t) on arbitrary files,
 * and the base64 decoder behind its *-data fields.
 *
 * cdns_k8s_kubeconfig_load() takes a path, so each input is written to one temporary file
 * (made at start, removed at exit). The first input byte picks the context argument: NULL
 * (current-context) or one of a few names the seeds use. A load either fills a conn with an
 * http(s) server or fails with a message; the conn is freed either way, so leaks show up.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdns/k8s.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char path[64];
static int fd = -1;

static void cleanup(void)
{
    if (fd >= 0)
        unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(path, sizeof(path), "/tmp/cdns-fuzz-kubeconfig-XXXXXX");
    fd = mkstemp(path);
    if (fd < 0) {
        perror("fuzz_kubeconfig: mkstemp");
        abort();
    }
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const contexts[] = {NULL, "dev", "prod", "lab", "broken", ""};
    if (size < 1)
        return 0;
    if (fd < 0)
        LLVMFuzzerInitialize(NULL, NULL);
    const char *ctxname = contexts[data[0] % (sizeof(contexts) / sizeof(contexts[0]))];
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data + 1, size - 1, 0) != (ssize_t)(size - 1)) {
        perror("fuzz_kubeconfig: write");
        abort();
    }
    cdns_k8s_conn_t conn;
    char err[512] = "";
    int rc = cdns_k8s_kubeconfig_load(path, ctxname, &conn, err, sizeof(err));
    if (rc == CDNS_OK) {
        assert(conn.server != NULL);
        assert(strncmp(conn.server, "https://", 8) == 0 || strncmp(conn.server, "http://", 7) == 0);
        assert(!conn.ca_data || conn.ca_data[conn.ca_len] == '\0');
        assert(!conn.cert_data || conn.cert_data[conn.cert_len] == '\0');
        /* A token is a secret: it never shows in what the reader reports. */
        assert(err[0] == '\0' || !conn.token || !conn.token[0] || !strstr(err, conn.token));
    } else {
        assert(rc == CDNS_EINVAL || rc == CDNS_ENOMEM);
        assert(rc == CDNS_ENOMEM || err[0] != '\0');
    }
    cdns_k8s_conn_deinit(&conn);

    /* The same bytes as a *-data value. */
    char *text = malloc(size);
    assert(text != NULL);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    char *dec = NULL;
    size_t declen = 0;
    if (cdns_k8s_base64_decode(text, &dec, &declen) == CDNS_OK) {
        assert(declen <= strlen(text) / 4 * 3 + 3);
        assert(dec[declen] == '\0');
        free(dec);
    }
    free(text);
    return 0;
}
