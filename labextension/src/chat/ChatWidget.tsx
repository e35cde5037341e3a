import { ReactWidget } from '@jupyterlab/apputils';
import { copyIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { ApiError } from '../api';
import { errorText } from '../format';
import { sxwlIcon } from '../icon';
import { IService, endpointUrl, getService } from '../services/api';
import { ServiceBadge } from '../services/ServiceBadge';
import { IChatKey, chatKey } from './keys';
import { curlSnippet, pythonSnippet, signedSnippet } from './snippets';
import { IChatMessage, IUsage, streamChat } from './stream';

/** What the snippets ask when nothing was asked yet. */
const DEFAULT_PROMPT = 'Hello! Who are you?';

type SnippetKind = 'curl' | 'python' | 'signed';

const SNIPPET_LABELS: Record<SnippetKind, string> = {
  curl: 'curl',
  python: 'Python (openai)',
  signed: 'Python (AppKey + Sign)'
};

interface ITurn extends IChatMessage {
  usage?: IUsage | null;
  error?: string;
}

/**
 * A chat with one LLM service inside JupyterLab: answers stream in as they
 * are generated (through the platform's gateway, with a key of the
 * service), and the same request is shown for curl and Python.
 */
export function Chat(props: {
  serviceId: string;
  onService?: (s: IService) => void;
}): JSX.Element {
  const [service, setService] = React.useState<IService | null>(null);
  const [key, setKey] = React.useState<IChatKey | null>(null);
  const [turns, setTurns] = React.useState<ITurn[]>([]);
  const [draft, setDraft] = React.useState('');
  const [system, setSystem] = React.useState('');
  const [maxTokens, setMaxTokens] = React.useState(256);
  const [temperature, setTemperature] = React.useState(0.7);
  const [streaming, setStreaming] = React.useState(false);
  const [error, setError] = React.useState<string | null>(null);
  const [snippet, setSnippet] = React.useState<SnippetKind>('python');
  const abort = React.useRef<AbortController | null>(null);
  const onService = props.onService;

  React.useEffect(() => {
    let cancelled = false;
    const load = async (): Promise<void> => {
      try {
        const s = await getService(props.serviceId);
        if (cancelled) {
          return;
        }
        setService(s);
        onService?.(s);
        const k = await chatKey(s.id);
        if (!cancelled) {
          setKey(k);
        }
      } catch (e) {
        if (!cancelled) {
          setError(errorText(e));
        }
      }
    };
    void load();
    return () => {
      cancelled = true;
      abort.current?.abort();
    };
  }, [props.serviceId]);

  // The platform serves an LLM under its service's name.
  const modelName = service?.name ?? '';

  const send = async (): Promise<void> => {
    const text = draft.trim();
    if (!service || !text || streaming) {
      return;
    }
    const history: IChatMessage[] = [
      ...(system.trim()
        ? [{ role: 'system' as const, content: system.trim() }]
        : []),
      ...turns
        .filter(t => !t.error)
        .map(t => ({ role: t.role, content: t.content })),
      { role: 'user', content: text }
    ];
    setTurns(t => [
      ...t,
      { role: 'user', content: text },
      { role: 'assistant', content: '' }
    ]);
    setDraft('');
    setStreaming(true);
    setError(null);
    const controller = new AbortController();
    abort.current = controller;
    const update = (change: (last: ITurn) => ITurn): void =>
      setTurns(t => [...t.slice(0, -1), change(t[t.length - 1])]);
    try {
      const options = {
        model: service.name,
        max_tokens: maxTokens,
        temperature
      };
      const ask = (k: IChatKey): Promise<IUsage | null> =>
        streamChat(
          endpointUrl(service),
          k.bearer,
          history,
          options,
          piece => update(last => ({ ...last, content: last.content + piece })),
          controller.signal
        );
      let k = key ?? (await chatKey(service.id));
      let usage: IUsage | null;
      try {
        usage = await ask(k);
      } catch (e) {
        // The kept key was revoked: make a new one, once.
        if (!(e instanceof ApiError && e.status === 401)) {
          throw e;
        }
        k = await chatKey(service.id, true);
        setKey(k);
        usage = await ask(k);
      }
      update(last => ({ ...last, usage }));
    } catch (e) {
      if (controller.signal.aborted) {
        update(last => ({ ...last, error: 'stopped' }));
      } else {
        update(last => ({ ...last, error: errorText(e) }));
      }
    } finally {
      setStreaming(false);
      abort.current = null;
      void getService(service.id)
        .then(s => {
          setService(s);
          onService?.(s);
        })
        .catch(() => undefined);
    }
  };

  const lastPrompt =
    [...turns].reverse().find(t => t.role === 'user')?.content ??
    DEFAULT_PROMPT;
  const snippetInput = service &&
    key && {
      endpoint: endpointUrl(service),
      model: modelName,
      bearer: key.bearer,
      appKey: key.app_key,
      appSecret: key.app_secret,
      prompt: lastPrompt
    };
  const code = snippetInput
    ? snippet === 'curl'
      ? curlSnippet(snippetInput)
      : snippet === 'python'
        ? pythonSnippet(snippetInput)
        : signedSnippet(snippetInput)
    : '';

  return (
    <div
      className="sxwl-chat"
      data-testid="sxwl-chat"
      data-service-id={props.serviceId}
      data-streaming={streaming ? 'true' : 'false'}
    >
      <div className="sxwl-chat-head">
        <h3 className="sxwl-grow">{service?.name ?? props.serviceId}</h3>
        {service && <ServiceBadge status={service.status} />}
        {service && (
          <span className="sxwl-muted sxwl-mono" title="Gateway address">
            {endpointUrl(service)}
          </span>
        )}
      </div>
      {error && (
        <div className="sxwl-error-banner" data-testid="sxwl-chat-error">
          {error}
        </div>
      )}
      <div className="sxwl-chat-body">
        <div className="sxwl-chat-main">
          <div className="sxwl-chat-log" data-testid="sxwl-chat-log">
            {turns.length === 0 && (
              <div className="sxwl-empty">
                Ask something below.{' '}
                {service?.status === 'sleeping' && (
                  <>The service sleeps: the first message wakes it.</>
                )}
              </div>
            )}
            {turns.map((t, i) => (
              <div
                key={i}
                className={`sxwl-chat-msg sxwl-chat-${t.role}`}
                data-testid={`sxwl-chat-${t.role}`}
              >
                <div className="sxwl-chat-text">
                  {t.content ||
                    (t.role === 'assistant' && !t.error && streaming
                      ? '…'
                      : '')}
                </div>
                {t.error && (
                  <div className="sxwl-field-error" role="alert">
                    {t.error}
                  </div>
                )}
                {t.usage && (
                  <div className="sxwl-muted sxwl-chat-usage">
                    {t.usage.prompt_tokens} prompt + {t.usage.completion_tokens}{' '}
                    answer tokens
                  </div>
                )}
              </div>
            ))}
          </div>
          <form
            className="sxwl-chat-form"
            onSubmit={e => {
              e.preventDefault();
              void send();
            }}
          >
            <textarea
              data-testid="sxwl-chat-input"
              aria-label="Message"
              placeholder="Message (Enter sends, Shift+Enter breaks the line)"
              value={draft}
              rows={3}
              onChange={e => setDraft(e.target.value)}
              onKeyDown={e => {
                if (e.key === 'Enter' && !e.shiftKey) {
                  e.preventDefault();
                  void send();
                }
              }}
            />
            <div className="sxwl-actions">
              <button
                type="submit"
                className="jp-Button jp-mod-styled jp-mod-accept"
                data-testid="sxwl-chat-send"
                disabled={!service || streaming || !draft.trim()}
              >
                Send
              </button>
              <button
                type="button"
                className="jp-Button jp-mod-styled"
                data-testid="sxwl-chat-stop"
                disabled={!streaming}
                onClick={() => abort.current?.abort()}
              >
                Stop
              </button>
              <button
                type="button"
                className="jp-Button jp-mod-styled jp-mod-minimal"
                disabled={streaming || turns.length === 0}
                onClick={() => setTurns([])}
              >
                Clear
              </button>
            </div>
          </form>
          <details className="sxwl-section" data-testid="sxwl-chat-settings">
            <summary>Settings</summary>
            <div className="sxwl-chat-settings">
              <label>
                System message
                <textarea
                  value={system}
                  rows={2}
                  onChange={e => setSystem(e.target.value)}
                />
              </label>
              <label>
                Max new tokens
                <input
                  type="number"
                  data-testid="sxwl-chat-max-tokens"
                  min={1}
                  value={maxTokens}
                  onChange={e => setMaxTokens(Number(e.target.value) || 1)}
                />
              </label>
              <label>
                Temperature
                <input
                  type="number"
                  min={0}
                  max={2}
                  step={0.1}
                  value={temperature}
                  onChange={e => setTemperature(Number(e.target.value))}
                />
              </label>
            </div>
          </details>
        </div>
        <div className="sxwl-chat-code" data-testid="sxwl-chat-code">
          <div className="sxwl-tabs" role="tablist">
            {(Object.keys(SNIPPET_LABELS) as SnippetKind[]).map(k => (
              <button
                key={k}
                role="tab"
                aria-selected={k === snippet}
                className={`sxwl-tab${k === snippet ? ' sxwl-tab-active' : ''}`}
                data-testid={`sxwl-chat-snippet-${k}`}
                onClick={() => setSnippet(k)}
              >
                {SNIPPET_LABELS[k]}
              </button>
            ))}
            <button
              className="jp-Button jp-mod-styled jp-mod-minimal sxwl-link-button"
              title="Copy"
              aria-label="Copy the code"
              disabled={!code}
              onClick={() => void navigator.clipboard?.writeText(code)}
            >
              <copyIcon.react tag="span" className="sxwl-icon" />
            </button>
          </div>
          <pre className="sxwl-chat-snippet" data-testid="sxwl-chat-snippet">
            {code || 'Making a key for this chat…'}
          </pre>
          {key && (
            <div className="sxwl-muted">
              Key <span className="sxwl-mono">{key.id}</span> was made for this
              chat and is kept in this browser; revoke it under the service's
              Keys.
            </div>
          )}
        </div>
      </div>
    </div>
  );
}

/** The Chat main-area widget ("Start chat" on a service). */
export class ChatWidget extends ReactWidget {
  constructor(readonly serviceId: string) {
    super();
    this.id = `sxwl-chat-${serviceId}`;
    this.addClass('sxwl-panel');
    this.addClass('sxwl-chat-tab');
    this.title.label = `Chat: ${serviceId}`;
    this.title.icon = sxwlIcon;
    this.title.closable = true;
  }

  protected render(): JSX.Element {
    return (
      <Chat
        serviceId={this.serviceId}
        onService={s => {
          this.title.label = `Chat: ${s.name}`;
          this.title.caption = `${s.name} (${s.id}): ${s.status}`;
        }}
      />
    );
  }
}
