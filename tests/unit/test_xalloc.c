#include "test.h"

#include "xalloc.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void
test_sizes(void)
{
    char *s = xstrdup(NULL), *t = xstrdup("abc");
    int *v = xcalloc(0, sizeof(int)), *w = xcalloc(4, sizeof(int));
    void *z = xmalloc(0);

    CHECK_EQ_STR(s, "");
    CHECK_EQ_STR(t, "abc");
    CHECK(v != NULL && z != NULL);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(w[i], 0);
    w = xrealloc(w, 1000 * sizeof(int));
    w[999] = 7;
    CHECK_EQ_INT(w[0] + w[999], 7);
    w = xrealloc(w, 0); /* a distinct pointer, never NULL */
    CHECK(w != NULL);
    free(s);
    free(t);
    free(v);
    free(w);
    free(z);
}

/* An allocation that cannot be met ends the process with SIGABRT and a
 * message on stderr. */
static void
test_out_of_memory(void)
{
    int fds[2], status;
    char msg[128] = "";
    ssize_t n;
    pid_t pid;

    CHECK_EQ_INT(pipe(fds), 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        signal(SIGABRT, SIG_DFL);
        (void)xmalloc(SIZE_MAX / 2);
        _exit(0);
    }
    close(fds[1]);
    n = read(fds[0], msg, sizeof(msg) - 1);
    msg[n > 0 ? n : 0] = '\0';
    close(fds[0]);
    CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
#ifdef __SANITIZE_ADDRESS__
    /* ASan refuses the size itself, with its own report. */
    CHECK(!WIFEXITED(status) || WEXITSTATUS(status) != 0);
#else
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    CHECK(strstr(msg, "agora: out of memory (allocating ") == msg);
#endif
}

TEST_LIST(TEST_ENTRY(sizes), TEST_ENTRY(out_of_memory));
TEST_MAIN()
