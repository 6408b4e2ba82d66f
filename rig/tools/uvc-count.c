/*
 * uvc-count: the floor for CPU per frame. A bare libusb reader of a UVC camera's iso stream that does as little
 * as a driver can: negotiates the mode (UVC probe/commit), selects the smallest alt setting that carries the
 * committed payload size, keeps N transfers of P packets in flight, and per packet reads only the payload
 * header's flags byte to count frames (EOF) and adds up the bytes. No copy, no check of the data.
 * Measures its own CPU (getrusage, every thread) and the whole guest's (/proc/stat) from the first frame end to
 * the last, so that only steady streaming is counted.
 *
 *   uvc-count [--vid 0x1209] [--pid 0x0001] [--format 1] [--frame 1] [--interval 333333]
 *             [--transfers 25] [--packets 32] [--frames 300] [--exclude-pid PID]
 *
 * --exclude-pid: a process whose CPU over the same window is reported apart (exclude_ticks), so that the guest's
 * figure can leave out the camera server that serves every consumer alike. others_ticks: the CPU of every other
 * process and kernel thread of the guest over the window (from /proc/<pid>/stat, the kernel's own accounting per
 * task, which under TCG agrees with getrusage where /proc/stat's tick sampling does not).
 *
 * Detaches the kernel driver (uvcvideo) from interfaces 0 and 1 and re-attaches it at the end (both released
 * first: uvcvideo binds interface 0 and claims 1 from its probe). Prints key=value lines and "RESULT ok" or
 * "RESULT fail <why>"; exits 0 only on "RESULT ok".
 */
#include <dirent.h>
#include <libusb-1.0/libusb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_TRANSFERS 64

static struct {
  int vid, pid, format, frame, interval, transfers, packets, frames, exclude_pid;
} opt = {0x1209, 0x0001, 1, 1, 333333, 25, 32, 300, 0};

static long frames_seen, frames_counted, bytes_counted, packets_seen, packet_errors;
static int in_flight, stopping, failed_status;
static double t_start, t_end;
static struct rusage ru_start, ru_end;
static unsigned long long guest_busy_start, guest_total_start, guest_busy_end, guest_total_end;
static unsigned long long exclude_start, exclude_end;

#define MAX_PIDS 4096
static int sweep_pid[MAX_PIDS];
static unsigned long long sweep_ticks[MAX_PIDS];
static int sweep_count;
static unsigned long long others_ticks;

/* utime + stime of a process, in clock ticks; 0 if unknown. */
static unsigned long long process_ticks(int pid) {
  if (pid <= 0) return 0;
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL) return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (p == NULL) return 0;
  unsigned long long utime = 0, stime = 0;
  /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return 0;
  return utime + stime;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void guest_cpu(unsigned long long *busy, unsigned long long *total) {
  FILE *f = fopen("/proc/stat", "r");
  unsigned long long v[8] = {0};
  if (f != NULL) {
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 8) memset(v, 0, sizeof v);
    fclose(f);
  }
  *total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
  *busy = *total - v[3] - v[4]; /* minus idle and iowait */
}

static unsigned long long process_ticks(int pid);

/* Every process but this one and the excluded one: at the start, remember each; at the end, add up the growth
 * (a process that started meanwhile counts whole). */
static void sweep(int end) {
  DIR *d = opendir("/proc");
  if (d == NULL) return;
  struct dirent *e;
  int self = (int)getpid();
  while ((e = readdir(d)) != NULL) {
    int pid = atoi(e->d_name);
    if (pid <= 0 || pid == self || pid == opt.exclude_pid) continue;
    unsigned long long ticks = process_ticks(pid);
    if (!end) {
      if (sweep_count < MAX_PIDS) {
        sweep_pid[sweep_count] = pid;
        sweep_ticks[sweep_count++] = ticks;
      }
      continue;
    }
    unsigned long long before = 0;
    for (int i = 0; i < sweep_count; i++) {
      if (sweep_pid[i] == pid) {
        before = sweep_ticks[i];
        break;
      }
    }
    if (ticks > before) others_ticks += ticks - before;
  }
  closedir(d);
}

static double tv(struct timeval t) { return t.tv_sec + t.tv_usec / 1e6; }

static void LIBUSB_CALL on_transfer(struct libusb_transfer *t) {
  in_flight--;
  if (t->status != LIBUSB_TRANSFER_COMPLETED) {
    if (!stopping && t->status != LIBUSB_TRANSFER_CANCELLED) failed_status = t->status;
    stopping = 1;
    return;
  }
  for (int i = 0; i < t->num_iso_packets; i++) {
    struct libusb_iso_packet_descriptor *d = &t->iso_packet_desc[i];
    packets_seen++;
    if (d->status != LIBUSB_TRANSFER_COMPLETED) {
      packet_errors++;
      continue;
    }
    if (d->actual_length < 2) continue;
    const unsigned char *p = libusb_get_iso_packet_buffer_simple(t, i);
    if (frames_seen > 0) bytes_counted += d->actual_length;
    if (p[1] & 0x02) { /* EOF: a frame ends here */
      frames_seen++;
      if (frames_seen == 1) {
        /* The sweeps of /proc are kept out of this process's own window. */
        sweep(0);
        exclude_start = process_ticks(opt.exclude_pid);
        guest_cpu(&guest_busy_start, &guest_total_start);
        t_start = now();
        getrusage(RUSAGE_SELF, &ru_start);
      } else if (frames_counted < opt.frames) {
        frames_counted++;
        if (frames_counted == opt.frames) {
          t_end = now();
          getrusage(RUSAGE_SELF, &ru_end);
          guest_cpu(&guest_busy_end, &guest_total_end);
          exclude_end = process_ticks(opt.exclude_pid);
          sweep(1);
          stopping = 1;
        }
      }
    }
  }
  if (stopping) return;
  if (libusb_submit_transfer(t) == LIBUSB_SUCCESS) in_flight++;
  else stopping = 1;
}

static int uvc_request(libusb_device_handle *h, int request, int selector, unsigned char *data, int length) {
  int in = request & 0x80;
  return libusb_control_transfer(h, in ? 0xa1 : 0x21, (uint8_t)request, (uint16_t)(selector << 8), 1, data, (uint16_t)length, 5000);
}

static int alt_for_payload(libusb_device *dev, int payload, int *alt_bytes, int *endpoint) {
  struct libusb_config_descriptor *config;
  if (libusb_get_active_config_descriptor(dev, &config) != 0) return -1;
  int best = -1, best_bytes = 0, largest = -1, largest_bytes = 0, ep = 0;
  for (int i = 0; i < config->bNumInterfaces; i++) {
    const struct libusb_interface *itf = &config->interface[i];
    for (int a = 0; a < itf->num_altsetting; a++) {
      const struct libusb_interface_descriptor *alt = &itf->altsetting[a];
      if (alt->bInterfaceNumber != 1) continue;
      for (int e = 0; e < alt->bNumEndpoints; e++) {
        const struct libusb_endpoint_descriptor *d = &alt->endpoint[e];
        if ((d->bmAttributes & 3) != LIBUSB_TRANSFER_TYPE_ISOCHRONOUS || !(d->bEndpointAddress & 0x80)) continue;
        int bytes = (d->wMaxPacketSize & 0x7ff) * (1 + ((d->wMaxPacketSize >> 11) & 3));
        ep = d->bEndpointAddress;
        if (bytes >= payload && (best < 0 || bytes < best_bytes)) best = alt->bAlternateSetting, best_bytes = bytes;
        if (bytes > largest_bytes) largest = alt->bAlternateSetting, largest_bytes = bytes;
      }
    }
  }
  libusb_free_config_descriptor(config);
  if (best < 0) best = largest, best_bytes = largest_bytes;
  *alt_bytes = best_bytes;
  *endpoint = ep;
  return best;
}

int main(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    long v = strtol(argv[i + 1], NULL, 0);
    if (!strcmp(argv[i], "--vid")) opt.vid = (int)v;
    else if (!strcmp(argv[i], "--pid")) opt.pid = (int)v;
    else if (!strcmp(argv[i], "--format")) opt.format = (int)v;
    else if (!strcmp(argv[i], "--frame")) opt.frame = (int)v;
    else if (!strcmp(argv[i], "--interval")) opt.interval = (int)v;
    else if (!strcmp(argv[i], "--transfers")) opt.transfers = (int)v;
    else if (!strcmp(argv[i], "--packets")) opt.packets = (int)v;
    else if (!strcmp(argv[i], "--frames")) opt.frames = (int)v;
    else if (!strcmp(argv[i], "--exclude-pid")) opt.exclude_pid = (int)v;
    else { printf("RESULT fail unknown option %s\n", argv[i]); return 2; }
  }
  if (opt.transfers < 1 || opt.transfers > MAX_TRANSFERS) { printf("RESULT fail --transfers 1..%d\n", MAX_TRANSFERS); return 2; }
  libusb_context *ctx;
  if (libusb_init(&ctx) != 0) { printf("RESULT fail libusb_init\n"); return 1; }
  libusb_device_handle *h = libusb_open_device_with_vid_pid(ctx, (uint16_t)opt.vid, (uint16_t)opt.pid);
  if (h == NULL) { printf("RESULT fail cannot open %04x:%04x\n", opt.vid, opt.pid); return 1; }
  int detached[2] = {0, 0};
  for (int i = 0; i < 2; i++) {
    if (libusb_kernel_driver_active(h, i) == 1 && libusb_detach_kernel_driver(h, i) == 0) detached[i] = 1;
    if (libusb_claim_interface(h, i) != 0) { printf("RESULT fail cannot claim interface %d\n", i); return 1; }
  }
  libusb_set_interface_alt_setting(h, 1, 0);

  unsigned char probe[48];
  memset(probe, 0, sizeof probe);
  int len = uvc_request(h, 0x81, 1, probe, sizeof probe); /* GET_CUR(PROBE): its length is the device's */
  if (len < 26) { printf("RESULT fail GET_CUR probe: %d\n", len); return 1; }
  probe[0] = 1; probe[1] = 0; /* bmHint: dwFrameInterval */
  probe[2] = (unsigned char)opt.format;
  probe[3] = (unsigned char)opt.frame;
  for (int b = 0; b < 4; b++) probe[4 + b] = (unsigned char)(opt.interval >> (8 * b));
  if (uvc_request(h, 0x01, 1, probe, len) != len) { printf("RESULT fail SET_CUR probe\n"); return 1; }
  if (uvc_request(h, 0x81, 1, probe, len) != len) { printf("RESULT fail GET_CUR probe\n"); return 1; }
  if (uvc_request(h, 0x01, 2, probe, len) != len) { printf("RESULT fail SET_CUR commit\n"); return 1; }
  int payload = probe[22] | probe[23] << 8 | probe[24] << 16 | probe[25] << 24;
  int alt_bytes, endpoint;
  int alt = alt_for_payload(libusb_get_device(h), payload, &alt_bytes, &endpoint);
  if (alt < 0 || libusb_set_interface_alt_setting(h, 1, alt) != 0) { printf("RESULT fail alt setting for %d-byte payloads\n", payload); return 1; }
  printf("payload=%d alt=%d alt_bytes=%d endpoint=0x%02x transfers=%d packets=%d\n", payload, alt, alt_bytes, endpoint, opt.transfers, opt.packets);

  struct libusb_transfer *transfers[MAX_TRANSFERS];
  for (int i = 0; i < opt.transfers; i++) {
    transfers[i] = libusb_alloc_transfer(opt.packets);
    unsigned char *buffer = malloc((size_t)opt.packets * alt_bytes);
    libusb_fill_iso_transfer(transfers[i], h, (unsigned char)endpoint, buffer, opt.packets * alt_bytes, opt.packets, on_transfer, NULL, 0);
    libusb_set_iso_packet_lengths(transfers[i], (unsigned int)alt_bytes);
    if (libusb_submit_transfer(transfers[i]) != 0) { printf("RESULT fail submit\n"); return 1; }
    in_flight++;
  }
  printf("STREAMING\n");
  fflush(stdout);
  double deadline = now() + 600;
  while (!stopping && now() < deadline) {
    struct timeval timeout = {1, 0};
    libusb_handle_events_timeout_completed(ctx, &timeout, NULL);
  }
  for (int i = 0; i < opt.transfers; i++) libusb_cancel_transfer(transfers[i]);
  while (in_flight > 0) {
    struct timeval timeout = {1, 0};
    libusb_handle_events_timeout_completed(ctx, &timeout, NULL);
  }
  libusb_set_interface_alt_setting(h, 1, 0);
  for (int i = 0; i < 2; i++) libusb_release_interface(h, i);
  for (int i = 0; i < 2; i++) {
    if (detached[i]) libusb_attach_kernel_driver(h, i);
  }
  libusb_close(h);
  libusb_exit(ctx);

  if (frames_counted < opt.frames) {
    printf("frames=%ld packets=%ld packet_errors=%ld status=%d\n", frames_counted, packets_seen, packet_errors, failed_status);
    printf("RESULT fail only %ld of %d frames\n", frames_counted, opt.frames);
    return 1;
  }
  double cpu = tv(ru_end.ru_utime) - tv(ru_start.ru_utime) + tv(ru_end.ru_stime) - tv(ru_start.ru_stime);
  printf("frames=%ld bytes=%ld packets=%ld packet_errors=%ld seconds=%.3f cpu_s=%.3f user_s=%.3f sys_s=%.3f guest_busy=%llu guest_total=%llu exclude_ticks=%llu others_ticks=%llu\n",
         frames_counted, bytes_counted, packets_seen, packet_errors, t_end - t_start, cpu,
         tv(ru_end.ru_utime) - tv(ru_start.ru_utime), tv(ru_end.ru_stime) - tv(ru_start.ru_stime),
         guest_busy_end - guest_busy_start, guest_total_end - guest_total_start, exclude_end - exclude_start, others_ticks);
  printf("RESULT ok\n");
  return 0;
}
