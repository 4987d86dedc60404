/*
 * timers.h — one thread running a libevent loop for every plugin timer.
 * Timers belong to an owner (a plugin instance) so the kernel can cancel
 * them all when the instance stops.
 */
#ifndef KEEL_KERNEL_TIMERS_H
#define KEEL_KERNEL_TIMERS_H

#include <keel/keel.h>

typedef struct timers timers_t;
typedef struct timer_owner timer_owner_t;

timers_t *timers_start(void); /* NULL on failure */
/* Cancels every timer, stops the loop, joins the thread, frees. */
void timers_stop(timers_t *timers);

timer_owner_t *timer_owner_new(timers_t *timers);
/* Cancels the owner's timers and refuses new ones. Needs the timer
 * thread's base: call before timers_stop(). Handles stay valid (cancelling
 * them is a no-op) until timer_owner_free(). Idempotent. */
void timer_owner_close(timer_owner_t *owner);
/* Closes if needed, then frees the owner and every handle. */
void timer_owner_free(timer_owner_t *owner);

/*
 * fn(arg) after delay_ms, then every interval_ms if not 0 (both at most 100
 * years; a repeating timer that falls far behind skips the missed runs). A one-shot timer
 * added with out == NULL frees itself after firing; with out != NULL it
 * stays until timer_cancel() or the owner closes.
 * 0, KEEL_EINVAL, KEEL_ESHUTDOWN (owner closed), KEEL_ENOMEM.
 */
int timer_add(timer_owner_t *owner, uint64_t delay_ms, uint64_t interval_ms, keel_timer_fn fn,
              void *arg, keel_timer_t **out);
/* Once this returns the callback is not running (unless called from that
 * very callback) and will not run again. */
void timer_cancel(keel_timer_t *timer);

#endif
