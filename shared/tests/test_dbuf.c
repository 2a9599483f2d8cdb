/* test_dbuf.c: bounded buffers. */
#include "config.h"

#include <string.h>

#include "dbuf.h"
#include "tap.h"
#include "xmalloc.h"

int
main(void)
{
	struct dbuf	 b;
	char		 big[100], *p, dst[4];
	size_t		 len;

	dbuf_init(&b, 10);
	is_str(dbuf_str(&b), "", "empty buffer reads as empty string");
	ok(dbuf_addstr(&b, "hello") == 0, "add within limit");
	ok(dbuf_printf(&b, "%d", 1234) == 0, "printf within limit");
	is_str(dbuf_str(&b), "hello1234", "contents");
	ok(dbuf_addstr(&b, "xy") == -1, "add past the maximum fails");
	is_str(dbuf_str(&b), "hello1234", "failed add leaves contents alone");
	ok(dbuf_addc(&b, '!') == 0, "one more byte reaches the maximum");
	ok(dbuf_printf(&b, "%s", "z") == -1, "printf past the maximum fails");
	p = dbuf_take(&b, &len);
	is_int(len, 10, "take returns the length");
	is_str(p, "hello1234!", "take returns the contents");
	is_int(b.len, 0, "take empties the buffer");
	free(p);

	p = dbuf_take(&b, &len);
	ok(p != NULL && len == 0 && p[0] == '\0',
	    "take of a buffer that never held bytes gives an empty string");
	free(p);

	dbuf_init(&b, sizeof(big) * 4);
	memset(big, 'a', sizeof(big));
	ok(dbuf_add(&b, big, sizeof(big)) == 0 &&
	    dbuf_add(&b, big, sizeof(big)) == 0 && b.len == 200,
	    "growth across several reallocations");
	dbuf_reset(&b);
	is_int(b.len, 0, "reset");
	dbuf_free(&b);

	is_int(strlcpy(dst, "abcdef", sizeof(dst)), 6, "strlcpy returns source length");
	is_str(dst, "abc", "strlcpy truncates and terminates");
	is_int(strlcat(dst, "zz", sizeof(dst)), 5, "strlcat returns wanted length");
	is_str(dst, "abc", "strlcat truncates");
	return (tap_done());
}
