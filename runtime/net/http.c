/* http.c — blocking HTTP(S) GET over libcurl: into a file (resumable) or into memory.
 *
 * Owns: one easy handle per transfer with redirects followed (http and https only, at most
 * 10), connect and low-speed timeouts, extra request headers, the response headers recx needs
 * (status, ETag, X-Linked-Etag, X-Linked-Size, Content-Range, Retry-After), the resume rules of
 * rx_http_download (Range on an existing file; 206 appends after checking Content-Range, 200
 * starts over, 416 truncates and retries once without Range), the progress callback (counted
 * over the whole file) and interrupts. A response with status >= 400 never touches the file:
 * the first bytes of its body go into the error message instead.
 *
 * libcurl is initialised once (pthread_once); handles are created per call, so transfers on
 * different threads are independent. Callbacks never longjmp: a progress callback's nonzero
 * return or a pending interrupt aborts the transfer through libcurl's own abort path, and the
 * status is returned afterwards.
 *
 * libcurl is optional at build time (RECX_WITH_CURL, set by CMake when pkg-config finds it):
 * without it both transfers fail with RX_ERR_UNSUPPORTED saying so, and nothing else changes.
 */
#include "../core/core.h"

#ifdef RECX_WITH_CURL
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define HTTP_ERRBODY 240 /* bytes of an error response's body kept for the message */

typedef struct xfer {
    const char *url;
    const rx_http_opts *opts;
    rx_http_result *res;
    /* file mode (path != NULL) */
    const char *path;
    int fd;
    int64_t offset;  /* bytes of the file kept when Range was sent */
    int range_sent;
    int64_t written; /* bytes of the file after this transfer's writes */
    /* memory mode */
    char *mem;
    int64_t mem_len, mem_cap, max_bytes;
    /* the response being received */
    long status;
    char reason[64];
    int64_t range_start; /* Content-Range start, -1 when absent */
    char errbody[HTTP_ERRBODY + 1];
    int errbody_len;
    /* why a callback stopped the transfer */
    int interrupted, aborted, write_failed;
    rx_status write_status;
} xfer;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_code;

static void init_curl(void) { curl_init_code = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* Copies a header value (trimmed, quotes and a weak W/ prefix removed) into dst. */
static void header_value(char *dst, size_t size, const char *v, size_t len)
{
    while (len > 0 && isspace((unsigned char)*v)) v++, len--;
    while (len > 0 && isspace((unsigned char)v[len - 1])) len--;
    if (len >= 2 && v[0] == 'W' && v[1] == '/') v += 2, len -= 2;
    if (len >= 2 && v[0] == '"' && v[len - 1] == '"') v++, len -= 2;
    if (len >= size) len = size - 1;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

/* `line` starts with "name:" (case-insensitive)? Then *value points after the colon. */
static int header_is(const char *line, size_t len, const char *name, const char **value, size_t *vlen)
{
    size_t n = strlen(name);
    if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':') return 0;
    *value = line + n + 1;
    *vlen = len - n - 1;
    return 1;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *ud)
{
    xfer *x = ud;
    size_t len = size * nitems;
    const char *v;
    size_t vlen;
    char buf[160];
    if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* a new response (after a redirect or a 1xx): reset what belongs to one response */
        const char *sp = memchr(line, ' ', len);
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        x->reason[0] = '\0';
        if (sp) {
            const char *r = memchr(sp + 1, ' ', len - (size_t)(sp + 1 - line));
            if (r) header_value(x->reason, sizeof x->reason, r + 1, len - (size_t)(r + 1 - line));
        }
        x->range_start = -1;
        x->res->etag[0] = '\0';
        x->res->retry_after = -1;
    } else if (header_is(line, len, "etag", &v, &vlen)) {
        header_value(x->res->etag, sizeof x->res->etag, v, vlen);
    } else if (header_is(line, len, "x-linked-etag", &v, &vlen)) {
        header_value(x->res->linked_etag, sizeof x->res->linked_etag, v, vlen);
    } else if (header_is(line, len, "x-linked-size", &v, &vlen)) {
        header_value(buf, sizeof buf, v, vlen);
        x->res->linked_size = strtoll(buf, NULL, 10);
    } else if (header_is(line, len, "retry-after", &v, &vlen)) {
        header_value(buf, sizeof buf, v, vlen);
        char *end;
        double s = strtod(buf, &end);
        if (end != buf) x->res->retry_after = s;
    } else if (header_is(line, len, "content-range", &v, &vlen)) {
        header_value(buf, sizeof buf, v, vlen);
        long long start;
        if (sscanf(buf, "bytes %lld-", &start) == 1) x->range_start = start;
    }
    return len;
}

static rx_status write_fd(xfer *x, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(x->fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return rx_fail(RX_ERR_IO, "http: writing %s: %s", x->path, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
        x->written += w;
    }
    return RX_OK;
}

/* Opens the file for the body of a successful response: appended after a 206 whose range starts
 * where the file ends, started over otherwise. */
static rx_status open_output(xfer *x)
{
    int resume = x->range_sent && x->status == 206;
    if (resume && x->range_start != x->offset)
        return rx_fail(RX_ERR_IO, "http: GET %s: asked for bytes from %lld, the server sent a range starting at %lld",
                       x->url, (long long)x->offset, (long long)x->range_start);
    x->fd = open(x->path, O_WRONLY | O_CREAT | O_CLOEXEC | (resume ? 0 : O_TRUNC), 0644);
    if (x->fd < 0) return rx_fail(RX_ERR_IO, "http: cannot open %s: %s", x->path, strerror(errno));
    if (resume) {
        /* keep exactly the bytes the Range asked to continue from */
        if (ftruncate(x->fd, (off_t)x->offset) != 0 || lseek(x->fd, (off_t)x->offset, SEEK_SET) < 0)
            return rx_fail(RX_ERR_IO, "http: %s: %s", x->path, strerror(errno));
        x->written = x->offset;
        x->res->resumed = 1;
    } else {
        x->written = 0;
        x->res->resumed = 0;
    }
    return RX_OK;
}

static size_t on_body(char *data, size_t size, size_t nitems, void *ud)
{
    xfer *x = ud;
    size_t n = size * nitems;
    if (x->status >= 400 || x->status == 416) {
        size_t keep = HTTP_ERRBODY - (size_t)x->errbody_len;
        if (keep > n) keep = n;
        memcpy(x->errbody + x->errbody_len, data, keep);
        x->errbody_len += (int)keep;
        x->errbody[x->errbody_len] = '\0';
        return n;
    }
    if (x->path) {
        if (x->fd < 0 && (x->write_status = open_output(x)) != RX_OK) {
            x->write_failed = 1;
            return 0;
        }
        if ((x->write_status = write_fd(x, data, n)) != RX_OK) {
            x->write_failed = 1;
            return 0;
        }
        return n;
    }
    if (x->mem_len + (int64_t)n > x->max_bytes) {
        x->write_status = rx_fail(RX_ERR_IO, "http: GET %s: the response is larger than %lld bytes", x->url,
                                  (long long)x->max_bytes);
        x->write_failed = 1;
        return 0;
    }
    if (x->mem_len + (int64_t)n + 1 > x->mem_cap) {
        int64_t cap = x->mem_cap ? x->mem_cap : 4096;
        while (cap < x->mem_len + (int64_t)n + 1) cap *= 2;
        char *m = realloc(x->mem, (size_t)cap);
        if (!m) {
            x->write_status = rx_fail(RX_ERR_NOMEM, "http: GET %s: cannot allocate %lld bytes", x->url, (long long)cap);
            x->write_failed = 1;
            return 0;
        }
        x->mem = m;
        x->mem_cap = cap;
    }
    memcpy(x->mem + x->mem_len, data, n);
    x->mem_len += (int64_t)n;
    x->mem[x->mem_len] = '\0';
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)ultotal;
    (void)ulnow;
    xfer *x = ud;
    if (rx_interrupt_pending()) {
        x->interrupted = 1;
        return 1;
    }
    /* only the body of a successful answer counts (not redirects, errors or the wait for headers) */
    if (!x->opts || !x->opts->progress || x->status < 200 || x->status >= 300) return 0;
    int64_t base = x->range_sent && x->status == 206 ? x->offset : 0;
    int64_t total = dltotal > 0 ? base + (int64_t)dltotal : -1;
    if (x->opts->progress(x->opts->progress_ud, base + (int64_t)dlnow, total) != 0) {
        x->aborted = 1;
        return 1;
    }
    return 0;
}

/* The error message's tail for an HTTP error: " Not Found: <first line of the body>". */
static void describe_status(const xfer *x, char *buf, size_t size)
{
    char body[HTTP_ERRBODY + 1];
    int n = 0;
    for (int i = 0; i < x->errbody_len && x->errbody[i] != '\n' && x->errbody[i] != '\r'; i++)
        body[n++] = isprint((unsigned char)x->errbody[i]) ? x->errbody[i] : '?';
    body[n] = '\0';
    snprintf(buf, size, "%s%s%s%s", x->reason[0] ? " " : "", x->reason, n ? ": " : "", body);
}

/* One transfer with the state in x; returns the status (message set on failure). */
static rx_status perform(xfer *x)
{
    const rx_http_opts *o = x->opts;
    CURL *c = curl_easy_init();
    if (!c) return rx_fail(RX_ERR_NOMEM, "http: GET %s: curl_easy_init failed", x->url);
    char errbuf[CURL_ERROR_SIZE];
    errbuf[0] = '\0';
    struct curl_slist *headers = NULL;
    rx_status st = RX_OK;
    if (o && o->headers) {
        for (const char *const *h = o->headers; *h; h++) {
            struct curl_slist *next = curl_slist_append(headers, *h);
            if (!next) {
                curl_slist_free_all(headers);
                curl_easy_cleanup(c);
                return rx_fail(RX_ERR_NOMEM, "http: GET %s: out of memory", x->url);
            }
            headers = next;
        }
    }
    char range[64];
    if (x->range_sent) {
        snprintf(range, sizeof range, "%lld-", (long long)x->offset);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
    double connect = o && o->connect_timeout > 0 ? o->connect_timeout : 10;
    double low_time = o && o->low_speed_time > 0 ? o->low_speed_time : 30;
    long low_limit = o && o->low_speed_limit > 0 ? (long)o->low_speed_limit : 1;
    curl_easy_setopt(c, CURLOPT_URL, x->url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "recx/" RECX_VERSION);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(connect * 1000));
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)(low_time + 0.5) > 0 ? (long)(low_time + 0.5) : 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, low_limit);
    if (o && o->timeout > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(o->timeout * 1000));
    if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);

    CURLcode code = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_off_t clen = -1;
    curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
    x->res->status = status;
    x->res->curl_code = (int)code;
    x->res->content_length = clen >= 0 ? (int64_t)clen : -1;

    if (x->interrupted) {
        rx_interrupt_clear();
        st = rx_fail(RX_ERR_INTERRUPTED, "http: GET %s: interrupted", x->url);
    } else if (x->aborted) {
        st = rx_fail(RX_ERR_INTERRUPTED, "http: GET %s: aborted by the progress callback", x->url);
    } else if (x->write_failed) {
        st = x->write_status; /* its message is already set */
    } else if (code != CURLE_OK) {
        st = rx_fail(RX_ERR_IO, "http: GET %s: curl error %d (%s)%s%s", x->url, (int)code, curl_easy_strerror(code),
                     errbuf[0] ? ": " : "", errbuf);
    } else if (status >= 400) {
        char tail[HTTP_ERRBODY + 80];
        describe_status(x, tail, sizeof tail);
        st = rx_fail(RX_ERR_IO, "http: GET %s: HTTP %ld%s", x->url, status, tail);
    } else if (x->path && x->fd < 0 && !(x->range_sent && status == 206)) {
        /* a successful empty body: the file is empty */
        st = open_output(x);
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    return st;
}

static rx_status check_common(const char *op, const char *url)
{
    if (!url) return rx_fail(RX_ERR_ARG, "%s: argument #1: expected a URL, got NULL", op);
    pthread_once(&curl_once, init_curl);
    if (curl_init_code != CURLE_OK)
        return rx_fail(RX_ERR_IO, "%s: curl_global_init failed: %s", op, curl_easy_strerror(curl_init_code));
    return RX_OK;
}

static void reset_result(rx_http_result *res)
{
    memset(res, 0, sizeof *res);
    res->content_length = -1;
    res->linked_size = -1;
    res->retry_after = -1;
}

/* A fresh transfer of url into the file path (NULL: into memory), no Range sent yet. */
static void xfer_init(xfer *x, const char *url, const char *path, const rx_http_opts *opts, rx_http_result *res)
{
    memset(x, 0, sizeof *x);
    x->url = url;
    x->path = path;
    x->opts = opts;
    x->res = res;
    x->fd = -1;
    x->range_start = -1;
}

rx_status rx_http_download(const char *url, const char *path, const rx_http_opts *opts, rx_http_result *res)
{
    rx_http_result local;
    if (!res) res = &local;
    reset_result(res);
    RX_TRY(check_common("http_download", url));
    if (!path) return rx_fail(RX_ERR_ARG, "http_download: argument #2: expected a path, got NULL");
    xfer x;
    xfer_init(&x, url, path, opts, res);
    struct stat sb;
    if (opts && opts->resume && stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0) {
        x.range_sent = 1;
        x.offset = (int64_t)sb.st_size;
    }
    rx_status st = perform(&x);
    if (st != RX_OK && x.range_sent && res->status == 416 && res->curl_code == CURLE_OK) {
        /* the kept bytes do not fit the file on the server any more: start again */
        if (truncate(path, 0) != 0) return rx_fail(RX_ERR_IO, "http: %s: %s", path, strerror(errno));
        xfer_init(&x, url, path, opts, res);
        char linked[sizeof res->linked_etag];
        memcpy(linked, res->linked_etag, sizeof linked);
        int64_t linked_size = res->linked_size;
        reset_result(res);
        memcpy(res->linked_etag, linked, sizeof linked);
        res->linked_size = linked_size;
        st = perform(&x);
    }
    if (x.fd >= 0 && close(x.fd) != 0 && st == RX_OK)
        st = rx_fail(RX_ERR_IO, "http: writing %s: %s", path, strerror(errno));
    if (stat(path, &sb) == 0) res->bytes = (int64_t)sb.st_size;
    return st;
}

rx_status rx_http_get(const char *url, const rx_http_opts *opts, int64_t max_bytes, char **body, int64_t *len,
                      rx_http_result *res)
{
    rx_http_result local;
    if (!res) res = &local;
    reset_result(res);
    if (!body) return rx_fail(RX_ERR_ARG, "http_get: argument #4: expected an output pointer, got NULL");
    *body = NULL;
    if (len) *len = 0;
    RX_TRY(check_common("http_get", url));
    if (max_bytes <= 0)
        return rx_fail(RX_ERR_ARG, "http_get: argument #3: expected a positive byte limit, got %lld", (long long)max_bytes);
    xfer x;
    xfer_init(&x, url, NULL, opts, res);
    x.max_bytes = max_bytes;
    rx_status st = perform(&x);
    if (st == RX_OK && !x.mem) {
        x.mem = malloc(1);
        if (!x.mem) return rx_fail(RX_ERR_NOMEM, "http: GET %s: out of memory", url);
        x.mem[0] = '\0';
    }
    if (st != RX_OK) {
        free(x.mem);
        return st;
    }
    res->bytes = x.mem_len;
    *body = x.mem;
    if (len) *len = x.mem_len;
    return RX_OK;
}

void rx_http_free(void *p) { free(p); }

#else /* !RECX_WITH_CURL */

#include <stdlib.h>
#include <string.h>

static rx_status no_curl(const char *op, const char *url, rx_http_result *res)
{
    if (res) {
        memset(res, 0, sizeof *res);
        res->content_length = -1;
        res->linked_size = -1;
        res->retry_after = -1;
    }
    return rx_fail(RX_ERR_UNSUPPORTED, "%s: GET %s: this recx was built without libcurl (install libcurl4-openssl-dev "
                   "and rebuild)", op, url ? url : "(null)");
}

rx_status rx_http_download(const char *url, const char *path, const rx_http_opts *opts, rx_http_result *res)
{
    (void)path;
    (void)opts;
    return no_curl("http_download", url, res);
}

rx_status rx_http_get(const char *url, const rx_http_opts *opts, int64_t max_bytes, char **body, int64_t *len,
                      rx_http_result *res)
{
    (void)opts;
    (void)max_bytes;
    if (body) *body = NULL;
    if (len) *len = 0;
    return no_curl("http_get", url, res);
}

void rx_http_free(void *p) { free(p); }

#endif /* RECX_WITH_CURL */
