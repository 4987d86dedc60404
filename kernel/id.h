/*
 * id.h — sortable unique ids (ULID layout: 48-bit millisecond timestamp,
 * 80 random bits, Crockford base32, 26 characters). Ids made by one thread
 * in the same millisecond increase strictly.
 */
#ifndef KEEL_KERNEL_ID_H
#define KEEL_KERNEL_ID_H

#include <keel/keel.h>

void id_new(uint64_t now_ms, char out[KEEL_ID_LEN + 1]);

/* id_new() stamped with the coarse real-time clock: ids sort by creation
 * time to within a few milliseconds across threads, strictly within one.
 * Cheap enough for every published message. */
void id_generate(char out[KEEL_ID_LEN + 1]);

#endif
