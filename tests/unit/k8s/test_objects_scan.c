/* SPDX-License-Identifier: MIT */
/* test_objects_scan.c — cdns_k8s_index_load_json (and cdns_k8s_index_load_fd, through windows
 * of a file) walks a List item by item instead of parsing it whole. These tests hold it to the
 * old behaviour, one cJSON tree of the whole document, as an oracle: the same documents
 * accepted, the same objects stored, the same errors, including on truncated and mutated
 * input. Inputs are copied to exact-size heap buffers so a read past the end shows under ASan. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check_main.h"
#include "k8s_helpers.h"

typedef struct outcome {
    int rc;
    cdns_k8s_load_stats_t st;
    size_t count[CDNS_K8S_NAMESPACE + 1];
} outcome_t;

/* The loader as it was: the whole document in one cJSON tree. */
static cdns_k8s_kind_t ref_hint(const cJSON *kind)
{
    if (!cJSON_IsString(kind))
        return CDNS_K8S_NONE;
    size_t n = strlen(kind->valuestring);
    char buf[64];
    if (n <= 4 || n - 4 >= sizeof(buf) || strcmp(kind->valuestring + n - 4, "List") != 0)
        return CDNS_K8S_NONE;
    memcpy(buf, kind->valuestring, n - 4);
    buf[n - 4] = '\0';
    return cdns_k8s_kind_from_name(buf);
}

static void ref_one(cdns_k8s_index_t *idx, const cJSON *item, cdns_k8s_kind_t hint, cdns_k8s_load_stats_t *st)
{
    cdns_k8s_object_t o;
    int rc = cdns_k8s_decode(item, hint, &o);
    ck_assert_int_ne(rc, CDNS_ENOMEM);
    if (rc != CDNS_OK)
        st->malformed++;
    else if (o.kind == CDNS_K8S_NONE)
        st->ignored++;
    else if (cdns_k8s_index_upsert(idx, &o) == CDNS_OK)
        st->objects++;
}

static int ref_load(cdns_k8s_index_t *idx, const char *text, size_t len, cdns_k8s_load_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return CDNS_EMALFORMED;
    }
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(root, "items");
    if (cJSON_IsArray(items)) {
        cdns_k8s_kind_t hint = ref_hint(cJSON_GetObjectItemCaseSensitive(root, "kind"));
        const cJSON *it;
        cJSON_ArrayForEach(it, items) ref_one(idx, it, hint, st);
    } else {
        ref_one(idx, root, CDNS_K8S_NONE, st);
    }
    cJSON_Delete(root);
    return CDNS_OK;
}

/* The document as a file, loaded through a window of the given size (0: the default). */
static outcome_t run_fd(const char *text, size_t len, size_t window, unsigned skip)
{
    int fd = memfd_create("objects", MFD_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    cdns_k8s_index_t *idx = cdns_k8s_index_new();
    ck_assert_ptr_nonnull(idx);
    outcome_t r;
    memset(&r, 0, sizeof(r));
    cdns_k8s_load_opts_t lo = {.skip = skip, .window = window};
    r.rc = cdns_k8s_index_load_fd(idx, fd, &lo, &r.st);
    for (int k = CDNS_K8S_SERVICE; k <= CDNS_K8S_NAMESPACE; k++)
        r.count[k] = cdns_k8s_index_count(idx, (cdns_k8s_kind_t)k);
    cdns_k8s_index_free(idx);
    close(fd);
    return r;
}

static void assert_same(const outcome_t *got, const outcome_t *want, const char *how, const char *text, size_t len)
{
    ck_assert_msg(got->rc == want->rc, "%s: rc %d, was %d, for %.*s", how, got->rc, want->rc,
                  (int)(len > 300 ? 300 : len), text);
    if (got->rc == CDNS_OK) {
        ck_assert_uint_eq(got->st.objects, want->st.objects);
        ck_assert_uint_eq(got->st.ignored, want->st.ignored);
        ck_assert_uint_eq(got->st.malformed, want->st.malformed);
        for (int k = CDNS_K8S_SERVICE; k <= CDNS_K8S_NAMESPACE; k++)
            ck_assert_uint_eq(got->count[k], want->count[k]);
    }
}

static outcome_t run(bool reference, const char *text, size_t len)
{
    cdns_log_set_level(CDNS_LOG_ERROR); /* thousands of deliberately malformed documents */
    char *copy = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, text, len);
    cdns_k8s_index_t *idx = cdns_k8s_index_new();
    ck_assert_ptr_nonnull(idx);
    outcome_t r;
    memset(&r, 0, sizeof(r));
    r.rc = reference ? ref_load(idx, copy, len, &r.st) : cdns_k8s_index_load_json(idx, copy, len, &r.st);
    for (int k = CDNS_K8S_SERVICE; k <= CDNS_K8S_NAMESPACE; k++)
        r.count[k] = cdns_k8s_index_count(idx, (cdns_k8s_kind_t)k);
    cdns_k8s_index_free(idx);
    free(copy);
    return r;
}

/* Loads text both ways, insists they agree, and returns what the new loader did. */
static outcome_t same_as_before_n(const char *text, size_t len)
{
    outcome_t want = run(true, text, len), got = run(false, text, len);
    assert_same(&got, &want, "in memory", text, len);
    /* From a file through windows that cut values anywhere: tiny ones refill (and grow) inside
     * every token, the default holds these documents whole. */
    static const size_t windows[] = {1, 2, 5, 16, 0};
    for (size_t i = 0; i < CDNS_ARRAY_LEN(windows); i++) {
        outcome_t f = run_fd(text, len, windows[i], 0);
        assert_same(&f, &want, "from a file", text, len);
    }
    return got;
}

static outcome_t same_as_before(const char *text)
{
    return same_as_before_n(text, strlen(text));
}

#define SVC(name) "{\"kind\":\"Service\",\"metadata\":{\"name\":\"" name "\",\"namespace\":\"n\"},\"spec\":{}}"

/* Items full of containers, strings that look like structure, and "items"/"kind" members
 * inside items that must not be taken for the list's own. */
static const char *const tricky =
    "{\"apiVersion\":\"v1\",\"items\":["
    "{\"kind\":\"Service\",\"metadata\":{\"name\":\"a\",\"namespace\":\"n\",\"annotations\":"
    "{\"x]}\":\"[{\\\"items\\\":[\\\\\",\"y\":\"\\\\\",\"z\":\"\\u005d\\\"}\"}},"
    "\"spec\":{\"items\":[[[]],[{}],{\"items\":{\"kind\":\"List\"}}],\"kind\":\"ServiceList\","
    "\"ports\":[{\"port\":80,\"protocol\":\"TCP\"}],\"n\":[1,-2.5e3,true,false,null]}},"
    "{\"kind\":\"Namespace\",\"metadata\":{\"name\":\"n\",\"labels\":{\"a\":\"}\"}}},"
    "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"n\"},\"status\":{\"podIP\":\"10.0.0.9\"}},"
    "{\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\",\"namespace\":\"n\"},\"data\":{\"k\":\"]]]\"}}"
    "],\"kind\":\"List\",\"metadata\":{\"resourceVersion\":\"\"}}";

START_TEST(test_nested_and_tricky_strings)
{
    outcome_t r = same_as_before(tricky);
    ck_assert_int_eq(r.rc, CDNS_OK);
    ck_assert_uint_eq(r.count[CDNS_K8S_SERVICE], 1);
    ck_assert_uint_eq(r.count[CDNS_K8S_NAMESPACE], 1);
    ck_assert_uint_eq(r.st.ignored, 1);
    /* The same with whitespace of every kind cJSON skips between tokens. */
    r = same_as_before(" \t\r\n{ \"items\" :\n[ " SVC("a") " ,\n" SVC("b") "\n] , \"kind\" : \"List\" }\n");
    ck_assert_int_eq(r.rc, CDNS_OK);
    ck_assert_uint_eq(r.st.objects, 2);
}
END_TEST

/* kubectl prints members sorted, so the list's kind comes after its items; typed lists only
 * name the items' kind there. Also an escaped member name, and duplicate names (cJSON keeps the
 * first). */
START_TEST(test_kind_and_items_members)
{
    const char *item = "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},\"spec\":{\"clusterIP\":\"10.0.0.1\"}}";
    char doc[512];
    snprintf(doc, sizeof(doc), "{\"items\":[%s],\"kind\":\"ServiceList\"}", item);
    outcome_t r = same_as_before(doc);
    ck_assert_int_eq(r.rc, CDNS_OK);
    ck_assert_uint_eq(r.count[CDNS_K8S_SERVICE], 1);
    snprintf(doc, sizeof(doc), "{\"kind\":\"ServiceList\",\"kind\":\"PodList\",\"items\":[%s]}", item);
    ck_assert_uint_eq(same_as_before(doc).count[CDNS_K8S_SERVICE], 1);
    snprintf(doc, sizeof(doc), "{\"\\u006bind\":\"ServiceList\",\"\\u0069tems\":[%s]}", item);
    ck_assert_uint_eq(same_as_before(doc).count[CDNS_K8S_SERVICE], 1);
    snprintf(doc, sizeof(doc), "{\"items\":[%s],\"items\":[],\"kind\":7}", item);
    ck_assert_uint_eq(same_as_before(doc).st.ignored, 1); /* no kind, no hint: not DNS's */
    /* A first "items" that is not an array makes the document a single object. */
    snprintf(doc, sizeof(doc), "{\"kind\":\"List\",\"items\":null,\"items\":[%s]}", item);
    r = same_as_before(doc);
    ck_assert_int_eq(r.rc, CDNS_OK);
    ck_assert_uint_eq(r.st.objects, 0);
    /* An invalid later duplicate is still invalid JSON. */
    snprintf(doc, sizeof(doc), "{\"items\":[%s],\"items\":[1,],\"kind\":\"List\"}", item);
    ck_assert_int_eq(same_as_before(doc).rc, CDNS_EMALFORMED);
    ck_assert_int_eq(same_as_before("{\"items\":[],\"bad\\x\":1}").rc, CDNS_EMALFORMED);
}
END_TEST

START_TEST(test_empty_and_not_lists)
{
    const char *ok[] = {
        "{\"kind\":\"List\",\"items\":[]}",
        "{\"items\":[ \n ]}",
        "{}",
        "\xEF\xBB\xBF{\"kind\":\"List\",\"items\":[]}",
        SVC("single"),
        "{\"kind\":\"ServiceList\",\"items\":{}}",
        "{\"kind\":\"List\",\"items\":[1,\"x\",null,[],{}]}",
        "{\"kind\":\"List\",\"items\":[]} trailing bytes cJSON never looked at",
    };
    for (size_t i = 0; i < CDNS_ARRAY_LEN(ok); i++)
        ck_assert_int_eq(same_as_before(ok[i]).rc, CDNS_OK);
    ck_assert_uint_eq(same_as_before(SVC("single")).st.objects, 1);
    outcome_t odd = same_as_before(ok[6]);
    ck_assert_uint_eq(odd.st.malformed + odd.st.ignored, 5);
    const char *bad[] = {
        "",
        "   ",
        "[]",
        "[" SVC("a") "]",
        "\"items\"",
        "42",
        "null",
        "{\"items\":[]",
        "{\"items\":[],}",
        "{\"items\" []}",
        "{items:[]}",
        "{\"items\":[,]}",
        "{\"items\":[" SVC("a") ",]}",
        "{\"items\":[" SVC("a") " " SVC("b") "]}",
        "{\"items\":[}",
        "{\"items\":[]]}",
        "{\"items\":[{]}]}",
        "{\"items\":[tru]}",
        "{\"items\":[truex]}",
        "{\"items\":[1.2.3]}",
        "{\"items\":[\"\\q\"]}",
        "{\"items\":[\"\\ud800\"]}",
        "{\"items\":[@]}",
        "{\"items\":[\"unterminated]}",
        "{\"items\":[\"ends in a backslash\\",
        "{\"kind\":\"List\" \"items\":[]}",
        "{\"kind\":\"List\",\"metadata\":{\"a\":}}",
        "\xEF\xBB{\"items\":[]}",
        "{\"items\":[\xEF\xBB\xBF{}]}",
    };
    for (size_t i = 0; i < CDNS_ARRAY_LEN(bad); i++)
        ck_assert_int_eq(same_as_before(bad[i]).rc, CDNS_EMALFORMED);
}
END_TEST

/* Every prefix of a List is malformed (a file caught half-written), never a crash. */
START_TEST(test_truncated)
{
    size_t len = strlen(tricky);
    for (size_t n = 0; n < len; n++) {
        outcome_t r = same_as_before_n(tricky, n);
        ck_assert_int_eq(r.rc, CDNS_EMALFORMED);
    }
    ck_assert_int_eq(same_as_before_n(tricky, len).rc, CDNS_OK);
}
END_TEST

/* Each byte replaced by each structural character: the verdict and the objects stored match
 * the whole-tree parse every time. */
START_TEST(test_mutated)
{
    static const char subst[] = "\"\\[]{},: 0t-\x01";
    size_t len = strlen(tricky);
    char *m = malloc(len);
    ck_assert_ptr_nonnull(m);
    for (size_t i = 0; i < len; i++) {
        for (size_t c = 0; c < sizeof(subst) - 1; c++) {
            memcpy(m, tricky, len);
            m[i] = subst[c];
            same_as_before_n(m, len);
        }
        memcpy(m, tricky, len);
        same_as_before_n(m, i); /* and cut there */
    }
    free(m);
}
END_TEST

/* cJSON refuses more than CJSON_NESTING_LIMIT nested containers in the whole document; an item
 * parsed alone sits two levels shallower, so the scanner keeps the document's limit. Hostile
 * depth far past it is refused without recursion. */
START_TEST(test_nesting_limit)
{
    size_t depths[] = {CJSON_NESTING_LIMIT - 3, CJSON_NESTING_LIMIT - 2, CJSON_NESTING_LIMIT - 1, CJSON_NESTING_LIMIT,
                       100000};
    for (size_t d = 0; d < CDNS_ARRAY_LEN(depths); d++) {
        size_t n = depths[d];
        size_t cap = 2 * n + 64;
        char *doc = malloc(cap);
        ck_assert_ptr_nonnull(doc);
        size_t off = (size_t)snprintf(doc, cap, "{\"items\":[");
        memset(doc + off, '[', n);
        off += n;
        memset(doc + off, ']', n);
        off += n;
        off += (size_t)snprintf(doc + off, cap - off, "]}");
        outcome_t r = same_as_before_n(doc, off);
        ck_assert_int_eq(r.rc, n + 2 <= CJSON_NESTING_LIMIT ? CDNS_OK : CDNS_EMALFORMED);
        /* The same depth in a top-level member other than items. */
        off = (size_t)snprintf(doc, cap, "{\"metadata\":");
        memset(doc + off, '[', n);
        off += n;
        memset(doc + off, ']', n);
        off += n;
        off += (size_t)snprintf(doc + off, cap - off, ",\"items\":[]}");
        same_as_before_n(doc, off);
        free(doc);
    }
}
END_TEST

/* A bad item anywhere, even after good ones, leaves the index as it was. */
START_TEST(test_malformed_keeps_index)
{
    cdns_k8s_index_t *idx = cdns_k8s_index_new();
    ck_assert_ptr_nonnull(idx);
    cdns_k8s_load_stats_t st;
    const char *good = "{\"kind\":\"List\",\"items\":[" SVC("keep") "]}";
    ck_assert_int_eq(cdns_k8s_index_load_json(idx, good, strlen(good), &st), CDNS_OK);
    const char *bad = "{\"kind\":\"List\",\"items\":[" SVC("x") "," SVC("y") ",{\"kind\":\"Service\",]}";
    ck_assert_int_eq(cdns_k8s_index_load_json(idx, bad, strlen(bad), &st), CDNS_EMALFORMED);
    ck_assert_uint_eq(st.objects, 0);
    ck_assert_uint_eq(cdns_k8s_index_count(idx, CDNS_K8S_SERVICE), 1);
    ck_assert_ptr_nonnull(cdns_k8s_index_service(idx, "n", "keep"));
    ck_assert_ptr_null(cdns_k8s_index_service(idx, "n", "x"));
    cdns_k8s_index_free(idx);
}
END_TEST

/* The repository's fixtures load as before. */
START_TEST(test_fixtures)
{
    const char *files[] = {"handler.json", "readiness.json", "v1endpoints.json", "watch_cluster.json"};
    for (size_t i = 0; i < CDNS_ARRAY_LEN(files); i++) {
        size_t len;
        char *text = k8s_read_file(files[i], &len);
        outcome_t r = same_as_before_n(text, len);
        ck_assert_int_eq(r.rc, CDNS_OK);
        ck_assert_uint_gt(r.st.objects, 0);
        free(text);
    }
}
END_TEST

/* A file bigger than the window, item after item, with the kind after the items (kubectl's
 * order) so it is read twice; and kinds the caller skips are counted, not stored. */
START_TEST(test_file_window_and_skip)
{
    cdns_strbuf_t b = {0};
    cdns_strbuf_puts(&b, "{\"apiVersion\":\"v1\",\"items\":[");
    for (int i = 0; i < 2000; i++) {
        char item[256];
        if (i % 2)
            snprintf(item, sizeof(item), "%s{\"metadata\":{\"name\":\"s%d\",\"namespace\":\"n\"},\"spec\":{}}",
                     i ? "," : "", i);
        else
            snprintf(item, sizeof(item),
                     "%s{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p%d\",\"namespace\":\"n\"},"
                     "\"status\":{\"podIP\":\"10.0.%d.%d\"}}",
                     i ? "," : "", i, i / 256, i % 256);
        cdns_strbuf_puts(&b, item);
    }
    cdns_strbuf_puts(&b, "],\"kind\":\"ServiceList\",\"metadata\":{}}");
    ck_assert(!b.oom);
    outcome_t want = same_as_before_n(b.p, b.len);
    ck_assert_int_eq(want.rc, CDNS_OK);
    ck_assert_uint_eq(want.count[CDNS_K8S_SERVICE], 1000);
    ck_assert_uint_eq(want.count[CDNS_K8S_POD], 1000);
    for (size_t w = 64; w <= 65536; w *= 32) {
        outcome_t f = run_fd(b.p, b.len, w, 0);
        assert_same(&f, &want, "window", b.p, b.len);
        outcome_t k = run_fd(b.p, b.len, w, 1u << CDNS_K8S_POD);
        ck_assert_int_eq(k.rc, CDNS_OK);
        ck_assert_uint_eq(k.count[CDNS_K8S_POD], 0);
        ck_assert_uint_eq(k.count[CDNS_K8S_SERVICE], 1000);
        ck_assert_uint_eq(k.st.ignored, want.st.ignored + 1000);
    }
    free(b.p);
}
END_TEST

/* A read error is the read's, not "malformed", and leaves the index as it was. */
START_TEST(test_file_read_error)
{
    cdns_k8s_index_t *idx = cdns_k8s_index_new();
    ck_assert_ptr_nonnull(idx);
    int fd = open("/", O_RDONLY | O_DIRECTORY);
    ck_assert_int_ge(fd, 0);
    cdns_k8s_load_stats_t st;
    ck_assert_int_eq(cdns_k8s_index_load_fd(idx, fd, NULL, &st), -EISDIR);
    ck_assert_uint_eq(st.objects, 0);
    close(fd);
    cdns_k8s_index_free(idx);
}
END_TEST

static Suite *objects_scan_suite(void)
{
    Suite *s = suite_create("k8s_objects_scan");
    TCase *tc = tcase_create("scan");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_nested_and_tricky_strings);
    tcase_add_test(tc, test_kind_and_items_members);
    tcase_add_test(tc, test_empty_and_not_lists);
    tcase_add_test(tc, test_truncated);
    tcase_add_test(tc, test_mutated);
    tcase_add_test(tc, test_nesting_limit);
    tcase_add_test(tc, test_malformed_keeps_index);
    tcase_add_test(tc, test_fixtures);
    tcase_add_test(tc, test_file_window_and_skip);
    tcase_add_test(tc, test_file_read_error);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(objects_scan_suite)
