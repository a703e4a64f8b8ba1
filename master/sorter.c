#include "sorter.h"

#include <string.h>

static const struct sorter_ops *const sorters[] = {&sorter_drf, &sorter_random};

const struct sorter_ops *
sorter_find(const char *name)
{
    if (name == NULL || name[0] == '\0')
        return &sorter_drf;
    for (size_t i = 0; i < sizeof(sorters) / sizeof(sorters[0]); i++)
        if (strcmp(sorters[i]->name, name) == 0)
            return sorters[i];
    return NULL;
}
