/* SPDX-License-Identifier: MIT */
/* registry.c — the table of directives built from plugins.def (chain order). Read-only. */
#include <string.h>

#include "cdns/plugin.h"

#define X(name, sym) extern const cdns_plugin_api_t sym;
#define U(name)
#include "plugins.def"
#undef X
#undef U

static const cdns_plugin_entry_t table[] = {
#define X(name, sym) {#name, &sym},
#define U(name) {#name, NULL},
#include "plugins.def"
#undef X
#undef U
};

const cdns_plugin_entry_t *cdns_plugins_all(size_t *n)
{
    *n = CDNS_ARRAY_LEN(table);
    return table;
}

const cdns_plugin_entry_t *cdns_plugin_find(const char *name)
{
    for (size_t i = 0; i < CDNS_ARRAY_LEN(table); i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}
