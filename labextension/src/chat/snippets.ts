/** The same request as the Chat view makes, written for curl and Python. */

export interface ISnippetInput {
  /** The service's gateway URL, ending in `/`. */
  endpoint: string;
  model: string;
  bearer: string;
  appKey?: string;
  appSecret?: string;
  prompt: string;
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, "'\\''")}'`;
}

function pyString(text: string): string {
  return JSON.stringify(text);
}

/** curl with the bearer key, streaming. */
export function curlSnippet(input: ISnippetInput): string {
  const body = JSON.stringify({
    model: input.model,
    messages: [{ role: 'user', content: input.prompt }],
    stream: true
  });
  return [
    `curl -N ${input.endpoint}v1/chat/completions \\`,
    `  -H ${shellQuote(`Authorization: Bearer ${input.bearer}`)} \\`,
    "  -H 'Content-Type: application/json' \\",
    `  -d ${shellQuote(body)}`
  ].join('\n');
}

/** The official `openai` client, streaming. */
export function pythonSnippet(input: ISnippetInput): string {
  return [
    'from openai import OpenAI',
    '',
    'client = OpenAI(',
    `    base_url=${pyString(`${input.endpoint}v1`)},`,
    `    api_key=${pyString(input.bearer)},`,
    ')',
    'stream = client.chat.completions.create(',
    `    model=${pyString(input.model)},`,
    `    messages=[{"role": "user", "content": ${pyString(input.prompt)}}],`,
    '    stream=True,',
    ')',
    'for chunk in stream:',
    '    if chunk.choices:',
    '        print(chunk.choices[0].delta.content or "", end="", flush=True)',
    'print()'
  ].join('\n');
}

/** A signed request (AppKey, Timestamp, Sign headers) with `requests`. */
export function signedSnippet(input: ISnippetInput): string {
  return [
    'import hashlib, hmac, time',
    'import requests',
    '',
    `app_key, app_secret = ${pyString(input.appKey ?? '<AppKey>')}, ${pyString(
      input.appSecret ?? '<AppSecret>'
    )}`,
    'timestamp = str(int(time.time() * 1000))',
    'sign = hmac.new(app_secret.encode(), (app_key + app_secret + timestamp).encode(),',
    '                hashlib.sha1).hexdigest()',
    'answer = requests.post(',
    `    ${pyString(`${input.endpoint}v1/chat/completions`)},`,
    '    headers={"AppKey": app_key, "Timestamp": timestamp, "Sign": sign},',
    `    json={"model": ${pyString(input.model)},`,
    `          "messages": [{"role": "user", "content": ${pyString(input.prompt)}}]},`,
    ')',
    'print(answer.json()["choices"][0]["message"]["content"])'
  ].join('\n');
}
