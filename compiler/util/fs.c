/* fs.c: file-system helpers the commands share. */
#include "../cnnc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
