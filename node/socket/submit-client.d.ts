import type { Submission } from '../own-log/submission-queue.ts';

export declare const SOCKET_NAME: string;
export declare const MAX_MESSAGE_BYTES: number;
export declare function defaultDataDir(env?: NodeJS.ProcessEnv): string;
export declare function socketPath(dataDir: string): string;
export declare class SubmitError extends Error {
  readonly code: string;
  constructor(code: string, message: string);
}
export declare function request(
  path: string,
  body: unknown,
  options?: { timeoutMs?: number; maxAnswerBytes?: number },
): Promise<{ ok: true; [k: string]: unknown }>;
export declare function submit(
  path: string,
  submissions: readonly Submission[],
  options?: { timeoutMs?: number },
): Promise<number>;
