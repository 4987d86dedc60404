/* No init callback: the kernel must refuse it before calling anything. */
#include "bad_common.h"
KEEL_PLUGIN_DECLARE(.name = "bad_nullinit", .init = NULL, .destroy = bad_destroy);
