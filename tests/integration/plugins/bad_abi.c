/* A plugin built against a future, incompatible plugin ABI: the host must refuse it. */
#include <agora/plugin.h>

AG_PLUGIN_EXPORT const struct ag_plugin agora_plugin = {
    .abi_version = 99,
    .size = sizeof(struct ag_plugin),
    .name = "bad_abi",
};
