/* A shared object that is not a plugin: it exports no `agora_plugin`. */
#include <agora/plugin.h>

AG_PLUGIN_EXPORT const struct ag_plugin not_the_descriptor = {
    .abi_version = AG_PLUGIN_ABI_VERSION,
    .size = sizeof(struct ag_plugin),
    .name = "no_symbol",
};
