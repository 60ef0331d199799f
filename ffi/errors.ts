/**
 * The error shapes every C binding in ffi/ shares. Each library subclasses them with its own
 * name (OpusError, LameError …) so callers can tell which library refused, and how.
 */

/** A C call failed; `reason` is what the library's return code means. */
export class LibraryCallError extends Error {
  constructor(
    /** The C function (or ctl) that failed. */
    readonly operation: string,
    /**
     * The library's return code (a number), or the errno's symbolic name for libraries that
     * report through errno ("EBUSY"), or null when hark refused before calling it.
     */
    readonly code: number | string | null,
    readonly reason: string,
    /** The message when the code is already part of `reason` (default: operation: reason (code)). */
    message = `${operation}: ${reason}${code === null ? '' : ` (${code})`}`,
  ) {
    super(message);
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

/**
 * The shared library could not be loaded; the message names the Debian package to install.
 * `path` is what was asked for when it is not the soname (a test's, or HARK_LIBGPIOD's).
 */
export class LibraryLoadError extends Error {
  constructor(
    readonly soname: string,
    readonly debianPackage: string,
    cause: unknown,
    readonly path = soname,
  ) {
    super(
      `cannot load ${path === soname ? soname : `${path} (${soname})`}: install the Debian package ${debianPackage} (apt install ${debianPackage}); ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      { cause },
    );
  }
}
