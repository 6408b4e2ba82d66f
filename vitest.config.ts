import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    // test/native-device/ needs a real USB device (UVC_TEST_DEVICE=<vid>:<pid>, e.g. in the kernel rig): it runs
    // only when that is set.
    exclude: [...configDefaults.exclude, ...(process.env.UVC_TEST_DEVICE ? [] : ['test/native-device/**'])],
    // Native code and child processes behave best in separate processes; the machines are small and shared,
    // so keep the worker count modest and the timeouts generous (timeouts catch hangs, not slowness).
    pool: 'forks',
    // Any Node process warning fails the run (tests print no warnings).
    setupFiles: ['test/setup/no-process-warnings.ts'],
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
