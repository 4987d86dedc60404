/* cors.c — see cors.h. */
#include "cors.h"

#include <string.h>
#include <strings.h>

bool cors_origin_allowed(const char *const *origins, size_t count, const char *origin)
{
    if (origin == NULL || *origin == '\0')
        return false;
    for (size_t i = 0; i < count; i++)
        if (strcmp(origins[i], "*") == 0 || strcasecmp(origins[i], origin) == 0)
            return true;
    return false;
}

bool cors_method_allowed(const char *methods, const char *method)
{
    size_t len = strlen(method);
    for (const char *p = methods; *p != '\0';) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *end = p;
        while (*end != '\0' && *end != ',' && *end != ' ')
            end++;
        if ((size_t)(end - p) == len && len > 0 && strncasecmp(p, method, len) == 0)
            return true;
        p = end;
    }
    return false;
}
