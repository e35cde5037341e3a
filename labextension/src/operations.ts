/** Following long platform work (publish, export) until it ends. */
import * as React from 'react';

import { IOperation, getOperation } from './api';
import { usePolling } from './hooks';

/** Milliseconds between polls of a running operation. */
const POLL_MS = 1000;

/**
 * The latest state of the operation `started` (the answer of the POST that
 * began it), polled every second while it runs. A new `started` replaces it.
 */
export function useOperation(started: IOperation | null): IOperation | null {
  const [op, setOp] = React.useState<IOperation | null>(started);
  React.useEffect(() => setOp(started), [started]);
  const running = op !== null && op.status === 'running';
  usePolling(
    async () => {
      if (!op || op.status !== 'running') {
        return;
      }
      try {
        setOp(await getOperation(op.id));
      } catch {
        // A missed poll is retried on the next tick.
      }
    },
    running ? POLL_MS : null
  );
  return op;
}
