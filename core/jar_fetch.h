/* Getting a FlinkSessionJob's jar (spec.job.jarURI) onto the operator's disk, so that it can be uploaded to the
 * session cluster (flink_rest_upload). The policy says which URI; this does the transfer, as upstream's
 * ArtifactManager does for session jobs:
 *   http://, https://  downloaded with libcurl on the daemon's loop (core/http.h; nothing blocks), streamed to a
 *                      temporary file in the jar directory, never held in memory; redirects followed (up to 5)
 *   file://            the operator's own file, used where it is (nothing is copied); only a *.jar (symbolic links
 *                      resolved), so that no other file of the operator's (its token) can be sent anywhere
 *   anything else      refused, naming the scheme (s3://, local://: upstream's plugins; not here)
 * Every jar is capped in size; a fetch is bounded by JAR_FETCH_TIMEOUT_MS and by 30 s without progress.
 *
 * Configuration, read once from the environment (jar_fetch_config_env):
 *   FLINKOP_JAR_DIR        where downloads go (default $TMPDIR, else /tmp); the operator must be able to write there
 *   FLINKOP_JAR_MAX_BYTES  the cap on a jar's size (default 268435456, 256 MiB) */
#ifndef FLINKOP_JAR_FETCH_H
#define FLINKOP_JAR_FETCH_H

#include <stddef.h>

#define JAR_FETCH_DEFAULT_MAX_BYTES (256LL << 20)
#define JAR_FETCH_TIMEOUT_MS 600000L

struct http_client;
struct jar_fetch;

struct jar_fetch_config {
    char dir[512];
    long long max_bytes;
};

enum jar_scheme { JAR_SCHEME_HTTP, JAR_SCHEME_FILE, JAR_SCHEME_OTHER };

/* Fills c from the environment (see above). Returns 0, or -1 with why in err for an unusable value. */
int jar_fetch_config_env(struct jar_fetch_config *c, char *err, size_t errlen);

/* How uri is fetched: http:// and https:// (any case) are JAR_SCHEME_HTTP, file:// is JAR_SCHEME_FILE. */
enum jar_scheme jar_fetch_scheme(const char *uri);

/* The file name of uri: its last path segment, without query or fragment, into buf. Returns 0, or -1 when there is
 * none or it does not fit. */
int jar_fetch_name(const char *uri, char *buf, size_t len);

/* uri as messages and logs show it, into buf: without user information, query or fragment (which may carry a
 * password or a token). */
void jar_fetch_shown(const char *uri, char *buf, size_t len);

/* The local path of a file:// uri (file:///p or file://localhost/p, %XX decoded) into buf. Returns 0, or -1 with why
 * in err (another host, a relative or undecodable path, too long). */
int jar_fetch_local_path(const char *uri, char *buf, size_t len, char *err, size_t errlen);

/* Checks the jar of a file:// uri: its path into buf, a readable regular file named *.jar no larger than the cap. Returns 0, or -1 with
 * "spec.job.jarURI file:///x: why" in err. */
int jar_fetch_local(const struct jar_fetch_config *c, const char *uri, char *buf, size_t len, char *err,
                    size_t errlen);

/* Called once when a download ends: `path` is the downloaded file (the caller deletes it) and error NULL, or path
 * NULL and error "GET url: why" (HTTP status, curl's error, the size cap). Both borrowed for the call. */
typedef void (*jar_fetch_done_fn)(void *ud, const char *path, long long bytes, const char *error);

/* Starts downloading an http:// or https:// uri into a new file in c->dir. done is called exactly once from the loop,
 * never before this returns, unless the fetch is cancelled first. Returns NULL with why in err when it cannot start
 * (then done is never called). */
struct jar_fetch *jar_fetch_start(struct http_client *http, const struct jar_fetch_config *c, const char *uri,
                                  jar_fetch_done_fn done, void *ud, char *err, size_t errlen);

/* Stops a download, deletes its partial file and frees it; no callback afterwards. NULL is fine. Not from inside
 * its own done callback. */
void jar_fetch_cancel(struct jar_fetch *f);

#endif
