/* fuzz_creds: libFuzzer target for the credential parsers, which read bytes that come from a
 * file on disk or a metadata endpoint (creds_parse_shared_file, creds_parse_json).
 *
 * Input layout: the first byte modulo 32 is the length of a profile name that follows it
 * (0: "default"); the rest is fed to both parsers. Besides crashes, it checks that whatever a
 * parser accepts is what the signer may put in a header: non-empty, bounded, printable. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/creds_parse.h"

static void check_field(const char *s, size_t size, bool required)
{
    size_t n = strnlen(s, size);
    if (n == size || (required && n == 0))
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
            abort();
}

static void check_creds(const struct aws_creds *a)
{
    check_field(a->access_key_id, sizeof a->access_key_id, true);
    check_field(a->secret_access_key, sizeof a->secret_access_key, true);
    check_field(a->session_token, sizeof a->session_token, false);
    char masked[16];
    creds_mask(a->secret_access_key, masked, sizeof masked);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char profile[CREDS_KEY_MAX] = "default";
    if (size > 0) {
        size_t n = data[0] % 32;
        if (n > 0 && n < size) {
            memcpy(profile, data + 1, n);
            profile[n] = '\0';
        }
        if (n < size) {
            data += 1 + n;
            size -= 1 + n;
        } else {
            size = 0;
        }
    }
    struct aws_creds a;
    char err[256];
    if (creds_parse_shared_file((const char *)data, size, profile, &a, err, sizeof err) == 0) {
        check_creds(&a);
        if (a.expiration != 0)
            abort();
    }
    if (creds_parse_json((const char *)data, size, &a, err, sizeof err) == 0)
        check_creds(&a);
    return 0;
}
