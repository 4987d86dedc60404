/*
 * dedup.c — the in-memory dedup index of one queue: a dedup id's 64-bit
 * fingerprint -> where its dedup-log record is, (enqueued_at, seq).
 * Rebuilt from the time-ordered dedup log at start; only the writer thread
 * touches it.
 *
 * Neither the dedup id nor the message id is kept in memory (24 bytes a
 * slot, no allocation per entry): a fingerprint match is verified by
 * reading its log record in the caller's txn, so two ids that share a
 * fingerprint are both kept and never taken for one another.
 *
 * The table is open addressing: linear probing in Robin Hood order, with
 * backward-shift deletion, so a miss stops as soon as it passes the slots
 * its fingerprint could be in. A fingerprint's home slot is its top 32 bits
 * scaled to the capacity, which need not be a power of two: the table
 * grows by a third when 4/5 full, which keeps 30-40 bytes per live entry
 * (a doubling table would swing between 30 and 60).
 *
 * Changes made inside a write txn are recorded as undo entries so that an
 * aborted txn leaves the index as the last commit left it. Slots move
 * (an insertion shifts its run, a deletion shifts it back, growth
 * rehashes), so an undo entry names its slot by (fingerprint, seq): seqs
 * are unique.
 */
#include "queue_lmdb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum {
    MIN_CAPACITY = 64,
    MAX_LOAD_FIFTHS = 4, /* grow past 4/5 full ... */
    MIN_LOAD_FIFTHS = 1, /* ... shrink below 1/5 */
};

static const size_t NO_SLOT = (size_t)-1;

static uint64_t rotl64(uint64_t x, unsigned r)
{
    return (x << r) | (x >> (64 - r));
}

/* Murmur3's 64-bit block step, 8 bytes at a time, then its finalizer
 * (every input bit reaches every output bit). */
uint64_t dedup_hash(const char *key, size_t len)
{
    const uint64_t c1 = 0x87c37b91114253d5u, c2 = 0x4cf5ad432745937fu;
    const unsigned char *p = (const unsigned char *)key;
    uint64_t h = 0x9e3779b97f4a7c15u, k;
    size_t left = len;
    for (; left >= 8; p += 8, left -= 8) {
        memcpy(&k, p, 8);
        h ^= rotl64(k * c1, 31) * c2;
        h = rotl64(h, 27) * 5 + 0x52dce729;
    }
    k = 0;
    memcpy(&k, p, left);
    h ^= rotl64(k * c1, 31) * c2;
    h ^= len;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    h ^= h >> 33;
    return h;
}

static uint64_t fingerprint(const ql_dedup_t *index, const char *key, size_t len)
{
    uint64_t fp = (index->hash ? index->hash : dedup_hash)(key, len);
    return fp ? fp : 1; /* 0 marks an empty slot */
}

/* Capacities stay below 2^32, so the product fits. */
static size_t home(size_t capacity, uint64_t fp)
{
    return (size_t)(((fp >> 32) * (uint64_t)capacity) >> 32);
}

/* How far slot `i` is past the home of `fp`, wrapping at the end. */
static size_t distance(size_t capacity, size_t i, uint64_t fp)
{
    size_t from = home(capacity, fp);
    return i >= from ? i - from : i + capacity - from;
}

static size_t next(size_t capacity, size_t i)
{
    return i + 1 == capacity ? 0 : i + 1;
}

/* Robin Hood: an entry takes the slot of one nearer its home, which moves
 * on. The caller made room. */
static void place(ql_dedup_t *index, ql_dedup_slot_t entry)
{
    size_t capacity = index->capacity;
    size_t i = home(capacity, entry.fingerprint);
    for (size_t d = 0;; i = next(capacity, i), d++) {
        ql_dedup_slot_t *slot = &index->slots[i];
        if (slot->fingerprint == 0) {
            *slot = entry;
            index->count++;
            return;
        }
        size_t slot_d = distance(capacity, i, slot->fingerprint);
        if (slot_d < d) {
            ql_dedup_slot_t moved = *slot;
            *slot = entry;
            entry = moved;
            d = slot_d;
        }
    }
}

/* The slots that may hold `fp`, in order: call with *i = NO_SLOT first;
 * false when there are no more. */
static bool next_match(const ql_dedup_t *index, uint64_t fp, size_t *i, size_t *d)
{
    size_t capacity = index->capacity;
    if (index->count == 0)
        return false;
    if (*i == NO_SLOT) {
        *i = home(capacity, fp);
        *d = 0;
    } else {
        *i = next(capacity, *i);
        ++*d;
    }
    for (;; *i = next(capacity, *i), ++*d) {
        const ql_dedup_slot_t *slot = &index->slots[*i];
        /* Robin Hood order: past an entry nearer its home, fp cannot be. */
        if (slot->fingerprint == 0 || distance(capacity, *i, slot->fingerprint) < *d)
            return false;
        if (slot->fingerprint == fp)
            return true;
    }
}

/* The slot of the entry (fp, seq), or NO_SLOT. */
static size_t locate(const ql_dedup_t *index, uint64_t fp, uint64_t seq)
{
    size_t i = NO_SLOT, d;
    while (next_match(index, fp, &i, &d))
        if (index->slots[i].seq == seq)
            return i;
    return NO_SLOT;
}

/* Backward shift: the entries after `i` that are not home move back one. */
static void delete_at(ql_dedup_t *index, size_t i)
{
    size_t capacity = index->capacity;
    for (size_t j = next(capacity, i);
         index->slots[j].fingerprint != 0 && distance(capacity, j, index->slots[j].fingerprint) > 0;
         i = j, j = next(capacity, j))
        index->slots[i] = index->slots[j];
    index->slots[i] = (ql_dedup_slot_t){0};
    index->count--;
}

static int rehash(ql_dedup_t *index, size_t capacity)
{
    if (capacity > UINT32_MAX)
        return ENOMEM;
    ql_dedup_slot_t *slots = calloc(capacity, sizeof *slots);
    if (slots == NULL)
        return ENOMEM;
    ql_dedup_t rehashed = {.slots = slots, .capacity = capacity, .hash = index->hash};
    for (size_t i = 0; i < index->capacity; i++)
        if (index->slots[i].fingerprint != 0)
            place(&rehashed, index->slots[i]);
    free(index->slots);
    *index = rehashed;
    return 0;
}

void dedup_free(ql_dedup_t *index)
{
    free(index->slots);
    *index = (ql_dedup_t){.hash = index->hash};
}

/* Reads the log record of `slot`: 0 when it holds `key`, MDB_NOTFOUND when
 * it holds another id (or is gone), or an LMDB error. */
static int verify(const ql_dedup_log_t *log, const ql_dedup_slot_t *slot, const char *key,
                  size_t key_len, ql_dedup_hit_t *hit)
{
    uint8_t log_key[16];
    key_time_seq(log_key, slot->enqueued_at_ms, slot->seq);
    MDB_val k = {sizeof log_key, log_key}, v;
    int rc = mdb_get(log->txn, log->dbi, &k, &v);
    if (rc != 0)
        return rc;
    const char *value = v.mv_data;
    if (v.mv_size != KEEL_ID_LEN + key_len || memcmp(value + KEEL_ID_LEN, key, key_len) != 0)
        return MDB_NOTFOUND;
    hit->enqueued_at_ms = slot->enqueued_at_ms;
    hit->seq = slot->seq;
    memcpy(hit->message_id, value, KEEL_ID_LEN);
    hit->message_id[KEEL_ID_LEN] = '\0';
    return 0;
}

int dedup_find(ql_dedup_t *index, const ql_dedup_log_t *log, const char *key, ql_dedup_hit_t *hit)
{
    if (index->count == 0)
        return MDB_NOTFOUND;
    size_t len = strlen(key);
    uint64_t fp = fingerprint(index, key, len);
    size_t i = NO_SLOT, d;
    while (next_match(index, fp, &i, &d)) {
        int rc = verify(log, &index->slots[i], key, len, hit);
        if (rc != MDB_NOTFOUND)
            return rc; /* found, or the log could not be read */
    }
    return MDB_NOTFOUND;
}

int dedup_put(ql_dedup_t *index, const char *key, const ql_dedup_hit_t *existing, uint64_t at_ms,
              uint64_t seq, ql_dedup_undo_t *undo)
{
    uint64_t fp = fingerprint(index, key, strlen(key));
    size_t i = existing ? locate(index, fp, existing->seq) : NO_SLOT;
    if (i != NO_SLOT) {
        ql_dedup_slot_t *slot = &index->slots[i];
        if (undo)
            *undo = (ql_dedup_undo_t){.index = index,
                                      .fingerprint = fp,
                                      .seq = seq,
                                      .existed = true,
                                      .old_at_ms = slot->enqueued_at_ms,
                                      .old_seq = slot->seq};
        slot->enqueued_at_ms = at_ms;
        slot->seq = seq;
        return 0;
    }
    if ((index->count + 1) * 5 > index->capacity * MAX_LOAD_FIFTHS) {
        size_t capacity =
            index->capacity < MIN_CAPACITY ? MIN_CAPACITY : index->capacity + index->capacity / 3;
        int rc = rehash(index, capacity);
        if (rc != 0)
            return rc;
    }
    place(index, (ql_dedup_slot_t){.fingerprint = fp, .seq = seq, .enqueued_at_ms = at_ms});
    if (undo)
        *undo = (ql_dedup_undo_t){.index = index, .fingerprint = fp, .seq = seq, .existed = false};
    return 0;
}

void dedup_undo(const ql_dedup_undo_t *undo)
{
    ql_dedup_t *index = undo->index;
    size_t i = locate(index, undo->fingerprint, undo->seq);
    if (i == NO_SLOT)
        return;
    if (!undo->existed) {
        delete_at(index, i);
        return;
    }
    index->slots[i].enqueued_at_ms = undo->old_at_ms;
    index->slots[i].seq = undo->old_seq;
}

void dedup_remove_if(ql_dedup_t *index, const char *key, uint64_t seq)
{
    size_t i = locate(index, fingerprint(index, key, strlen(key)), seq);
    if (i == NO_SLOT)
        return;
    delete_at(index, i);
    /* Give memory back after a burst; the table left is 3/5 full. A failed
     * rehash keeps the larger table. */
    if (index->capacity > MIN_CAPACITY && index->count * 5 < index->capacity * MIN_LOAD_FIFTHS) {
        size_t capacity = index->count * 5 / 3 + 1;
        (void)rehash(index, capacity < MIN_CAPACITY ? MIN_CAPACITY : capacity);
    }
}
