/* Needs a newer ABI minor than the host speaks: keeld must refuse it. */
#include "bad_common.h"
BAD_DESCRIPTOR(KEEL_PLUGIN_MAGIC, KEEL_ABI_MAJOR, KEEL_ABI_MINOR + 1)
