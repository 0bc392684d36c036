/* How a program that shares memory with its peers finds that memory, from
 * its spawn argument (bits 0-3: role, bit 4: by segment id, bits 5-11: a
 * small parameter, bits 12-31: an address or a segment id):
 *   premapped   arg = va | param << 5 | role: a harness
 *               (tools/bench/ipc_harness.py) mapped the same frames at va in every
 *               process before any of them ran;
 *   by segment  arg = id << 12 | SHARED_BY_ID | param << 5 | role: attach
 *               shm segment id wherever the kernel likes;
 *   launcher    arg = 0: create a segment, attach it, spawn the peers by
 *               segment (shared_create).
 * The peers' addresses differ in every case, so shared structures hold
 * offsets, never pointers. */
#ifndef IA32K_SHARED_ARG_H
#define IA32K_SHARED_ARG_H
#include "ia32k.h"

#define SHARED_BY_ID 0x10
#define ARG_ROLE(arg) ((arg) & 0xF)
#define ARG_PARAM(arg) (((u32)(arg) >> 5) & 0x7F)
#define SHARED_ARG(id, param, role) \
    ((int)((u32)(id) << 12 | SHARED_BY_ID | (u32)(param) << 5 | (role)))

/* The shared area named by a peer's arg, or 0 when it cannot be had. */
static inline void *shared_area(int arg)
{
    if (!(arg & SHARED_BY_ID))
        return (void *)((u32)arg & ~0xFFFu);
    void *a = shm_attach((u32)arg >> 12, 0, 0);
    return is_err((int)a) ? 0 : a;
}

/* Launcher: a new private segment of bytes, attached; its id in *id.
 * Without shared memory in the kernel it prints why and returns 0. */
static inline void *shared_create(u32 bytes, int *id)
{
    *id = shm_create(0, bytes, 0600);
    if (*id == -ENOSYS) {
        printf("skip: shm_create is not available (-ENOSYS)\n");
        return 0;
    }
    CHECK(*id > 0);
    void *a = shm_attach(*id, 0, 0);
    CHECK(!is_err((int)a));
    return a;
}

/* Launcher: detach and destroy what shared_create made. */
static inline void shared_release(void *area, int id)
{
    CHECK_EQ(shm_detach(area), 0);
    CHECK_EQ(shm_destroy(id), 0);
}
#endif
