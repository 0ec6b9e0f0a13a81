/* SPDX-License-Identifier: MIT */
/* client.c — HTTP GETs to the Kubernetes API server on the caller's libuv loop.
 *
 * libcurl's multi interface driven by libuv as curl's docs/examples/multi-uv.c does: curl tells
 * us which sockets to poll (CURLMOPT_SOCKETFUNCTION → uv_poll) and when to call back
 * (CURLMOPT_TIMERFUNCTION → uv_timer), so every list and watch runs on the main thread with no
 * thread per request. TLS is always verified unless the configuration says insecure. The bearer
 * token file is stat'ed before every request and re-read when it changed (bound service-account
 * tokens rotate); the token is sent over https only and never logged. Main thread only; the
 * client owns its requests, and a request is freed after its on_done callback.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "cdns/k8s.h"
#include "k8s/curl_api.h"
#include "k8s/k8s_internal.h"

#define CONNECT_TIMEOUT_MS 5000
#define TOKEN_MAX (64 * 1024)

struct cdns_k8s_http {
    cdns_k8s_client_t *c;
    CURL *easy;
    struct curl_slist *hdrs;
    cdns_k8s_http_cbs_t cbs;
    void *arg;
    unsigned retry_after_s;
    char errbuf[CURL_ERROR_SIZE];
    struct cdns_k8s_http *prev, *next;
};

struct cdns_k8s_client {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t *timer; /* malloc'd: it is closed asynchronously */
    cdns_k8s_conn_t conn;
    bool tls;
    char *token; /* the current bearer token (conn.token, or the file's content) */
    struct stat token_st;
    bool token_read;
    cdns_k8s_http_t *reqs; /* in flight */
    struct sockctx *socks; /* polled sockets */
};

/* One socket curl asked us to watch. */
typedef struct sockctx {
    uv_poll_t poll;
    curl_socket_t fd;
    cdns_k8s_client_t *c;
    struct sockctx *prev, *next;
} sockctx_t;

static void free_handle(uv_handle_t *h)
{
    free(h->data == NULL ? (void *)h : h->data);
}

static void check_done(cdns_k8s_client_t *c);

static void sock_close(sockctx_t *s)
{
    cdns_k8s_client_t *c = s->c;
    if (s->prev)
        s->prev->next = s->next;
    else
        c->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    uv_poll_stop(&s->poll);
    s->poll.data = s;
    uv_close((uv_handle_t *)&s->poll, free_handle);
}

/* ---------------------------------------------------------- curl ↔ libuv */
static void on_poll(uv_poll_t *p, int status, int events)
{
    sockctx_t *s = p->data;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (!status && (events & UV_READABLE))
        flags |= CURL_CSELECT_IN;
    if (!status && (events & UV_WRITABLE))
        flags |= CURL_CSELECT_OUT;
    int running;
    cdns_k8s_client_t *c = s->c;
    curl_multi_socket_action(c->multi, s->fd, flags, &running);
    check_done(c);
}

static void on_timer(uv_timer_t *t)
{
    cdns_k8s_client_t *c = t->data;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int action, void *userp, void *socketp)
{
    (void)easy;
    cdns_k8s_client_t *c = userp;
    sockctx_t *s = socketp;
    if (action == CURL_POLL_REMOVE) {
        if (s) {
            sock_close(s);
            curl_multi_assign(c->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return -1;
        s->fd = fd;
        s->c = c;
        if (uv_poll_init_socket(c->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        s->next = c->socks;
        if (c->socks)
            c->socks->prev = s;
        c->socks = s;
        curl_multi_assign(c->multi, fd, s);
    }
    int events = 0;
    if (action == CURL_POLL_IN || action == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (action == CURL_POLL_OUT || action == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    cdns_k8s_client_t *c = userp;
    if (timeout_ms < 0)
        uv_timer_stop(c->timer);
    else
        uv_timer_start(c->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ------------------------------------------------------------- requests */
static void unlink_req(cdns_k8s_http_t *h)
{
    cdns_k8s_client_t *c = h->c;
    if (h->prev)
        h->prev->next = h->next;
    else
        c->reqs = h->next;
    if (h->next)
        h->next->prev = h->prev;
    h->prev = h->next = NULL;
}

static void req_free(cdns_k8s_http_t *h)
{
    if (!h)
        return;
    if (h->easy) {
        curl_multi_remove_handle(h->c->multi, h->easy);
        curl_easy_cleanup(h->easy);
    }
    curl_slist_free_all(h->hdrs);
    free(h);
}

/* Finished transfers: run on_done outside any curl callback, so it may start new requests. */
static void check_done(cdns_k8s_client_t *c)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        cdns_k8s_http_t *h = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&h);
        if (!h)
            continue;
        CURLcode res = msg->data.result;
        long status = 0;
        curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
        unlink_req(h);
        curl_multi_remove_handle(c->multi, h->easy);
        const char *why = res == CURLE_OK ? "" : (h->errbuf[0] ? h->errbuf : curl_easy_strerror(res));
        char whybuf[CURL_ERROR_SIZE];
        snprintf(whybuf, sizeof(whybuf), "%s", why);
        if (h->cbs.on_done)
            h->cbs.on_done(h->arg, res == CURLE_OK ? CDNS_OK : CDNS_EIO, status, whybuf);
        req_free(h);
    }
}

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    cdns_k8s_http_t *h = userdata;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
    if (h->cbs.on_data && !h->cbs.on_data(h->arg, status, ptr, n))
        return 0; /* curl ends the transfer with CURLE_WRITE_ERROR */
    return n;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    cdns_k8s_http_t *h = userdata;
    size_t n = size * nitems;
    static const char ra[] = "retry-after:";
    if (n > sizeof(ra) - 1 && strncasecmp(buf, ra, sizeof(ra) - 1) == 0) {
        unsigned long v = strtoul(buf + sizeof(ra) - 1, NULL, 10);
        h->retry_after_s = v > 3600 ? 3600 : (unsigned)v;
    }
    return n;
}

/* The token to send: the fixed one, or the file's, re-read when stat says it changed. A file
 * that cannot be read keeps the last good token (the kubelet swaps it atomically, but a
 * transient error must not log anyone out). */
static const char *current_token(cdns_k8s_client_t *c)
{
    if (c->conn.token)
        return c->conn.token;
    if (!c->conn.token_file)
        return NULL;
    struct stat st;
    if (stat(c->conn.token_file, &st) != 0) {
        cdns_warn("plugin/kubernetes: token file %s: %s; keeping the previous token", c->conn.token_file,
                  strerror(errno));
        return c->token;
    }
    if (c->token_read && st.st_ino == c->token_st.st_ino && st.st_size == c->token_st.st_size &&
        st.st_mtim.tv_sec == c->token_st.st_mtim.tv_sec && st.st_mtim.tv_nsec == c->token_st.st_mtim.tv_nsec)
        return c->token;
    char *text = NULL;
    size_t len = 0;
    if (st.st_size > TOKEN_MAX || cdns_file_read(c->conn.token_file, &text, &len) != CDNS_OK) {
        cdns_warn("plugin/kubernetes: cannot read token file %s; keeping the previous token", c->conn.token_file);
        free(text);
        return c->token;
    }
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        text[--len] = '\0';
    if (c->token) {
        memset(c->token, 0, strlen(c->token));
        free(c->token);
    }
    if (c->token_read)
        cdns_info("plugin/kubernetes: token file %s changed; using the new token", c->conn.token_file);
    c->token = text;
    c->token_st = st;
    c->token_read = true;
    return c->token;
}

static int set_blob(CURL *e, CURLoption opt, const char *data, size_t len)
{
    struct curl_blob b = {.data = (void *)data, .len = len, .flags = CURL_BLOB_COPY};
    return curl_easy_setopt(e, opt, &b) == CURLE_OK ? CDNS_OK : CDNS_EINVAL;
}

int cdns_k8s_client_get(cdns_k8s_client_t *c, const char *path, const cdns_k8s_http_cbs_t *cbs, void *arg,
                        cdns_k8s_http_t **out)
{
    *out = NULL;
    cdns_k8s_http_t *h = calloc(1, sizeof(*h));
    char *url = NULL, *auth = NULL;
    int rc = CDNS_ENOMEM;
    if (!h)
        return CDNS_ENOMEM;
    h->c = c;
    h->cbs = *cbs;
    h->arg = arg;
    size_t n = strlen(c->conn.server) + strlen(path) + 1;
    if (!(url = malloc(n)) || !(h->easy = curl_easy_init()))
        goto fail;
    snprintf(url, n, "%s%s", c->conn.server, path);
    CURL *e = h->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)h);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* gzip'd LIST pages are a tenth of the bytes */
    curl_easy_setopt(e, CURLOPT_USERAGENT, "clusterdns/0.1 (linux) kubernetes-plugin");
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (!(h->hdrs = curl_slist_append(NULL, "Accept: application/json")))
        goto fail;
    if (c->tls) {
        if (c->conn.insecure) {
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
        } else if (c->conn.ca_data) {
            if (set_blob(e, CURLOPT_CAINFO_BLOB, c->conn.ca_data, c->conn.ca_len) != CDNS_OK) {
                rc = CDNS_EINVAL;
                goto fail;
            }
        } else if (c->conn.ca_file) {
            curl_easy_setopt(e, CURLOPT_CAINFO, c->conn.ca_file);
        }
        if (c->conn.cert_data)
            set_blob(e, CURLOPT_SSLCERT_BLOB, c->conn.cert_data, c->conn.cert_len);
        else if (c->conn.cert_file)
            curl_easy_setopt(e, CURLOPT_SSLCERT, c->conn.cert_file);
        if (c->conn.key_data)
            set_blob(e, CURLOPT_SSLKEY_BLOB, c->conn.key_data, c->conn.key_len);
        else if (c->conn.key_file)
            curl_easy_setopt(e, CURLOPT_SSLKEY, c->conn.key_file);
        const char *tok = current_token(c);
        if (tok && *tok) {
            size_t an = strlen(tok) + 32;
            if (!(auth = malloc(an)))
                goto fail;
            snprintf(auth, an, "Authorization: Bearer %s", tok);
            struct curl_slist *l = curl_slist_append(h->hdrs, auth);
            memset(auth, 0, an);
            if (!l)
                goto fail;
            h->hdrs = l;
        }
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->hdrs);
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
        rc = CDNS_EIO;
        goto fail;
    }
    h->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = h;
    c->reqs = h;
    free(url);
    free(auth);
    *out = h;
    return CDNS_OK;
fail:
    free(url);
    free(auth);
    if (h->easy) {
        curl_easy_cleanup(h->easy);
        h->easy = NULL;
    }
    req_free(h);
    return rc;
}

void cdns_k8s_http_cancel(cdns_k8s_http_t *h)
{
    if (!h)
        return;
    unlink_req(h);
    req_free(h);
}

unsigned cdns_k8s_http_retry_after(const cdns_k8s_http_t *h)
{
    return h ? h->retry_after_s : 0;
}

uv_loop_t *cdns_k8s__client_loop(const cdns_k8s_client_t *c)
{
    return c->loop;
}

const char *cdns_k8s_client_server(const cdns_k8s_client_t *c)
{
    return c->conn.server;
}

/* ----------------------------------------------------------------- client */
static int copy_str(char **dst, const char *src)
{
    if (!src)
        return CDNS_OK;
    *dst = strdup(src);
    return *dst ? CDNS_OK : CDNS_ENOMEM;
}

static int copy_blob(char **dst, size_t *dlen, const char *src, size_t len)
{
    if (!src)
        return CDNS_OK;
    if (!(*dst = malloc(len + 1)))
        return CDNS_ENOMEM;
    memcpy(*dst, src, len);
    (*dst)[len] = '\0';
    *dlen = len;
    return CDNS_OK;
}

static int conn_copy(cdns_k8s_conn_t *d, const cdns_k8s_conn_t *s)
{
    memset(d, 0, sizeof(*d));
    int rc = copy_str(&d->server, s->server);
    if (rc == CDNS_OK)
        rc = copy_str(&d->ca_file, s->ca_file);
    if (rc == CDNS_OK)
        rc = copy_str(&d->cert_file, s->cert_file);
    if (rc == CDNS_OK)
        rc = copy_str(&d->key_file, s->key_file);
    if (rc == CDNS_OK)
        rc = copy_blob(&d->ca_data, &d->ca_len, s->ca_data, s->ca_len);
    if (rc == CDNS_OK)
        rc = copy_blob(&d->cert_data, &d->cert_len, s->cert_data, s->cert_len);
    if (rc == CDNS_OK)
        rc = copy_blob(&d->key_data, &d->key_len, s->key_data, s->key_len);
    if (rc == CDNS_OK)
        rc = copy_str(&d->token, s->token);
    if (rc == CDNS_OK)
        rc = copy_str(&d->token_file, s->token_file);
    d->insecure = s->insecure;
    return rc;
}

int cdns_k8s_client_new(uv_loop_t *loop, const cdns_k8s_conn_t *conn, cdns_k8s_client_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!conn->server || (strncmp(conn->server, "https://", 8) != 0 && strncmp(conn->server, "http://", 7) != 0)) {
        snprintf(err, errlen, "no http(s) API server URL");
        return CDNS_EINVAL;
    }
    static bool global_done;
    if (!global_done) {
        int lrc = cdns_k8s__curl_load(err, errlen);
        if (lrc != CDNS_OK)
            return lrc;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(err, errlen, "curl_global_init failed");
            return CDNS_EIO;
        }
        global_done = true;
    }
    cdns_k8s_client_t *c = calloc(1, sizeof(*c));
    if (!c)
        return CDNS_ENOMEM;
    int rc = CDNS_ENOMEM;
    c->loop = loop;
    if (conn_copy(&c->conn, conn) != CDNS_OK)
        goto fail;
    c->tls = strncmp(c->conn.server, "https://", 8) == 0;
    if (!(c->timer = calloc(1, sizeof(*c->timer))) || !(c->multi = curl_multi_init()))
        goto fail;
    uv_timer_init(loop, c->timer);
    c->timer->data = c;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    /* Watches are long-lived: one connection per watch over HTTP/1.1, or streams multiplexed on
     * one connection when the server speaks HTTP/2, as client-go does. */
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    if (c->tls && c->conn.token_file)
        (void)current_token(c); /* fail early in the log if the file is unreadable */
    *out = c;
    return CDNS_OK;
fail:
    cdns_k8s_conn_deinit(&c->conn);
    if (c->timer && c->timer->loop) {
        c->timer->data = NULL;
        uv_close((uv_handle_t *)c->timer, free_handle);
    } else {
        free(c->timer);
    }
    if (c->multi)
        curl_multi_cleanup(c->multi);
    free(c);
    return rc;
}

void cdns_k8s_client_free(cdns_k8s_client_t *c)
{
    if (!c)
        return;
    while (c->reqs)
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): cancel unlinks the head (h->c == c) first. */
        cdns_k8s_http_cancel(c->reqs);
    /* Cleaning up the multi handle reports CURL_POLL_REMOVE for the sockets still open,
     * which closes their poll handles. */
    curl_multi_cleanup(c->multi);
    while (c->socks)
        sock_close(c->socks);
    uv_timer_stop(c->timer);
    c->timer->data = NULL;
    uv_close((uv_handle_t *)c->timer, free_handle);
    if (c->token) {
        memset(c->token, 0, strlen(c->token));
        free(c->token);
    }
    cdns_k8s_conn_deinit(&c->conn);
    free(c);
}
