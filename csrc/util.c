/* Small helpers every file may use: strings, hex, time, files. */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC, fchmod under -std=c11 */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- strings and hex ------------------------------------------------------ */

char *mutls__strdup(const char *s)
{
	char *copy = s ? strdup(s) : NULL;
	if (s && !copy)
		mutls__error(MUTLS_ENOMEM, "out of memory");
	return copy;
}

/* Copy a gnutls datum into a malloc'd NUL-terminated string. */
int mutls__datum_to_string(char **out, const gnutls_datum_t *d)
{
	char *s = malloc((size_t)d->size + 1);
	if (!s)
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	if (d->size)
		memcpy(s, d->data, d->size);
	s[d->size] = '\0';
	*out = s;
	return 0;
}

/* Lowercase hex of data (malloc'd; NULL and MUTLS_ENOMEM set on failure). */
char *mutls__hex_encode(const unsigned char *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *s = malloc(len * 2 + 1);
	if (!s) {
		mutls__error(MUTLS_ENOMEM, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < len; i++) {
		s[2 * i] = digits[data[i] >> 4];
		s[2 * i + 1] = digits[data[i] & 0xf];
	}
	s[len * 2] = '\0';
	return s;
}

int mutls__hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Rewrites the control bytes of buf (below 0x20, and 0x7f) as "\xNN", in
 * place and within cap: a name from a certificate may hold a newline, and a
 * message or log line that carried it raw could be forged by the peer. */
void mutls__escape_controls(char *buf, size_t cap)
{
	size_t len = strlen(buf), controls = 0, in, out;

	for (in = 0; in < len; in++)
		controls += (unsigned char)buf[in] < 0x20 || buf[in] == 0x7f;
	if (!controls)
		return;
	out = len + 3 * controls;
	if (out >= cap)
		out = cap - 1;
	buf[out] = 0;
	/* right to left, so nothing is overwritten before it is read; a byte
	 * (or its escape) that no longer fits is dropped */
	for (in = len; in-- > 0;) {
		unsigned char c = (unsigned char)buf[in];
		size_t pos = in + 3 * (controls - (c < 0x20 || c == 0x7f));
		if (c < 0x20 || c == 0x7f) {
			char esc[5];
			controls--;
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			for (size_t k = 0; k < 4; k++)
				if (pos + k < out)
					buf[pos + k] = esc[k];
		} else if (pos < out) {
			buf[pos] = (char)c;
		}
	}
}

/* ---- time ----------------------------------------------------------------- */

void mutls__format_time(char *out, size_t cap, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;
	if (!gmtime_r(&tt, &tm) || !strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, cap, "@%lld", (long long)t);
}

/* ---- files ---------------------------------------------------------------- */

void mutls__wipe_free(void *p, size_t len)
{
	if (!p)
		return;
	gnutls_memset(p, 0, len);
	free(p);
}

/* A run of base64 letters this long is a key or certificate body, not a
 * path component: every DER key and certificate starts with a longer one
 * ("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "MC4CAQAwBQYDK2VwBCIEI"). */
#define BLOB_RUN 20

int mutls__value_showable(const char *value, int secret)
{
	size_t len, run = 0;
	const char *slash;

	if (!value || !*value || strstr(value, "-----"))
		return 0;
	len = strlen(value);
	if (len >= PATH_MAX)
		return 0;
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return 0; /* more than one line, or control bytes */
		run = (isalnum(*p) || *p == '+' || *p == '=') ? run + 1 : 0;
		if (run >= BLOB_RUN)
			return 0;
	}
	if (!secret)
		return 1;
	/* A private_key value is shown only when its directory exists: a
	 * mistyped file name, not a fragment of key text. */
	slash = strrchr(value, '/');
	if (!slash)
		return 1;
	{
		struct stat st;
		char dir[PATH_MAX];
		size_t dlen = slash == value ? 1 : (size_t)(slash - value);
		memcpy(dir, value, dlen);
		dir[dlen] = '\0';
		return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
	}
}

/* What a value that is neither PEM nor a readable file seems to be. */
static const char *value_hint(const char *value)
{
	size_t n = 0;
	if (strstr(value, "-----"))
		return "; its \"-----BEGIN\" line looks damaged";
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (!(isalnum(*p) || *p == '+' || *p == '/' || *p == '=' || isspace(*p)))
			return "";
		n++;
	}
	return n >= 64 ? "; it looks like base64 without its \"-----BEGIN\" and \"-----END\" lines" : "";
}

static int read_error(const char *path, const char *what, int secret, int err)
{
	if (mutls__value_showable(path, secret))
		return mutls__error(MUTLS_ECONFIG, "%s%s%s: cannot read file: %s",
			what ? what : "", what ? " " : "", path, strerror(err));
	return mutls__error(MUTLS_ECONFIG,
		"%s: not PEM text and not a readable file (%s; the value is not shown%s)",
		what ? what : "file", strerror(err), value_hint(path));
}

/* Every byte of fd into one buffer: of the file's size when it has one, else
 * grown by copying and wiping (pipes, /proc). Never realloc, no stdio: no
 * copy of the contents is left in freed memory. */
static int read_all(char **out, size_t *out_len, int fd, size_t size_hint,
	const char *path, const char *what, int secret)
{
	size_t cap = (size_hint ? size_hint : 4096) + 2, len = 0;
	char *buf = malloc(cap), *grown;

	if (!buf)
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	for (;;) {
		ssize_t n;
		if (len + 1 == cap) {
			if (cap - 2 >= MUTLS__FILE_MAX) {
				mutls__wipe_free(buf, len);
				if (mutls__value_showable(path, secret))
					return mutls__error(MUTLS_ECONFIG, "%s%s%s: file is larger than %u MiB",
						what ? what : "", what ? " " : "", path, MUTLS__FILE_MAX >> 20);
				return mutls__error(MUTLS_ECONFIG, "%s: file is larger than %u MiB",
					what ? what : "file", MUTLS__FILE_MAX >> 20);
			}
			if (!(grown = malloc(cap * 2))) {
				mutls__wipe_free(buf, len);
				return mutls__error(MUTLS_ENOMEM, "out of memory");
			}
			memcpy(grown, buf, len);
			mutls__wipe_free(buf, len);
			buf = grown;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;
			mutls__wipe_free(buf, len);
			return read_error(path, what, secret, err);
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	return 0;
}

int mutls__read_file(char **out, size_t *out_len, const char *path,
	const char *what, int secret)
{
	struct stat st;
	int fd, rc;

	if (!out || !out_len || !path)
		return mutls__error(MUTLS_EUSAGE, "mutls__read_file: NULL argument");
	*out = NULL;
	*out_len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return read_error(path, what, secret, errno);
	if (fstat(fd, &st) < 0) {
		int err = errno;
		close(fd);
		return read_error(path, what, secret, err);
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		return read_error(path, what, secret, EISDIR);
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > MUTLS__FILE_MAX) {
		close(fd);
		if (mutls__value_showable(path, secret))
			return mutls__error(MUTLS_ECONFIG, "%s%s%s: file is larger than %u MiB",
				what ? what : "", what ? " " : "", path, MUTLS__FILE_MAX >> 20);
		return mutls__error(MUTLS_ECONFIG, "%s: file is larger than %u MiB",
			what ? what : "file", MUTLS__FILE_MAX >> 20);
	}
	/* st_size sizes the buffer; reading on to EOF still catches a file
	 * that grew, or reports a size of 0 (/proc). */
	rc = read_all(out, out_len, fd, S_ISREG(st.st_mode) ? (size_t)st.st_size : 0,
		path, what, secret);
	close(fd);
	return rc;
}

int mutls__is_pem(const char *text)
{
	return text && strstr(text, "-----BEGIN") != NULL;
}

int mutls__write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
	size_t dlen = strlen(dir);
	int slash = dlen > 0 && dir[dlen - 1] == '/';
	size_t plen = dlen + strlen(name) + 2;
	size_t len = strlen(text), done = 0;
	char *path = malloc(plen);
	int fd, rc = 0;

	if (!path)
		return mutls__error(MUTLS_ENOMEM, "out of memory");
	snprintf(path, plen, "%s%s%s", dir, slash ? "" : "/", name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = mutls__error(MUTLS_ECONFIG, "%s: cannot write file: %s", path, strerror(errno));
		goto out;
	}
	/* An existing file keeps its old mode on O_CREAT: tighten it before the
	 * key is written (other files keep the umask's say). */
	if (!(mode & 077) && fchmod(fd, mode) < 0) {
		rc = mutls__error(MUTLS_ECONFIG, "%s: cannot set mode: %s", path, strerror(errno));
		close(fd);
		goto out;
	}
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = mutls__error(MUTLS_ECONFIG, "%s: cannot write file: %s", path,
				n < 0 ? strerror(errno) : "short write");
			close(fd);
			goto out;
		}
		done += (size_t)n;
	}
	if (close(fd) < 0)
		rc = mutls__error(MUTLS_ECONFIG, "%s: cannot write file: %s", path, strerror(errno));
out:
	free(path);
	return rc;
}
