/* timers.c — see timers.h.
 *
 * Every timer is a one-shot libevent event that re-arms itself after each
 * firing, aiming at its schedule (not "now + interval") so repeating timers
 * do not drift. With libevent's pthread locking, event_del() from another
 * thread waits for a running callback to return: that is what makes
 * timer_cancel() and timer_owner_close() safe to free afterwards.
 */
#include "timers.h"

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
    keel_timer_t *prev, *next;
};

static _Thread_local keel_timer_t *firing_timer;

static uint64_t monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}

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
    timers->base = event_base_new();
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
    if (timer->prev)
        timer->prev->next = timer->next;
    else
        owner->head = timer->next;
    if (timer->next)
        timer->next->prev = timer->prev;
    timer->prev = timer->next = NULL;
}

static void free_timer(keel_timer_t *timer)
{
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
    /* A closed owner frees its timers itself, after this callback. */
    bool done = !owner->closed && (timer->self_freeing || timer->cancelled);
    if (done)
        unlink_timer(owner, timer);
    else if (!owner->closed && timer->interval_ms) {
        timer->next_due_ms += timer->interval_ms;
        arm(timer);
    }
    pthread_mutex_unlock(&owner->lock);
    if (done)
        free_timer(timer);
}

int timer_add(timer_owner_t *owner, uint64_t delay_ms, uint64_t interval_ms, keel_timer_fn fn,
              void *arg, keel_timer_t **out)
{
    if (owner == NULL || fn == NULL)
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
    timer_owner_t *owner = timer->owner;
    if (firing_timer == timer) {
        timer->cancelled = true; /* timer_fire frees it on return */
        return;
    }
    event_del(timer->event); /* waits for a running callback */
    pthread_mutex_lock(&owner->lock);
    bool owned_by_close = owner->closed;
    if (!owned_by_close)
        unlink_timer(owner, timer);
    pthread_mutex_unlock(&owner->lock);
    if (!owned_by_close)
        free_timer(timer);
}

void timer_owner_close(timer_owner_t *owner)
{
    if (owner == NULL)
        return;
    pthread_mutex_lock(&owner->lock);
    owner->closed = true;
    keel_timer_t *list = owner->head;
    owner->head = NULL;
    pthread_mutex_unlock(&owner->lock);
    while (list) {
        keel_timer_t *next = list->next;
        event_del(list->event);
        free_timer(list);
        list = next;
    }
}

void timer_owner_free(timer_owner_t *owner)
{
    if (owner == NULL)
        return;
    timer_owner_close(owner);
    pthread_mutex_destroy(&owner->lock);
    free(owner);
}
