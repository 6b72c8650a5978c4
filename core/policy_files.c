/* Policy sets as lists of named sources: reading a script directory, adding files, checking names. */
#include "policy.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "strutil.h"

/* Policies are code; anything bigger is a mistake (and a ConfigMap could not hold it anyway). */
#define POLICY_FILE_MAX (1024 * 1024)

void policy_files_free(struct policy_files *files)
{
    if (!files)
        return;
    for (size_t i = 0; i < files->count; i++) {
        free(files->files[i].name);
        free(files->files[i].text);
    }
    free(files->files);
    files->files = NULL;
    files->count = 0;
}

int policy_files_add(struct policy_files *files, const char *name, const char *text, size_t len, char *err,
                     size_t errlen)
{
    struct policy_file *grown = realloc(files->files, (files->count + 1) * sizeof *grown);
    if (!grown) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    files->files = grown;
    struct policy_file *f = &files->files[files->count];
    f->name = strdup(name);
    f->text = malloc(len + 1);
    if (!f->name || !f->text) {
        free(f->name);
        free(f->text);
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    memcpy(f->text, text, len);
    f->text[len] = '\0';
    f->len = len;
    files->count++;
    return 0;
}

const char *policy_module_name(const char *file_name, size_t *len)
{
    const char *base = strrchr(file_name, '/');
    base = base ? base + 1 : file_name;
    size_t n = strlen(base);
    *len = n >= 4 && strcmp(base + n - 4, ".lua") == 0 ? n - 4 : n;
    return base;
}

/* Module names are what `require` accepts: letters, digits and _, so no name can reach outside the set. */
static int policy_files_name_ok(const char *m, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((m[i] >= 'a' && m[i] <= 'z') || (m[i] >= 'A' && m[i] <= 'Z') || (m[i] >= '0' && m[i] <= '9') ||
              m[i] == '_'))
            return 0;
    return 1;
}

int policy_files_check(const struct policy_files *files, char *err, size_t errlen)
{
    for (size_t i = 0; i < files->count; i++) {
        const char *name = files->files[i].name;
        size_t len, n = strlen(name);
        const char *m = policy_module_name(name, &len);
        if (n < 4 || strcmp(name + n - 4, ".lua") != 0) {
            snprintf(err, errlen, "%s: policy files must be named *.lua", name);
            return -1;
        }
        if (!policy_files_name_ok(m, len)) {
            snprintf(err, errlen, "%s: module name '%.*s' must be letters, digits and _ only", name, (int)len, m);
            return -1;
        }
        if (len == 4 && memcmp(m, "json", 4) == 0) {
            snprintf(err, errlen, "%s: module name 'json' is reserved for the built-in json module", name);
            return -1;
        }
        if (!files->files[i].text) {
            snprintf(err, errlen, "%s: no text", name);
            return -1;
        }
        for (size_t j = 0; j < i; j++) {
            size_t len2;
            const char *m2 = policy_module_name(files->files[j].name, &len2);
            if (len == len2 && memcmp(m, m2, len) == 0) {
                snprintf(err, errlen, "%s and %s both define module '%.*s'", files->files[j].name, name, (int)len,
                         m);
                return -1;
            }
        }
    }
    return 0;
}

/* Reads one regular file whole (NUL-terminated for convenience). Returns a malloc'd buffer or NULL with a message. */
static char *policy_files_slurp(const char *path, const char *shown, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", shown, strerror(errno));
        return NULL;
    }
    struct strbuf b = {0};
    char *text = NULL;
    if (strbuf_read(&b, f, POLICY_FILE_MAX) == 0)
        text = strbuf_take(&b, len); /* never NULL after a read: the bytes and their NUL are already there */
    else if (errno == EFBIG)
        snprintf(err, errlen, "%s: larger than %d bytes", shown, POLICY_FILE_MAX);
    else if (errno == ENOMEM)
        snprintf(err, errlen, "%s: out of memory", shown);
    else
        snprintf(err, errlen, "%s: read error", shown);
    strbuf_free(&b);
    fclose(f);
    return text;
}

static int policy_files_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the *.lua regular files of `dir` (following symlinks, as ConfigMap mounts use them; skipping dot files such
 * as ConfigMap's ..data). Returns a malloc'd sorted array of malloc'd names, or -1. A missing optional dir is empty. */
static int policy_files_list(const char *dir, int optional, char ***names, size_t *count, char *err, size_t errlen)
{
    *names = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (optional && errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (de->d_name[0] == '.' || n < 5 || strcmp(de->d_name + n - 4, ".lua") != 0)
            continue;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        char **grown = realloc(*names, (*count + 1) * sizeof *grown);
        char *copy = strdup(de->d_name);
        if (grown)
            *names = grown;
        if (!grown || !copy) {
            free(copy);
            snprintf(err, errlen, "%s: out of memory", dir);
            rc = -1;
            break;
        }
        (*names)[(*count)++] = copy;
    }
    closedir(d);
    if (rc == 0)
        qsort(*names, *count, sizeof **names, policy_files_strcmp);
    return rc;
}

/* Adds every listed file of `dir`, named `prefix` + entry as users see it. */
static int policy_files_read_one_dir(const char *dir, const char *prefix, int optional, struct policy_files *out,
                                     char *err, size_t errlen)
{
    char **names;
    size_t count;
    if (policy_files_list(dir, optional, &names, &count, err, errlen))
        return -1;
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        char path[4096], shown[512];
        size_t len;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        snprintf(shown, sizeof shown, "%s%s", prefix, names[i]);
        char *text = policy_files_slurp(path, shown, &len, err, errlen);
        if (!text || policy_files_add(out, shown, text, len, err, errlen))
            rc = -1;
        free(text);
    }
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    return rc;
}

static int policy_files_cmp(const void *a, const void *b)
{
    return strcmp(((const struct policy_file *)a)->name, ((const struct policy_file *)b)->name);
}

int policy_files_read_dir(const char *dir, struct policy_files *out, char *err, size_t errlen)
{
    char scripts[4096];
    out->files = NULL;
    out->count = 0;
    snprintf(scripts, sizeof scripts, "%s/scripts", dir);
    if (policy_files_read_one_dir(dir, "", 0, out, err, errlen) ||
        policy_files_read_one_dir(scripts, "scripts/", 1, out, err, errlen))
        goto fail;
    qsort(out->files, out->count, sizeof *out->files, policy_files_cmp);
    if (policy_files_check(out, err, errlen))
        goto fail;
    return 0;
fail:
    policy_files_free(out);
    return -1;
}

/* Names and texts in name order, each name NUL-terminated and each text preceded by its length, so no two
 * different sets hash alike by moving bytes between files. */
void policy_files_hash(const struct policy_files *files, char *out, size_t outlen)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t *order = calloc(files->count ? files->count : 1, sizeof *order);
    int ok = md && order && EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (size_t i = 0; i < files->count; i++)
        order[i] = i;
    for (size_t i = 1; ok && i < files->count; i++) /* few files: insertion sort by name */
        for (size_t j = i; j > 0 && strcmp(files->files[order[j - 1]].name, files->files[order[j]].name) > 0; j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (size_t i = 0; ok && i < files->count; i++) {
        const struct policy_file *f = &files->files[order[i]];
        char len[32];
        snprintf(len, sizeof len, "%zu:", f->len);
        ok = EVP_DigestUpdate(md, f->name, strlen(f->name) + 1) && EVP_DigestUpdate(md, len, strlen(len)) &&
             EVP_DigestUpdate(md, f->text, f->len);
    }
    ok = ok && EVP_DigestFinal_ex(md, digest, &n);
    EVP_MD_CTX_free(md);
    free(order);
    if (!ok) {
        snprintf(out, outlen, "unknown");
        return;
    }
    out[0] = '\0';
    for (unsigned int i = 0; i < n && 2 * i + 2 < outlen && i < 8; i++)
        snprintf(out + 2 * i, outlen - 2 * i, "%02x", digest[i]);
}
