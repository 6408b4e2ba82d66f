/**
 * Whether frames can be written where `-o` points, decided before the camera is opened: the nearest existing
 * ancestor must be a directory on a filesystem that holds files (not procfs, sysfs or another kernel pseudo-
 * filesystem) and writable by this process (access(2) answers EROFS for a read-only filesystem, EACCES for
 * permissions). Directories are then made one level at a time, so every failure carries the system's own code:
 * Node's recursive mkdir loops forever on /proc (ENOENT for every component) and says ENOENT on a read-only one.
 */
import { constants } from 'node:fs';
import { access, mkdir, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { CliError, ExitCode } from './exit-codes.js';

/** statfs f_type values (linux/magic.h) of filesystems that are the kernel's interfaces, not storage. */
const PSEUDO_FILESYSTEMS = new Map<number, string>([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x1cd1, 'devpts'],
  [0xcafe4a11, 'bpf'],
  [0x6165676c, 'pstore'],
  [0x62656570, 'configfs'],
  [0xde5e81e4, 'efivarfs'],
  [0x65735543, 'fusectl'],
  [0x42494e4d, 'binfmt_misc'],
  [0xf97cff8c, 'selinuxfs'],
]);

const REASONS: Record<string, string> = {
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENOTDIR: 'a part of the path is a file, not a directory',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many symbolic links',
  ENOENT: 'no such file or directory',
};

/** The system's words for an fs error, with its code once: "read-only file system (EROFS)". */
export function fsReason(error: unknown): { code: string; text: string } {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return { code, text: `${REASONS[code] ?? (error as Error).message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '')} (${code})` };
  return { code: 'EIO', text: error instanceof Error ? error.message : String(error) };
}

function outputError(where: string, why: string, code: string, cause?: unknown): CliError {
  return new CliError(`cannot write to ${where}: ${why}`, ExitCode.FAILURE, undefined, { code, ...(cause === undefined ? {} : { cause }) });
}

/** The nearest existing ancestor of `target` (itself included) and the names below it still to make; errors name `shown`. */
async function nearestExisting(target: string, shown = target): Promise<{ dir: string; missing: string[] }> {
  const missing: string[] = [];
  let dir = target;
  for (;;) {
    try {
      const info = await stat(dir);
      if (!info.isDirectory()) throw outputError(shown, `${dir} is a file, not a directory`, 'ENOTDIR');
      return { dir, missing };
    } catch (error) {
      if (error instanceof CliError) throw error;
      const code = (error as { code?: string }).code;
      // ENOTDIR: a part of the path is a file; walking up finds it and says which.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw outputError(shown, fsReason(error).text, code ?? 'EIO', error);
      const parent = path.dirname(dir);
      if (parent === dir) throw outputError(shown, fsReason(error).text, 'ENOENT', error);
      missing.unshift(path.basename(dir));
      dir = parent;
    }
  }
}

/**
 * Checks that `dir` (absolute; it may not exist yet) can hold new files, without creating anything. Throws a
 * CliError (exit 1) with the real reason and its POSIX code.
 */
export async function checkWritableDirectory(dir: string, shown = dir): Promise<void> {
  const { dir: existing } = await nearestExisting(dir, shown);
  const fs = await statfs(existing).catch(() => null);
  const pseudo = fs === null ? undefined : PSEUDO_FILESYSTEMS.get(Number(fs.type));
  if (pseudo !== undefined) {
    throw outputError(shown, `${existing} is on ${pseudo}, a kernel pseudo-filesystem that holds no files`, 'EINVAL');
  }
  try {
    await access(existing, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw outputError(shown, `${existing}: ${fsReason(error).text}`, (error as { code?: string }).code ?? 'EACCES', error);
  }
}

/** Checks that `file` can be created or overwritten (and that its directory can be made). */
export async function checkWritableFile(file: string): Promise<void> {
  await checkWritableDirectory(path.dirname(file), file);
  const existing = await stat(file).catch(() => null);
  if (existing === null) return;
  if (existing.isDirectory()) throw outputError(file, 'it is a directory', 'EISDIR');
  try {
    await access(file, constants.W_OK);
  } catch (error) {
    throw outputError(file, fsReason(error).text, (error as { code?: string }).code ?? 'EACCES', error);
  }
}

/** mkdir -p, one level at a time, so an error is the system's own (EROFS, EACCES, …) and nothing can loop. */
export async function makeDirectory(dir: string): Promise<void> {
  const { dir: existing, missing } = await nearestExisting(dir);
  let current = existing;
  for (const name of missing) {
    current = path.join(current, name);
    try {
      await mkdir(current);
    } catch (error) {
      if ((error as { code?: string }).code === 'EEXIST' && (await stat(current).catch(() => null))?.isDirectory()) continue;
      throw outputError(dir, `${current}: ${fsReason(error).text}`, (error as { code?: string }).code ?? 'EIO', error);
    }
  }
}
