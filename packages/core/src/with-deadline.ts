/**
 * Settles as `work` does, or rejects with `onTimeout()`'s error once `ms` have passed without that: for calls that
 * take no timeout or signal of their own (vendor SDKs, a driver's connect). The abandoned work settles unobserved.
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
