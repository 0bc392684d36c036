// W^X: a page is writable or executable, never both. The program writes
// machine code into a page it owns (writable, not executable), flips the
// page to read+execute with mprotect, and calls the code. Under
// `--paging pae` a jump into the page before the flip faults (NX); under
// 32-bit paging every readable page runs. After the flip, a store into
// the page faults: the program checks that in a child (fork), which dies
// of the page fault while the parent goes on.
// expect: exit 0 270
#include "ia32k.h"

static char page[8192] __attribute__((aligned(4096)));

/* mov eax, imm32; ret */
static void emit_return(char *code, u32 value)
{
    code[0] = (char)0xB8;
    memcpy(code + 1, &value, 4);
    code[5] = (char)0xC3;
}

int main(int arg)
{
    (void)arg;
    char *code = page;
    emit_return(code, 42);
    CHECK_EQ(mprotect(code, 4096, PROT_READ | PROT_EXEC), 0);
    int (*fn)(void) = (int (*)(void))code;
    int r = fn();
    printf("wx: the code written into %p returned %d\n", code, r);
    CHECK_EQ(r, 42);
    CHECK_EQ(mprotect(code, 4096, PROT_READ | PROT_WRITE), 0);
    emit_return(code, 7);                /* writable again: new code */
    CHECK_EQ(mprotect(code, 4096, PROT_READ | PROT_EXEC), 0);
    r = fn();
    printf("wx: rewritten, it returns %d\n", r);
    CHECK_EQ(r, 7);
    int pid = fork();
    if (pid == 0) {
        code[0] = 0;                     /* read+execute: a store faults */
        exit(1);
    }
    int status = -1;
    CHECK_EQ(wait(pid, &status), pid);
    printf("wx: a store into the code page killed the child: status %d\n",
           status);
    return status == 270 ? 0 : 1;
}
