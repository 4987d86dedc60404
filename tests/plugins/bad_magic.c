/* Descriptor with the wrong magic: keeld must refuse it. */
#include "bad_common.h"
BAD_DESCRIPTOR(0x12345678U, KEEL_ABI_MAJOR, KEEL_ABI_MINOR)
