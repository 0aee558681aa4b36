/*
 * A service on one of Postfix's own skeletons, for the tests that compare
 * postkit's skeletons with Postfix's (tests/compat.rs).  Built
 * by the tests with -DSKELETON=1..4 and linked against Debian's
 * libpostfix-master.so: the handler does nothing of interest; what the
 * tests compare is what the skeleton itself says and does for a start.
 */
#include <sys/types.h>

typedef void (*stream_fn) (void *, char *, char **);
typedef void (*trigger_fn) (char *, ssize_t, char *, char **);

/* The skeleton entry points the 3.7 library exports. */
extern void single_server_main(int, char **, stream_fn, ...);
extern void multi_server_main(int, char **, stream_fn, ...);
extern void event_server_main(int, char **, stream_fn, ...);
extern void trigger_server_main(int, char **, trigger_fn, ...);

static void on_stream(void *stream, char *service, char **argv)
{
    (void) stream;
    (void) service;
    (void) argv;
}

static void on_trigger(char *buf, ssize_t len, char *service, char **argv)
{
    (void) buf;
    (void) len;
    (void) service;
    (void) argv;
}

int     main(int argc, char **argv)
{
#if SKELETON == 1
    single_server_main(argc, argv, on_stream, 0);
#elif SKELETON == 2
    multi_server_main(argc, argv, on_stream, 0);
#elif SKELETON == 3
    event_server_main(argc, argv, on_stream, 0);
#else
    (void) on_stream;
    /* As pickup and qmgr (and postkit's example): MAIL_SERVER_SOLITARY. */
    trigger_server_main(argc, argv, on_trigger, 15, 0);
#endif
    return 0;
}
