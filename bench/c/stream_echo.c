/*
 * stream_echo: a stream service on Postfix's own skeletons, for
 * postkit-bench.  Linked against Debian's libpostfix-master.so (built with
 * -DMULTI for multi_server, without for single_server): each request is a
 * line, each answer "ok\n".  postkit's twin is `postkit-bench` run as
 * `bench_echo_multi` or `bench_echo_single`.
 *
 * master.cf: NAME unix - n n - LIMIT stream_echo_multi (or _single)
 */
#include <sys/types.h>

typedef struct VSTREAM VSTREAM;
typedef struct VSTRING VSTRING;

/* The entry points used, as the 3.7 libraries export them. */
typedef void (*stream_fn) (VSTREAM *, char *, char **);
extern void single_server_main(int, char **, stream_fn, ...);
extern void multi_server_main(int, char **, stream_fn, ...);
extern void multi_server_disconnect(VSTREAM *);
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
#else
    single_server_main(argc, argv, echo, 0);
#endif
    return 0;
}
