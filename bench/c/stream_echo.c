/*
 * stream_echo: a stream service on Postfix's own skeletons, for
 * postkit-bench.  Linked against Debian's libpostfix-master.so (built with
 * -DMULTI for multi_server, -DEVENT for event_server, neither for
 * single_server): each request is a line, each answer "ok\n".  With
 * -DMULTI -DPOLICY, a policy service instead (SMTPD_POLICY_README:
 * name=value lines and an empty line in, "action=DUNNO" and an empty line
 * out), the twin of postkit-bench's `bench_policy`.  postkit's
 * twin is `postkit-bench` run as `bench_echo_multi`, `bench_echo_event` or
 * `bench_echo_single`.
 *
 * master.cf: NAME unix - n n - LIMIT stream_echo_multi (_event, _single)
 */
#include <sys/types.h>

typedef struct VSTREAM VSTREAM;
typedef struct VSTRING VSTRING;

/* The entry points used, as the 3.7 libraries export them. */
typedef void (*stream_fn) (VSTREAM *, char *, char **);
extern void single_server_main(int, char **, stream_fn, ...);
extern void multi_server_main(int, char **, stream_fn, ...);
extern void multi_server_disconnect(VSTREAM *);
extern void event_server_main(int, char **, stream_fn, ...);
extern void event_server_disconnect(VSTREAM *);
extern void event_enable_read(int, void (*) (int, void *), void *);
extern void event_disable_readwrite(int);
extern ssize_t vstream_bufstat(VSTREAM *, int);
extern VSTRING *vstring_alloc(ssize_t);
extern int vstring_get_flags_nonl(VSTRING *, VSTREAM *, int);
extern int vstream_fputs(const char *, VSTREAM *);
extern int vstream_fflush(VSTREAM *);

/*
 * vstream_fileno() and vstring_str() are macros over the heads of VSTREAM
 * and VSTRING: a VBUF (the layout of every release since 2.12), then, for
 * a VSTREAM, the descriptor.
 */
struct vbuf_head {
    int     flags;
    unsigned char *data;
    ssize_t len;
    ssize_t cnt;
    unsigned char *ptr;
    void   *get_ready;
    void   *put_ready;
    void   *space;
};

struct vstream_head {
    struct vbuf_head buf;
    int     fd;
};

#define STREAM_FD(s) (((struct vstream_head *) (s))->fd)

static VSTRING *line;

#ifdef MULTI
/* One request per call: the skeleton calls again while input remains. */
static void echo(VSTREAM *stream, char *service, char **argv)
{
    (void) service;
    (void) argv;
    if (line == 0)
	line = vstring_alloc(100);
#ifdef POLICY
    for (;;) {
	if (vstring_get_flags_nonl(line, stream, 0) < 0) {
	    multi_server_disconnect(stream);
	    return;
	}
	if (*((struct vbuf_head *) line)->data == 0)
	    break;
    }
    vstream_fputs("action=DUNNO\n\n", stream);
#else
    if (vstring_get_flags_nonl(line, stream, 0) < 0) {
	multi_server_disconnect(stream);
	return;
    }
    vstream_fputs("ok\n", stream);
#endif
    if (vstream_fflush(stream) != 0)
	multi_server_disconnect(stream);
}

#elif defined(EVENT)
#define EVENT_READ (1<<0)
#define VSTREAM_BST_IN_PEND ((1<<0) | (1<<2))


/* Each line that came, answered; the connection ends at end of input. */
static void echo_input(int event, void *context)
{
    VSTREAM *stream = (VSTREAM *) context;
    int     fd = STREAM_FD(stream);

    do {
	if (event != EVENT_READ
	    || vstring_get_flags_nonl(line, stream, 0) < 0
	    || vstream_fputs("ok\n", stream) < 0
	    || vstream_fflush(stream) != 0) {
	    event_disable_readwrite(fd);
	    event_server_disconnect(stream);
	    return;
	}
    } while (vstream_bufstat(stream, VSTREAM_BST_IN_PEND) > 0);
}

/* A new client: its input is watched by the skeleton's event loop. */
static void echo(VSTREAM *stream, char *service, char **argv)
{
    (void) service;
    (void) argv;
    if (line == 0)
	line = vstring_alloc(100);
    event_enable_read(STREAM_FD(stream), echo_input, (void *) stream);
}

#else
/* The whole connection per call. */
static void echo(VSTREAM *stream, char *service, char **argv)
{
    (void) service;
    (void) argv;
    if (line == 0)
	line = vstring_alloc(100);
    while (vstring_get_flags_nonl(line, stream, 0) >= 0) {
	vstream_fputs("ok\n", stream);
	if (vstream_fflush(stream) != 0)
	    break;
    }
}

#endif

int     main(int argc, char **argv)
{
#ifdef MULTI
    multi_server_main(argc, argv, echo, 0);
#elif defined(EVENT)
    event_server_main(argc, argv, echo, 0);
#else
    single_server_main(argc, argv, echo, 0);
#endif
    return 0;
}
