/* SPDX-License-Identifier: MIT */
/* test_kubeconfig.c — kubeconfig parsing (contexts, -data blobs, relative paths, token and
 * tokenFile, insecure-skip-tls-verify, errors that name the problem), the in-cluster
 * configuration from the environment, and base64. */
#include <stdlib.h>
#include <unistd.h>

#include "check_main.h"
#include "k8s_helpers.h"

#define KC K8S_DATA_DIR "kubeconfig.yaml"

START_TEST(test_current_context_data)
{
    cdns_k8s_conn_t c;
    char err[256] = "";
    ck_assert_int_eq(cdns_k8s_kubeconfig_load(KC, NULL, &c, err, sizeof(err)), CDNS_OK);
    ck_assert_str_eq(c.server, "https://127.0.0.1:8443");
    ck_assert_ptr_nonnull(c.ca_data);
    ck_assert_uint_eq(c.ca_len, strlen(c.ca_data));
    ck_assert_ptr_nonnull(strstr(c.ca_data, "BEGIN CERTIFICATE"));
    ck_assert_ptr_null(c.ca_file);
    ck_assert_str_eq(c.cert_data, "cert");
    ck_assert_uint_eq(c.cert_len, 4);
    ck_assert_str_eq(c.key_data, "key");
    ck_assert_ptr_null(c.token);
    ck_assert(!c.insecure);
    cdns_k8s_conn_deinit(&c);
}
END_TEST

START_TEST(test_named_context_paths)
{
    cdns_k8s_conn_t c;
    char err[256] = "";
    ck_assert_int_eq(cdns_k8s_kubeconfig_load(KC, "prod", &c, err, sizeof(err)), CDNS_OK);
    /* The trailing '/' goes, so request paths can be appended. */
    ck_assert_str_eq(c.server, "https://10.0.0.1:6443");
    /* Relative paths are taken from the kubeconfig's directory, as kubectl does. */
    ck_assert_str_eq(c.ca_file, "tests/unit/k8s/data/pki/ca.crt");
    ck_assert_str_eq(c.token_file, "/var/run/secrets/token");
    ck_assert_ptr_null(c.token);
    cdns_k8s_conn_deinit(&c);

    ck_assert_int_eq(cdns_k8s_kubeconfig_load(KC, "lab", &c, err, sizeof(err)), CDNS_OK);
    ck_assert_str_eq(c.server, "http://127.0.0.1:8080");
    ck_assert(c.insecure);
    ck_assert_str_eq(c.token, "s3cr3t-token");
    cdns_k8s_conn_deinit(&c);
}
END_TEST

START_TEST(test_errors)
{
    cdns_k8s_conn_t c;
    char err[256] = "";
    ck_assert_int_eq(cdns_k8s_kubeconfig_load(KC, "nope", &c, err, sizeof(err)), CDNS_EINVAL);
    ck_assert_msg(strstr(err, "context \"nope\" not found"), "%s", err);
    ck_assert_int_eq(cdns_k8s_kubeconfig_load(KC, "broken", &c, err, sizeof(err)), CDNS_EINVAL);
    ck_assert_msg(strstr(err, "cluster \"missing\""), "%s", err);
    ck_assert_int_eq(cdns_k8s_kubeconfig_load(KC, "execctx", &c, err, sizeof(err)), CDNS_EINVAL);
    ck_assert_msg(strstr(err, "exec"), "%s", err);
    ck_assert_int_eq(cdns_k8s_kubeconfig_load(K8S_DATA_DIR "kubeconfig_bad.yaml", NULL, &c, err, sizeof(err)),
                     CDNS_EINVAL);
    ck_assert_msg(strstr(err, "line"), "%s", err);
    ck_assert_int_eq(cdns_k8s_kubeconfig_load(K8S_DATA_DIR "absent.yaml", NULL, &c, err, sizeof(err)), CDNS_EINVAL);
    ck_assert_msg(strstr(err, "absent.yaml"), "%s", err);
    /* A token never shows up in an error message. */
    ck_assert_ptr_null(strstr(err, "s3cr3t"));
}
END_TEST

START_TEST(test_incluster)
{
    char dir[] = "/tmp/cdns-sa-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/token", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("tok\n", f);
    fclose(f);
    cdns_k8s_conn_t c;
    char err[256] = "";
    unsetenv("KUBERNETES_SERVICE_HOST");
    ck_assert_int_eq(cdns_k8s_conn_incluster(dir, &c, err, sizeof(err)), CDNS_EINVAL);
    ck_assert_msg(strstr(err, "KUBERNETES_SERVICE_HOST"), "%s", err);
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    ck_assert_int_eq(cdns_k8s_conn_incluster(dir, &c, err, sizeof(err)), CDNS_OK);
    ck_assert_str_eq(c.server, "https://10.96.0.1:443");
    ck_assert_str_eq(c.token_file, path);
    snprintf(path, sizeof(path), "%s/ca.crt", dir);
    ck_assert_str_eq(c.ca_file, path);
    cdns_k8s_conn_deinit(&c);
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    ck_assert_int_eq(cdns_k8s_conn_incluster(dir, &c, err, sizeof(err)), CDNS_OK);
    ck_assert_str_eq(c.server, "https://[fd00::1]:443");
    cdns_k8s_conn_deinit(&c);
    /* No token file: the service account is not mounted. */
    snprintf(path, sizeof(path), "%s/token", dir);
    unlink(path);
    ck_assert_int_eq(cdns_k8s_conn_incluster(dir, &c, err, sizeof(err)), CDNS_EINVAL);
    rmdir(dir);
}
END_TEST

START_TEST(test_base64)
{
    char *out;
    size_t n;
    ck_assert_int_eq(cdns_k8s_base64_decode("aGVsbG8gd29ybGQ=", &out, &n), CDNS_OK);
    ck_assert_str_eq(out, "hello world");
    ck_assert_uint_eq(n, 11);
    free(out);
    ck_assert_int_eq(cdns_k8s_base64_decode("aGVs\nbG8=\n", &out, &n), CDNS_OK);
    ck_assert_str_eq(out, "hello");
    free(out);
    ck_assert_int_eq(cdns_k8s_base64_decode("", &out, &n), CDNS_OK);
    ck_assert_uint_eq(n, 0);
    free(out);
    ck_assert_int_eq(cdns_k8s_base64_decode("a*b", &out, &n), CDNS_EMALFORMED);
}
END_TEST

static Suite *kubeconfig_suite(void)
{
    Suite *s = suite_create("k8s_kubeconfig");
    TCase *tc = tcase_create("kubeconfig");
    tcase_add_test(tc, test_current_context_data);
    tcase_add_test(tc, test_named_context_paths);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_incluster);
    tcase_add_test(tc, test_base64);
    suite_add_tcase(s, tc);
    return s;
}

CDNS_TEST_MAIN(kubeconfig_suite)
