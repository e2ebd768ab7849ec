/* dot_svg.c: `cnnc info --dot FILE --dot-format svg`, the picture of
 * ir/dot.c drawn by Graphviz.
 *
 * Takes a Graph and the path the user gave (- for stdout); writes the DOT
 * text to a temporary file and runs `dot -Tsvg` on it, found on PATH, so
 * cnnc itself links no Graphviz. The SVG appears whole or not at all: dot
 * writes beside FILE and the result is renamed onto it. Without dot, the
 * error says how to install it. */
#define _POSIX_C_SOURCE 200809L
#include "../cnnc.h"

#include <errno.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The DOT text in a new temporary file; its path (free it), or NULL. */
static char *write_dot_temp(const Graph *g)
{
    const char *dir = getenv("TMPDIR");
    char *path = xasprintf("%s/cnnc-dot-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f) {
        graph_dot(g, f);
        if (fclose(f) == 0)
            return path;
    } else if (fd >= 0)
        close(fd);
    diag_error((Loc){path, 0, 0}, "cannot write a temporary file: %s", strerror(errno));
    unlink(path);
    free(path);
    return NULL;
}

/* Runs dot -Tsvg on dot_path, writing out_path (NULL: stdout). */
static bool run_dot(const char *dot_path, const char *out_path)
{
    char *argv[] = {"dot", "-Tsvg", (char *)dot_path, out_path ? "-o" : NULL,
                    (char *)out_path, NULL};
    pid_t pid;
    int status = 0;
    fflush(stdout); /* the table before the picture */
    int rc = posix_spawnp(&pid, "dot", NULL, NULL, argv, environ);
    if (rc != 0) {
        diag_error((Loc){0},
                   "--dot-format svg runs Graphviz's 'dot', which cannot be run: %s (install "
                   "graphviz, or write DOT text with --dot-format dot)",
                   strerror(rc));
        return false;
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        diag_error((Loc){0}, "Graphviz's 'dot' failed on the model's graph");
        return false;
    }
    return true;
}

bool dot_write_svg(const Graph *g, const char *out)
{
    bool to_stdout = strcmp(out, "-") == 0;
    char *dot = write_dot_temp(g);
    if (!dot)
        return false;
    char *tmp = to_stdout ? NULL : xasprintf("%s.tmp-cnnc", out);
    FILE *probe = tmp ? fopen(tmp, "w") : NULL; /* an unwritable FILE, named as such */
    if (tmp && !probe)
        diag_error((Loc){out, 0, 0}, "cannot write: %s", strerror(errno));
    if (probe)
        fclose(probe);
    bool ok = (!tmp || probe) && run_dot(dot, tmp);
    if (ok && tmp && rename(tmp, out) != 0) {
        diag_error((Loc){out, 0, 0}, "cannot write: %s", strerror(errno));
        ok = false;
    }
    if (tmp && !ok)
        unlink(tmp);
    unlink(dot);
    free(dot);
    free(tmp);
    return ok;
}
