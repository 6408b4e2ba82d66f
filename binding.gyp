# The native transport: a node-addon-api module with libusb compiled in statically, so no system libusb (and no
# libudev) is needed. Linux only. The libusb sources: deps/libusb in a packed package (scripts/pack-libusb.mjs
# copies them there at `npm pack`), else those the `usb` development dependency ships (a clone).
{
  'variables': {
    # The directory holding libusb/libusb/*.c, relative to this file: gyp's make generator cannot place objects for
    # absolute source paths.
    'usb_dir%': '<!(node -p "const fs = require(\'fs\'), p = require(\'path\'); fs.existsSync(\'deps/libusb/libusb/core.c\') ? \'deps\' : (p.relative(process.cwd(), p.dirname(require.resolve(\'usb/package.json\'))) || \'.\')")',
  },
  'targets': [
    {
      'target_name': 'libusb_static',
      'type': 'static_library',
      'sources': [
        '<(usb_dir)/libusb/libusb/core.c',
        '<(usb_dir)/libusb/libusb/descriptor.c',
        '<(usb_dir)/libusb/libusb/hotplug.c',
        '<(usb_dir)/libusb/libusb/io.c',
        '<(usb_dir)/libusb/libusb/strerror.c',
        '<(usb_dir)/libusb/libusb/sync.c',
        '<(usb_dir)/libusb/libusb/os/events_posix.c',
        '<(usb_dir)/libusb/libusb/os/threads_posix.c',
        '<(usb_dir)/libusb/libusb/os/linux_usbfs.c',
        '<(usb_dir)/libusb/libusb/os/linux_netlink.c',
      ],
      'include_dirs': [
        'native/libusb',
        '<(usb_dir)/libusb/libusb',
        '<(usb_dir)/libusb/libusb/os',
      ],
      'direct_dependent_settings': {
        'include_dirs': ['<(usb_dir)/libusb/libusb'],
        'libraries': ['-lpthread'],
      },
      'cflags': ['-fPIC', '-w'],
      'conditions': [
        ['OS != "linux"', {
          'actions': [{
            'action_name': 'unsupported_platform',
            'inputs': [], 'outputs': ['unsupported'],
            'action': ['sh', '-c', 'echo "uvc-capture: the native transport builds on Linux only" >&2; exit 1'],
          }],
        }],
      ],
    },
    {
      'target_name': 'uvc_capture',
      'sources': [
        'native/addon.cc',
        'native/bench_copy.cc',
        'native/bridge.cc',
        'native/control.cc',
        'native/device.cc',
        'native/device_wrap.cc',
        'native/errors.cc',
        'native/iso_scan.cc',
        'native/packet_copy.cc',
        'native/stream.cc',
        'native/stream_wrap.cc',
        'native/usb_context.cc',
      ],
      'dependencies': [
        'libusb_static',
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except",
      ],
      # NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: when an environment is terminating (a worker thread ending), a
      # JavaScript exception cannot be thrown any more; without it node-addon-api throws a C++ exception out of
      # the callback instead, which aborts the process.
      'defines': ['NAPI_VERSION=8', 'NODE_ADDON_API_DISABLE_DEPRECATED', 'NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS'],
      'cflags_cc': ['-std=c++17', '-Wall', '-Wextra', '-Wno-unused-parameter'],
    },
  ],
}
