import http from "node:http";

/** One webhook as the receiver got it: the raw body (signatures cover the raw bytes) and the full URL posted to. */
export interface Received {
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The form parameters, for form-encoded posts. */
  params: Record<string, string>;
}

type Answer = (received: Received) => { status: number; body?: string; contentType?: string };

/**
 * A real HTTP server that takes the simulator's webhooks. Tests wait for the webhooks they mean with `waitFor`,
 * which resolves the moment they have arrived and fails at a deadline, naming what did arrive.
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  private readonly waiters = new Set<() => void>();
  private answer: Answer = () => ({ status: 204 });

  private constructor(private readonly server: http.Server, readonly origin: string) {}

  static async start(): Promise<WebhookReceiver> {
    let receiver: WebhookReceiver | undefined;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => receiver!.take(req, Buffer.concat(chunks).toString("utf-8"), res));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    receiver = new WebhookReceiver(server, `http://127.0.0.1:${(server.address() as { port: number }).port}`);
    return receiver;
  }

  url(path: string): string {
    return this.origin + path;
  }

  answerWith(answer: Answer): void {
    this.answer = answer;
  }

  /** The webhooks to `pathname` (any query) that match, once there are at least `count` of them. */
  waitFor(count: number, pathname: string, options: { timeoutMs?: number; match?: (r: Received) => boolean } = {}): Promise<Received[]> {
    const timeoutMs = options.timeoutMs ?? 3_000;
    const matching = (): Received[] =>
      this.received.filter((r) => new URL(r.url).pathname === pathname && (options.match?.(r) ?? true));
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = matching();
        if (found.length < count) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(found);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`waited ${timeoutMs} ms for ${count} webhooks to ${pathname}, got ${matching().length}: ${JSON.stringify(this.received.map((r) => r.url))}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private take(req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
    const isForm = (req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded");
    const received: Received = {
      url: this.origin + (req.url ?? "/"),
      headers: req.headers,
      body,
      params: isForm ? Object.fromEntries(new URLSearchParams(body)) : {},
    };
    this.received.push(received);
    const { status, body: answer, contentType } = this.answer(received);
    res.writeHead(status, contentType ? { "Content-Type": contentType } : {});
    res.end(answer);
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Resolves with `check`'s first defined answer, asking again each time the event loop turns; fails at the deadline. */
export async function until<T>(what: string, check: () => T | undefined, timeoutMs = 3_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
