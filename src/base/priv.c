/* SPDX-License-Identifier: MIT */
/* priv.c — least privilege: from root to an unprivileged user that keeps CAP_NET_BIND_SERVICE.
 *
 * Called once by main() on the main thread after every socket is bound. glibc applies
 * setgroups/setgid/setuid to every thread of the process; capabilities are per thread, so the
 * threads already running (workers, HTTP) lose all of them with the uid change, and only the
 * main thread keeps CAP_NET_BIND_SERVICE: a reload that moves a listener to port 53 binds from
 * there, and threads it starts inherit that one capability. No libcap: the raw capset(2) call.
 */
#include "cdns/base.h"

#include <ctype.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, const char *what, int e)
{
    snprintf(err, errlen, "%s: %s", what, strerror(e));
    return e > 0 ? -e : CDNS_EINVAL;
}

/* "nobody" or "65534": the uid and its primary group (a bare number without a password entry
 * uses the same number as gid, as setpriv does). */
static int lookup(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
    bool numeric = *user != '\0';
    for (const char *p = user; *p; p++)
        numeric = numeric && isdigit((unsigned char)*p);
    struct passwd *pw = numeric ? getpwuid((uid_t)strtoul(user, NULL, 10)) : getpwnam(user);
    if (pw != NULL) {
        *uid = pw->pw_uid;
        *gid = pw->pw_gid;
        return CDNS_OK;
    }
    if (numeric) {
        *uid = (uid_t)strtoul(user, NULL, 10);
        *gid = (gid_t)*uid;
        return CDNS_OK;
    }
    snprintf(err, errlen, "-user %s: no such user", user);
    return CDNS_ENOENT;
}

int cdns_priv_drop(const char *user, char *err, size_t errlen)
{
    uid_t uid;
    gid_t gid;
    if (geteuid() != 0)
        return CDNS_OK;
    int rc = lookup(user, &uid, &gid, err, errlen);
    if (rc != CDNS_OK)
        return rc;
    if (uid == 0)
        return CDNS_OK;

    /* The bounding set first (it needs CAP_SETPCAP, gone after setuid): nothing this process
     * or a child could ever execute may regain more than binding low ports. */
    for (int cap = 0; cap <= 63; cap++) {
        if (cap == CAP_NET_BIND_SERVICE)
            continue;
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0)
            break; /* past the kernel's last capability */
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0)
            return fail(err, errlen, "prctl(PR_CAPBSET_DROP)", errno);
    }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
        return fail(err, errlen, "prctl(PR_SET_KEEPCAPS)", errno);
    if (setgroups(0, NULL) != 0)
        return fail(err, errlen, "setgroups", errno);
    if (setresgid(gid, gid, gid) != 0)
        return fail(err, errlen, "setresgid", errno);
    if (setresuid(uid, uid, uid) != 0)
        return fail(err, errlen, "setresuid", errno);

    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    data[0].effective = data[0].permitted = 1u << CAP_NET_BIND_SERVICE;
    if (syscall(SYS_capset, &hdr, data) != 0)
        return fail(err, errlen, "capset", errno);
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0)
        return fail(err, errlen, "prctl(PR_SET_KEEPCAPS, 0)", errno);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return fail(err, errlen, "prctl(PR_SET_NO_NEW_PRIVS)", errno);
    /* Proof rather than trust: with root gone for good, these must fail. */
    if (setuid(0) == 0 || setgid(0) == 0) {
        snprintf(err, errlen, "-user %s: root could be regained after dropping it", user);
        return CDNS_EINVAL;
    }
    return CDNS_OK;
}
