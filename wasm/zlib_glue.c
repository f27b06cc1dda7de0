/*
 * The few entry points lib/zlib_wasm_codec.ts calls: zlib's own deflate and inflate (built from Debian's
 * zlib 1.2.13 source by scripts/build_zlib_wasm.sh), with z_stream's fields reached through small
 * accessors so that the TypeScript side never depends on the struct's layout.
 */
#include <stdlib.h>
#include "zlib.h"
#include "deflate.h" /* zlib's internal deflate_state: to lend compressors one shared pending buffer */

/*
 * zlib's pending buffer (pending_buf: output not yet copied out, overlaid with the current block's symbols,
 * 2^(memLevel+8) bytes) holds nothing once a call has ended with a sync flush and all its output was taken,
 * which is how every call from lib/zlib_wasm_codec.ts ends (it loops until output space is left over). All
 * compressors of one memLevel share one, as pako_codec.ts does: 64 KiB less per compressor at memLevel 8.
 */
static uchf *shared_pending[10];

/* Memory the TypeScript side fills and reads (input and output staging). */
unsigned char *wz_malloc(unsigned size) { return malloc(size); }
void wz_free(void *pointer) { free(pointer); }

/* Raw deflate (no zlib header): windowBits is negated, as RFC 7692 §7.2.1 sends bare DEFLATE blocks. */
z_stream *wz_deflate_new(int level, int windowBits, int memLevel) {
  z_stream *stream = calloc(1, sizeof(z_stream));
  if (stream == 0) return 0;
  if (deflateInit2(stream, level, Z_DEFLATED, -windowBits, memLevel, Z_DEFAULT_STRATEGY) != Z_OK) {
    free(stream);
    return 0;
  }
  deflate_state *state = (deflate_state *)stream->state;
  if (shared_pending[memLevel] == 0) {
    shared_pending[memLevel] = state->pending_buf; /* the first one's becomes the shared one, never freed */
  } else {
    free(state->pending_buf); /* zlib's zcalloc is malloc */
  }
  state->pending_buf = shared_pending[memLevel];
  state->pending_out = state->pending_buf;
  state->sym_buf = state->pending_buf + state->lit_bufsize;
  return stream;
}

int wz_deflate(z_stream *stream, unsigned char *out, unsigned outLength, int flush) {
  stream->next_out = out;
  stream->avail_out = outLength;
  return deflate(stream, flush);
}

int wz_deflate_reset(z_stream *stream) { return deflateReset(stream); }

int wz_deflate_set_dictionary(z_stream *stream, const unsigned char *dictionary, unsigned length) {
  return deflateSetDictionary(stream, dictionary, length);
}

/* Copies the window (at most 2^windowBits bytes, oldest first) to `out`; returns its length or -1. */
int wz_deflate_get_dictionary(z_stream *stream, unsigned char *out) {
  unsigned length = 0;
  return deflateGetDictionary(stream, out, &length) == Z_OK ? (int)length : -1;
}

void wz_deflate_end(z_stream *stream) {
  ((deflate_state *)stream->state)->pending_buf = Z_NULL; /* shared: deflateEnd frees only what is not null */
  deflateEnd(stream);
  free(stream);
}

z_stream *wz_inflate_new(int windowBits) {
  z_stream *stream = calloc(1, sizeof(z_stream));
  if (stream == 0) return 0;
  if (inflateInit2(stream, -windowBits) != Z_OK) {
    free(stream);
    return 0;
  }
  return stream;
}

int wz_inflate(z_stream *stream, unsigned char *out, unsigned outLength, int flush) {
  stream->next_out = out;
  stream->avail_out = outLength;
  return inflate(stream, flush);
}

int wz_inflate_reset(z_stream *stream) { return inflateReset(stream); }
int wz_inflate_reset_keep(z_stream *stream) { return inflateResetKeep(stream); }

int wz_inflate_set_dictionary(z_stream *stream, const unsigned char *dictionary, unsigned length) {
  return inflateSetDictionary(stream, dictionary, length);
}

int wz_inflate_get_dictionary(z_stream *stream, unsigned char *out) {
  unsigned length = 0;
  return inflateGetDictionary(stream, out, &length) == Z_OK ? (int)length : -1;
}

void wz_inflate_end(z_stream *stream) {
  inflateEnd(stream);
  free(stream);
}

/* Input is set once per piece; deflate and inflate advance it. */
void wz_set_input(z_stream *stream, unsigned char *in, unsigned length) {
  stream->next_in = in;
  stream->avail_in = length;
}
unsigned wz_avail_in(z_stream *stream) { return stream->avail_in; }
unsigned wz_avail_out(z_stream *stream) { return stream->avail_out; }
/* inflate with Z_BLOCK: bit 128 is set when it stopped at the end of a block. */
int wz_data_type(z_stream *stream) { return stream->data_type; }
/* zlib's message for the last error, a C string (or 0). */
const char *wz_message(z_stream *stream) { return stream->msg; }
