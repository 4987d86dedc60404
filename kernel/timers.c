/* timers.c — see timers.h.
 *
 * Every timer is a one-shot libevent event that re-arms itself after each
 * firing, aiming at its schedule (not "now + interval") so repeating timers
 * do not drift. With libevent's pthread locking, event_del() from another
 * thread waits for a running callback to return: that is what makes
 * timer_cancel() and timer_owner_close() safe to free afterwards.
 */
#include "timers.h"

#include "clock.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct timers {
    struct event_base *base;
    struct event *stop; /* activated by timers_stop() */
    pthread_t thread;
};

struct timer_owner {
    timers_t *timers;
    pthread_mutex_t lock;
    keel_timer_t *head; /* live timers, doubly linked */
    keel_timer_t *dead; /* closed timers whose handle a plugin may still hold */
    bool closed;
};

struct keel_timer {
    timer_owner_t *owner;
    struct event *event;
    keel_timer_fn fn;
    void *arg;
    uint64_t interval_ms;
    uint64_t next_due_ms; /* monotonic */
    bool self_freeing;    /* one-shot without a handle */
    bool cancelled;       /* cancelled from inside its own callback */
    bool linked;          /* on owner->head (under owner->lock) */
    keel_timer_t *prev, *next;
};

static _Thread_local keel_timer_t *firing_timer;

static struct timeval timeval_from_ms(uint64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

static void *timer_thread_main(void *arg)
{
    timers_t *timers = arg;
    pthread_setname_np(pthread_self(), "keel-timers");
    event_base_loop(timers->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

/* Runs on the timer thread. A loopbreak from another thread could be lost
 * if it came before the loop started (the loop clears the flag); an
 * activated event cannot. */
static void stop_loop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    event_base_loopbreak(arg);
}

static void enable_libevent_threads(void)
{
    evthread_use_pthreads();
}

timers_t *timers_start(void)
{
    /* libevent's locking is process-wide and must be enabled before any
     * event_base exists: the base is touched from many threads. */
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, enable_libevent_threads);

    timers_t *timers = calloc(1, sizeof *timers);
    if (timers == NULL)
        return NULL;
    /* libevent uses the coarse monotonic clock by default (4 ms steps
     * here), so timers could fire a few ms early: ask for the precise one. */
    struct event_config *config = event_config_new();
    if (config) {
        event_config_set_flag(config, EVENT_BASE_FLAG_PRECISE_TIMER);
        timers->base = event_base_new_with_config(config);
        event_config_free(config);
    }
    if (timers->base)
        timers->stop = event_new(timers->base, -1, 0, stop_loop, timers->base);
    if (timers->stop == NULL ||
        pthread_create(&timers->thread, NULL, timer_thread_main, timers) != 0) {
        if (timers->stop)
            event_free(timers->stop);
        if (timers->base)
            event_base_free(timers->base);
        free(timers);
        return NULL;
    }
    return timers;
}

void timers_stop(timers_t *timers)
{
    if (timers == NULL)
        return;
    event_active(timers->stop, 0, 0);
    pthread_join(timers->thread, NULL);
    event_free(timers->stop);
    event_base_free(timers->base);
    free(timers);
}

timer_owner_t *timer_owner_new(timers_t *timers)
{
    timer_owner_t *owner = calloc(1, sizeof *owner);
    if (owner == NULL)
        return NULL;
    owner->timers = timers;
    pthread_mutex_init(&owner->lock, NULL);
    return owner;
}

static void unlink_timer(timer_owner_t *owner, keel_timer_t *timer)
{
    if (!timer->linked)
        return;
    if (timer->prev)
        timer->prev->next = timer->next;
    else
        owner->head = timer->next;
    if (timer->next)
        timer->next->prev = timer->prev;
    timer->prev = timer->next = NULL;
    timer->linked = false;
}

static void free_timer(keel_timer_t *timer)
{
    if (timer->event)
        event_free(timer->event);
    free(timer);
}

static void arm(keel_timer_t *timer)
{
    uint64_t now = monotonic_ms();
    struct timeval delay = timeval_from_ms(timer->next_due_ms > now ? timer->next_due_ms - now : 0);
    event_add(timer->event, &delay);
}

static void timer_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    keel_timer_t *timer = arg;
    firing_timer = timer;
    timer->fn(timer->arg);
    firing_timer = NULL;

    timer_owner_t *owner = timer->owner;
    pthread_mutex_lock(&owner->lock);
    if (owner->closed) {
        /* timer_owner_close, waiting in event_del for this callback, owns
         * the timer now. */
        pthread_mutex_unlock(&owner->lock);
        return;
    }
    bool done = timer->self_freeing || timer->cancelled;
    if (done) {
        unlink_timer(owner, timer);
    } else if (timer->interval_ms) {
        uint64_t now = monotonic_ms();
        timer->next_due_ms += timer->interval_ms;
        /* Far behind (a stalled loop): skip the missed runs instead of
         * firing them back to back. */
        if (timer->next_due_ms + timer->interval_ms < now)
            timer->next_due_ms = now;
        arm(timer);
    }
    pthread_mutex_unlock(&owner->lock);
    if (done)
        free_timer(timer);
}

/* Longest delay accepted: beyond it, "never" in practice (and no overflow). */
static const uint64_t max_delay_ms = 100ULL * 365 * 24 * 3600 * 1000;

int timer_add(timer_owner_t *owner, uint64_t delay_ms, uint64_t interval_ms, keel_timer_fn fn,
              void *arg, keel_timer_t **out)
{
    if (owner == NULL || fn == NULL || delay_ms > max_delay_ms || interval_ms > max_delay_ms)
        return KEEL_EINVAL;
    keel_timer_t *timer = calloc(1, sizeof *timer);
    if (timer == NULL)
        return KEEL_ENOMEM;
    timer->owner = owner;
    timer->fn = fn;
    timer->arg = arg;
    timer->interval_ms = interval_ms;
    timer->self_freeing = interval_ms == 0 && out == NULL;
    timer->next_due_ms = monotonic_ms() + delay_ms;
    timer->event = event_new(owner->timers->base, -1, 0, timer_fire, timer);
    if (timer->event == NULL) {
        free(timer);
        return KEEL_ENOMEM;
    }

    pthread_mutex_lock(&owner->lock);
    if (owner->closed) {
        pthread_mutex_unlock(&owner->lock);
        free_timer(timer);
        return KEEL_ESHUTDOWN;
    }
    timer->next = owner->head;
    if (owner->head)
        owner->head->prev = timer;
    owner->head = timer;
    timer->linked = true;
    if (out)
        *out = timer; /* before arming: a 0 ms timer may fire at once */
    arm(timer);
    pthread_mutex_unlock(&owner->lock);
    return 0;
}

void timer_cancel(keel_timer_t *timer)
{
    if (timer == NULL)
        return;
    if (firing_timer == timer) {
        timer->cancelled = true; /* timer_fire frees it on return */
        return;
    }
    timer_owner_t *owner = timer->owner;
    pthread_mutex_lock(&owner->lock);
    /* After close the handle stays valid (freed with the owner) and
     * cancelling it does nothing. */
    bool mine = !owner->closed && timer->linked;
    unlink_timer(owner, timer);
    pthread_mutex_unlock(&owner->lock);
    if (!mine)
        return;
    /* Waits for a running callback; whatever it re-armed is removed too. */
    event_del(timer->event);
    free_timer(timer);
}

void timer_owner_close(timer_owner_t *owner)
{
    if (owner == NULL)
        return;
    pthread_mutex_lock(&owner->lock);
    if (owner->closed) {
        pthread_mutex_unlock(&owner->lock);
        return;
    }
    owner->closed = true;
    keel_timer_t *list = owner->head;
    owner->head = NULL;
    for (keel_timer_t *t = list; t; t = t->next)
        t->linked = false;
    pthread_mutex_unlock(&owner->lock);
    while (list) {
        keel_timer_t *next = list->next;
        event_del(list->event); /* waits for its callback, if running */
        event_free(list->event);
        list->event = NULL;
        if (list->self_freeing) {
            free(list);
        } else {
            list->next = owner->dead;
            owner->dead = list;
        }
        list = next;
    }
}

void timer_owner_free(timer_owner_t *owner)
{
    if (owner == NULL)
        return;
    timer_owner_close(owner);
    while (owner->dead) {
        keel_timer_t *next = owner->dead->next;
        free(owner->dead);
        owner->dead = next;
    }
    pthread_mutex_destroy(&owner->lock);
    free(owner);
}
