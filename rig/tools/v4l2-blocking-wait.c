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
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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

int main(int argc, char **argv) {
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
