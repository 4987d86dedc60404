/* A shared object without the entry symbol. */
#include <keel/keel.h>
KEEL_EXPORT int not_a_keel_plugin(void);
KEEL_EXPORT int not_a_keel_plugin(void)
{
    return 42;
}
