/* Transports: memory (sans-IO buffers) and socket (an fd we do not own).
 * Both are our own push/pull functions so that EOF, errors and timeouts are
 * known exactly when a handshake or record call fails. */
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <stdint.h>
#include <pthread.h>

/* ---- the incoming record stream ---------------------------------------- */

/* Follows record boundaries in what GnuTLS pulls, whatever the chunking,
 * keeping the header and first two body bytes of the latest record. */
static void observe(mutls_session *s, const unsigned char *p, size_t n)
{
	while (n) {
		if (s->rec_have >= 5 && s->rec_left == 0)
			s->rec_have = 0; /* a new record starts */
		if (s->rec_have < 5) {
			s->rec_head[s->rec_have++] = *p++;
			n--;
			if (s->rec_have == 5)
				s->rec_left = (size_t)s->rec_head[3] << 8 | s->rec_head[4];
			continue;
		}
		if (s->rec_have < 7) {
			s->rec_head[s->rec_have++] = *p++;
			s->rec_left--;
			n--;
			continue;
		}
		{
			size_t skip = n < s->rec_left ? n : s->rec_left;
			p += skip;
			n -= skip;
			s->rec_left -= skip;
		}
	}
}

/* Keeps the first bytes the peer sent (see mutls__transport_not_tls). */
static void keep_first_bytes(mutls_session *s, const unsigned char *p, size_t n)
{
	size_t room = sizeof(s->first_in) - s->first_in_len;

	if (n > room)
		n = room;
	memcpy(s->first_in + s->first_in_len, p, n);
	s->first_in_len += n;
}

/* A TLS record starts with a content type (20..24) and major version 3. */
static int starts_like_tls(const unsigned char *p, size_t n)
{
	if (n >= 1 && (p[0] < 20 || p[0] > 24))
		return 0;
	return n < 2 || p[1] == 3;
}

static int looks_like_http(const unsigned char *p, size_t n)
{
	static const char *const starts[] = { "HTTP/", "GET ", "POST ", "HEAD ", "PUT ",
		"DELETE ", "OPTIONS ", "CONNECT ", "PATCH ", "TRACE ", "PRI * HTTP/" };

	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		size_t len = strlen(starts[i]);
		if (n >= len && memcmp(p, starts[i], len) == 0)
			return 1;
	}
	return 0;
}

/* Quotes the first line of p (at most 48 bytes; '\', '\'' and
 * non-printables as \xNN), then "..." when the line went on. */
static void quote_first_line(char *out, size_t cap, const unsigned char *p, size_t n)
{
	size_t used = 0, i;
	int w;

	for (i = 0; i < n && i < 48 && p[i] != '\r' && p[i] != '\n'; i++) {
		int plain = p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\' && p[i] != '\'';
		w = snprintf(out + used, cap - used, plain ? "%c" : "\\x%02x", p[i]);
		if (w < 0 || (size_t)w >= cap - used)
			return;
		used += (size_t)w;
	}
	if (i < n && p[i] != '\r' && p[i] != '\n')
		snprintf(out + used, cap - used, "...");
}

static int looks_like_html(const unsigned char *p, size_t n)
{
	return (n >= 9 && strncasecmp((const char *)p, "<!DOCTYPE", 9) == 0) ||
		(n >= 5 && strncasecmp((const char *)p, "<html", 5) == 0);
}

/* GnuTLS reads a record header (5 bytes) first: takes what else has
 * already arrived, never waiting, so that a whole first line can be quoted.
 * The session has failed: what is read here is not needed any more. */
static void take_more_first_bytes(mutls_session *s)
{
	size_t room = sizeof(s->first_in) - s->first_in_len;
	ssize_t n;

	if (!room)
		return;
	if (s->fd < 0) {
		size_t avail = s->in_len - s->in_pos;
		keep_first_bytes(s, s->in + s->in_pos, avail < room ? avail : room);
		return;
	}
	do
		n = recv(s->fd, s->first_in + s->first_in_len, room, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		s->first_in_len += (size_t)n;
}

int mutls__transport_not_tls(char *out, size_t cap, mutls_session *s)
{
	char line[200];
	const char *kind = "it begins with";

	if (!s->first_in_len || starts_like_tls(s->first_in, s->first_in_len))
		return 0;
	take_more_first_bytes(s);
	if (looks_like_http(s->first_in, s->first_in_len))
		kind = "it looks like HTTP";
	else if (looks_like_html(s->first_in, s->first_in_len))
		kind = "it looks like HTML";
	line[0] = 0;
	quote_first_line(line, sizeof(line), s->first_in, s->first_in_len);
	snprintf(out, cap, "%s: '%s'", kind, line);
	return 1;
}

int mutls__transport_at_record_start(const mutls_session *s)
{
	return s->rec_have == 0 || (s->rec_have >= 5 && s->rec_left == 0);
}

int mutls__transport_plaintext_alert(const mutls_session *s)
{
	if (s->rec_have == 7 && s->rec_left == 0 && s->rec_head[0] == 21 &&
	    s->rec_head[3] == 0 && s->rec_head[4] == 2)
		return s->rec_head[6];
	return -1;
}

/* Counts what arrives during the handshake; 0 when it went over the limit
 * (the pull then fails and mutls__session_fail says why). */
static int within_handshake_limit(mutls_session *s, size_t n)
{
	if (s->handshake_done) {
		s->in_after_handshake += n;
		return 1;
	}
	s->handshake_in += n;
	if (s->handshake_in <= MUTLS_MAX_HANDSHAKE_INPUT)
		return 1;
	s->input_too_large = 1;
	gnutls_transport_set_errno(s->gs, EMSGSIZE);
	return 0;
}

/* In TLS 1.3 the client's handshake is over before the server has checked
 * the client's certificate; a server that refuses it sends an alert, or,
 * like Python's asyncio ssl (uvicorn, hypercorn), just closes. A server
 * that accepts sends at least its session tickets first (OpenSSL and GnuTLS
 * do), so nothing at all after the handshake is the sign. */
const char *mutls__transport_closed_hint(const mutls_session *s)
{
	if (s->is_server || !s->handshake_done || s->in_after_handshake ||
	    gnutls_protocol_get_version(s->gs) != GNUTLS_TLS1_3 || !mutls_session_own_certificate(s))
		return "";
	return ", right after the handshake and before sending anything: in TLS 1.3 that is how a "
		"server that refused our certificate without an alert closes (Python's asyncio ssl, "
		"as in uvicorn and hypercorn, does)";
}

/* ---- memory ------------------------------------------------------------ */

static int grow(unsigned char **buf, size_t *cap, size_t need)
{
	size_t ncap = *cap ? *cap : 4096;
	unsigned char *nbuf;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	nbuf = realloc(*buf, ncap);
	if (!nbuf)
		return -1;
	*buf = nbuf;
	*cap = ncap;
	return 0;
}

void mutls__transport_release_output(mutls_session *s)
{
	if (!s->out_handed)
		return;
	memmove(s->out, s->out + s->out_handed, s->out_len - s->out_handed);
	s->out_len -= s->out_handed;
	s->out_handed = 0;
}

static ssize_t mem_vec_push(gnutls_transport_ptr_t ptr, const giovec_t *iov, int iovcnt)
{
	mutls_session *s = ptr;
	size_t total = 0;

	mutls__transport_release_output(s);
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (grow(&s->out, &s->out_cap, s->out_len + total) < 0) {
		gnutls_transport_set_errno(s->gs, ENOMEM);
		return -1;
	}
	for (int i = 0; i < iovcnt; i++) {
		memcpy(s->out + s->out_len, iov[i].iov_base, iov[i].iov_len);
		s->out_len += iov[i].iov_len;
	}
	return (ssize_t)total;
}

static ssize_t mem_pull(gnutls_transport_ptr_t ptr, void *data, size_t len)
{
	mutls_session *s = ptr;
	size_t avail = s->in_len - s->in_pos;

	if (avail == 0) {
		if (s->in_eof)
			return 0;
		gnutls_transport_set_errno(s->gs, EAGAIN);
		return -1;
	}
	if (len > avail)
		len = avail;
	if (!within_handshake_limit(s, len))
		return -1;
	memcpy(data, s->in + s->in_pos, len);
	keep_first_bytes(s, data, len);
	observe(s, data, len);
	s->in_pos += len;
	if (s->in_pos == s->in_len)
		s->in_pos = s->in_len = 0;
	return (ssize_t)len;
}

static int mem_pull_timeout(gnutls_transport_ptr_t ptr, unsigned ms)
{
	mutls_session *s = ptr;
	return (s->in_len > s->in_pos || s->in_eof) ? 1 : 0;
}

int mutls__transport_has_input(const mutls_session *s)
{
	return s->fd < 0 && s->in_len > s->in_pos;
}

int mutls_session_feed(mutls_session *s, const void *data, size_t len)
{
	if (!s || (len && !data))
		return mutls__error(MUTLS_EUSAGE, "feed: NULL argument");
	MUTLS__GUARD(s, "feed");
	if (s->fd >= 0)
		return mutls__error(MUTLS_EUSAGE, "feed: the session is in socket mode");
	if (s->in_eof)
		return mutls__error(MUTLS_EUSAGE, "feed: data after feed_eof");
	if (s->in_pos) {
		memmove(s->in, s->in + s->in_pos, s->in_len - s->in_pos);
		s->in_len -= s->in_pos;
		s->in_pos = 0;
	}
	if (grow(&s->in, &s->in_cap, s->in_len + len) < 0)
		return mutls__error(MUTLS_ENOMEM, "feed: out of memory for %zu bytes", len);
	if (len)
		memcpy(s->in + s->in_len, data, len);
	s->in_len += len;
	return 0;
}

int mutls_session_feed_eof(mutls_session *s)
{
	if (!s)
		return mutls__error(MUTLS_EUSAGE, "feed_eof: NULL session");
	MUTLS__GUARD(s, "feed_eof");
	if (s->fd >= 0)
		return mutls__error(MUTLS_EUSAGE, "feed_eof: the session is in socket mode");
	s->in_eof = 1;
	return 0;
}

int mutls_session_data_to_send(const unsigned char **out, size_t *out_len, mutls_session *s)
{
	if (!out || !out_len || !s)
		return mutls__error(MUTLS_EUSAGE, "data_to_send: NULL argument");
	*out = NULL;
	*out_len = 0;
	if (s->fd >= 0)
		return mutls__error(MUTLS_EUSAGE, "data_to_send: the session is in socket mode");
	mutls__transport_release_output(s);
	*out = s->out;
	*out_len = s->out_len;
	s->out_handed = s->out_len;
	return 0;
}

/* ---- socket -------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- one call per direction --------------------------------------------
 *
 * GnuTLS allows one thread to send while another receives on a session
 * (its manual, "Thread safety", 3.7 and 3.8 alike), and says that
 * gnutls_transport_set_errno and gnutls_record_get_direction cannot be
 * relied on then: both are one field per session. So in socket mode each
 * direction has its own deadline, timeout flag and last wait (io[]), a
 * push or pull uses the slot of the call running in its own thread, and
 * the errno GnuTLS reads is the thread's own (its default errno function
 * reads errno; gnutls_transport_set_errno is used only in memory mode). */

void mutls__transport_start_call(mutls_session *s, int dirs)
{
	int64_t deadline = (s->fd >= 0 && s->timeout_ms > 0) ? now_ms() + s->timeout_ms : 0;
	uint64_t seq = __atomic_add_fetch(&s->call_seq, 1, __ATOMIC_RELAXED);
	pthread_t self = pthread_self();

	for (int d = 0; d < 2; d++) {
		mutls_io_call *c = &s->io[d];
		if (!(dirs & (d ? MUTLS__IO_SEND : MUTLS__IO_RECV)))
			continue;
		c->deadline_ms = deadline;
		c->timed_out = 0;
		c->wants_write = 0;
		c->thread = self;
		c->seq = seq;
	}
}

/* The slot of the calling thread's latest call, preferring `natural`
 * (0 recv, 1 send) when that call covers both (a handshake); `natural`
 * when this thread has none. */
static mutls_io_call *io_call(mutls_session *s, int natural)
{
	pthread_t self = pthread_self();
	int mine[2];

	for (int d = 0; d < 2; d++)
		mine[d] = s->io[d].seq && pthread_equal(s->io[d].thread, self);
	if (mine[natural] && (!mine[!natural] || s->io[natural].seq >= s->io[!natural].seq))
		return &s->io[natural];
	return mine[!natural] ? &s->io[!natural] : &s->io[natural];
}

static const mutls_io_call *io_call_const(const mutls_session *s)
{
	return io_call((mutls_session *)s, 0);
}

/* A handshake's call covers both directions: either may have timed out. */
static int check_timeout(mutls_session *s, int clear)
{
	mutls_io_call *c = io_call(s, 0);
	int timed_out = c->timed_out;

	for (int d = 0; d < 2; d++) {
		if (s->io[d].seq == c->seq && pthread_equal(s->io[d].thread, c->thread)) {
			timed_out |= s->io[d].timed_out;
			if (clear)
				s->io[d].timed_out = 0;
		}
	}
	return timed_out;
}

int mutls__transport_timed_out(const mutls_session *s)
{
	return check_timeout((mutls_session *)s, 0);
}

int mutls__transport_take_timeout(mutls_session *s)
{
	return check_timeout(s, 1);
}

int mutls__transport_has_deadline(const mutls_session *s)
{
	return io_call_const(s)->deadline_ms != 0;
}

int mutls__transport_wants_write(const mutls_session *s)
{
	return io_call_const(s)->wants_write;
}

static int fd_is_blocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	return flags >= 0 && !(flags & O_NONBLOCK);
}

/* A blocking socket, or one with a deadline for this call. */
static int socket_may_wait(const mutls_session *s)
{
	return s->timeout_ms > 0 || fd_is_blocking(s->fd);
}

void mutls__transport_start_handshake_call(mutls_session *s)
{
	int64_t now;
	mutls_io_call *c;

	mutls__transport_start_call(s, MUTLS__IO_BOTH);
	if (s->fd < 0 || s->cfg->handshake_timeout_ms <= 0)
		return;
	now = now_ms();
	if (!s->handshake_deadline_ms)
		s->handshake_deadline_ms = now + s->cfg->handshake_timeout_ms;
	if (now >= s->handshake_deadline_ms) {
		s->handshake_expired = 1;
		return;
	}
	/* a non-blocking socket without a timeout never waits here: its
	 * caller's loop calls again, and the check above ends it */
	c = &s->io[0];
	if (c->deadline_ms ? s->handshake_deadline_ms < c->deadline_ms : fd_is_blocking(s->fd))
		s->io[0].deadline_ms = s->io[1].deadline_ms = s->handshake_deadline_ms;
}

/* Waits for the socket until the call's deadline (none: returns at once).
 * 0 when ready (or no deadline); -1 when the deadline passed. */
static int wait_ready(mutls_session *s, mutls_io_call *c, short events)
{
	struct pollfd p = { s->fd, events, 0 };
	int rc;

	if (!c->deadline_ms)
		return 0;
	for (;;) {
		int64_t left = c->deadline_ms - now_ms();
		if (left <= 0)
			break;
		rc = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return 0; /* let recv/send report the error */
	}
	/* GnuTLS sees EAGAIN; the session turns it into a timeout, and the
	 * connection stays usable for another try (unless handshake_timeout
	 * passed: that ends the handshake). */
	c->timed_out = 1;
	if (!s->handshake_done && s->handshake_deadline_ms && now_ms() >= s->handshake_deadline_ms)
		s->handshake_expired = 1;
	errno = EAGAIN; /* the thread's own (see io_call) */
	return -1;
}

static ssize_t fd_pull(gnutls_transport_ptr_t ptr, void *data, size_t len)
{
	mutls_session *s = ptr;
	mutls_io_call *c = io_call(s, 0);
	ssize_t n;

	/* Try first, wait only when nothing is there: a poll before every
	 * read would double the system calls of a call with a deadline. */
	for (;;) {
		do
			n = recv(s->fd, data, len, c->deadline_ms || s->draining ? MSG_DONTWAIT : 0);
		while (n < 0 && errno == EINTR);
		if (n >= 0 || s->draining || !c->deadline_ms || (errno != EAGAIN && errno != EWOULDBLOCK))
			break;
		c->wants_write = 0;
		if (wait_ready(s, c, POLLIN) < 0)
			return -1;
	}
	if (n == 0)
		s->saw_eof = 1;
	if (n < 0) {
		int e = errno;
		if (e == EAGAIN || e == EWOULDBLOCK)
			c->wants_write = 0;
		s->io_errno = e;
		errno = e; /* GnuTLS reads the thread's errno (see io_call) */
	}
	if (n > 0 && !within_handshake_limit(s, (size_t)n))
		return -1;
	if (n > 0) {
		keep_first_bytes(s, data, (size_t)n);
		observe(s, data, (size_t)n);
	}
	return n;
}

void mutls__transport_drain(mutls_session *s)
{
	unsigned char buf[2048];
	int guard = 64;

	while (s->fd >= 0 && guard-- > 0 && fd_pull(s, buf, sizeof(buf)) > 0)
		;
}

/* After a fatal alert: read and drop what the peer is still sending, so
 * that closing the socket does not reset the connection (a reset can
 * destroy the alert before the peer reads it: a client still sending a
 * 16 MiB ClientHello would see a broken pipe instead). Bounded: at most
 * MUTLS_DRAIN_MS in all and MUTLS_DRAIN_BYTES; it stops at the peer's EOF,
 * an error, or a pause of MUTLS_DRAIN_IDLE_MS (the peer has sent it all
 * and is reading). A non-blocking socket without a deadline is never
 * waited on: only what has arrived is taken. */
void mutls__transport_drain_after_alert(mutls_session *s)
{
	unsigned char sink[16384];
	int may_wait = s->fd >= 0 && socket_may_wait(s);
	int64_t start = now_ms();
	size_t total = 0;

	while (s->fd >= 0 && total < MUTLS_DRAIN_BYTES) {
		ssize_t n;
		int64_t left = MUTLS_DRAIN_MS - (now_ms() - start);
		if (may_wait) {
			struct pollfd p = { s->fd, POLLIN, 0 };
			int rc;
			if (left <= 0)
				break;
			rc = poll(&p, 1, left < MUTLS_DRAIN_IDLE_MS ? (int)left : MUTLS_DRAIN_IDLE_MS);
			if (rc < 0 && errno == EINTR)
				continue;
			if (rc <= 0)
				break;
		}
		do
			n = recv(s->fd, sink, sizeof(sink), MSG_DONTWAIT);
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			break;
		total += (size_t)n;
	}
}

static int fd_pull_timeout(gnutls_transport_ptr_t ptr, unsigned ms)
{
	mutls_session *s = ptr;
	struct pollfd p = { s->fd, POLLIN, 0 };
	int rc;

	do
		rc = poll(&p, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
	while (rc < 0 && errno == EINTR);
	return rc;
}

static ssize_t fd_vec_push(gnutls_transport_ptr_t ptr, const giovec_t *iov, int iovcnt)
{
	mutls_session *s = ptr;
	mutls_io_call *c = io_call(s, 1);
	struct msghdr msg;
	ssize_t n;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = (struct iovec *)iov;
	msg.msg_iovlen = (size_t)iovcnt;
	for (;;) {
		do
			n = sendmsg(s->fd, &msg, MSG_NOSIGNAL | (c->deadline_ms ? MSG_DONTWAIT : 0));
		while (n < 0 && errno == EINTR);
		if (n >= 0 || !c->deadline_ms || (errno != EAGAIN && errno != EWOULDBLOCK))
			break;
		c->wants_write = 1;
		if (wait_ready(s, c, POLLOUT) < 0)
			return -1;
	}
	if (n < 0) {
		int e = errno;
		if (e == EAGAIN || e == EWOULDBLOCK)
			c->wants_write = 1;
		s->io_errno = e;
		errno = e; /* GnuTLS reads the thread's errno (see io_call) */
	}
	return n;
}

void mutls__transport_setup(mutls_session *s)
{
	gnutls_transport_set_ptr(s->gs, s);
	if (s->fd < 0) {
		gnutls_transport_set_vec_push_function(s->gs, mem_vec_push);
		gnutls_transport_set_pull_function(s->gs, mem_pull);
		gnutls_transport_set_pull_timeout_function(s->gs, mem_pull_timeout);
	} else {
		gnutls_transport_set_vec_push_function(s->gs, fd_vec_push);
		gnutls_transport_set_pull_function(s->gs, fd_pull);
		gnutls_transport_set_pull_timeout_function(s->gs, fd_pull_timeout);
	}
}
