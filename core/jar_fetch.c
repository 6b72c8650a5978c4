/* Jar downloads and checks for FlinkSessionJob submissions (see jar_fetch.h). A download owns its http request, its
 * open temporary file and that file's name until it ends: on success the file passes to the caller, on failure or
 * cancel it is deleted here. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "jar_fetch.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"
#include "strutil.h"
#include "version.h"

#define JAR_FETCH_ERROR_BODY ((size_t)64 << 10) /* what a non-2xx answer may say: enough for a message */

struct jar_fetch {
    struct http_request *req;
    FILE *fp;
    char path[600];
    char what[600];        /* "GET <uri without query>": the prefix of every error */
    long long bytes, max;
    int over, write_failed;
    jar_fetch_done_fn done;
    void *ud;
};

int jar_fetch_config_env(struct jar_fetch_config *c, char *err, size_t errlen)
{
    const char *dir = getenv("FLINKOP_JAR_DIR"), *max = getenv("FLINKOP_JAR_MAX_BYTES");
    if (dir == NULL || *dir == '\0')
        dir = getenv("TMPDIR");
    if (dir == NULL || *dir == '\0')
        dir = "/tmp";
    if (dir[0] != '/' || strlen(dir) >= sizeof c->dir - 32) {
        strutil_errf(err, errlen, "FLINKOP_JAR_DIR \"%.200s\": expected an absolute path shorter than %zu bytes", dir,
                     sizeof c->dir - 32);
        return -1;
    }
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    c->max_bytes = JAR_FETCH_DEFAULT_MAX_BYTES;
    if (max && *max) {
        char *end;
        errno = 0;
        long long v = strtoll(max, &end, 10);
        if (errno || *end || v < 1) {
            strutil_errf(err, errlen, "FLINKOP_JAR_MAX_BYTES \"%.50s\": expected a whole number of bytes from 1", max);
            return -1;
        }
        c->max_bytes = v;
    }
    return 0;
}

enum jar_scheme jar_fetch_scheme(const char *uri)
{
    if (uri && (strncasecmp(uri, "http://", 7) == 0 || strncasecmp(uri, "https://", 8) == 0))
        return JAR_SCHEME_HTTP;
    if (uri && strncasecmp(uri, "file://", 7) == 0)
        return JAR_SCHEME_FILE;
    return JAR_SCHEME_OTHER;
}

int jar_fetch_name(const char *uri, char *buf, size_t len)
{
    size_t end = uri ? strcspn(uri, "?#") : 0, start = end;
    while (start > 0 && uri[start - 1] != '/')
        start--;
    if (end == start || end - start >= len)
        return -1;
    memcpy(buf, uri + start, end - start);
    buf[end - start] = '\0';
    return 0;
}

static int hex_value(int ch)
{
    return isdigit(ch) ? ch - '0' : isxdigit(ch) ? tolower(ch) - 'a' + 10 : -1;
}

int jar_fetch_local_path(const char *uri, char *buf, size_t len, char *err, size_t errlen)
{
    const char *p = uri + 7; /* after file:// */
    size_t n = 0;
    if (jar_fetch_scheme(uri) != JAR_SCHEME_FILE) {
        strutil_errf(err, errlen, "not a file:// URI");
        return -1;
    }
    if (strncasecmp(p, "localhost/", 10) == 0)
        p += 9;
    if (*p != '/') {
        strutil_errf(err, errlen, "only a file of the operator's own host, file:///path, can be read");
        return -1;
    }
    for (; *p && *p != '?' && *p != '#'; p++) {
        int ch = (unsigned char)*p;
        if (ch == '%') {
            int hi = hex_value((unsigned char)p[1]), lo = hi < 0 ? -1 : hex_value((unsigned char)p[2]);
            if (lo < 0 || (hi == 0 && lo == 0)) {
                strutil_errf(err, errlen, "the path holds a %% that is not a %%XX escape of a byte other than 0");
                return -1;
            }
            ch = hi * 16 + lo;
            p += 2;
        }
        if (n + 1 >= len) {
            strutil_errf(err, errlen, "the path is longer than %zu bytes", len - 1);
            return -1;
        }
        buf[n++] = (char)ch;
    }
    buf[n] = '\0';
    return 0;
}

void jar_fetch_shown(const char *uri, char *buf, size_t len)
{
    size_t end = strcspn(uri, "?#");
    const char *host = strstr(uri, "://");
    host = host && (size_t)(host - uri) < end ? host + 3 : uri;
    size_t authority = strcspn(host, "/?#");
    const char *at = memchr(host, '@', authority);
    if (at == NULL)
        snprintf(buf, len, "%.*s", (int)end, uri);
    else /* user:password@ goes */
        snprintf(buf, len, "%.*s%.*s", (int)(host - uri), uri, (int)(end - (size_t)(at + 1 - uri)), at + 1);
}

int jar_fetch_local(const struct jar_fetch_config *c, const char *uri, char *buf, size_t len, char *err,
                    size_t errlen)
{
    char shown[512], why[256];
    struct stat st;
    jar_fetch_shown(uri, shown, sizeof shown);
    if (jar_fetch_local_path(uri, buf, len, why, sizeof why) != 0) {
        strutil_errf(err, errlen, "spec.job.jarURI %s: %s", shown, why);
        return -1;
    }
    /* The operator's files are not all jars (its ServiceAccount token is one): only a .jar, symbolic links
     * resolved, is ever sent to a session cluster. */
    char *real = realpath(buf, NULL);
    size_t rn = real ? strlen(real) : 0;
    int is_jar = rn > 4 && strcasecmp(real + rn - 4, ".jar") == 0;
    if (real && !is_jar) {
        strutil_errf(err, errlen, "spec.job.jarURI %s: only a file whose name ends in .jar is read (it is %.200s)",
                     shown, real);
        free(real);
        return -1;
    }
    free(real);
    if (stat(buf, &st) != 0 || !S_ISREG(st.st_mode) || access(buf, R_OK) != 0) {
        int e = errno;
        strutil_errf(err, errlen, "spec.job.jarURI %s: %s", shown,
                     stat(buf, &st) == 0 && !S_ISREG(st.st_mode) ? "not a regular file" : strerror(e));
        return -1;
    }
    if ((long long)st.st_size > c->max_bytes) {
        strutil_errf(err, errlen, "spec.job.jarURI %s: the jar is %lld bytes, more than the cap of %lld bytes "
                     "(FLINKOP_JAR_MAX_BYTES)", shown, (long long)st.st_size, c->max_bytes);
        return -1;
    }
    return 0;
}

static void fetch_free(struct jar_fetch *f, int keep_file)
{
    if (f->fp)
        fclose(f->fp);
    if (!keep_file && f->path[0])
        unlink(f->path);
    free(f);
}

/* A 2xx body arrives: onto the disk, within the cap. Nonzero stops the transfer. */
static int fetch_on_chunk(void *ud, const char *data, size_t len)
{
    struct jar_fetch *f = ud;
    if ((long long)len > f->max - f->bytes) {
        f->over = 1;
        return 1;
    }
    if (fwrite(data, 1, len, f->fp) != len) {
        f->write_failed = errno ? errno : EIO;
        return 1;
    }
    f->bytes += (long long)len;
    return 0;
}

static void fetch_on_done(void *ud, const struct http_response *resp)
{
    struct jar_fetch *f = ud;
    char why[1400];
    const char *error = NULL;
    int flushed = fclose(f->fp) == 0;
    f->fp = NULL;
    if (f->over) {
        snprintf(why, sizeof why, "%s: the jar is larger than the cap of %lld bytes (FLINKOP_JAR_MAX_BYTES; more than "
                 "%lld bytes arrived)", f->what, f->max, f->bytes);
        error = why;
    } else if (f->write_failed || (!resp->error && !flushed)) {
        snprintf(why, sizeof why, "%s: writing %s: %s", f->what, f->path,
                 strerror(f->write_failed ? f->write_failed : errno));
        error = why;
    } else if (resp->error) {
        snprintf(why, sizeof why, "%s: %s", f->what, resp->error);
        error = why;
    } else if (resp->status < 200 || resp->status >= 300) {
        snprintf(why, sizeof why, "%s: HTTP %ld", f->what, resp->status);
        error = why;
    }
    f->req = NULL;
    f->done(f->ud, error ? NULL : f->path, f->bytes, error);
    fetch_free(f, error == NULL);
}

struct jar_fetch *jar_fetch_start(struct http_client *http, const struct jar_fetch_config *c, const char *uri,
                                  jar_fetch_done_fn done, void *ud, char *err, size_t errlen)
{
    static const char *const headers[] = {"Accept: application/java-archive, */*",
                                          "User-Agent: flinkop/" FLINKOP_VERSION, NULL};
    static const struct http_callbacks cb = {fetch_on_chunk, fetch_on_done};
    char shown[512];
    jar_fetch_shown(uri, shown, sizeof shown);
    if (jar_fetch_scheme(uri) != JAR_SCHEME_HTTP) {
        strutil_errf(err, errlen, "spec.job.jarURI %s: not an http:// or https:// URL", shown);
        return NULL;
    }
    struct jar_fetch *f = calloc(1, sizeof *f);
    if (f == NULL) {
        strutil_errf(err, errlen, "GET %s: out of memory", shown);
        return NULL;
    }
    f->done = done;
    f->ud = ud;
    f->max = c->max_bytes;
    snprintf(f->what, sizeof f->what, "GET %s", shown);
    snprintf(f->path, sizeof f->path, "%s/flinkop-jar-XXXXXX", c->dir);
    int fd = mkstemp(f->path);
    if (fd < 0 || (f->fp = fdopen(fd, "wb")) == NULL) {
        strutil_errf(err, errlen, "%s: cannot make a file in the jar directory %s (FLINKOP_JAR_DIR): %s", f->what,
                     c->dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        else
            f->path[0] = '\0';
        fetch_free(f, 0);
        return NULL;
    }
    struct http_request_opts o = {.url = uri, .headers = headers, .timeout_ms = JAR_FETCH_TIMEOUT_MS,
                                  .low_speed_limit = 1, .low_speed_time_s = 30, .max_body = JAR_FETCH_ERROR_BODY,
                                  .follow_redirects = 1};
    char why[512];
    if ((f->req = http_request_start(http, &o, &cb, f, why, sizeof why)) == NULL) {
        strutil_errf(err, errlen, "%s: %s", f->what, why);
        fetch_free(f, 0);
        return NULL;
    }
    return f;
}

void jar_fetch_cancel(struct jar_fetch *f)
{
    if (f == NULL)
        return;
    http_request_cancel(f->req);
    fetch_free(f, 0);
}
