/* The media relay's packet path: RTP and RTCP forwarded between the two sides of a call leg.
 *
 * How this works. A `Relay` owns one native thread, an epoll set and a table of legs. A leg is
 * one bound UDP socket of the relay (one port: RTP, or RTCP on the port above it) and the
 * endpoint behind it: where to send what the other side sends (the SDP address until the
 * endpoint's own packets latch it), and the counters of what the endpoint sent us. Two legs
 * are linked as peers: what arrives on one leaves through the other's socket to the other's
 * endpoint, so each endpoint sees packets from the port it was told to send to (symmetric RTP,
 * RFC 4961).
 *
 * The thread never takes the GIL: it waits in epoll_wait, then reads a batch with recvmmsg,
 * checks each packet (RTP/RTCP version 2, minimum length, the latching rules below), updates
 * the counters (RFC 3550 A.1/A.3 loss, A.8 jitter) and sends the batch with one sendmmsg.
 * Python adds, links, configures, queries and removes legs under the table mutex, with the GIL
 * released while it waits for that mutex, so a slow control plane never stalls packets and a
 * busy packet path never blocks Python for more than one batch.
 *
 * Latching (the rules against RTP hijacking, documented in docs/media.md):
 *   1. Before latching, packets go to the SDP address. The first valid packet latches the
 *      endpoint to its source address, but only if its IP is the leg's `latch_ip` when one is
 *      set (the SDP address, or the signalling source when the SDP address is private).
 *      Anything else is counted as foreign and dropped.
 *   2. Once latched, packets from any other source are foreign and dropped (no RTP bleed).
 *   3. A latched endpoint is relearned mid-call only after its latched source has been silent
 *      for `relatch_ms`, and only by a source that satisfies rule 1 or (RTP) carries the SSRC
 *      the latched source used.
 *   4. `asymmetric` legs never latch: only packets from the SDP address are accepted.
 *
 * Play and record: a leg may record what its endpoint sends (RTP payload bytes appended to a
 * bounded buffer) and may have a prompt queued that the thread sends to its endpoint, one frame
 * every 20 ms, from the leg's own socket.
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define PKT_MAX 2048
#define RTP_MIN 12
#define RTCP_MIN 8
#define MAX_DROPOUT 3000
#define MAX_MISORDER 100
#define RTP_SEQ_MOD (1u << 16)
#define FRAME_NS 20000000LL
#define MAX_RECORD (64u << 20)

typedef struct {
    uint64_t packets, bytes, malformed, foreign;
    /* RFC 3550 A.1 source state */
    int seq_started;
    uint32_t ssrc;
    uint16_t max_seq;
    uint32_t cycles, base_seq, bad_seq, received;
    /* RFC 3550 A.8: jitter in timestamp units, scaled by 16 as in the RFC's integer version */
    int have_transit;
    int32_t transit;
    uint32_t jitter;
} counters_t;

typedef struct {
    int fd;
    uint32_t gen;
    int active;
    int peer;  /* slot of the linked leg, or -1 */
    int rtcp;
    int symmetric;
    uint32_t clock_rate;
    struct sockaddr_storage sdp_addr; socklen_t sdp_len;   /* where to send before latching */
    struct sockaddr_storage remote; socklen_t remote_len;  /* where we send now */
    struct sockaddr_storage latch_ip; int has_latch_ip;    /* only the family and address count */
    int latched;
    int64_t last_rx_ns, created_ns, relatch_ns;
    counters_t c;
    /* recording: payloads of what this leg's endpoint sends */
    unsigned char *rec; size_t rec_len, rec_cap; int recording; uint64_t rec_dropped;
    /* playback: frames sent to this leg's endpoint from this leg's socket */
    unsigned char *play; size_t play_len, play_pos, frame; int64_t play_next_ns;
    uint16_t play_seq; uint32_t play_ts, play_ssrc; int play_pt;
} leg_t;

typedef struct {
    PyObject_HEAD
    pthread_mutex_t lock;
    pthread_t thread;
    int running, stop;
    int epfd, wakefd;
    leg_t *legs;
    int nlegs, cap;
    uint32_t next_gen;
    int nplaying;  /* legs with a prompt queued: the thread then wakes every few ms to pace it */
} Relay;

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    if (a->ss_family != b->ss_family) return 0;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr == ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
    return 0;
}

static int same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    if (!same_ip(a, b)) return 0;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_port == ((const struct sockaddr_in *)b)->sin_port;
    return ((const struct sockaddr_in6 *)a)->sin6_port == ((const struct sockaddr_in6 *)b)->sin6_port;
}

/* --- RFC 3550 A.1 / A.3 / A.8 ---------------------------------------------------------------- */

static void init_seq(counters_t *c, uint16_t seq) {
    c->base_seq = seq;
    c->max_seq = seq;
    c->bad_seq = RTP_SEQ_MOD + 1;
    c->cycles = 0;
    c->received = 0;
}

/* A.1 without probation: a relay counts from the first packet it sees. Returns 0 for a packet
 * the RFC says to ignore for the statistics (a large jump not yet confirmed). */
static int update_seq(counters_t *c, uint16_t seq) {
    uint16_t udelta = (uint16_t)(seq - c->max_seq);
    if (udelta < MAX_DROPOUT) {
        if (seq < c->max_seq) c->cycles += RTP_SEQ_MOD;
        c->max_seq = seq;
    } else if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
        if (seq == c->bad_seq) {
            init_seq(c, seq);  /* two sequential packets after a jump: the source restarted */
        } else {
            c->bad_seq = (seq + 1) & (RTP_SEQ_MOD - 1);
            return 0;
        }
    }
    /* else: duplicate or reordered, counted as received */
    c->received++;
    return 1;
}

static int64_t lost_packets(const counters_t *c) {
    if (!c->seq_started) return 0;
    int64_t extended_max = (int64_t)c->cycles + c->max_seq;
    int64_t expected = extended_max - c->base_seq + 1;
    int64_t lost = expected - c->received;
    return lost < 0 ? 0 : lost;
}

static void account_rtp(leg_t *l, const unsigned char *p, int64_t arrival_ns) {
    uint16_t seq = (uint16_t)(p[2] << 8 | p[3]);
    uint32_t ts = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
    uint32_t ssrc = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
    counters_t *c = &l->c;
    if (!c->seq_started || ssrc != c->ssrc) {  /* a new source: start its statistics afresh */
        c->seq_started = 1;
        c->ssrc = ssrc;
        c->have_transit = 0;
        c->jitter = 0;
        init_seq(c, seq);
        c->received = 1;
    } else if (!update_seq(c, seq)) {
        return;
    }
    uint32_t arrival = (uint32_t)((arrival_ns / 1000) * (int64_t)l->clock_rate / 1000000);
    int32_t transit = (int32_t)(arrival - ts);
    if (c->have_transit) {
        int32_t d = transit - c->transit;
        if (d < 0) d = -d;
        c->jitter += (uint32_t)d - ((c->jitter + 8) >> 4);  /* A.8: J += (|D| - J)/16, scaled */
    }
    c->transit = transit;
    c->have_transit = 1;
}

/* --- the packet path -------------------------------------------------------------------------- */

/* Decide whether a packet from `src` is accepted on leg `l`; latches or relearns as the rules say. */
static int accept_source(leg_t *l, const struct sockaddr_storage *src, socklen_t srclen,
                         const unsigned char *p, int is_rtp, int64_t t) {
    if (!l->symmetric) return l->sdp_len && same_addr(src, &l->sdp_addr);
    if (l->latched && same_addr(src, &l->remote)) return 1;
    int ip_ok = !l->has_latch_ip || same_ip(src, &l->latch_ip);
    if (l->latched) {
        if (t - l->last_rx_ns < l->relatch_ns) return 0;  /* rule 3: the latched source is still talking */
        int ssrc_ok = is_rtp && l->c.seq_started &&
                      ((uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11]) == l->c.ssrc;
        if (!ip_ok && !ssrc_ok) return 0;
    } else if (!ip_ok) {
        return 0;
    }
    memcpy(&l->remote, src, srclen);
    l->remote_len = srclen;
    l->latched = 1;
    return 1;
}

static void record_payload(leg_t *l, const unsigned char *p, size_t n) {
    size_t off = RTP_MIN + 4u * (p[0] & 0x0f);  /* rtp_header_fits() checked all of this */
    if (p[0] & 0x10) off += 4 + 4u * (size_t)(p[off + 2] << 8 | p[off + 3]);  /* extension (5.3.1) */
    if (p[0] & 0x20) n -= p[n - 1];  /* padding count in the last octet */
    if (n <= off) return;
    size_t len = n - off;
    if (l->rec_len + len > MAX_RECORD) { l->rec_dropped += len; return; }
    if (l->rec_len + len > l->rec_cap) {
        size_t cap = l->rec_cap ? l->rec_cap : 65536;
        while (cap < l->rec_len + len) cap *= 2;
        unsigned char *grown = realloc(l->rec, cap);
        if (!grown) { l->rec_dropped += len; return; }
        l->rec = grown;
        l->rec_cap = cap;
    }
    memcpy(l->rec + l->rec_len, p + off, len);
    l->rec_len += len;
}

typedef struct {
    struct mmsghdr rx[BATCH], tx[BATCH];
    struct iovec rxv[BATCH], txv[BATCH];
    struct sockaddr_storage src[BATCH];
    unsigned char buf[BATCH][PKT_MAX];
} batch_t;

/* RFC 3550 A.1's validity checks that need no state: the CSRC list, the header extension and the
 * padding all fit inside the packet. */
static int rtp_header_fits(const unsigned char *p, size_t n) {
    size_t off = RTP_MIN + 4u * (p[0] & 0x0f);
    if (off > n) return 0;
    if (p[0] & 0x10) {
        if (off + 4 > n) return 0;
        off += 4 + 4u * (size_t)(p[off + 2] << 8 | p[off + 3]);
        if (off > n) return 0;
    }
    if (p[0] & 0x20) {
        size_t padding = p[n - 1];
        if (padding == 0 || off + padding > n) return 0;
    }
    return 1;
}

static void relay_leg(Relay *r, leg_t *l, batch_t *b) {
    for (int i = 0; i < BATCH; i++) {
        b->rxv[i].iov_base = b->buf[i];
        b->rxv[i].iov_len = PKT_MAX;
        memset(&b->rx[i].msg_hdr, 0, sizeof b->rx[i].msg_hdr);
        b->rx[i].msg_hdr.msg_iov = &b->rxv[i];
        b->rx[i].msg_hdr.msg_iovlen = 1;
        b->rx[i].msg_hdr.msg_name = &b->src[i];
        b->rx[i].msg_hdr.msg_namelen = sizeof b->src[i];
    }
    int n = recvmmsg(l->fd, b->rx, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) return;
    int64_t t = now_ns();
    leg_t *peer = (l->peer >= 0 && l->peer < r->nlegs && r->legs[l->peer].active) ? &r->legs[l->peer] : NULL;
    int out = 0;
    for (int i = 0; i < n; i++) {
        unsigned char *p = b->buf[i];
        size_t len = b->rx[i].msg_len;
        /* RFC 5761 section 4: on an RTP port (rtcp-mux), second octets 192-223 are RTCP packet types. */
        int is_rtp = !l->rtcp && !(len >= 2 && p[1] >= 192 && p[1] <= 223);
        size_t minimum = is_rtp ? RTP_MIN : RTCP_MIN;
        if (len < minimum || (p[0] >> 6) != 2 || (b->rx[i].msg_hdr.msg_flags & MSG_TRUNC) ||
            (is_rtp && !rtp_header_fits(p, len))) {
            l->c.malformed++;
            continue;
        }
        if (!accept_source(l, &b->src[i], b->rx[i].msg_hdr.msg_namelen, p, is_rtp, t)) {
            l->c.foreign++;
            continue;
        }
        l->c.packets++;
        l->c.bytes += len;
        l->last_rx_ns = t;
        if (is_rtp) {
            account_rtp(l, p, t);
            if (l->recording) record_payload(l, p, len);
        }
        if (!peer || !peer->remote_len) continue;  /* nowhere to send yet (no answer) */
        b->txv[out].iov_base = p;
        b->txv[out].iov_len = len;
        memset(&b->tx[out].msg_hdr, 0, sizeof b->tx[out].msg_hdr);
        b->tx[out].msg_hdr.msg_iov = &b->txv[out];
        b->tx[out].msg_hdr.msg_iovlen = 1;
        b->tx[out].msg_hdr.msg_name = &peer->remote;
        b->tx[out].msg_hdr.msg_namelen = peer->remote_len;
        out++;
    }
    int sent = 0;
    while (sent < out) {
        int k = sendmmsg(peer->fd, b->tx + sent, out - sent, MSG_DONTWAIT);
        if (k > 0) { sent += k; continue; }
        if (k < 0 && errno == EINTR) continue;
        /* a full socket buffer or an unreachable endpoint (ICMP): skip that one packet */
        sent++;
    }
}

static void play_due(Relay *r, leg_t *l, int64_t t) {
    while (l->play && l->play_next_ns <= t) {
        unsigned char pkt[RTP_MIN + 1024];
        size_t n = l->play_len - l->play_pos;
        if (n > l->frame) n = l->frame;
        pkt[0] = 0x80;
        pkt[1] = (unsigned char)(l->play_pt & 0x7f) | (l->play_pos == 0 ? 0x80 : 0);  /* marker on the first */
        pkt[2] = l->play_seq >> 8; pkt[3] = l->play_seq & 0xff;
        pkt[4] = l->play_ts >> 24; pkt[5] = l->play_ts >> 16; pkt[6] = l->play_ts >> 8; pkt[7] = l->play_ts;
        pkt[8] = l->play_ssrc >> 24; pkt[9] = l->play_ssrc >> 16; pkt[10] = l->play_ssrc >> 8; pkt[11] = l->play_ssrc;
        memcpy(pkt + RTP_MIN, l->play + l->play_pos, n);
        if (l->remote_len) sendto(l->fd, pkt, RTP_MIN + n, MSG_DONTWAIT, (struct sockaddr *)&l->remote, l->remote_len);
        l->play_pos += n;
        l->play_seq++;
        l->play_ts += (uint32_t)n;
        l->play_next_ns += FRAME_NS;
        if (l->play_pos >= l->play_len) {
            free(l->play);
            l->play = NULL;
            r->nplaying--;
        }
    }
}

static void *relay_thread(void *arg) {
    Relay *r = arg;
    batch_t *b = malloc(sizeof *b);
    if (!b) return NULL;
    struct epoll_event ev[BATCH];
    for (;;) {
        pthread_mutex_lock(&r->lock);
        int stop = r->stop, wait_ms = r->nplaying > 0 ? 5 : -1;
        pthread_mutex_unlock(&r->lock);
        if (stop) break;
        int n = epoll_wait(r->epfd, ev, BATCH, wait_ms);
        if (n < 0 && errno != EINTR) break;
        pthread_mutex_lock(&r->lock);
        for (int i = 0; i < n; i++) {
            uint64_t data = ev[i].data.u64;
            if (data == UINT64_MAX) {  /* the wake-up eventfd: table changed or stop requested */
                uint64_t v;
                if (read(r->wakefd, &v, sizeof v) < 0) { /* nothing pending */ }
                continue;
            }
            int slot = (int)(data & 0xffffffffu);
            uint32_t gen = (uint32_t)(data >> 32);
            if (slot >= r->nlegs) continue;
            leg_t *l = &r->legs[slot];
            if (!l->active || l->gen != gen) continue;  /* removed since epoll_wait returned */
            relay_leg(r, l, b);
        }
        if (r->nplaying > 0) {
            int64_t t = now_ns();
            for (int i = 0; i < r->nlegs; i++)
                if (r->legs[i].active && r->legs[i].play) play_due(r, &r->legs[i], t);
        }
        pthread_mutex_unlock(&r->lock);
    }
    free(b);
    return NULL;
}

/* --- Python interface ------------------------------------------------------------------------- */

static void wake(Relay *r) {
    uint64_t one = 1;
    if (write(r->wakefd, &one, sizeof one) < 0) { /* counter full: already awake */ }
}

static void lock_table(Relay *r) {
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&r->lock);
    Py_END_ALLOW_THREADS
}

static leg_t *leg_or_raise(Relay *r, int slot) {
    if (slot < 0 || slot >= r->nlegs || !r->legs[slot].active) {
        PyErr_Format(PyExc_KeyError, "no leg %d", slot);
        return NULL;
    }
    return &r->legs[slot];
}

static int parse_address(const char *host, int port, struct sockaddr_storage *out, socklen_t *len) {
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    hints.ai_socktype = SOCK_DGRAM;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    if (getaddrinfo(host, service, &hints, &res) != 0 || !res) {
        PyErr_Format(PyExc_ValueError, "not a numeric address: %s", host);
        return -1;
    }
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static PyObject *format_address(const struct sockaddr_storage *a, socklen_t len) {
    char host[INET6_ADDRSTRLEN] = "";
    int port = 0;
    if (!len) return PyUnicode_FromString("");
    if (a->ss_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, host, sizeof host);
        port = ntohs(((const struct sockaddr_in *)a)->sin_port);
        return PyUnicode_FromFormat("%s:%d", host, port);
    }
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, host, sizeof host);
    port = ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
    return PyUnicode_FromFormat("[%s]:%d", host, port);
}

static PyObject *Relay_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
    Relay *r = (Relay *)type->tp_alloc(type, 0);
    if (!r) return NULL;
    r->epfd = r->wakefd = -1;
    pthread_mutex_init(&r->lock, NULL);
    r->epfd = epoll_create1(EPOLL_CLOEXEC);
    r->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (r->epfd < 0 || r->wakefd < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(r);
        return NULL;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->wakefd, &ev);
    r->next_gen = 1;
    return (PyObject *)r;
}

static PyObject *Relay_start(Relay *r, PyObject *unused) {
    if (r->running) Py_RETURN_NONE;
    r->stop = 0;
    if (pthread_create(&r->thread, NULL, relay_thread, r) != 0) return PyErr_SetFromErrno(PyExc_OSError);
    r->running = 1;
    Py_RETURN_NONE;
}

static void free_leg(Relay *r, leg_t *l) {
    epoll_ctl(r->epfd, EPOLL_CTL_DEL, l->fd, NULL);
    close(l->fd);
    free(l->rec);
    if (l->play) r->nplaying--;
    free(l->play);
    memset(l, 0, sizeof *l);
    l->fd = -1;
    l->peer = -1;
}

static void stop_thread(Relay *r) {
    if (!r->running) return;
    pthread_mutex_lock(&r->lock);
    r->stop = 1;
    pthread_mutex_unlock(&r->lock);
    wake(r);
    pthread_join(r->thread, NULL);
    r->running = 0;
}

static PyObject *Relay_close(Relay *r, PyObject *unused) {
    Py_BEGIN_ALLOW_THREADS
    stop_thread(r);
    Py_END_ALLOW_THREADS
    for (int i = 0; i < r->nlegs; i++)
        if (r->legs[i].active) free_leg(r, &r->legs[i]);
    r->nlegs = 0;
    Py_RETURN_NONE;
}

static void Relay_dealloc(Relay *r) {
    Py_BEGIN_ALLOW_THREADS
    stop_thread(r);
    Py_END_ALLOW_THREADS
    for (int i = 0; i < r->nlegs; i++)
        if (r->legs[i].active) free_leg(r, &r->legs[i]);
    free(r->legs);
    if (r->epfd >= 0) close(r->epfd);
    if (r->wakefd >= 0) close(r->wakefd);
    pthread_mutex_destroy(&r->lock);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

/* add(fd, rtcp=False, clock_rate=8000, relatch_ms=2000) -> leg id. The relay keeps its own dup of fd. */
static PyObject *Relay_add(Relay *r, PyObject *args, PyObject *kw) {
    static char *names[] = {"fd", "rtcp", "clock_rate", "relatch_ms", NULL};
    int fd, rtcp = 0, relatch_ms = 2000;
    unsigned int clock_rate = 8000;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "i|pIi", names, &fd, &rtcp, &clock_rate, &relatch_ms)) return NULL;
    if (clock_rate == 0) clock_rate = 8000;
    int own = dup(fd);
    if (own < 0) return PyErr_SetFromErrno(PyExc_OSError);
    lock_table(r);
    int slot = -1;
    for (int i = 0; i < r->nlegs; i++)
        if (!r->legs[i].active) { slot = i; break; }
    if (slot < 0) {
        if (r->nlegs == r->cap) {
            int cap = r->cap ? r->cap * 2 : 64;
            leg_t *grown = realloc(r->legs, sizeof(leg_t) * cap);
            if (!grown) { pthread_mutex_unlock(&r->lock); close(own); return PyErr_NoMemory(); }
            r->legs = grown;
            r->cap = cap;
        }
        slot = r->nlegs++;
    }
    leg_t *l = &r->legs[slot];
    memset(l, 0, sizeof *l);
    l->fd = own;
    l->gen = r->next_gen++;
    l->active = 1;
    l->peer = -1;
    l->rtcp = rtcp;
    l->symmetric = 1;
    l->clock_rate = clock_rate;
    l->relatch_ns = (int64_t)relatch_ms * 1000000LL;
    l->created_ns = l->last_rx_ns = now_ns();
    l->play_ssrc = (uint32_t)(l->created_ns ^ (uint32_t)slot * 2654435761u);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)l->gen << 32 | (uint32_t)slot};
    int rc = epoll_ctl(r->epfd, EPOLL_CTL_ADD, own, &ev);
    if (rc < 0) {
        int saved = errno;
        free_leg(r, l);
        pthread_mutex_unlock(&r->lock);
        errno = saved;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    pthread_mutex_unlock(&r->lock);
    return PyLong_FromLong(slot);
}

static PyObject *Relay_link(Relay *r, PyObject *args) {
    int a, b;
    if (!PyArg_ParseTuple(args, "ii", &a, &b)) return NULL;
    lock_table(r);
    leg_t *la = leg_or_raise(r, a), *lb = la ? leg_or_raise(r, b) : NULL;
    if (lb) { la->peer = b; lb->peer = a; }
    pthread_mutex_unlock(&r->lock);
    if (!lb) return NULL;
    Py_RETURN_NONE;
}

/* target(leg, host, port, latch_ip="", symmetric=True): the endpoint's SDP address and latching rule. */
static PyObject *Relay_target(Relay *r, PyObject *args, PyObject *kw) {
    static char *names[] = {"leg", "host", "port", "latch_ip", "symmetric", NULL};
    int slot, port, symmetric = 1;
    const char *host, *latch_ip = "";
    if (!PyArg_ParseTupleAndKeywords(args, kw, "isi|sp", names, &slot, &host, &port, &latch_ip, &symmetric))
        return NULL;
    struct sockaddr_storage addr = {0}, lip = {0};
    socklen_t len = 0, llen = 0;
    if (port > 0 && parse_address(host, port, &addr, &len) < 0) return NULL;
    if (*latch_ip && parse_address(latch_ip, 0, &lip, &llen) < 0) return NULL;
    lock_table(r);
    leg_t *l = leg_or_raise(r, slot);
    if (l) {
        /* A re-offer with the same SDP address keeps the latch (a NATed phone repeats its private
         * address); a new address or port means the endpoint moved its media: start afresh. */
        int moved = len != l->sdp_len || (len && !same_addr(&addr, &l->sdp_addr));
        l->sdp_addr = addr;
        l->sdp_len = len;
        if (moved || !l->latched || !l->symmetric || !symmetric) {
            l->remote = addr;
            l->remote_len = len;
            l->latched = 0;
        }
        l->latch_ip = lip;
        l->has_latch_ip = llen > 0;
        l->symmetric = symmetric;
    }
    pthread_mutex_unlock(&r->lock);
    if (!l) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Relay_remove(Relay *r, PyObject *args) {
    int slot;
    if (!PyArg_ParseTuple(args, "i", &slot)) return NULL;
    lock_table(r);
    leg_t *l = leg_or_raise(r, slot);
    if (l) {
        if (l->peer >= 0 && l->peer < r->nlegs && r->legs[l->peer].peer == slot) r->legs[l->peer].peer = -1;
        free_leg(r, l);
    }
    pthread_mutex_unlock(&r->lock);
    if (!l) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Relay_stats(Relay *r, PyObject *args) {
    int slot;
    if (!PyArg_ParseTuple(args, "i", &slot)) return NULL;
    lock_table(r);
    leg_t *l = leg_or_raise(r, slot);
    if (!l) { pthread_mutex_unlock(&r->lock); return NULL; }
    leg_t copy = *l;
    int64_t t = now_ns();
    pthread_mutex_unlock(&r->lock);
    double jitter_ms = (double)(copy.c.jitter >> 4) * 1000.0 / copy.clock_rate;
    PyObject *endpoint = format_address(&copy.remote, copy.remote_len);
    if (!endpoint) return NULL;
    return Py_BuildValue("{s:K,s:K,s:L,s:d,s:K,s:K,s:N,s:O,s:L,s:L}",
        "packets", (unsigned long long)copy.c.packets, "bytes", (unsigned long long)copy.c.bytes,
        "lost", (long long)lost_packets(&copy.c), "jitter_ms", jitter_ms,
        "malformed", (unsigned long long)copy.c.malformed, "foreign", (unsigned long long)copy.c.foreign,
        "endpoint", endpoint, "latched", copy.latched ? Py_True : Py_False,
        "idle_ms", (long long)((t - copy.last_rx_ns) / 1000000), "recording_bytes", (long long)copy.rec_len);
}

/* record(leg, start) -> bytes of the payloads recorded so far when stopping, else None */
static PyObject *Relay_record(Relay *r, PyObject *args) {
    int slot, start;
    if (!PyArg_ParseTuple(args, "ip", &slot, &start)) return NULL;
    lock_table(r);
    leg_t *l = leg_or_raise(r, slot);
    if (!l) { pthread_mutex_unlock(&r->lock); return NULL; }
    if (start) {
        l->recording = 1;
        pthread_mutex_unlock(&r->lock);
        Py_RETURN_NONE;
    }
    unsigned char *data = l->rec;
    size_t len = l->rec_len;
    l->rec = NULL;
    l->rec_len = l->rec_cap = 0;
    l->recording = 0;
    pthread_mutex_unlock(&r->lock);
    PyObject *out = PyBytes_FromStringAndSize((const char *)(data ? data : (unsigned char *)""), (Py_ssize_t)len);
    free(data);
    return out;
}

/* play(leg, payload, payload_type, frame_bytes=160): send payload to the leg's endpoint in frames */
static PyObject *Relay_play(Relay *r, PyObject *args, PyObject *kw) {
    static char *names[] = {"leg", "payload", "payload_type", "frame_bytes", NULL};
    int slot, pt, frame = 160;
    Py_buffer buf;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "iy*i|i", names, &slot, &buf, &pt, &frame)) return NULL;
    if (frame <= 0 || frame > 1024 || buf.len == 0) {
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "frame_bytes must be 1..1024 and the payload non-empty");
        return NULL;
    }
    unsigned char *copy = malloc((size_t)buf.len);
    if (!copy) { PyBuffer_Release(&buf); return PyErr_NoMemory(); }
    memcpy(copy, buf.buf, (size_t)buf.len);
    size_t len = (size_t)buf.len;
    PyBuffer_Release(&buf);
    lock_table(r);
    leg_t *l = leg_or_raise(r, slot);
    if (l) {
        if (!l->play) r->nplaying++;
        free(l->play);
        l->play = copy;
        l->play_len = len;
        l->play_pos = 0;
        l->frame = (size_t)frame;
        l->play_pt = pt;
        l->play_next_ns = now_ns();
    }
    pthread_mutex_unlock(&r->lock);
    if (!l) { free(copy); return NULL; }
    wake(r);
    Py_RETURN_NONE;
}

static PyObject *Relay_playing(Relay *r, PyObject *args) {
    int slot;
    if (!PyArg_ParseTuple(args, "i", &slot)) return NULL;
    lock_table(r);
    leg_t *l = leg_or_raise(r, slot);
    int playing = l && l->play != NULL;
    pthread_mutex_unlock(&r->lock);
    if (!l) return NULL;
    return PyBool_FromLong(playing);
}

/* --- G.711 (ITU-T G.711; the classic Sun reference algorithm) --------------------------------- */

static unsigned char linear_to_ulaw(int16_t pcm) {
    const int BIAS = 0x84, CLIP = 32635;
    int sign = (pcm >> 8) & 0x80, sample = pcm;
    if (sign) sample = -sample;
    if (sample > CLIP) sample = CLIP;
    sample += BIAS;
    int exponent = 7;
    for (int mask = 0x4000; !(sample & mask) && exponent > 0; mask >>= 1) exponent--;
    int mantissa = (sample >> (exponent + 3)) & 0x0f;
    return (unsigned char)~(sign | (exponent << 4) | mantissa);
}

static int16_t ulaw_to_linear(unsigned char u) {
    u = ~u;
    int t = ((u & 0x0f) << 3) + 0x84;
    t <<= (u & 0x70) >> 4;
    return (int16_t)((u & 0x80) ? (0x84 - t) : (t - 0x84));
}

static unsigned char linear_to_alaw(int16_t pcm) {
    int sign = 0x80, sample = pcm >> 3;  /* A-law works on 13-bit samples */
    if (sample < 0) { sign = 0x00; sample = -sample - 1; }
    int seg = 0;
    static const int ends[8] = {0x1f, 0x3f, 0x7f, 0xff, 0x1ff, 0x3ff, 0x7ff, 0xfff};
    while (seg < 8 && sample > ends[seg]) seg++;
    unsigned char a;
    if (seg >= 8) a = 0x7f;
    else a = (unsigned char)((seg << 4) | ((seg < 2 ? sample >> 1 : sample >> seg) & 0x0f));
    return (unsigned char)((a | sign) ^ 0x55);
}

static int16_t alaw_to_linear(unsigned char a) {
    a ^= 0x55;
    int t = (a & 0x0f) << 4, seg = (a & 0x70) >> 4;
    if (seg == 0) t += 8;
    else if (seg == 1) t += 0x108;
    else { t += 0x108; t <<= seg - 1; }
    return (int16_t)((a & 0x80) ? t : -t);
}

static PyObject *codec_encode(PyObject *args, int alaw) {
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "y*", &buf)) return NULL;
    Py_ssize_t n = buf.len / 2;
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);
    if (out) {
        unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(out);
        const unsigned char *src = buf.buf;
        for (Py_ssize_t i = 0; i < n; i++) {
            int16_t s = (int16_t)(src[2 * i] | src[2 * i + 1] << 8);  /* little-endian 16-bit PCM (WAV) */
            dst[i] = alaw ? linear_to_alaw(s) : linear_to_ulaw(s);
        }
    }
    PyBuffer_Release(&buf);
    return out;
}

static PyObject *codec_decode(PyObject *args, int alaw) {
    Py_buffer buf;
    if (!PyArg_ParseTuple(args, "y*", &buf)) return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, buf.len * 2);
    if (out) {
        unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(out);
        const unsigned char *src = buf.buf;
        for (Py_ssize_t i = 0; i < buf.len; i++) {
            int16_t s = alaw ? alaw_to_linear(src[i]) : ulaw_to_linear(src[i]);
            dst[2 * i] = (unsigned char)(s & 0xff);
            dst[2 * i + 1] = (unsigned char)((uint16_t)s >> 8);
        }
    }
    PyBuffer_Release(&buf);
    return out;
}

static PyObject *ulaw_encode(PyObject *m, PyObject *args) { return codec_encode(args, 0); }
static PyObject *alaw_encode(PyObject *m, PyObject *args) { return codec_encode(args, 1); }
static PyObject *ulaw_decode(PyObject *m, PyObject *args) { return codec_decode(args, 0); }
static PyObject *alaw_decode(PyObject *m, PyObject *args) { return codec_decode(args, 1); }

static PyMethodDef Relay_methods[] = {
    {"start", (PyCFunction)Relay_start, METH_NOARGS, "Start the packet thread."},
    {"close", (PyCFunction)Relay_close, METH_NOARGS, "Stop the packet thread and close every leg."},
    {"add", (PyCFunction)(void (*)(void))Relay_add, METH_VARARGS | METH_KEYWORDS,
     "add(fd, rtcp=False, clock_rate=8000, relatch_ms=2000) -> leg id"},
    {"link", (PyCFunction)Relay_link, METH_VARARGS, "link(a, b): what arrives on one leaves through the other"},
    {"target", (PyCFunction)(void (*)(void))Relay_target, METH_VARARGS | METH_KEYWORDS,
     "target(leg, host, port, latch_ip='', symmetric=True)"},
    {"remove", (PyCFunction)Relay_remove, METH_VARARGS, "remove(leg): stop relaying and close its socket"},
    {"stats", (PyCFunction)Relay_stats, METH_VARARGS, "stats(leg) -> dict of counters"},
    {"record", (PyCFunction)Relay_record, METH_VARARGS, "record(leg, start) -> recorded payload on stop"},
    {"play", (PyCFunction)(void (*)(void))Relay_play, METH_VARARGS | METH_KEYWORDS,
     "play(leg, payload, payload_type, frame_bytes=160)"},
    {"playing", (PyCFunction)Relay_playing, METH_VARARGS, "playing(leg) -> whether a prompt is still queued"},
    {NULL}};

static PyTypeObject RelayType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "services.media._relay.Relay",
    .tp_basicsize = sizeof(Relay),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "An RTP/RTCP relay: one native thread, epoll over its legs' sockets.",
    .tp_new = Relay_new,
    .tp_dealloc = (destructor)Relay_dealloc,
    .tp_methods = Relay_methods,
};

static PyMethodDef module_methods[] = {
    {"ulaw_encode", ulaw_encode, METH_VARARGS, "16-bit little-endian PCM -> G.711 mu-law"},
    {"ulaw_decode", ulaw_decode, METH_VARARGS, "G.711 mu-law -> 16-bit little-endian PCM"},
    {"alaw_encode", alaw_encode, METH_VARARGS, "16-bit little-endian PCM -> G.711 A-law"},
    {"alaw_decode", alaw_decode, METH_VARARGS, "G.711 A-law -> 16-bit little-endian PCM"},
    {NULL}};

static struct PyModuleDef relay_module = {PyModuleDef_HEAD_INIT, "_relay", "The native RTP relay.", -1, module_methods};

PyMODINIT_FUNC PyInit__relay(void) {
    if (PyType_Ready(&RelayType) < 0) return NULL;
    PyObject *m = PyModule_Create(&relay_module);
    if (!m) return NULL;
    Py_INCREF(&RelayType);
    if (PyModule_AddObject(m, "Relay", (PyObject *)&RelayType) < 0) {
        Py_DECREF(&RelayType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
