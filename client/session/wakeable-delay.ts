/** A wait that something else can end early (stop() ending a backoff, the last request ending stop()'s grace). */

/** Resolves after `ms`, or as soon as one of `wakers` is called (each call wakes every waiter). */
export function delayUnlessWoken(ms: number, wakers: Set<() => void>): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      wakers.delete(done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    wakers.add(done);
  });
}
