/*
 * Build configuration of the libusb we compile statically from the sources the `usb` package ships
 * (node_modules/usb/libusb). It stands in for the config.h that libusb's autotools would generate; binding.gyp
 * adds the platform-neutral defines. Only Linux is built and tested.
 */
#ifndef UVC_CAPTURE_LIBUSB_CONFIG_H
#define UVC_CAPTURE_LIBUSB_CONFIG_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#define DEFAULT_VISIBILITY
#define PRINTF_FORMAT(a, b) __attribute__((__format__(__printf__, a, b)))

/* Logging is compiled in (LIBUSB_DEBUG=4 in the environment turns it on) but silent by default. */
#define ENABLE_LOGGING 1

#define PLATFORM_POSIX 1
#define THREADS_POSIX 1
#define HAVE_CLOCK_GETTIME 1
#define HAVE_SYS_TIME_H 1
#define HAVE_NFDS_T 1
#define HAVE_PIPE2 1
#define HAVE_PTHREAD_CONDATTR_SETCLOCK 1
#define HAVE_PTHREAD_SETNAME_NP 1

#if defined(__linux__)
#define HAVE_ASM_TYPES_H 1
/* eventfd/timerfd: cheaper wake-ups and exact transfer timeouts (glibc and musl have both). */
#define HAVE_EVENTFD 1
#define HAVE_TIMERFD 1
/* No libudev: a fresh machine lacks its headers. Hotplug (and so disconnect detection) uses netlink. */
#endif

#endif
