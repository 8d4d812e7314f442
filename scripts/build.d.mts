/** The repository root. */
export declare const ROOT: string;
/** Where the compiled build goes. */
export declare const DIST: string;
/** Whether dist/ holds a build of the sources as they are now. */
export declare function isFresh(): boolean;
/** The URL of `source`'s compiled module (repository-relative .ts path), or undefined if dist/ is stale. */
export declare function compiledUrl(source: string): string | undefined;
/** Compiles the sources into a fresh dist/. */
export declare function build(): Promise<void>;
