/*
 * iso-reader: streams isochronous IN from the rig's pattern device (rig/guest/lib/pattern-device.ts) through
 * libusb and verifies every packet: its length, its bus frame, every byte. Node's `usb` package has no per-packet
 * iso API, hence this small C program (built on the host from Debian's libusb-1.0-0-dev, run in the guest).
 *
 *   iso-reader [--vid 0x1209] [--pid 0x0001] [--interface 1] [--alt 3] [--ep 0x81]
 *              [--transfers 4] [--packets 32] [--count 200]      stream COUNT transfers, K in flight
 *              [--cancel-after M]    after M transfers cancel all in flight, check they come back, stream on
 *              [--until-gone SECS]   stream until the device disappears (unplug test); fail if it doesn't
 *
 * With --until-gone, SIGUSR1 marks the moment the unplug begins (the check sends it just before it unplugs).
 * From then on one transfer may complete with LIBUSB_TRANSFER_ERROR instead of NO_DEVICE: the one whose
 * RET_SUBMIT vhci_hcd was receiving when the connection went, which the kernel gives back with -EPROTO
 * (vhci_rx.c: usbip_recv_xbuff/usbip_recv_iso failed) and usbfs/libusb report as an error. It is counted as
 * errors_after_unplug; such an error before the mark, or more than one, fails.
 *
 * Prints key=value lines, "STREAMING" once data flows, and a final "RESULT ok" or "RESULT fail <why>"; exits 0
 * only on "RESULT ok".
 */
#include <libusb-1.0/libusb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_TRANSFERS 32

static struct {
  int vid, pid, interface, alt, ep, transfers, packets, count, cancel_after, until_gone;
} opt = {0x1209, 0x0001, 1, 3, 0x81, 4, 32, 200, 0, 0};

static int alt_bytes;      /* bytes per microframe of the chosen alt setting */
static int slot;           /* iso packet slot size (libusb's max iso packet size) */
static long completed, cancelled_seen, packets_ok, packets_empty, frames_lost, bytes_total;
static long errors;        /* verification failures */
static long errors_after_unplug;
static volatile sig_atomic_t unplug_marked;
static long packet_errors; /* packets with a non-zero status */
static int in_flight, stopping, gone, streaming_said, resubmit = 1;
static long last_frame_end = -1;
static double last_progress;
static char first_error[256];

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void fail(const char *fmt, ...) {
  errors++;
  if (first_error[0] != 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(first_error, sizeof first_error, fmt, ap);
  va_end(ap);
}

/* Same formula as isoPacketLength/writeIsoPacket in pattern-device.ts. */
static int expected_length(uint32_t frame) {
  if (alt_bytes == 0 || frame % 16 == 15) return 0;
  int n = alt_bytes - (int)(frame % 8) * 64;
  if (n > slot) n = slot;
  return n < 8 ? 0 : n;
}

static uint32_t le32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static void verify(struct libusb_transfer *t) {
  /* The bus frame of packet 0, from the first non-empty packet's header. */
  long base = -1;
  for (int i = 0; i < t->num_iso_packets; i++) {
    struct libusb_iso_packet_descriptor *d = &t->iso_packet_desc[i];
    if (d->status == LIBUSB_TRANSFER_COMPLETED && d->actual_length >= 8) {
      base = (long)le32(libusb_get_iso_packet_buffer_simple(t, i)) - i;
      break;
    }
  }
  if (base < 0) {
    fail("transfer %ld: no packet with data", completed);
    return;
  }
  if (last_frame_end >= 0) {
    if (base < last_frame_end) fail("frames go backwards: transfer starts at %ld, previous ended at %ld", base, last_frame_end);
    else frames_lost += base - last_frame_end;
  }
  last_frame_end = base + t->num_iso_packets;
  for (int i = 0; i < t->num_iso_packets; i++) {
    struct libusb_iso_packet_descriptor *d = &t->iso_packet_desc[i];
    uint32_t frame = (uint32_t)(base + i);
    if (d->status != LIBUSB_TRANSFER_COMPLETED) {
      packet_errors++;
      fail("packet status %d at frame %u", (int)d->status, frame);
      continue;
    }
    int want = expected_length(frame);
    if ((int)d->actual_length != want) {
      fail("frame %u: length %u, expected %d", frame, d->actual_length, want);
      continue;
    }
    bytes_total += d->actual_length;
    if (want == 0) {
      packets_empty++;
      continue;
    }
    const unsigned char *p = libusb_get_iso_packet_buffer_simple(t, i);
    if (le32(p) != frame || le32(p + 4) != (uint32_t)want) {
      fail("frame %u: header says frame %u length %u", frame, le32(p), le32(p + 4));
      continue;
    }
    unsigned seed = (frame * 7u) & 0xff;
    for (int k = 8; k < want; k++) {
      if (p[k] != ((seed + k) & 0xff)) {
        fail("frame %u byte %d: 0x%02x", frame, k, p[k]);
        break;
      }
    }
    packets_ok++;
  }
}

static void LIBUSB_CALL on_transfer(struct libusb_transfer *t) {
  in_flight--;
  switch (t->status) {
    case LIBUSB_TRANSFER_COMPLETED:
      completed++;
      last_progress = now();
      verify(t);
      break;
    case LIBUSB_TRANSFER_CANCELLED:
      cancelled_seen++;
      return;
    case LIBUSB_TRANSFER_NO_DEVICE:
      gone = 1;
      return;
    default:
      if (opt.until_gone > 0 && unplug_marked) {
        errors_after_unplug++;
        return;
      }
      fail("transfer status %d%s", (int)t->status, opt.until_gone > 0 ? " before the unplug began" : "");
      return;
  }
  if (!streaming_said && completed >= 4) {
    streaming_said = 1;
    printf("STREAMING\n");
    fflush(stdout);
  }
  if (stopping || !resubmit) return;
  int r = libusb_submit_transfer(t);
  if (r == 0) in_flight++;
  else if (r == LIBUSB_ERROR_NO_DEVICE) gone = 1;
  else fail("resubmit: %s", libusb_error_name(r));
}

static void on_usr1(int sig) {
  (void)sig;
  unplug_marked = 1;
}

static void on_alarm(int sig) {
  (void)sig;
  printf("RESULT fail watchdog: no progress (completed=%ld in_flight=%d)\n", completed, in_flight);
  fflush(stdout);
  _exit(3);
}

/* Bytes per microframe of `ep` in alternate setting `alt` (libusb 1.0.26's libusb_get_max_iso_packet_size only
 * looks at the first alternate setting that has the endpoint). */
static int alt_packet_size(libusb_device *dev, int interface, int alt, int ep) {
  struct libusb_config_descriptor *config;
  if (libusb_get_active_config_descriptor(dev, &config)) return -1;
  int size = -1;
  for (int i = 0; i < config->bNumInterfaces; i++) {
    const struct libusb_interface *itf = &config->interface[i];
    for (int a = 0; a < itf->num_altsetting; a++) {
      const struct libusb_interface_descriptor *d = &itf->altsetting[a];
      if (d->bInterfaceNumber != interface || d->bAlternateSetting != alt) continue;
      for (int e = 0; e < d->bNumEndpoints; e++) {
        if (d->endpoint[e].bEndpointAddress != ep) continue;
        int w = d->endpoint[e].wMaxPacketSize;
        size = (w & 0x7ff) * (1 + ((w >> 11) & 3));
      }
    }
  }
  libusb_free_config_descriptor(config);
  return size;
}

static int pump(libusb_context *ctx, double deadline) {
  struct timeval tv = {0, 100000};
  while (now() < deadline) {
    libusb_handle_events_timeout_completed(ctx, &tv, NULL);
    if (in_flight == 0) return 0;
  }
  return -1;
}

int main(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    long v = strtol(argv[i + 1], NULL, 0);
    if (!strcmp(argv[i], "--vid")) opt.vid = v;
    else if (!strcmp(argv[i], "--pid")) opt.pid = v;
    else if (!strcmp(argv[i], "--interface")) opt.interface = v;
    else if (!strcmp(argv[i], "--alt")) opt.alt = v;
    else if (!strcmp(argv[i], "--ep")) opt.ep = v;
    else if (!strcmp(argv[i], "--transfers")) opt.transfers = v;
    else if (!strcmp(argv[i], "--packets")) opt.packets = v;
    else if (!strcmp(argv[i], "--count")) opt.count = v;
    else if (!strcmp(argv[i], "--cancel-after")) opt.cancel_after = v;
    else if (!strcmp(argv[i], "--until-gone")) opt.until_gone = v;
    else {
      fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (opt.transfers < 1 || opt.transfers > MAX_TRANSFERS || opt.packets < 1) return 2;
  signal(SIGALRM, on_alarm);
  signal(SIGUSR1, on_usr1);
  alarm(opt.until_gone > 0 ? opt.until_gone + 60 : 300); /* last resort; the loops have their own limits */

  libusb_context *ctx;
  if (libusb_init(&ctx)) {
    printf("RESULT fail libusb_init\n");
    return 1;
  }
  libusb_device_handle *h = libusb_open_device_with_vid_pid(ctx, opt.vid, opt.pid);
  if (!h) {
    printf("RESULT fail device %04x:%04x not found\n", opt.vid, opt.pid);
    return 1;
  }
  libusb_set_auto_detach_kernel_driver(h, 1);
  int r = libusb_claim_interface(h, opt.interface);
  if (r == 0) r = libusb_set_interface_alt_setting(h, opt.interface, opt.alt);
  if (r) {
    printf("RESULT fail claim/set alt %d: %s\n", opt.alt, libusb_error_name(r));
    return 1;
  }
  slot = alt_packet_size(libusb_get_device(h), opt.interface, opt.alt, opt.ep);
  if (slot <= 0) {
    printf("RESULT fail no endpoint 0x%02x in interface %d alt %d\n", opt.ep, opt.interface, opt.alt);
    return 1;
  }
  alt_bytes = slot; /* the device sends up to mult x wMaxPacketSize per microframe */
  printf("alt=%d packet_size=%d transfers=%d packets=%d\n", opt.alt, slot, opt.transfers, opt.packets);

  struct libusb_transfer *xfers[MAX_TRANSFERS];
  for (int i = 0; i < opt.transfers; i++) {
    xfers[i] = libusb_alloc_transfer(opt.packets);
    unsigned char *buf = malloc((size_t)opt.packets * slot);
    libusb_fill_iso_transfer(xfers[i], h, opt.ep, buf, opt.packets * slot, opt.packets, on_transfer, NULL, 0);
    libusb_set_iso_packet_lengths(xfers[i], slot);
  }
  double t0 = now();
  for (int i = 0; i < opt.transfers; i++) {
    r = libusb_submit_transfer(xfers[i]);
    if (r) {
      printf("RESULT fail submit: %s\n", libusb_error_name(r));
      return 1;
    }
    in_flight++;
  }

  long cancelled_expected = 0, completed_at_cancel = 0;
  struct timeval tv = {0, 100000};
  if (opt.until_gone > 0) {
    double deadline = now() + opt.until_gone;
    while (!gone && now() < deadline) libusb_handle_events_timeout_completed(ctx, &tv, NULL);
    stopping = 1;
    /* Whatever is still in flight must come back promptly once the device is gone. */
    for (int i = 0; i < opt.transfers; i++) libusb_cancel_transfer(xfers[i]);
    if (pump(ctx, now() + 60) < 0) {
      printf("RESULT fail %d transfers never came back after the device went away\n", in_flight);
      return 1;
    }
  } else {
    last_progress = now();
    while (completed < opt.count && !gone) {
      libusb_handle_events_timeout_completed(ctx, &tv, NULL);
      if (now() - last_progress > 60) {
        printf("RESULT fail the stream stalled: no transfer completed for 60 s (completed=%ld in_flight=%d)\n", completed, in_flight);
        return 1;
      }
      if (opt.cancel_after > 0 && completed >= opt.cancel_after && completed_at_cancel == 0) {
        completed_at_cancel = completed;
        cancelled_expected = in_flight;
        resubmit = 0;
        for (int i = 0; i < opt.transfers; i++) libusb_cancel_transfer(xfers[i]);
        if (pump(ctx, now() + 60) < 0) {
          printf("RESULT fail %d cancelled transfers never came back\n", in_flight);
          return 1;
        }
        printf("cancel_in_flight=%ld cancelled=%ld completed_meanwhile=%ld\n", cancelled_expected, cancelled_seen,
               completed - completed_at_cancel);
        /* The stream restarts after a gap: frames lost in between are expected. */
        last_frame_end = -1;
        resubmit = 1;
        for (int i = 0; i < opt.transfers; i++) {
          if (libusb_submit_transfer(xfers[i]) == 0) in_flight++;
        }
      }
    }
    stopping = 1;
    for (int i = 0; i < opt.transfers; i++) libusb_cancel_transfer(xfers[i]);
    pump(ctx, now() + 60);
  }
  double dt = now() - t0;
  printf("completed=%ld packets_ok=%ld packets_empty=%ld packet_errors=%ld frames_lost=%ld bytes=%ld seconds=%.2f MBps=%.2f "
         "cancelled=%ld gone=%d errors_after_unplug=%ld\n",
         completed, packets_ok, packets_empty, packet_errors, frames_lost, bytes_total, dt, bytes_total / dt / 1e6, cancelled_seen,
         gone, errors_after_unplug);
  int ok = 0;
  if (errors) printf("RESULT fail %ld verification errors, first: %s\n", errors, first_error);
  else if (errors_after_unplug > 1) printf("RESULT fail %ld transfers ended in error after the unplug began (at most 1 can)\n", errors_after_unplug);
  else if (opt.until_gone > 0 && !gone) printf("RESULT fail the device never went away\n");
  else if (opt.until_gone == 0 && gone) printf("RESULT fail the device went away\n");
  else if (opt.cancel_after > 0 && cancelled_seen == 0) printf("RESULT fail no transfer came back cancelled\n");
  else if (opt.until_gone == 0 && completed < opt.count) printf("RESULT fail only %ld transfers\n", completed);
  else ok = printf("RESULT ok\n") > 0;
  fflush(stdout);
  /* After an unplug the handle is dead: release and close it anyway, libusb must cope. */
  libusb_release_interface(h, opt.interface);
  libusb_close(h);
  libusb_exit(ctx);
  return ok ? 0 : 1;
}
