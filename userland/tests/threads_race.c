/* --races between threads of one process, on a word of a shm segment.
   arg 0: two threads add to the word with a plain load and store: a race.
   arg 1: main writes, creates the thread, which writes, then main joins it
   and reads: create and join order every access, no race. arg 2: as 0,
   on a private global of the process (its threads share it). */
#include "ia32k.h"

static char stacks[2][4096];
static volatile u32 *word;
static volatile u32 global;

static int add(void *arg)
{
    (void)arg;
    for (int i = 0; i < 200; i++) {
        u32 v = *word;
        *word = v + 1;
    }
    return 0;
}

int main(int arg)
{
    if (arg == 2) {
        word = &global;
        int a = thread_create(add, 0, stacks[0], 4096);
        int b = thread_create(add, 0, stacks[1], 4096);
        thread_join(a, 0);
        thread_join(b, 0);
        return 0;
    }
    int id = shm_create(0, 4096, 0600);
    word = shm_attach(id, 0, 0);
    CHECK(!is_err((int)word));
    shm_destroy(id);
    if (arg == 0) {
        int a = thread_create(add, 0, stacks[0], 4096);
        int b = thread_create(add, 0, stacks[1], 4096);
        thread_join(a, 0);
        thread_join(b, 0);
        return 0;
    }
    *word = 5;
    int t = thread_create(add, 0, stacks[0], 4096);
    thread_join(t, 0);
    return *word == 205 ? 0 : 1;
}
