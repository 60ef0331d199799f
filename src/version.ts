import pkg from '../package.json' with { type: 'json' };

/** hark's version, from package.json. */
export const VERSION: string = pkg.version;
