/**
 * Talking to an LLM service through the platform's gateway, as any OpenAI
 * client would: `POST <endpoint>/v1/chat/completions` with a bearer key and
 * `stream: true`, the answer read as server-sent events while it is written.
 *
 * The gateway lives on the hub's origin (next to this lab), outside the
 * Jupyter server's API, so these calls use `fetch` directly.
 */
import { ApiError } from '../api';

export interface IChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface IUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
}

export interface IChatOptions {
  model: string;
  max_tokens?: number;
  temperature?: number;
}

/** An error answer of the gateway (problem+json) or the model server (OpenAI). */
async function answerError(response: Response): Promise<ApiError> {
  const text = await response.text();
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = JSON.parse(text) as {
      detail?: string;
      title?: string;
      error?: { message?: string; param?: string } | string;
    };
    if (typeof body.error === 'object' && body.error?.message) {
      message = body.error.param
        ? `${body.error.param}: ${body.error.message}`
        : body.error.message;
    } else if (typeof body.error === 'string') {
      message = body.error;
    } else {
      message = body.detail || body.title || message;
    }
  } catch {
    if (text.trim() && !text.trim().startsWith('<')) {
      message = `${message}: ${text.trim().slice(0, 200)}`;
    }
  }
  return new ApiError(response.status, message);
}

async function call(
  endpoint: string,
  path: string,
  key: string,
  init: RequestInit = {}
): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(endpoint + path, {
      ...init,
      headers: {
        ...(init.headers as Record<string, string> | undefined),
        Authorization: `Bearer ${key}`
      }
    });
  } catch (error) {
    throw new ApiError(0, `cannot reach ${endpoint}: ${String(error)}`);
  }
  if (!response.ok) {
    throw await answerError(response);
  }
  return response;
}

/**
 * Send `messages` and call `onText` with each piece of the answer as it
 * arrives; resolves with the token counts once the answer is complete.
 * `signal` stops the answer early.
 */
export async function streamChat(
  endpoint: string,
  key: string,
  messages: IChatMessage[],
  options: IChatOptions,
  onText: (piece: string) => void,
  signal?: AbortSignal
): Promise<IUsage | null> {
  const response = await call(endpoint, 'v1/chat/completions', key, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ ...options, messages, stream: true }),
    signal
  });
  if (!response.body) {
    throw new ApiError(0, 'the answer has no body to stream');
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let usage: IUsage | null = null;
  const handle = (event: string): boolean => {
    const data = event
      .split('\n')
      .filter(line => line.startsWith('data:'))
      .map(line => line.slice(5).trimStart())
      .join('\n');
    if (!data) {
      return false;
    }
    if (data === '[DONE]') {
      return true;
    }
    const chunk = JSON.parse(data) as {
      choices?: { delta?: { content?: string | null } }[];
      usage?: IUsage | null;
      error?: { message?: string };
    };
    if (chunk.error) {
      throw new ApiError(500, chunk.error.message ?? 'the service failed');
    }
    if (chunk.usage) {
      usage = chunk.usage;
    }
    for (const choice of chunk.choices ?? []) {
      const piece = choice.delta?.content;
      if (piece) {
        onText(piece);
      }
    }
    return false;
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      break;
    }
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, '\n');
    let cut = buffer.indexOf('\n\n');
    while (cut >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      if (handle(event)) {
        await reader.cancel();
        return usage;
      }
      cut = buffer.indexOf('\n\n');
    }
  }
  if (buffer.trim()) {
    handle(buffer);
  }
  return usage;
}
