/* SPDX-License-Identifier: MIT */
/* kubeconfig.c — where the API server is and how to authenticate: a kubeconfig file (libyaml)
 * or the in-cluster service account, into a cdns_k8s_conn_t.
 *
 * Only what a watch needs is read: the context's cluster (server, certificate-authority(-data),
 * insecure-skip-tls-verify) and user (client-certificate/key(-data), token, tokenFile). Exec and
 * auth-provider plugins are not supported and are reported by name. Main thread, at start-up;
 * the conn and every string in it belong to the caller (cdns_k8s_conn_deinit). Tokens are
 * never copied into error messages.
 */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cdns/k8s.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

void cdns_k8s_conn_deinit(cdns_k8s_conn_t *c)
{
    if (!c)
        return;
    free(c->server);
    free(c->ca_file);
    free(c->cert_file);
    free(c->key_file);
    free(c->ca_data);
    free(c->cert_data);
    free(c->key_data);
    if (c->token) {
        /* Wipe the secret before handing the memory back. */
        memset(c->token, 0, strlen(c->token));
        free(c->token);
    }
    free(c->token_file);
    memset(c, 0, sizeof(*c));
}

/* ------------------------------------------------------------------ base64 */
static int b64_val(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-')
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

int cdns_k8s_base64_decode(const char *in, char **out, size_t *outlen)
{
    size_t n = strlen(in);
    char *buf = malloc(n / 4 * 3 + 4);
    if (!buf)
        return CDNS_ENOMEM;
    uint32_t acc = 0;
    int bits = 0;
    size_t k = 0;
    for (const char *p = in; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
            continue;
        if (ch == '=')
            break;
        int v = b64_val(ch);
        if (v < 0) {
            free(buf);
            return CDNS_EMALFORMED;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[k++] = (char)((acc >> bits) & 0xff);
        }
    }
    buf[k] = '\0';
    *out = buf;
    *outlen = k;
    return CDNS_OK;
}

/* ------------------------------------------------------------------- YAML */
static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

static const char *map_str(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    yaml_node_t *v = map_get(doc, map, key);
    if (!v || v->type != YAML_SCALAR_NODE || v->data.scalar.length == 0)
        return NULL;
    return (const char *)v->data.scalar.value;
}

/* The entry of a named list ("clusters", "users", "contexts") whose name is name, then its
 * inner map (entry.cluster / entry.user / entry.context). */
static yaml_node_t *named(yaml_document_t *doc, yaml_node_t *root, const char *list, const char *inner,
                          const char *name)
{
    yaml_node_t *seq = map_get(doc, root, list);
    if (!seq || seq->type != YAML_SEQUENCE_NODE || !name)
        return NULL;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
        yaml_node_t *e = yaml_document_get_node(doc, *it);
        const char *n = map_str(doc, e, "name");
        if (n && strcmp(n, name) == 0)
            return map_get(doc, e, inner);
    }
    return NULL;
}

/* A path from the kubeconfig, made absolute against the file's directory. */
static int resolve_path(const char *dir, const char *p, char **out)
{
    if (p[0] == '/') {
        *out = strdup(p);
    } else {
        size_t n = strlen(dir) + strlen(p) + 2;
        if ((*out = malloc(n)))
            snprintf(*out, n, "%s/%s", dir, p);
    }
    return *out ? CDNS_OK : CDNS_ENOMEM;
}

/* file → *file (resolved) or data → *data (base64-decoded); data wins, as in client-go. */
static int file_or_data(yaml_document_t *doc, yaml_node_t *m, const char *fkey, const char *dkey, const char *dir,
                        char **file, char **data, size_t *len, char *err, size_t errlen)
{
    const char *d = map_str(doc, m, dkey);
    if (d) {
        int rc = cdns_k8s_base64_decode(d, data, len);
        if (rc == CDNS_EMALFORMED)
            snprintf(err, errlen, "%s is not valid base64", dkey);
        return rc == CDNS_EMALFORMED ? CDNS_EINVAL : rc;
    }
    const char *f = map_str(doc, m, fkey);
    return f ? resolve_path(dir, f, file) : CDNS_OK;
}

static bool scalar_true(yaml_node_t *v)
{
    if (!v || v->type != YAML_SCALAR_NODE)
        return false;
    const char *s = (const char *)v->data.scalar.value;
    return strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0;
}

static int dup_into(char **dst, const char *s)
{
    if (!s)
        return CDNS_OK;
    *dst = strdup(s);
    return *dst ? CDNS_OK : CDNS_ENOMEM;
}

/* Drops trailing '/' from the server URL so paths can be appended. */
static void trim_server(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        s[--n] = '\0';
}

int cdns_k8s_kubeconfig_load(const char *path, const char *context, cdns_k8s_conn_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    yaml_parser_t parser;
    yaml_document_t doc;
    bool have_doc = false;
    char *dircopy = NULL;
    int rc = CDNS_EINVAL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "kubeconfig %s: %s", path, strerror(errno));
        return CDNS_EINVAL;
    }
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        return CDNS_ENOMEM;
    }
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "kubeconfig %s: line %zu: %s", path, parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "invalid YAML");
        goto fail;
    }
    have_doc = true;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        snprintf(err, errlen, "kubeconfig %s: not a kubeconfig (no mapping at the top)", path);
        goto fail;
    }
    const char *ctxname = context ? context : map_str(&doc, root, "current-context");
    if (!ctxname) {
        snprintf(err, errlen, "kubeconfig %s: no context given and no current-context", path);
        goto fail;
    }
    yaml_node_t *ctx = named(&doc, root, "contexts", "context", ctxname);
    if (!ctx) {
        snprintf(err, errlen, "kubeconfig %s: context \"%s\" not found", path, ctxname);
        goto fail;
    }
    const char *cname = map_str(&doc, ctx, "cluster"), *uname = map_str(&doc, ctx, "user");
    yaml_node_t *cluster = named(&doc, root, "clusters", "cluster", cname);
    if (!cluster) {
        snprintf(err, errlen, "kubeconfig %s: cluster \"%s\" of context \"%s\" not found", path, cname ? cname : "",
                 ctxname);
        goto fail;
    }
    yaml_node_t *user = uname ? named(&doc, root, "users", "user", uname) : NULL;
    if (uname && !user) {
        snprintf(err, errlen, "kubeconfig %s: user \"%s\" of context \"%s\" not found", path, uname, ctxname);
        goto fail;
    }
    const char *server = map_str(&doc, cluster, "server");
    if (!server || (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)) {
        snprintf(err, errlen, "kubeconfig %s: cluster \"%s\" has no http(s) server", path, cname);
        goto fail;
    }
    if (!(dircopy = strdup(path))) {
        rc = CDNS_ENOMEM;
        goto fail;
    }
    const char *dir = dirname(dircopy);
    if ((rc = dup_into(&out->server, server)) != CDNS_OK)
        goto fail;
    trim_server(out->server);
    out->insecure = scalar_true(map_get(&doc, cluster, "insecure-skip-tls-verify"));
    rc = file_or_data(&doc, cluster, "certificate-authority", "certificate-authority-data", dir, &out->ca_file,
                      &out->ca_data, &out->ca_len, err, errlen);
    if (rc == CDNS_OK && user)
        rc = file_or_data(&doc, user, "client-certificate", "client-certificate-data", dir, &out->cert_file,
                          &out->cert_data, &out->cert_len, err, errlen);
    if (rc == CDNS_OK && user)
        rc = file_or_data(&doc, user, "client-key", "client-key-data", dir, &out->key_file, &out->key_data,
                          &out->key_len, err, errlen);
    if (rc != CDNS_OK)
        goto fail;
    if (user) {
        if (map_get(&doc, user, "exec") || map_get(&doc, user, "auth-provider")) {
            snprintf(err, errlen, "kubeconfig %s: user \"%s\": exec and auth-provider credentials are not supported",
                     path, uname);
            rc = CDNS_EINVAL;
            goto fail;
        }
        if ((rc = dup_into(&out->token, map_str(&doc, user, "token"))) != CDNS_OK)
            goto fail;
        const char *tf = map_str(&doc, user, "tokenFile");
        if (tf && !out->token && (rc = resolve_path(dir, tf, &out->token_file)) != CDNS_OK)
            goto fail;
    }
    if (!out->cert_file != !out->key_file && !out->cert_data && !out->key_data) {
        snprintf(err, errlen, "kubeconfig %s: user \"%s\": client certificate and key must be given together", path,
                 uname ? uname : "");
        rc = CDNS_EINVAL;
        goto fail;
    }
    rc = CDNS_OK;
    goto out;
fail:
    cdns_k8s_conn_deinit(out);
out:
    free(dircopy);
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

int cdns_k8s_conn_incluster(const char *sa_dir, cdns_k8s_conn_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !*host || !port || !*port) {
        snprintf(err, errlen,
                 "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
                 "must be defined");
        return CDNS_EINVAL;
    }
    if (!sa_dir)
        sa_dir = SA_DIR;
    size_t n = strlen(host) + strlen(port) + 16;
    size_t m = strlen(sa_dir) + 16;
    out->server = malloc(n);
    out->token_file = malloc(m);
    out->ca_file = malloc(m);
    if (!out->server || !out->token_file || !out->ca_file) {
        cdns_k8s_conn_deinit(out);
        return CDNS_ENOMEM;
    }
    /* An IPv6 service address needs brackets in a URL. */
    bool v6 = strchr(host, ':') != NULL;
    snprintf(out->server, n, "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "", port);
    snprintf(out->token_file, m, "%s/token", sa_dir);
    snprintf(out->ca_file, m, "%s/ca.crt", sa_dir);
    FILE *f = fopen(out->token_file, "rb");
    if (!f) {
        snprintf(err, errlen, "in-cluster configuration: %s: %s", out->token_file, strerror(errno));
        cdns_k8s_conn_deinit(out);
        return CDNS_EINVAL;
    }
    fclose(f);
    return CDNS_OK;
}
