/* text.c: UTF-16LE (what .NET and the DAC use) to UTF-8 (what we print and serve). */
#include "dumpscope/dump.h"

#include <string.h>

size_t ds_utf16_to_utf8(const uint16_t *in, size_t in_len, bool stop_at_nul, char *out, size_t out_len) {
  size_t o = 0;
  for (size_t i = 0; i < in_len; i++) {
    uint32_t c = in[i];
    if (c == 0 && stop_at_nul)
      break;
    if (c >= 0xD800 && c < 0xDC00 && i + 1 < in_len && in[i + 1] >= 0xDC00 && in[i + 1] < 0xE000) {
      c = 0x10000 + ((c - 0xD800) << 10) + (in[i + 1] - 0xDC00);
      i++;
    } else if (c >= 0xD800 && c < 0xE000) {
      c = 0xFFFD; /* a lone surrogate */
    }
    char tmp[4];
    size_t n;
    if (c < 0x80) { tmp[0] = (char)c; n = 1; }
    else if (c < 0x800) { tmp[0] = (char)(0xC0 | (c >> 6)); tmp[1] = (char)(0x80 | (c & 0x3F)); n = 2; }
    else if (c < 0x10000) { tmp[0] = (char)(0xE0 | (c >> 12)); tmp[1] = (char)(0x80 | ((c >> 6) & 0x3F));
                            tmp[2] = (char)(0x80 | (c & 0x3F)); n = 3; }
    else { tmp[0] = (char)(0xF0 | (c >> 18)); tmp[1] = (char)(0x80 | ((c >> 12) & 0x3F));
           tmp[2] = (char)(0x80 | ((c >> 6) & 0x3F)); tmp[3] = (char)(0x80 | (c & 0x3F)); n = 4; }
    if (o + n >= out_len)
      break;
    memcpy(out + o, tmp, n);
    o += n;
  }
  if (out_len)
    out[o] = 0;
  return o;
}
