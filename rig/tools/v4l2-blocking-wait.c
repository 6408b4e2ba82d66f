/*
 * v4l2-blocking-wait: v4l2-compliance's "blocking wait" property, without its clock. v4l2-compliance 1.22.1
 * (testBlockingDQBuf) blocks one thread in VIDIOC_DQBUF with no buffer queued, starts VIDIOC_STREAMOFF in a
 * second thread and fails unless that STREAMOFF has returned 250 ms later. The property is that STREAMOFF does
 * not wait for the blocked DQBUF; 250 ms is only how long the test is willing to look. Under TCG on a loaded
 * machine a STREAMOFF that waits for nothing still takes longer (uvcvideo kills each URB in turn, every kill a
 * CMD_UNLINK round trip through the USB/IP server), so the rig asks the question exactly:
 *
 *   - DQBUF blocks: it has not returned 100 ms after it started (the same check v4l2-compliance makes);
 *   - STREAMOFF returns while DQBUF is still blocked: the DQBUF thread is never signalled or interrupted, so if
 *     STREAMOFF needed the DQBUF to end first, it would never return (the tool then fails after 60 s, a limit
 *     for a deadlock, not a margin for slowness);
 *   - DQBUF returns only once STREAMOFF has begun (STREAMOFF's cancel ends the wait, possibly a moment before
 *     the STREAMOFF call itself returns), with EINVAL (not streaming any more).
 *
 *   v4l2-blocking-wait /dev/videoN [rounds]
 *
 * Prints one `round=N streamoff_ms=… dqbuf_errno=…` line per round and `RESULT ok` or `RESULT fail <why>`.
 *
 * The same for v4l2-compliance's streaming tests in select/epoll mode, which fail when no frame is readable
 * within 2 s (captureBufs: `ret == 0`): the property is that the node becomes readable when a frame is done
 * and DQBUF then returns it.
 *
 *   v4l2-blocking-wait /dev/videoN --capture select|epoll mmap|userptr FRAMES
 *
 * Streams FRAMES frames waiting in select()/epoll_wait() with no timeout but a 120 s deadlock guard; every
 * wakeup must be readable and DQBUF must then succeed with a full buffer. Prints the longest wait (what the 2 s
 * clock compares) and `RESULT ok` or `RESULT fail <why>`.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

static int fd;
static atomic_int dqbuf_done, streamoff_done;
static int dqbuf_errno, streamoff_errno;
static double dqbuf_end, streamoff_start, streamoff_end;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int xioctl(unsigned long request, void *arg) {
  int r;
  do r = ioctl(fd, request, arg);
  while (r < 0 && errno == EINTR);
  return r < 0 ? errno : 0;
}

static void *dqbuf_thread(void *unused) {
  (void)unused;
  struct v4l2_buffer buf;
  memset(&buf, 0, sizeof buf);
  buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  buf.memory = V4L2_MEMORY_MMAP;
  dqbuf_errno = xioctl(VIDIOC_DQBUF, &buf);
  dqbuf_end = now();
  atomic_store(&dqbuf_done, 1);
  return NULL;
}

static void *streamoff_thread(void *unused) {
  (void)unused;
  int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  streamoff_start = now();
  streamoff_errno = xioctl(VIDIOC_STREAMOFF, &type);
  streamoff_end = now();
  atomic_store(&streamoff_done, 1);
  return NULL;
}

static int wait_flag(atomic_int *flag, double seconds) {
  double deadline = now() + seconds;
  while (!atomic_load(flag)) {
    if (now() > deadline) return -1;
    usleep(1000);
  }
  return 0;
}

static int capture(const char *mode, const char *memory, int frames) {
  int epoll = !strcmp(mode, "epoll");
  int userptr = !strcmp(memory, "userptr");
  struct v4l2_format fmt;
  memset(&fmt, 0, sizeof fmt);
  fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  int e = xioctl(VIDIOC_G_FMT, &fmt);
  struct v4l2_requestbuffers req;
  memset(&req, 0, sizeof req);
  req.count = 3;
  req.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  req.memory = userptr ? V4L2_MEMORY_USERPTR : V4L2_MEMORY_MMAP;
  if (e == 0) e = xioctl(VIDIOC_REQBUFS, &req);
  if (e != 0 || req.count < 1) {
    printf("RESULT fail G_FMT/REQBUFS: %s\n", strerror(e));
    return 1;
  }
  unsigned size = fmt.fmt.pix.sizeimage;
  void *mem[8] = {0};
  for (unsigned i = 0; i < req.count && i < 8; i++) {
    struct v4l2_buffer b;
    memset(&b, 0, sizeof b);
    b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    b.memory = req.memory;
    b.index = i;
    if (userptr) {
      mem[i] = aligned_alloc(4096, (size + 4095) / 4096 * 4096);
      b.m.userptr = (unsigned long)mem[i];
      b.length = size;
    } else {
      if ((e = xioctl(VIDIOC_QUERYBUF, &b)) != 0) break;
      mem[i] = mmap(NULL, b.length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, b.m.offset);
    }
    if (e == 0) e = xioctl(VIDIOC_QBUF, &b);
    if (e != 0) {
      printf("RESULT fail QUERYBUF/QBUF %u: %s\n", i, strerror(e));
      return 1;
    }
  }
  int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  if ((e = xioctl(VIDIOC_STREAMON, &type)) != 0) {
    printf("RESULT fail STREAMON: %s\n", strerror(e));
    return 1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  int ep = -1;
  if (epoll) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLPRI};
    ep = epoll_create1(0);
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  double longest = 0, total = 0;
  for (int n = 0; n < frames; n++) {
    double t0 = now();
    int ready;
    if (epoll) {
      struct epoll_event ev;
      ready = epoll_wait(ep, &ev, 1, 120000);
      if (ready > 0 && !(ev.events & EPOLLIN)) ready = 0;
    } else {
      fd_set rfds;
      FD_ZERO(&rfds);
      FD_SET(fd, &rfds);
      struct timeval tv = {120, 0};
      ready = select(fd + 1, &rfds, NULL, NULL, &tv);
      if (ready > 0 && !FD_ISSET(fd, &rfds)) ready = 0;
    }
    double waited = now() - t0;
    if (waited > longest) longest = waited;
    total += waited;
    if (ready <= 0) {
      printf("RESULT fail frame %d: %s reported nothing readable in 120 s (%s)\n", n, mode, ready < 0 ? strerror(errno) : "timeout");
      return 1;
    }
    struct v4l2_buffer b;
    memset(&b, 0, sizeof b);
    b.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    b.memory = req.memory;
    if ((e = xioctl(VIDIOC_DQBUF, &b)) != 0) {
      printf("RESULT fail frame %d: %s said readable, then DQBUF: %s\n", n, mode, strerror(e));
      return 1;
    }
    if (b.bytesused == 0 || (b.flags & V4L2_BUF_FLAG_ERROR)) {
      printf("RESULT fail frame %d: DQBUF returned %u bytes, flags 0x%x\n", n, b.bytesused, b.flags);
      return 1;
    }
    if (userptr) b.length = size;
    if ((e = xioctl(VIDIOC_QBUF, &b)) != 0) {
      printf("RESULT fail frame %d: QBUF: %s\n", n, strerror(e));
      return 1;
    }
  }
  xioctl(VIDIOC_STREAMOFF, &type);
  req.count = 0;
  xioctl(VIDIOC_REQBUFS, &req);
  printf("capture=%s/%s frames=%d longest_wait_ms=%.1f mean_wait_ms=%.1f\nRESULT ok\n", mode, memory, frames, longest * 1000, total * 1000 / frames);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 6 && !strcmp(argv[2], "--capture")) {
    fd = open(argv[1], O_RDWR);
    if (fd < 0) {
      printf("RESULT fail open %s: %s\n", argv[1], strerror(errno));
      return 1;
    }
    return capture(argv[3], argv[4], atoi(argv[5]));
  }
  if (argc < 2) {
    fprintf(stderr, "usage: v4l2-blocking-wait /dev/videoN [rounds]\n");
    return 2;
  }
  int rounds = argc > 2 ? atoi(argv[2]) : 3;
  fd = open(argv[1], O_RDWR); /* blocking, as v4l2-compliance opens it */
  if (fd < 0) {
    printf("RESULT fail open %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  for (int round = 1; round <= rounds; round++) {
    struct v4l2_requestbuffers req;
    memset(&req, 0, sizeof req);
    req.count = 2;
    req.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    req.memory = V4L2_MEMORY_MMAP;
    int e = xioctl(VIDIOC_REQBUFS, &req);
    int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    if (e == 0) e = xioctl(VIDIOC_STREAMON, &type);
    if (e != 0) {
      printf("RESULT fail round %d: REQBUFS/STREAMON: %s\n", round, strerror(e));
      return 1;
    }
    atomic_store(&dqbuf_done, 0);
    atomic_store(&streamoff_done, 0);
    pthread_t a, b;
    pthread_create(&a, NULL, dqbuf_thread, NULL);
    usleep(100000);
    if (atomic_load(&dqbuf_done)) {
      printf("RESULT fail round %d: DQBUF with no buffer queued returned (%s) instead of blocking\n", round, strerror(dqbuf_errno));
      return 1;
    }
    pthread_create(&b, NULL, streamoff_thread, NULL);
    if (wait_flag(&streamoff_done, 60) < 0) {
      printf("RESULT fail round %d: STREAMOFF has not returned in 60 s while DQBUF waits (dqbuf returned: %d)\n", round, atomic_load(&dqbuf_done));
      fflush(stdout);
      _exit(1); /* both threads are stuck in the driver: nothing to clean up from here */
    }
    if (wait_flag(&dqbuf_done, 20) < 0) {
      printf("RESULT fail round %d: DQBUF still blocked 20 s after STREAMOFF returned\n", round);
      fflush(stdout);
      _exit(1);
    }
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("round=%d streamoff_ms=%.1f streamoff_errno=%d dqbuf_errno=%d dqbuf_after_streamoff_ms=%.1f\n", round,
           (streamoff_end - streamoff_start) * 1000, streamoff_errno, dqbuf_errno, (dqbuf_end - streamoff_end) * 1000);
    fflush(stdout);
    if (streamoff_errno != 0) {
      printf("RESULT fail round %d: STREAMOFF: %s\n", round, strerror(streamoff_errno));
      return 1;
    }
    if (dqbuf_end < streamoff_start) {
      printf("RESULT fail round %d: DQBUF returned (%s) before STREAMOFF began\n", round, strerror(dqbuf_errno));
      return 1;
    }
    if (dqbuf_errno != EINVAL) {
      printf("RESULT fail round %d: the blocked DQBUF ended with %s, not EINVAL (streaming off)\n", round, strerror(dqbuf_errno));
      return 1;
    }
    req.count = 0;
    if ((e = xioctl(VIDIOC_REQBUFS, &req)) != 0) {
      printf("RESULT fail round %d: REQBUFS(0): %s\n", round, strerror(e));
      return 1;
    }
  }
  printf("RESULT ok\n");
  return 0;
}
