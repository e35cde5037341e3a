import { HTMLSelect } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ApiError, ILogSearch, readLog, searchLog } from '../api';
import { SxwlContext } from '../context';
import { isShown, usePolling } from '../hooks';

/** Keep at most this many characters on screen; older text is dropped. */
const MAX_CHARS = 2_000_000;

export interface ILogViewerProps {
  jobId: string;
  /** The job's latest attempt; the viewer starts there. */
  latestAttempt: number;
  /** False once the job has ended: a read that brings nothing stops polling. */
  running: boolean;
}

/**
 * A job's log: follows it by reading from the last `X-Log-Offset` every
 * second and appending, and searches it on the server (`logs?q=`).
 */
export function LogViewer(props: ILogViewerProps): JSX.Element {
  const ctx = React.useContext(SxwlContext);
  const [attempt, setAttempt] = React.useState(props.latestAttempt);
  const [pinnedAttempt, setPinnedAttempt] = React.useState(false);
  const [text, setText] = React.useState('');
  const [follow, setFollow] = React.useState(true);
  const [drained, setDrained] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);
  const [query, setQuery] = React.useState('');
  const [regex, setRegex] = React.useState(false);
  const [results, setResults] = React.useState<ILogSearch | null>(null);
  const offset = React.useRef(0);
  // Bumped whenever the log being shown changes, so an answer that was in
  // flight for the previous one is dropped.
  const generation = React.useRef(0);
  const pre = React.useRef<HTMLPreElement>(null);

  // A restart makes a new attempt: show it, unless the user picked an older one.
  React.useEffect(() => {
    if (!pinnedAttempt) {
      setAttempt(props.latestAttempt);
    }
  }, [props.latestAttempt, pinnedAttempt]);

  React.useEffect(() => {
    generation.current += 1;
    offset.current = 0;
    setText('');
    setDrained(false);
    setResults(null);
  }, [props.jobId, attempt]);

  // A job that starts running again (restart of the same attempt view) has
  // more to say.
  React.useEffect(() => {
    if (props.running) {
      setDrained(false);
    }
  }, [props.running]);

  const read = async (): Promise<void> => {
    // Nothing to follow while the log is out of sight (collapsed section,
    // collapsed panel, background tab); reading resumes where it stopped.
    if (!isShown(pre.current)) {
      return;
    }
    const gen = generation.current;
    try {
      const chunk = await readLog(props.jobId, offset.current, attempt);
      if (gen !== generation.current) {
        return;
      }
      offset.current = chunk.offset;
      setError(null);
      if (chunk.text) {
        setText(t => {
          const next = t + chunk.text;
          return next.length > MAX_CHARS ? next.slice(-MAX_CHARS) : next;
        });
      } else if (!props.running) {
        setDrained(true);
      }
    } catch (e) {
      if (gen === generation.current) {
        // A job that has not started yet has no log: not worth a red banner.
        if (e instanceof ApiError && e.status === 404) {
          setError(null);
        } else {
          setError(e instanceof Error ? e.message : String(e));
        }
      }
    }
  };

  // Follow: poll while the log may still grow. Without follow, read once per
  // change of job or attempt so the view is never empty.
  const polling = follow && !drained;
  usePolling(read, polling ? ctx.settings.logPollSeconds * 1000 : null);
  React.useEffect(() => {
    if (!follow) {
      void read();
    }
  }, [props.jobId, attempt]);

  React.useLayoutEffect(() => {
    if (follow && pre.current) {
      pre.current.scrollTop = pre.current.scrollHeight;
    }
  }, [text, follow]);

  const search = async (e: React.FormEvent): Promise<void> => {
    e.preventDefault();
    if (!query.trim()) {
      setResults(null);
      return;
    }
    try {
      setResults(await searchLog(props.jobId, query, regex, attempt));
      setError(null);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };

  const attempts = Array.from({ length: props.latestAttempt }, (_, i) => i + 1);

  return (
    <div className="sxwl-logs">
      <div className="sxwl-toolbar">
        <label className="sxwl-check" title="Read new lines every second">
          <input
            type="checkbox"
            data-testid="sxwl-log-follow"
            checked={follow}
            onChange={e => {
              setFollow(e.target.checked);
              setDrained(false);
            }}
          />
          Follow
        </label>
        {props.latestAttempt > 1 && (
          <HTMLSelect
            className="sxwl-select"
            data-testid="sxwl-log-attempt"
            aria-label="Attempt"
            value={attempt}
            onChange={e => {
              const value = Number(e.target.value);
              setPinnedAttempt(value !== props.latestAttempt);
              setAttempt(value);
            }}
          >
            {attempts.map(a => (
              <option key={a} value={a}>
                attempt {a}
              </option>
            ))}
          </HTMLSelect>
        )}
      </div>
      <div className="sxwl-toolbar">
        <form className="sxwl-inline sxwl-grow" onSubmit={e => void search(e)}>
          <input
            type="search"
            className="jp-mod-styled sxwl-grow"
            placeholder="Search the log"
            aria-label="Search the log"
            data-testid="sxwl-log-search-input"
            value={query}
            onChange={e => setQuery(e.target.value)}
          />
          <label
            className="sxwl-check"
            title="Treat the search as a regular expression"
          >
            <input
              type="checkbox"
              data-testid="sxwl-log-search-regex"
              checked={regex}
              onChange={e => setRegex(e.target.checked)}
            />
            .*
          </label>
          <button
            type="submit"
            className="jp-Button jp-mod-styled"
            data-testid="sxwl-log-search-button"
          >
            Search
          </button>
        </form>
      </div>
      {error && (
        <div className="sxwl-error-banner" data-testid="sxwl-log-error">
          {error}
        </div>
      )}
      {results && (
        <div className="sxwl-log-results" data-testid="sxwl-log-search-results">
          <div className="sxwl-muted">
            {results.total} matching line{results.total === 1 ? '' : 's'}
            <button
              className="jp-Button jp-mod-styled jp-mod-minimal sxwl-link-button"
              onClick={() => setResults(null)}
            >
              clear
            </button>
          </div>
          <ol className="sxwl-mono">
            {results.matches.map(m => (
              <li key={m.line} data-line={m.line}>
                <span className="sxwl-line-no">{m.line}</span>
                {m.text}
              </li>
            ))}
          </ol>
        </div>
      )}
      <pre
        ref={pre}
        className="sxwl-log-view sxwl-mono"
        id="sxwl-log-view"
        data-testid="sxwl-log-view"
      >
        {text || (polling ? 'Waiting for output…' : '(no output)')}
      </pre>
    </div>
  );
}
