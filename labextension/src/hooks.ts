/** Small React hooks shared by the panel's views. */
import { useEffect, useRef } from 'react';

/**
 * Call `callback` now and then every `ms` milliseconds while `ms` is not
 * null. The latest callback is used on each tick, so it may close over fresh
 * state without restarting the timer. A tick is skipped while the previous
 * one is still running, so slow answers never pile up.
 */
export function usePolling(
  callback: () => Promise<void> | void,
  ms: number | null
): void {
  const saved = useRef(callback);
  saved.current = callback;
  useEffect(() => {
    if (ms === null) {
      return;
    }
    let busy = false;
    let disposed = false;
    const tick = async (): Promise<void> => {
      if (busy || disposed) {
        return;
      }
      busy = true;
      try {
        await saved.current();
      } finally {
        busy = false;
      }
    };
    void tick();
    const timer = window.setInterval(() => void tick(), ms);
    return () => {
      disposed = true;
      window.clearInterval(timer);
    };
  }, [ms]);
}

/** True while the element is rendered (not inside a hidden Lumino widget). */
export function isShown(element: HTMLElement | null): boolean {
  return element !== null && element.offsetParent !== null && !document.hidden;
}
