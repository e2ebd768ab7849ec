/* fs.c: file-system helpers the commands share. */
#define _POSIX_C_SOURCE 200809L
#include "../cnnc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* mkdir -p: every missing folder on the way is created. */
bool make_dirs(const char *dir)
{
    char *path = xstrdup(dir);
    bool ok = true;
    for (char *p = path + 1; ok; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        struct stat st;
        if (mkdir(path, 0777) != 0 && !(errno == EEXIST && stat(path, &st) == 0 &&
                                         S_ISDIR(st.st_mode))) {
            diag_error((Loc){dir, 0, 0}, "cannot create the folder '%s': %s", path,
                       errno == EEXIST ? "a file of that name exists" : strerror(errno));
            ok = false;
        }
        *p = saved;
        if (saved == '\0')
            break;
    }
    free(path);
    return ok;
}

bool write_file_atomic(const char *path, const void *data, size_t size)
{
    char *tmp = xasprintf("%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    FILE *fp = fd >= 0 ? fdopen(fd, "wb") : NULL;
    bool ok = fp && fwrite(data, 1, size, fp) == size;
    if (fp)
        ok = fclose(fp) == 0 && ok;
    else if (fd >= 0)
        close(fd);
    if (fd >= 0) {
        /* mkstemp makes the file 0600; an output is an ordinary file. */
        mode_t mask = umask(0);
        umask(mask);
        ok = ok && chmod(tmp, 0666 & ~mask) == 0 && rename(tmp, path) == 0;
    }
    if (!ok) {
        diag_error((Loc){path, 0, 0}, "cannot write: %s", strerror(errno));
        if (fd >= 0)
            remove(tmp);
    }
    free(tmp);
    return ok;
}
