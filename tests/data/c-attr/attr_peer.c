/*
 * A peer that speaks Postfix's attribute protocol through Postfix's own
 * code (Debian's libpostfix-util.so), for the test that checks postkit's
 * attribute functions against it (tests/compat.rs).  argv[1] is "64"
 * (the base64 form) or "plain".  It writes one request to standard
 * output, reads one answer from standard input, and writes what it read
 * to standard error as "action=[...] code=[...]" (or "scan: N" when the
 * scan did not give both attributes).
 */
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/types.h>

typedef struct VSTREAM VSTREAM;
typedef struct VSTRING VSTRING;

/* The head of Postfix's VBUF, which a VSTRING starts with. */
struct vbuf_head {
    int     flags;
    unsigned char *data;
};

#define vstring_text(vp) ((char *) ((struct vbuf_head *) (vp))->data)

extern VSTREAM *vstream_fdopen(int, int);
extern int vstream_fflush(VSTREAM *);
extern VSTRING *vstring_alloc(ssize_t);
extern int attr_print64(VSTREAM *, int,...);
extern int attr_scan64(VSTREAM *, int,...);
extern int attr_print_plain(VSTREAM *, int,...);
extern int attr_scan_plain(VSTREAM *, int,...);

#define ATTR_TYPE_END	0
#define ATTR_TYPE_INT	1
#define ATTR_TYPE_STR	2
#define ATTR_TYPE_LONG	4
#define ATTR_FLAG_NONE	0
#define ATTR_FLAG_STRICT 3

int     main(int argc, char **argv)
{
    int     b64 = argc > 1 && strcmp(argv[1], "64") == 0;
    int     (*print) (VSTREAM *, int,...) = b64 ? attr_print64 : attr_print_plain;
    int     (*scan) (VSTREAM *, int,...) = b64 ? attr_scan64 : attr_scan_plain;
    VSTREAM *out = vstream_fdopen(1, O_WRONLY);
    VSTREAM *in = vstream_fdopen(0, O_RDONLY);
    VSTRING *action = vstring_alloc(100);
    int     code = 0;
    int     n;

    print(out, ATTR_FLAG_NONE,
	  ATTR_TYPE_STR, "request", "smtpd_access_policy",
	  ATTR_TYPE_STR, "sender", "a:b=c@example.com",
	  ATTR_TYPE_STR, "empty", "",
	  ATTR_TYPE_INT, "count", 42,
	  ATTR_TYPE_LONG, "size", 1234567890123L,
	  ATTR_TYPE_STR, "text", b64 ? "two\nlines\tand \xc3\xa9" : "plain text",
	  ATTR_TYPE_END);
    vstream_fflush(out);
    n = scan(in, ATTR_FLAG_STRICT,
	     ATTR_TYPE_STR, "action", action,
	     ATTR_TYPE_INT, "code", &code,
	     ATTR_TYPE_END);
    if (n != 2)
	fprintf(stderr, "scan: %d\n", n);
    else
	fprintf(stderr, "action=[%s] code=[%d]\n", vstring_text(action), code);
    return 0;
}
