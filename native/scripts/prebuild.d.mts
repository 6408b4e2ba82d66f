/** The file name stem prebuild.mjs gives the prebuilt addon (`<PREBUILD_NAME>.<libc>.node`). */
export declare const PREBUILD_NAME: string;
