/*
 * dgram_count: a datagram service on Postfix's own skeleton, for
 * postkit-bench.  Linked against Debian's libpostfix-master.so, it is
 * the seed's dgram_server with the smallest handler there is: it counts
 * each datagram in a shared counter (an 8-byte file every process of the
 * pool maps), after spinning for a fixed time (work) or sleeping for one
 * (a wait, as for a lookup) when asked to.  postkit's twin of it is
 * `postkit-bench` run as `bench_count`.
 *
 * master.cf: NAME unix-dgram n n n - LIMIT dgram_count COUNTER SPIN_NS SLEEP_NS
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* The one skeleton entry point used, as the 3.7 library exports it. */
typedef void (*dgram_service_fn) (char *, ssize_t, char *, char **);
extern void dgram_server_main(int, char **, dgram_service_fn, ...);
extern void trigger_server_main(int, char **, dgram_service_fn, ...);

static unsigned long *counter;
static long spin_ns;
static long sleep_ns;

static long elapsed_ns(const struct timespec *from)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - from->tv_sec) * 1000000000L + (now.tv_nsec - from->tv_nsec);
}

static void count(char *buf, ssize_t len, char *service, char **argv)
{
    (void) buf;
    (void) len;
    (void) service;
    if (counter == 0) {
        int     fd;

        if (argv[0] == 0 || (fd = open(argv[0], O_RDWR)) < 0)
            exit(1);
        counter = mmap(0, sizeof(*counter), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (counter == MAP_FAILED)
            exit(1);
        close(fd);
        spin_ns = argv[1] ? atol(argv[1]) : 0;
        sleep_ns = argv[1] && argv[2] ? atol(argv[2]) : 0;
    }
    if (spin_ns > 0) {
        struct timespec start;

        clock_gettime(CLOCK_MONOTONIC, &start);
        while (elapsed_ns(&start) < spin_ns)
             /* void */ ;
    }
    if (sleep_ns > 0) {
        struct timespec pause = {sleep_ns / 1000000000L, sleep_ns % 1000000000L};

        nanosleep(&pause, 0);
    }
    __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

int     main(int argc, char **argv)
{
#ifdef TRIGGER
    trigger_server_main(argc, argv, count, 0);
#else
    dgram_server_main(argc, argv, count, 0);
#endif
    return 0;
}
