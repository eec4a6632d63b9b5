/*
 * test_url.c: import URLs (server/url.h): what is accepted, the redacted form, which addresses are
 * public, the allowed-hosts list, and the redaction of free text. Only literal addresses: nothing
 * here resolves a name or opens a connection.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "fixture.h"
#include "url.h"

static void test_parse(void) {
  ds_url u;
  ds_error err = {0};
  CU_ASSERT_EQUAL_FATAL(ds_url_parse("https://Acct.Blob.Core.Windows.Net/c/dir/a.dmp?sv=2021&sig=S3cr%2Bt#frag", &u, &err),
                        DS_OK);
  CU_ASSERT(u.https);
  CU_ASSERT_STRING_EQUAL(u.host, "acct.blob.core.windows.net");
  CU_ASSERT_EQUAL(u.port, 443);
  CU_ASSERT_STRING_EQUAL(u.full, "https://Acct.Blob.Core.Windows.Net/c/dir/a.dmp?sv=2021&sig=S3cr%2Bt");
  CU_ASSERT_STRING_EQUAL(u.redacted, "https://acct.blob.core.windows.net/c/dir/a.dmp?<redacted>");
  CU_ASSERT_EQUAL(ds_url_parse("http://127.0.0.1:10000/devstoreaccount1/c/b", &u, &err), DS_OK);
  CU_ASSERT_EQUAL(u.port, 10000);
  CU_ASSERT_STRING_EQUAL(u.redacted, "http://127.0.0.1:10000/devstoreaccount1/c/b");
  CU_ASSERT_EQUAL(ds_url_parse("http://[::1]:8080?x=1", &u, &err), DS_OK);
  CU_ASSERT(u.ipv6_literal);
  CU_ASSERT_STRING_EQUAL(u.host, "::1");
  CU_ASSERT_STRING_EQUAL(u.redacted, "http://[::1]:8080?<redacted>");
  static const char *const bad[] = {
      "", "ftp://h/x", "file:///etc/passwd", "https://", "https://user:pw@h/x", "https://h@evil/x",
      "http://h:0/x", "http://h:65536/x", "http://h:12a/x", "http://h x/", "http://h/a b", "http://h/\x01",
      "http://[::1/x", "http://[nothex]/x", "http://h\\@evil/x", "http://h%2e/x", "gopher://h/",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    ds_status rc = ds_url_parse(bad[i], &u, &err);
    if (rc != DS_E_ARG)
      fprintf(stderr, "accepted: %s\n", bad[i]);
    CU_ASSERT_EQUAL(rc, DS_E_ARG);
  }
}

static bool is_public(const char *text) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  if (strchr(text, ':')) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    CU_ASSERT_EQUAL_FATAL(inet_pton(AF_INET6, text, &a->sin6_addr), 1);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    a->sin_family = AF_INET;
    CU_ASSERT_EQUAL_FATAL(inet_pton(AF_INET, text, &a->sin_addr), 1);
  }
  return ds_addr_is_public((struct sockaddr *)&ss);
}

static void test_addresses(void) {
  static const char *const refused[] = {
      "127.0.0.1", "127.255.0.9", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
      "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "192.0.2.1", "::1", "::", "fe80::1", "fc00::1",
      "fd12::1", "ff02::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1", "64:ff9b::a00:1", "2001:db8::1",
  };
  static const char *const allowed[] = {"8.8.8.8", "20.60.1.1", "172.32.0.1", "192.169.0.1", "2001:4860::8888",
                                        "::ffff:8.8.8.8"};
  for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
    if (is_public(refused[i]))
      fprintf(stderr, "public: %s\n", refused[i]);
    CU_ASSERT(!is_public(refused[i]));
  }
  for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++)
    CU_ASSERT(is_public(allowed[i]));
}

static void test_allowed_hosts(void) {
  ds_url u;
  ds_error err = {0};
  bool listed = false;
  CU_ASSERT_EQUAL_FATAL(ds_url_parse("http://127.0.0.1:10000/a", &u, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_url_check_host(&u, "", &listed, &err), DS_E_UNSUPPORTED); /* loopback, not listed */
  CU_ASSERT(strstr(err.message, "loopback") != NULL);
  CU_ASSERT_EQUAL(ds_url_check_host(&u, " 127.0.0.1:10000 , example.com", &listed, &err), DS_OK);
  CU_ASSERT(listed);
  CU_ASSERT_EQUAL(ds_url_check_host(&u, "127.0.0.1", &listed, &err), DS_OK); /* any port */
  CU_ASSERT_EQUAL(ds_url_check_host(&u, "127.0.0.1:10001", &listed, &err), DS_E_UNSUPPORTED);
  CU_ASSERT_EQUAL(ds_url_check_host(&u, "127.0.0.10:10000", &listed, &err), DS_E_UNSUPPORTED);
  CU_ASSERT_EQUAL(ds_url_check_host(&u, "127.0.0.1:1000", &listed, &err), DS_E_UNSUPPORTED);
  CU_ASSERT(!listed);
  CU_ASSERT_EQUAL_FATAL(ds_url_parse("http://[::1]:7/a", &u, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_url_check_host(&u, "[::1]:7", &listed, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_url_check_host(&u, "", &listed, &err), DS_E_UNSUPPORTED);
  CU_ASSERT_EQUAL_FATAL(ds_url_parse("https://8.8.8.8/a", &u, &err), DS_OK);
  CU_ASSERT_EQUAL(ds_url_check_host(&u, "", &listed, &err), DS_OK);
  CU_ASSERT(!listed);
}

static void test_redact_text(void) {
  char out[256];
  ds_url_redact_text("GET https://h/c/b?sv=1&sig=abc%3D failed; was the folder changed?", out, sizeof out);
  CU_ASSERT_STRING_EQUAL(out, "GET https://h/c/b?<redacted> failed; was the folder changed?");
  ds_url_redact_text("token sig=abc&sp=r and SIG=zz", out, sizeof out);
  CU_ASSERT_STRING_EQUAL(out, "token sig=REDACTED&sp=r and sig=REDACTED");
  ds_url_redact_text("x?a=b", out, 4);
  CU_ASSERT_STRING_EQUAL(out, "x");
}

int main(void) {
  CU_initialize_registry();
  CU_pSuite s = CU_add_suite("url", NULL, NULL);
  CU_add_test(s, "URLs accepted and refused, the redacted form", test_parse);
  CU_add_test(s, "public and non-public addresses", test_addresses);
  CU_add_test(s, "import_allowed_hosts", test_allowed_hosts);
  CU_add_test(s, "signatures redacted from free text", test_redact_text);
  return ds_test_main();
}
