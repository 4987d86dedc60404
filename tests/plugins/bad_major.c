/* Built for another ABI major: keeld must refuse it. */
#include "bad_common.h"
BAD_DESCRIPTOR(KEEL_PLUGIN_MAGIC, KEEL_ABI_MAJOR + 1, 0)
