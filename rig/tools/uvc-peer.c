/*
 * uvc-peer: a UVC userspace driver nobody here wrote (Debian's libuvc, over libusb) judges the virtual camera:
 * for every format the camera offers and every frame size of it, at the frame size's default interval, libuvc
 * negotiates the mode (its own probe/commit, uvc_get_stream_ctrl_format_size), streams, and this program checks
 * each frame libuvc delivers: an uncompressed frame of exactly width x height x bytes-per-pixel bytes, an MJPEG
 * frame that is one whole JPEG (SOI, its segments, one scan, EOI) that libjpeg decodes without a warning. It streams
 * each mode until libuvc has delivered --frames whole frames (or --timeout seconds passed), counting the bad ones it delivered on the way: libuvc
 * delivers a frame cut by a lost transfer (its 5 s transfer timeout, say) unflagged, so the caller must judge those
 * against the camera's own record of what the host lost.
 *
 *   uvc-peer [--vid 0x1209] [--pid 0x0001] [--frames 3] [--timeout 150] [--out DIR]
 *
 * One line per mode: `mode=YUYV 640x480@30 negotiate=ok payload=3072 frames=3 good=3 bad=0 timeouts=0 dropped=0
 * seconds=1.2` (frames: all it delivered until the last good one; timeouts: transfers libusb ended for their timeout
 * meanwhile, dropped: the frames (distinct PTS) whose data had reached the host in them; with bad > 0, `first_bad=frame <libuvc's
 * sequence>: <bytes> bytes (<why>)`), or
 * `negotiate=<libuvc's error>`; with --out, each mode's good frames go to DIR/<FOURCC>-<W>x<H>.raw. Last line
 * `RESULT ok` (every mode negotiated and streamed --frames good frames) or `RESULT fail <why>`.
 *
 * rig-link: -luvc -ljpeg
 */
#include <dlfcn.h>
#include <libusb-1.0/libusb.h>
#include <libuvc/libuvc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
/* After stdio.h: jpeglib.h uses FILE and size_t without including their headers. */
#include <jpeglib.h>

struct mode_state {
  pthread_mutex_t lock;
  int frames, good, bad;
  int want;
  size_t expected; /* exact frame size for an uncompressed format; 0 for MJPEG */
  FILE *out;
  char first_bad[160];
  /* Host-side evidence: transfers libusb ended with LIBUSB_TRANSFER_TIMED_OUT, and the distinct frames (by the
   * PTS in their payload headers) of the video data in them, which libuvc throws away. */
  int timeouts, dropped;
  unsigned dropped_pts[1024];
};

/* The mode being streamed, for the transfer watch below. */
static struct mode_state *streaming_mode;

/*
 * The transfer watch. libuvc's stream transfers go through libusb_submit_transfer; this program defines that
 * symbol, so libuvc's calls land here (the executable's definition comes first), and hands them on to libusb's
 * (dlsym RTLD_NEXT) with its own callback in front of libuvc's. A transfer libusb cancelled for its timeout keeps the
 * data that had arrived (libusb's usbfs backend copies it for cancelled URBs too, iso packets and bulk alike): that
 * is video the host received and libuvc dropped, which the camera counts as delivered. Counted until the mode has
 * its good frames, like the bad ones.
 */
static libusb_transfer_cb_fn libuvc_callback;

/* A payload that carries video data: note its frame (by PTS; a payload without one counts as a frame of its own). */
static void note_dropped(struct mode_state *s, const unsigned char *p, unsigned length) {
  if (length < 2 || p[0] < 2 || length <= p[0]) return;
  if (p[0] >= 6 && (p[1] & 0x04)) {
    unsigned pts = p[2] | (p[3] << 8) | (p[4] << 16) | ((unsigned)p[5] << 24);
    int n = s->dropped < 1024 ? s->dropped : 1024;
    for (int i = 0; i < n; i++)
      if (s->dropped_pts[i] == pts) return;
    if (s->dropped < 1024) s->dropped_pts[s->dropped] = pts;
  }
  s->dropped++;
}

static void LIBUSB_CALL watched_callback(struct libusb_transfer *t) {
  struct mode_state *s = streaming_mode;
  if (s != NULL && t->status == LIBUSB_TRANSFER_TIMED_OUT) {
    pthread_mutex_lock(&s->lock);
    if (s->good < s->want) {
      s->timeouts++;
      if (t->num_iso_packets == 0) note_dropped(s, t->buffer, (unsigned)t->actual_length);
      for (int i = 0; i < t->num_iso_packets; i++)
        note_dropped(s, libusb_get_iso_packet_buffer_simple(t, (unsigned)i), t->iso_packet_desc[i].actual_length);
    }
    pthread_mutex_unlock(&s->lock);
  }
  libuvc_callback(t);
}

int libusb_submit_transfer(struct libusb_transfer *t) {
  static int (*submit)(struct libusb_transfer *);
  if (submit == NULL) submit = (int (*)(struct libusb_transfer *))dlsym(RTLD_NEXT, "libusb_submit_transfer");
  int stream = (t->type == LIBUSB_TRANSFER_TYPE_ISOCHRONOUS || t->type == LIBUSB_TRANSFER_TYPE_BULK) && (t->endpoint & 0x80);
  if (stream && t->callback != watched_callback) {
    libuvc_callback = t->callback;
    t->callback = watched_callback;
  }
  return submit(t);
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

/*
 * A whole baseline JPEG: SOI, marker segments up to SOS, entropy-coded data in which 0xFF is only ever followed by a
 * stuffed 0x00 or a restart marker, and EOI as the last two bytes. Starting with SOI and ending with EOI is not
 * enough: when the frames between two of the same FID are lost (a cancelled transfer), libuvc joins the head of
 * one frame to the next one, SOI ... SOI ... EOI.
 */
static int whole_jpeg(const unsigned char *p, size_t n) {
  if (n < 4 || p[0] != 0xff || p[1] != 0xd8 || p[n - 2] != 0xff || p[n - 1] != 0xd9) return 0;
  size_t i = 2;
  for (;;) {
    if (i + 4 > n || p[i] != 0xff) return 0;
    unsigned char m = p[i + 1];
    if (m == 0xff) {
      i++;
      continue;
    }
    if (m == 0xd8 || m == 0xd9 || (m >= 0xd0 && m <= 0xd7)) return 0;
    size_t len = ((size_t)p[i + 2] << 8) | p[i + 3];
    if (len < 2) return 0;
    i += 2 + len;
    if (m == 0xda) break;
  }
  for (; i < n - 2; i++) {
    if (p[i] != 0xff) continue;
    unsigned char b = p[i + 1];
    if (b != 0x00 && !(b >= 0xd0 && b <= 0xd7)) return 0;
    i++;
  }
  return i == n - 2;
}

/*
 * The entropy-coded data has no structure a lost payload must break: a frame that lost a payload in its middle can
 * still pass whole_jpeg. libjpeg (what libuvc's own uvc_mjpeg2rgb uses) notices: its Huffman decoder runs out of
 * data or meets a marker early and warns ("premature end of data segment", "corrupt JPEG data"). So a frame is
 * whole only when libjpeg decodes every scanline with neither an error nor a warning. It decodes at 1/8 scale:
 * every coefficient is still Huffman-decoded, only the inverse DCT is cheaper.
 */
struct jpeg_judge {
  struct jpeg_error_mgr mgr;
  jmp_buf fail;
  int warnings;
  char why[JMSG_LENGTH_MAX];
};

static void judge_error_exit(j_common_ptr c) {
  struct jpeg_judge *j = (struct jpeg_judge *)c->err;
  c->err->format_message(c, j->why);
  longjmp(j->fail, 1);
}

static void judge_emit_message(j_common_ptr c, int level) {
  struct jpeg_judge *j = (struct jpeg_judge *)c->err;
  if (level < 0 && j->warnings++ == 0) c->err->format_message(c, j->why);
}

/* 1 when libjpeg decodes p[0..n) cleanly; otherwise 0 with libjpeg's message in why. */
static int jpeg_decodes(const unsigned char *p, size_t n, char *why, size_t why_size) {
  static JSAMPLE row[16384];
  struct jpeg_decompress_struct d;
  struct jpeg_judge j;
  d.err = jpeg_std_error(&j.mgr);
  j.mgr.error_exit = judge_error_exit;
  j.mgr.emit_message = judge_emit_message;
  j.warnings = 0;
  j.why[0] = 0;
  if (setjmp(j.fail)) {
    jpeg_destroy_decompress(&d);
    snprintf(why, why_size, "libjpeg: %s", j.why);
    return 0;
  }
  jpeg_create_decompress(&d);
  jpeg_mem_src(&d, p, (unsigned long)n);
  jpeg_read_header(&d, TRUE);
  d.scale_num = 1;
  d.scale_denom = 8;
  d.dct_method = JDCT_IFAST;
  d.do_fancy_upsampling = FALSE;
  jpeg_start_decompress(&d);
  if ((size_t)d.output_width * (size_t)d.output_components > sizeof row) {
    jpeg_destroy_decompress(&d);
    snprintf(why, why_size, "a %ux%u image is too wide to judge", d.image_width, d.image_height);
    return 0;
  }
  while (d.output_scanline < d.output_height) {
    JSAMPROW r = row;
    jpeg_read_scanlines(&d, &r, 1);
  }
  jpeg_finish_decompress(&d);
  jpeg_destroy_decompress(&d);
  if (j.warnings > 0) {
    snprintf(why, why_size, "libjpeg warns: %s", j.why);
    return 0;
  }
  return 1;
}

static void on_frame(uvc_frame_t *frame, void *user) {
  struct mode_state *s = user;
  pthread_mutex_lock(&s->lock);
  if (s->good < s->want) {
    const unsigned char *p = frame->data;
    size_t n = frame->data_bytes;
    char why[JMSG_LENGTH_MAX + 32] = "";
    int ok;
    if (s->expected > 0) ok = n == s->expected;
    else if (!(ok = whole_jpeg(p, n))) snprintf(why, sizeof why, "not a whole JPEG");
    else ok = jpeg_decodes(p, n, why, sizeof why);
    s->frames++;
    if (ok) {
      s->good++;
      if (s->out) fwrite(p, 1, n, s->out);
    } else {
      s->bad++;
      if (s->first_bad[0] == 0) snprintf(s->first_bad, sizeof s->first_bad, "frame %u: %zu bytes%s%s%s", frame->sequence, n, why[0] ? " (" : "", why, why[0] ? ")" : "");
    }
  }
  pthread_mutex_unlock(&s->lock);
}

/* The libuvc frame format for a format descriptor, and the bytes per pixel (0: compressed). */
static enum uvc_frame_format format_of(const uvc_format_desc_t *f, char fourcc[5], int *bytes_per_pixel) {
  memcpy(fourcc, f->fourccFormat, 4);
  fourcc[4] = 0;
  *bytes_per_pixel = 0;
  if (f->bDescriptorSubtype == UVC_VS_FORMAT_MJPEG) {
    strcpy(fourcc, "MJPG");
    return UVC_FRAME_FORMAT_MJPEG;
  }
  if (!memcmp(fourcc, "YUY2", 4)) {
    strcpy(fourcc, "YUYV");
    *bytes_per_pixel = 2;
    return UVC_FRAME_FORMAT_YUYV;
  }
  return UVC_FRAME_FORMAT_UNKNOWN;
}

int main(int argc, char **argv) {
  int vid = 0x1209, pid = 0x0001, want = 3, timeout = 150;
  const char *out_dir = NULL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--vid")) vid = (int)strtol(argv[i + 1], NULL, 0);
    else if (!strcmp(argv[i], "--pid")) pid = (int)strtol(argv[i + 1], NULL, 0);
    else if (!strcmp(argv[i], "--frames")) want = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--timeout")) timeout = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--out")) out_dir = argv[i + 1];
    else {
      fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  uvc_context_t *ctx;
  uvc_device_t *dev;
  uvc_device_handle_t *devh;
  uvc_error_t r = uvc_init(&ctx, NULL);
  if (r < 0) {
    printf("RESULT fail uvc_init: %s\n", uvc_strerror(r));
    return 1;
  }
  if ((r = uvc_find_device(ctx, &dev, vid, pid, NULL)) < 0 || (r = uvc_open(dev, &devh)) < 0) {
    printf("RESULT fail open %04x:%04x: %s\n", vid, pid, uvc_strerror(r));
    return 1;
  }
  int modes = 0, failed = 0;
  char first_failure[400] = "";
  for (const uvc_format_desc_t *f = uvc_get_format_descs(devh); f; f = f->next) {
    char fourcc[5];
    int bpp;
    enum uvc_frame_format format = format_of(f, fourcc, &bpp);
    for (const uvc_frame_desc_t *fr = f->frame_descs; fr; fr = fr->next) {
      int fps = fr->dwDefaultFrameInterval ? (int)(10000000 / fr->dwDefaultFrameInterval) : 0;
      char mode[64];
      snprintf(mode, sizeof mode, "%s %ux%u@%d", fourcc, fr->wWidth, fr->wHeight, fps);
      modes++;
      uvc_stream_ctrl_t ctrl;
      memset(&ctrl, 0, sizeof ctrl);
      r = format == UVC_FRAME_FORMAT_UNKNOWN ? UVC_ERROR_NOT_SUPPORTED : uvc_get_stream_ctrl_format_size(devh, &ctrl, format, fr->wWidth, fr->wHeight, fps);
      if (r < 0) {
        printf("mode=%s negotiate=%s\n", mode, uvc_strerror(r));
        fflush(stdout);
        if (!failed++) snprintf(first_failure, sizeof first_failure, "%s: negotiation: %s", mode, uvc_strerror(r));
        continue;
      }
      struct mode_state s;
      memset(&s, 0, sizeof s);
      pthread_mutex_init(&s.lock, NULL);
      s.want = want;
      s.expected = bpp ? (size_t)fr->wWidth * fr->wHeight * bpp : 0;
      if (out_dir) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s-%ux%u.raw", out_dir, fourcc, fr->wWidth, fr->wHeight);
        s.out = fopen(path, "wb");
      }
      double t0 = now();
      streaming_mode = &s;
      r = uvc_start_streaming(devh, &ctrl, on_frame, &s, 0);
      if (r < 0) {
        printf("mode=%s negotiate=ok payload=%u start=%s\n", mode, ctrl.dwMaxPayloadTransferSize, uvc_strerror(r));
        fflush(stdout);
        streaming_mode = NULL;
        if (!failed++) snprintf(first_failure, sizeof first_failure, "%s: start streaming: %s", mode, uvc_strerror(r));
        if (s.out) fclose(s.out);
        continue;
      }
      for (;;) {
        pthread_mutex_lock(&s.lock);
        int done = s.good >= want;
        pthread_mutex_unlock(&s.lock);
        if (done || now() - t0 > timeout) break;
        usleep(10000);
      }
      uvc_stop_streaming(devh);
      streaming_mode = NULL;
      if (s.out) fclose(s.out);
      printf("mode=%s negotiate=ok payload=%u frames=%d good=%d bad=%d timeouts=%d dropped=%d seconds=%.1f%s%s\n", mode, ctrl.dwMaxPayloadTransferSize,
             s.frames, s.good, s.bad, s.timeouts, s.dropped, now() - t0, s.first_bad[0] ? " first_bad=" : "", s.first_bad);
      fflush(stdout);
      if (s.good < want && !failed++) {
        snprintf(first_failure, sizeof first_failure, "%s: %d good frames of %d in %d s%s%s", mode, s.good, want, timeout, s.first_bad[0] ? ", " : "",
                 s.first_bad);
      }
    }
  }
  uvc_close(devh);
  uvc_unref_device(dev);
  uvc_exit(ctx);
  if (modes == 0) printf("RESULT fail the camera offers no format libuvc reads\n");
  else if (failed) printf("RESULT fail %d of %d modes: first %s\n", failed, modes, first_failure);
  else printf("RESULT ok\n");
  return modes > 0 && !failed ? 0 : 1;
}
