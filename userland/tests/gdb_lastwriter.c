/* For the reverse-execution tests and docs: who wrote the shared word
 * last? The parent maps one page at two addresses (0x40000000 and
 * 0x60000000) and writes the word at offset 4 through 0x40000004; its
 * forked child writes the same word through 0x60000004 and exits; the
 * parent waits and prints the word. */
#include "ia32k.h"

#define KEY 0x7777

volatile int *mine;             /* the page at 0x40000000 */
volatile int *view;             /* the same page at 0x60000000 */

int main(int arg)
{
    int id = shm_create(KEY, 4096, 0600);
    mine = shm_attach(id, (void *)0x40000000, 0);
    view = shm_attach(id, (void *)0x60000000, 0);
    CHECK(mine == (void *)0x40000000 && view == (void *)0x60000000);
    mine[1] = 0x1111;           /* the parent, through 0x40000004 */
    int pid = fork();
    if (pid == 0) {
        view[1] = 0x2222;       /* the child, through 0x60000004 */
        exit(0);
    }
    int status = -1;
    CHECK_EQ(wait(pid, &status), pid);
    printf("word %x\n", view[1]);
    return status;
}
