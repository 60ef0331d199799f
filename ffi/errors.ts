/**
 * The error shapes every C binding in ffi/ shares. Each library subclasses them with its own
 * name (OpusError, LameError …) so callers can tell which library refused, and how.
 */

/** A C call failed; `reason` is what the library's return code means. */
export class LibraryCallError extends Error {
  constructor(
    /** The C function (or ctl) that failed. */
    readonly operation: string,
    /** The library's return code, or null when hark refused before calling it. */
    readonly code: number | null,
    readonly reason: string,
  ) {
    super(`${operation}: ${reason}${code === null ? '' : ` (${code})`}`);
  }
}

/** A setting outside what the library supports, caught before it would silently clamp it. */
export class LibrarySettingError extends RangeError {
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(`${setting}: ${message}`);
  }
}

/** The shared library could not be loaded; the message names the Debian package to install. */
export class LibraryLoadError extends Error {
  constructor(soname: string, debianPackage: string, cause: unknown) {
    super(`cannot load ${soname} (install the Debian package ${debianPackage}: apt install ${debianPackage}): ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
  }
}
