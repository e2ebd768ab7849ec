/* fs.c: file-system helpers the commands share: folders made on the way,
 * outputs written whole or not at all. */
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

static bool write_temp(OutFile *f)
{
    f->tmp = xasprintf("%s.tmp-XXXXXX", f->path);
    int fd = mkstemp(f->tmp);
    if (fd < 0) {
        diag_error((Loc){f->path, 0, 0}, "cannot write: %s", strerror(errno));
        free(f->tmp);
        f->tmp = NULL;
        return false;
    }
    /* mkstemp makes the file 0600; an output is an ordinary file (umask). */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    FILE *fp = fdopen(fd, "wb");
    bool ok = fp && fwrite(f->data, 1, f->size, fp) == f->size;
    if (fp)
        ok = (fclose(fp) == 0) && ok;
    else
        close(fd);
    if (!ok)
        diag_error((Loc){f->path, 0, 0}, "cannot write: %s", strerror(errno));
    return ok;
}

bool write_files(OutFile *files, int n)
{
    bool ok = true;
    for (int i = 0; i < n && ok; i++)
        ok = write_temp(&files[i]);
    for (int i = 0; i < n && ok; i++)
        if (rename(files[i].tmp, files[i].path) != 0) {
            diag_error((Loc){files[i].path, 0, 0}, "cannot write: %s", strerror(errno));
            ok = false;
        }
    for (int i = 0; i < n; i++) {
        if (files[i].tmp && !ok)
            remove(files[i].tmp);
        free(files[i].tmp);
        files[i].tmp = NULL;
    }
    return ok;
}
