/*
 * dedup.c — the in-memory dedup index of one queue: dedup id -> the first
 * message's id, enqueue time and seq. Rebuilt from the time-ordered dedup
 * log at start; only the writer thread touches it.
 *
 * Changes made inside a write txn are recorded as undo entries so that an
 * aborted txn leaves the index as the last commit left it.
 */
#include "queue_lmdb.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_text(const char *text)
{
    uint64_t hash = 14695981039346656037u; /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)text; *c; c++)
        hash = (hash ^ *c) * 1099511628211u;
    return hash;
}

static int grow(ql_dedup_t *index)
{
    size_t count = index->bucket_count ? index->bucket_count * 2 : 64;
    ql_dedup_entry_t **buckets = calloc(count, sizeof *buckets);
    if (buckets == NULL)
        return KEEL_ENOMEM;
    for (size_t i = 0; i < index->bucket_count; i++) {
        ql_dedup_entry_t *entry = index->buckets[i];
        while (entry) {
            ql_dedup_entry_t *next = entry->next;
            size_t slot = hash_text(entry->key) & (count - 1);
            entry->next = buckets[slot];
            buckets[slot] = entry;
            entry = next;
        }
    }
    free(index->buckets);
    index->buckets = buckets;
    index->bucket_count = count;
    return 0;
}

void dedup_free(ql_dedup_t *index)
{
    for (size_t i = 0; i < index->bucket_count; i++) {
        ql_dedup_entry_t *entry = index->buckets[i];
        while (entry) {
            ql_dedup_entry_t *next = entry->next;
            free(entry);
            entry = next;
        }
    }
    free(index->buckets);
    memset(index, 0, sizeof *index);
}

ql_dedup_entry_t *dedup_find(ql_dedup_t *index, const char *key)
{
    if (index->bucket_count == 0)
        return NULL;
    ql_dedup_entry_t *entry = index->buckets[hash_text(key) & (index->bucket_count - 1)];
    while (entry && strcmp(entry->key, key) != 0)
        entry = entry->next;
    return entry;
}

static void unlink_entry(ql_dedup_t *index, ql_dedup_entry_t *target)
{
    ql_dedup_entry_t **link = &index->buckets[hash_text(target->key) & (index->bucket_count - 1)];
    while (*link && *link != target)
        link = &(*link)->next;
    if (*link) {
        *link = target->next;
        index->count--;
        free(target);
    }
}

int dedup_put(ql_dedup_t *index, const char *key, const char *message_id, uint64_t at_ms,
              uint64_t seq, ql_dedup_undo_t *undo)
{
    ql_dedup_entry_t *entry = dedup_find(index, key);
    if (entry) {
        if (undo) {
            *undo = (ql_dedup_undo_t){.index = index,
                                      .entry = entry,
                                      .existed = true,
                                      .old_at_ms = entry->enqueued_at_ms,
                                      .old_seq = entry->seq};
            memcpy(undo->old_message_id, entry->message_id, sizeof entry->message_id);
        }
    } else {
        if (index->count >= index->bucket_count / 2 * 3 && grow(index) < 0)
            return KEEL_ENOMEM;
        size_t key_len = strlen(key);
        entry = malloc(sizeof *entry + key_len + 1);
        if (entry == NULL)
            return KEEL_ENOMEM;
        memcpy(entry->key, key, key_len + 1);
        size_t slot = hash_text(key) & (index->bucket_count - 1);
        entry->next = index->buckets[slot];
        index->buckets[slot] = entry;
        index->count++;
        if (undo)
            *undo = (ql_dedup_undo_t){.index = index, .entry = entry, .existed = false};
    }
    entry->enqueued_at_ms = at_ms;
    entry->seq = seq;
    memcpy(entry->message_id, message_id, KEEL_ID_LEN);
    entry->message_id[KEEL_ID_LEN] = '\0';
    return 0;
}

void dedup_undo(const ql_dedup_undo_t *undo)
{
    if (!undo->existed) {
        unlink_entry(undo->index, undo->entry);
        return;
    }
    undo->entry->enqueued_at_ms = undo->old_at_ms;
    undo->entry->seq = undo->old_seq;
    memcpy(undo->entry->message_id, undo->old_message_id, sizeof undo->old_message_id);
}

void dedup_remove_if(ql_dedup_t *index, const char *key, uint64_t seq)
{
    ql_dedup_entry_t *entry = dedup_find(index, key);
    if (entry && entry->seq == seq)
        unlink_entry(index, entry);
}
