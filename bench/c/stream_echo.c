/*
 * stream_echo: a stream service on Postfix's own skeletons, for
 * postkit-bench.  Linked against Debian's libpostfix-master.so (built with
 * -DMULTI for multi_server, -DEVENT for event_server, neither for
 * single_server): each request is a line, each answer "ok\n".  postkit's
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

static VSTRING *line;

#ifdef MULTI
/* One request per call: the skeleton calls again while input remains. */
static void echo(VSTREAM *stream, char *service, char **argv)
{
    (void) service;
    (void) argv;
    if (line == 0)
	line = vstring_alloc(100);
    if (vstring_get_flags_nonl(line, stream, 0) < 0) {
	multi_server_disconnect(stream);
	return;
    }
    vstream_fputs("ok\n", stream);
    if (vstream_fflush(stream) != 0)
	multi_server_disconnect(stream);
}

#elif defined(EVENT)
#define EVENT_READ (1<<0)
#define VSTREAM_BST_IN_PEND ((1<<0) | (1<<2))

/*
 * vstream_fileno() is a macro over the head of VSTREAM: a VBUF, then the
 * descriptor (the layout of every release since 2.12).
 */
struct vstream_head {
    int     flags;
    unsigned char *data;
    ssize_t len;
    ssize_t cnt;
    unsigned char *ptr;
    void   *get_ready;
    void   *put_ready;
    void   *space;
    int     fd;
};

#define STREAM_FD(s) (((struct vstream_head *) (s))->fd)

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
